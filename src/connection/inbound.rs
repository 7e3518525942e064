//! `Inbound`: the read side of an accepted connection, owned by its thread. It reads from
//! the socket into a buffer that grows with the traffic, through the TLS session when
//! there is one, and hands out what arrived. The first reads land in 512 bytes inside
//! `Inbound` itself, on the connection thread's stack, in a page its frames use anyway: a
//! connection whose pieces fit there (an idle one, a chat) holds no read buffer on the
//! heap. A read that fills them moves reading to the heap, 1 KiB doubling while reads fill
//! it, up to `read_buffer_size`. A read waits until its deadline at most, then returns a `TimedOut` error;
//! whoever reads decides what the deadline was (idle, lifetime, a stream's read timeout).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Connection;
use crate::net;

/// Room for the first reads, inside `Inbound`.
const INLINE: usize = 512;

#[derive(Debug)]
pub(crate) struct Inbound {
    /// Where reads land until one fills it.
    inline: [u8; INLINE],
    /// Where reads land after that; empty until then.
    heap: Vec<u8>,
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
            inline: [0u8; INLINE],
            heap: Vec::new(),
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
        Ok((n > 0).then(|| self.received(n)))
    }

    /// The room the next read may fill: `inline` (at most `max` of it) until a read filled
    /// it, then the heap buffer, doubled whenever the last read filled it.
    fn room(&mut self) -> &mut [u8] {
        if self.grow {
            self.grow = false;
            let filled = if self.heap.is_empty() {
                INLINE
            } else {
                self.heap.len()
            };
            self.heap.resize((filled * 2).min(self.max), 0);
        }
        if self.heap.is_empty() {
            &mut self.inline[..INLINE.min(self.max)]
        } else {
            &mut self.heap
        }
    }

    /// The `n` bytes the last read put in the room.
    fn received(&self, n: usize) -> &[u8] {
        if self.heap.is_empty() {
            &self.inline[..n]
        } else {
            &self.heap[..n]
        }
    }

    fn read_socket(&mut self, conn: &Connection, deadline: Option<Instant>) -> io::Result<usize> {
        let mut timeout = self.timeout;
        let room = self.room();
        let n = net::recv_by(conn.socket().stream(), room, deadline, &mut timeout)?;
        let filled = n == room.len();
        self.timeout = timeout;
        self.grow = filled && n < self.max;
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
            let mut plain = std::mem::take(&mut self.plain);
            let opened = session.open(self.received(n), &mut plain);
            self.plain = plain;
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
    fn starts_inline_then_doubles_on_the_heap() {
        let mut inbound = Inbound::new(64 * 1024);
        assert_eq!(inbound.room().len(), INLINE);
        assert!(inbound.heap.is_empty());
        inbound.grow = true;
        assert_eq!(inbound.room().len(), 2 * INLINE);
        inbound.grow = true;
        assert_eq!(inbound.room().len(), 4 * INLINE);
        let mut small = Inbound::new(100);
        assert_eq!(small.room().len(), 100);
        assert!(small.heap.is_empty());
    }
}
