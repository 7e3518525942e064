//! `ClientIo`: what a `Client` reads and writes through — the TCP stream, or a TLS session
//! over it (set up here, right after the connect, within the handshake timeout).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};

use crate::client_config::ClientConfig;
use crate::error::Result;
use crate::net;

#[derive(Debug)]
pub(crate) enum ClientIo {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

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
            return tls(stream, host, secure, config, context);
        }
        let _ = (host, config, context);
        Ok(ClientIo::Plain(stream))
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            ClientIo::Plain(stream) => stream,
            #[cfg(feature = "tls")]
            ClientIo::Tls(tls) => tls.get_ref(),
        }
    }

    /// Ends the connection in order: close_notify (TLS), FIN after everything written, then
    /// what already arrived is read and dropped so that closing sends no reset.
    pub(crate) fn close(&mut self) {
        #[cfg(feature = "tls")]
        if let ClientIo::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        let stream = self.tcp();
        let _ = stream.shutdown(Shutdown::Write);
        net::discard_buffered(stream);
    }

    /// What the TLS handshake agreed on, on a TLS connection.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        match self {
            ClientIo::Plain(_) => None,
            ClientIo::Tls(tls) => Some(crate::tls::TlsInfo::of(&tls.conn)),
        }
    }
}

#[cfg(feature = "tls")]
fn tls(
    stream: TcpStream,
    host: &str,
    secure: &crate::tls::ClientSecureSocket,
    config: &ClientConfig,
    context: &str,
) -> Result<ClientIo> {
    use crate::error::{Error, ErrorKind};
    use rustls_pki_types::ServerName;

    let tls_config = secure.config(context)?;
    let name = secure.server_name_for(host);
    let name = ServerName::try_from(
        name.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
    .map_err(|e| {
        Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!("{name:?} is not a valid server name to verify: {e}"),
        )
    })?;
    let mut conn = rustls::ClientConnection::new(tls_config, name)
        .map_err(|e| Error::io(context, crate::tls::io_error(e)))?;
    let timeout = secure.handshake_timeout_value();
    crate::tls::drive_handshake(&mut conn, &stream, timeout)
        .map_err(|e| crate::tls::handshake_error(e, timeout, context))?;
    // Back to the client's own timeouts.
    let restore = |s: &TcpStream| -> io::Result<()> {
        s.set_read_timeout(config.timeout)?;
        s.set_write_timeout(config.write_timeout)
    };
    restore(&stream).map_err(|e| Error::io(context, e))?;
    Ok(ClientIo::Tls(Box::new(rustls::StreamOwned::new(
        conn, stream,
    ))))
}

/// Reads plaintext. On TLS, an end of stream without close_notify is an error.
impl Read for ClientIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientIo::Plain(stream) => stream.read(buf),
            #[cfg(feature = "tls")]
            ClientIo::Tls(tls) => tls.read(buf).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    crate::tls::io_error(rustls::Error::General(
                        "peer closed the connection without a TLS close_notify: the data may be truncated"
                            .into(),
                    ))
                } else {
                    e
                }
            }),
        }
    }
}

impl Write for ClientIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientIo::Plain(stream) => stream.write(buf),
            #[cfg(feature = "tls")]
            ClientIo::Tls(tls) => tls.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            ClientIo::Plain(stream) => stream.write_all(buf),
            #[cfg(feature = "tls")]
            ClientIo::Tls(tls) => {
                tls.write_all(buf)?;
                tls.flush()
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientIo::Plain(stream) => stream.flush(),
            #[cfg(feature = "tls")]
            ClientIo::Tls(tls) => tls.flush(),
        }
    }
}
