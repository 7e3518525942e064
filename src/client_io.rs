//! `ClientIo`: what a `Client` reads and writes through — the TCP stream, or a TLS session
//! over it (set up here, right after the connect, within the handshake timeout).
//!
//! Every method takes `&self`, so one thread can read while another writes. With TLS the
//! session's lock is never held across socket I/O: a reader waiting for bytes never blocks
//! a writer. The `Client` serialises readers among themselves and writers among themselves.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use crate::buffer::ReadBuf;
use crate::client_config::ClientConfig;
use crate::error::Result;

#[derive(Debug)]
pub(crate) struct ClientIo {
    stream: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Mutex<rustls::ClientConnection>>,
}

/// How much ciphertext one read takes from the socket.
#[cfg(feature = "tls")]
const CIPHERTEXT_CHUNK: usize = 32 * 1024;

impl ClientIo {
    /// Wraps a connected stream, running the TLS handshake when the configuration asks for
    /// TLS. `host` is what the client connected to: the server name to verify by default.
    pub(crate) fn establish(
        stream: TcpStream,
        host: &str,
        config: &ClientConfig,
        context: &str,
    ) -> Result<ClientIo> {
        #[cfg(feature = "tls")]
        if let Some(secure) = config.secure_socket.as_ref().filter(|s| s.is_enabled()) {
            let conn = handshake(&stream, host, secure, config, context)?;
            return Ok(ClientIo {
                stream,
                tls: Some(std::sync::Mutex::new(conn)),
            });
        }
        let _ = (host, config, context);
        Ok(ClientIo {
            stream,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads plaintext into `buf`; `Ok(0)` at a clean end of stream. On TLS, an end of
    /// stream without close_notify is an error. `scratch` holds ciphertext read and not yet
    /// decrypted (one reader at a time).
    pub(crate) fn read(&self, buf: &mut [u8], scratch: &mut ReadBuf) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return read_tls(&self.stream, tls, buf, scratch);
        }
        let _ = scratch;
        (&self.stream).read(buf)
    }

    /// Sends all of `data` (one writer at a time).
    pub(crate) fn write_all(&self, data: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let records = seal(tls, |conn| conn.writer().write_all(data))?;
            return (&self.stream).write_all(&records);
        }
        (&self.stream).write_all(data)
    }

    /// Ends our direction: close_notify (TLS), then FIN after everything written. Reading
    /// goes on until the peer ends its direction.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let records = seal(tls, |conn| {
                conn.send_close_notify();
                Ok(())
            })?;
            (&self.stream).write_all(&records)?;
        }
        self.stream.shutdown(Shutdown::Write)
    }

    /// What the TLS handshake agreed on, on a TLS connection.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        let tls = self.tls.as_ref()?;
        let conn = tls.lock().unwrap_or_else(|e| e.into_inner());
        Some(crate::tls::TlsInfo::of(&conn))
    }
}

#[cfg(feature = "tls")]
fn handshake(
    stream: &TcpStream,
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
    crate::tls::drive_handshake(&mut conn, stream, timeout)
        .map_err(|e| crate::tls::handshake_error(e, timeout, context))?;
    // Back to the client's own timeouts.
    let restore = || -> io::Result<()> {
        stream.set_read_timeout(config.timeout)?;
        stream.set_write_timeout(config.write_timeout)
    };
    restore().map_err(|e| Error::io(context, e))?;
    Ok(conn)
}

/// Runs `step` on the session and takes out the records it produced (with any it already
/// had waiting), under the lock; the caller sends them after releasing it.
#[cfg(feature = "tls")]
fn seal(
    tls: &std::sync::Mutex<rustls::ClientConnection>,
    step: impl FnOnce(&mut rustls::ClientConnection) -> io::Result<()>,
) -> io::Result<Vec<u8>> {
    let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
    step(&mut conn)?;
    let mut records = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut records)?;
    }
    Ok(records)
}

#[cfg(feature = "tls")]
fn read_tls(
    stream: &TcpStream,
    tls: &std::sync::Mutex<rustls::ClientConnection>,
    buf: &mut [u8],
    cipher: &mut ReadBuf,
) -> io::Result<usize> {
    use crate::tls::io_error;
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
        // The socket read happens without the session's lock.
        let n = (&*stream).read(cipher.spare(CIPHERTEXT_CHUNK))?;
        cipher.commit(n);
        if n == 0 {
            let mut conn = tls.lock().unwrap_or_else(|e| e.into_inner());
            conn.read_tls(&mut io::empty())?; // the end of stream
            conn.process_new_packets().map_err(io_error)?;
        }
    }
}
