//! How bytes meet the socket of an accepted connection: as they are, or through its TLS
//! session. The write path asks it to seal what it sends (under the connection's write
//! lock, so that records go out in the order they were made); the read side asks the
//! session to open what it reads.

use std::borrow::Cow;
use std::io;

#[derive(Debug)]
pub(crate) enum Transport {
    Plain,
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls::ServerSession>),
}

impl Transport {
    /// The bytes to put on the wire for `data`: `data` itself, or TLS records (with any
    /// records the session was already waiting to send before them).
    pub(crate) fn seal<'a>(&self, data: &'a [u8]) -> io::Result<Cow<'a, [u8]>> {
        match self {
            Transport::Plain => Ok(Cow::Borrowed(data)),
            #[cfg(feature = "tls")]
            Transport::Tls(session) => session.seal(data).map(Cow::Owned),
        }
    }

    /// Whether the session has records of its own to send (a handshake message, an alert).
    pub(crate) fn has_pending(&self) -> bool {
        match self {
            Transport::Plain => false,
            #[cfg(feature = "tls")]
            Transport::Tls(session) => session.has_pending(),
        }
    }

    /// What to send last, before FIN: TLS's close_notify alert, nothing for plain TCP.
    pub(crate) fn close_notify(&self) -> Vec<u8> {
        match self {
            Transport::Plain => Vec::new(),
            #[cfg(feature = "tls")]
            Transport::Tls(session) => session.close_notify(),
        }
    }
}
