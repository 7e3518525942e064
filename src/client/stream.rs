//! `ClientIo`: what a `Client` reads and writes through — the stream socket (TCP or Unix), or a TLS session
//! over it (set up here, right after the connect, within the handshake timeout).
//!
//! Every method takes `&self` and a deadline, so one thread can read while another writes
//! and each call keeps its own deadline however many socket operations it takes. With TLS
//! the session's lock is never held across socket I/O: a reader waiting for bytes never
//! blocks a writer. The `Client` serialises readers among themselves and writers among
//! themselves.

use std::io;
use std::net::Shutdown;
use std::time::{Duration, Instant};

use super::config::ClientConfig;
use crate::buffer::ReadBuf;
use crate::error::Result;
use crate::net;
use crate::sock::Sock;

#[derive(Debug)]
pub(crate) struct ClientIo {
    stream: Sock,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Mutex<rustls::ClientConnection>>,
    /// What the handshake agreed on, on a TLS connection.
    #[cfg(feature = "tls")]
    tls_info: Option<crate::tls::TlsInfo>,
}

/// How much ciphertext one read takes from the socket.
#[cfg(feature = "tls")]
const CIPHERTEXT_CHUNK: usize = 32 * 1024;

impl ClientIo {
    /// Wraps a connected stream, running the TLS handshake when the configuration asks for
    /// TLS. `host` is what the client connected to: the server name to verify by default.
    pub(crate) fn establish(
        stream: Sock,
        host: &str,
        config: &ClientConfig,
        context: &str,
    ) -> Result<ClientIo> {
        #[cfg(feature = "tls")]
        let tls = match config.secure_socket.as_ref().filter(|s| s.is_enabled()) {
            Some(secure) => Some(handshake(&stream, host, secure, config, context)?),
            None => None,
        };
        let _ = (host, config, context);
        Ok(ClientIo {
            stream,
            #[cfg(feature = "tls")]
            tls_info: tls.as_ref().map(|conn| crate::tls::TlsInfo::of(conn)),
            #[cfg(feature = "tls")]
            tls: tls.map(std::sync::Mutex::new),
        })
    }

    pub(crate) fn sock(&self) -> &Sock {
        &self.stream
    }

    /// Reads plaintext into `buf`, waiting until `deadline` for something to arrive;
    /// `Ok(0)` at a clean end of stream. On TLS, an end of stream without close_notify is
    /// an error. `scratch` holds ciphertext read and not yet decrypted (one reader at a
    /// time).
    pub(crate) fn read(
        &self,
        buf: &mut [u8],
        scratch: &mut ReadBuf,
        deadline: Option<Instant>,
        timeout: &mut Option<Duration>,
    ) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return self.read_tls(tls, buf, scratch, deadline, timeout);
        }
        let _ = scratch;
        net::recv_by(&self.stream, buf, deadline, timeout)
    }

    /// Sends all of `data` before `deadline` (one writer at a time). `timeout` tracks the
    /// socket's send timeout.
    pub(crate) fn write_all(
        &self,
        data: &[u8],
        deadline: Option<Instant>,
        timeout: &mut Option<Duration>,
    ) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut rest = data;
            let mut records = Vec::new();
            loop {
                records.clear();
                let sealed = {
                    let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
                    crate::tls::seal_send(&mut conn, rest, &self.stream, &mut records)?
                };
                net::send_all(&self.stream, &records, deadline, timeout)?;
                rest = &rest[sealed.taken..];
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        net::send_all(&self.stream, data, deadline, timeout)
    }

    /// Ends our direction: close_notify (TLS), then FIN after everything written. Reading
    /// goes on until the peer ends its direction.
    pub(crate) fn shutdown_write(
        &self,
        deadline: Option<Instant>,
        timeout: &mut Option<Duration>,
    ) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(records) = self.close_notify() {
            net::send_all(&self.stream, &records, deadline, timeout)?;
        }
        let _ = (deadline, timeout);
        self.stream.shutdown(Shutdown::Write)
    }

    /// Closing with no write in progress: close_notify as far as the socket takes it at
    /// once (a peer that does not read cannot hold `close` up), then FIN.
    pub(crate) fn finish_now(&self) {
        #[cfg(feature = "tls")]
        if let Some(records) = self.close_notify() {
            let _ = net::send_now(&self.stream, &records);
        }
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    #[cfg(feature = "tls")]
    fn close_notify(&self) -> Option<Vec<u8>> {
        let tls = self.tls.as_ref()?;
        let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
        conn.send_close_notify();
        let mut records = Vec::new();
        let _ = crate::tls::seal_into(&mut conn, &[], &mut records);
        Some(records)
    }

    /// What the TLS handshake agreed on, on a TLS connection.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_info(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls_info.as_ref()
    }

    #[cfg(feature = "tls")]
    fn read_tls(
        &self,
        tls: &std::sync::Mutex<rustls::ClientConnection>,
        buf: &mut [u8],
        cipher: &mut ReadBuf,
        deadline: Option<Instant>,
        timeout: &mut Option<Duration>,
    ) -> io::Result<usize> {
        use crate::tls::io_error;
        use std::io::Read;
        loop {
            let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
            match conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(crate::tls::truncated())
                }
                Err(e) => return Err(e),
            }
            // Feed what was read before, a bit at a time: rustls refuses more ciphertext
            // while its decrypted plaintext has not been taken.
            if !cipher.is_empty() {
                let used = conn.read_tls(&mut cipher.data())?;
                cipher.consume(used);
                conn.process_new_packets().map_err(io_error)?;
                continue;
            }
            drop(conn);
            // The socket read happens without the session's lock. A record trickled in
            // pieces takes several reads; the deadline holds for all of them.
            let n = net::recv_by(
                &self.stream,
                cipher.spare(CIPHERTEXT_CHUNK),
                deadline,
                timeout,
            )?;
            cipher.commit(n);
            if n == 0 {
                let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
                conn.read_tls(&mut io::empty())?; // the end of stream
                conn.process_new_packets().map_err(io_error)?;
            }
        }
    }
}

#[cfg(feature = "tls")]
fn handshake(
    stream: &Sock,
    host: &str,
    secure: &crate::tls::ClientSecureSocket,
    config: &ClientConfig,
    context: &str,
) -> Result<rustls::ClientConnection> {
    use crate::error::{Error, ErrorKind};
    use rustls_pki_types::ServerName;

    let tls_config = secure.config(context)?;
    let name = secure.server_name_for(host);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(name.to_string()).map_err(|e| {
        Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!("{name:?} is not a valid server name to verify: {e}"),
        )
    })?;
    let mut conn = rustls::ClientConnection::new(tls_config, name)
        .map_err(|e| Error::io(context, crate::tls::io_error(e)))?;
    let timeout = secure.handshake_timeout_value();
    let send_timeout_changed = crate::tls::drive_handshake(&mut conn, stream, timeout)
        .map_err(|e| crate::tls::handshake_error(e, timeout, context))?;
    // Back to the client's own timeouts.
    let restore = || -> io::Result<()> {
        stream.set_read_timeout(config.timeout)?;
        if send_timeout_changed {
            stream.set_write_timeout(config.write_timeout)?;
        }
        Ok(())
    };
    restore().map_err(|e| Error::io(context, e))?;
    Ok(conn)
}
