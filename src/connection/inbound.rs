//! `Inbound`: the read side of an accepted connection, owned by its thread. It reads from
//! the socket into a buffer that grows with the traffic (1 KiB, doubling while reads fill
//! it, up to `read_buffer_size`), through the TLS session when there is one, and hands out
//! what arrived. A read waits until its deadline at most, then returns a `TimedOut` error;
//! whoever reads decides what the deadline was (idle, lifetime, a stream's read timeout).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Connection;
use crate::net;

/// An idle connection's read buffer costs this much.
const INITIAL: usize = 1024;

#[derive(Debug)]
pub(crate) struct Inbound {
    buf: Vec<u8>,
    max: usize,
    /// The last read filled the buffer: grow it before the next one.
    grow: bool,
    /// The socket's read timeout as the last read left it.
    timeout: Option<Duration>,
    /// TLS: decrypted input, handed out from `plain_at` on, at most `max` bytes a piece.
    #[cfg(feature = "tls")]
    plain: Vec<u8>,
    #[cfg(feature = "tls")]
    plain_at: usize,
    /// TLS: input that arrived with the handshake has been collected.
    #[cfg(feature = "tls")]
    primed: bool,
    /// TLS: the peer sent close_notify; what follows is the end of stream.
    #[cfg(feature = "tls")]
    closed: bool,
}

impl Inbound {
    pub(crate) fn new(max: usize) -> Inbound {
        let max = max.max(1);
        Inbound {
            buf: vec![0u8; INITIAL.min(max)],
            max,
            grow: false,
            timeout: None,
            #[cfg(feature = "tls")]
            plain: Vec::new(),
            #[cfg(feature = "tls")]
            plain_at: 0,
            #[cfg(feature = "tls")]
            primed: false,
            #[cfg(feature = "tls")]
            closed: false,
        }
    }

    /// The next piece of input, or `None` at the end of the stream; a `TimedOut` error
    /// once `deadline` passes.
    pub(crate) fn read(
        &mut self,
        conn: &Arc<Connection>,
        deadline: Option<Instant>,
    ) -> io::Result<Option<&[u8]>> {
        #[cfg(feature = "tls")]
        if let Some(session) = conn.socket().tls() {
            return self.read_tls(conn, session, deadline);
        }
        let n = self.read_socket(conn, deadline)?;
        Ok((n > 0).then(|| &self.buf[..n]))
    }

    fn read_socket(&mut self, conn: &Connection, deadline: Option<Instant>) -> io::Result<usize> {
        if self.grow {
            self.grow = false;
            let bigger = (self.buf.len() * 2).min(self.max);
            self.buf.resize(bigger, 0);
        }
        let stream = conn.socket().stream();
        let n = net::recv_by(stream, &mut self.buf, deadline, &mut self.timeout)?;
        self.grow = n == self.buf.len() && n < self.max;
        conn.counted_in(n);
        Ok(n)
    }

    #[cfg(feature = "tls")]
    fn read_tls(
        &mut self,
        conn: &Arc<Connection>,
        session: &crate::tls::ServerSession,
        deadline: Option<Instant>,
    ) -> io::Result<Option<&[u8]>> {
        if self.plain_at == self.plain.len() {
            self.plain.clear();
            self.plain_at = 0;
        }
        if !self.primed {
            // The client may have sent data right behind its last handshake message.
            self.primed = true;
            let opened = session.open(&[], &mut self.plain);
            self.after(conn, opened)?;
        }
        while self.plain.is_empty() {
            if self.closed {
                return Ok(None);
            }
            let n = self.read_socket(conn, deadline)?;
            if n == 0 {
                session.open_eof(&mut self.plain)?;
                self.closed = true;
                continue;
            }
            let opened = session.open(&self.buf[..n], &mut self.plain);
            self.after(conn, opened)?;
        }
        // One record holds up to 16 KiB of plaintext: hand it out in pieces of at most
        // `read_buffer_size`, as a plain read would.
        let start = self.plain_at;
        self.plain_at = (start + self.max).min(self.plain.len());
        Ok(Some(&self.plain[start..self.plain_at]))
    }

    /// Sends what the session wants sent (a key update, an alert about bad input) and
    /// notes a close_notify.
    #[cfg(feature = "tls")]
    fn after(
        &mut self,
        conn: &Arc<Connection>,
        opened: io::Result<crate::tls::Opened>,
    ) -> io::Result<()> {
        let flush = |conn: &Arc<Connection>| {
            if conn.socket().has_pending() {
                let _ = conn.reply(&[]);
            }
        };
        match opened {
            Ok(opened) => {
                if opened.wants_write {
                    flush(conn);
                }
                self.closed |= opened.closed;
                Ok(())
            }
            Err(e) => {
                flush(conn);
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_small() {
        let inbound = Inbound::new(64 * 1024);
        assert_eq!(inbound.buf.len(), INITIAL);
        assert_eq!(Inbound::new(100).buf.len(), 100);
    }
}
