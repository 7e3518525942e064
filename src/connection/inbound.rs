//! `Inbound`: the read side of an accepted connection, owned by its thread. It reads from
//! the socket into a buffer that grows with the traffic, through the TLS session when
//! there is one, and hands out what arrived. The first reads land in 512 bytes inside
//! `Inbound` itself, on the connection thread's stack, in a page its frames use anyway: a
//! connection whose pieces fit there (an idle one, a chat) holds no read buffer on the
//! heap. A read that fills them moves reading to the heap, 1 KiB doubling while reads fill
//! it, up to `read_buffer_size`. A read waits until its deadline at most, then returns a
//! `TimedOut` error; whoever reads decides what the deadline was (idle, lifetime, a
//! stream's read timeout).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Connection;
use crate::net;

/// Room for the first reads, inside `Inbound`.
const INLINE: usize = 512;

#[derive(Debug)]
pub(crate) struct Inbound {
    room: Room,
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

/// Where reads from the socket land.
#[derive(Debug)]
struct Room {
    /// Until a read fills it (at most `max` of it is used).
    inline: [u8; INLINE],
    /// After that; empty until then.
    heap: Vec<u8>,
    /// `read_buffer_size`: the most one read takes.
    max: usize,
    /// The last read filled the room: grow it before the next one.
    grow: bool,
    /// The socket's read timeout as the last read left it.
    timeout: Option<Duration>,
}

impl Room {
    /// Reads what the socket has (waiting until `deadline` at most); empty at the end
    /// of the stream.
    fn read(&mut self, conn: &Connection, deadline: Option<Instant>) -> io::Result<&[u8]> {
        self.prepare();
        let room = if self.heap.is_empty() {
            &mut self.inline[..INLINE.min(self.max)]
        } else {
            &mut self.heap[..]
        };
        let n = net::recv_by(conn.socket().stream(), room, deadline, &mut self.timeout)?;
        self.grow = n == room.len() && n < self.max;
        conn.counted_in(n);
        Ok(&room[..n])
    }

    /// Doubles the room if the last read filled it: from `inline` to the heap, then the
    /// heap buffer itself, up to `max`.
    fn prepare(&mut self) {
        if self.grow {
            self.grow = false;
            let filled = if self.heap.is_empty() {
                INLINE
            } else {
                self.heap.len()
            };
            self.heap.resize((filled * 2).min(self.max), 0);
        }
    }
}

impl Inbound {
    pub(crate) fn new(max: usize) -> Inbound {
        Inbound {
            room: Room {
                inline: [0u8; INLINE],
                heap: Vec::new(),
                max: max.max(1),
                grow: false,
                timeout: None,
            },
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

    /// Collects the input that arrived with the TLS handshake (a client may send data right
    /// behind its last handshake message), so that it counts as [`buffered`](Self::buffered).
    /// Done by the first read if not before; nothing to do on a plain connection.
    pub(crate) fn prime(&mut self, conn: &Arc<Connection>) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let (false, Some(session)) = (self.primed, conn.socket().tls()) {
            self.primed = true;
            let opened = session.open(&[], &mut self.plain);
            return self.after(conn, opened);
        }
        let _ = conn;
        Ok(())
    }

    /// Whether input read from the socket already waits to be handed out (TLS only: a
    /// record holds more than one read's worth, or its end of stream), so that the next
    /// [`read`](Self::read) returns without waiting.
    pub(crate) fn buffered(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.plain_at < self.plain.len() || self.closed;
        #[cfg(not(feature = "tls"))]
        false
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
        let data = self.room.read(conn, deadline)?;
        Ok((!data.is_empty()).then_some(data))
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
        self.prime(conn)?;
        while self.plain.is_empty() {
            if self.closed {
                return Ok(None);
            }
            let data = self.room.read(conn, deadline)?;
            if data.is_empty() {
                session.open_eof(&mut self.plain)?;
                self.closed = true;
                continue;
            }
            let opened = session.open(data, &mut self.plain);
            self.after(conn, opened)?;
        }
        // One record holds up to 16 KiB of plaintext: hand it out in pieces of at most
        // `read_buffer_size`, as a plain read would.
        let start = self.plain_at;
        self.plain_at = (start + self.room.max).min(self.plain.len());
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

    /// How much the next read may take.
    fn next_read(room: &mut Room) -> usize {
        room.prepare();
        if room.heap.is_empty() {
            INLINE.min(room.max)
        } else {
            room.heap.len()
        }
    }

    #[test]
    fn starts_inline_then_doubles_on_the_heap_up_to_the_most() {
        let mut room = Inbound::new(3000).room;
        assert_eq!(next_read(&mut room), INLINE);
        assert!(
            room.heap.is_empty(),
            "nothing on the heap until a read fills the room"
        );
        let mut sizes = Vec::new();
        for _ in 0..4 {
            room.grow = true;
            sizes.push(next_read(&mut room));
        }
        assert_eq!(sizes, [1024, 2048, 3000, 3000]);
        let mut small = Inbound::new(100).room;
        assert_eq!(next_read(&mut small), 100);
    }
}
