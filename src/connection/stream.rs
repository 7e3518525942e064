//! `Stream`: one accepted connection as a blocking stream, for handlers that read and write
//! in a loop on the connection's own thread (`Listener::attach_handler`). Reads wait by the
//! connection's limits (idle timeout, lifetime) and the stream's own read timeout; writes
//! go through the connection's write path, like every other write.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::caller::Caller;
use super::inbound::Inbound;
use super::{limits, Connection};
use crate::addr::Addr;
#[cfg(feature = "peer-credentials")]
use crate::addr::PeerCredentials;
use crate::buffer::ReadBuf;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Codec;
use crate::net;

/// One accepted connection as a blocking stream: what a handler given to
/// [`Listener::attach_handler`](crate::Listener::attach_handler) reads from and writes to,
/// in a loop, on the connection's own thread.
///
/// `Stream` (and `&Stream`) implements [`io::Read`] and [`io::Write`], so `BufReader`,
/// `lines()`, `write!` and `io::copy` work as on a `TcpStream`. It also reads whole frames
/// ([`read_frame`](Stream::read_frame)) and exact counts, and carries the connection's
/// metadata (its [`caller`](Stream::caller): id, addresses, TLS).
///
/// Reads wait at most the stream's [read timeout](Stream::set_read_timeout) (none by
/// default), and never past the listener's `idle_timeout` or `max_lifetime`: then they
/// return an [`ErrorKind::Timeout`] error. Writes are bounded by the listener's
/// `write_timeout`. A stop or a `Caller::close` from another thread wakes a blocked read:
/// it returns the end of the stream (after our FIN is answered) or a `Closed` error.
///
/// # Examples
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use synctcp::{Client, Listener};
///
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach_handler(|stream| {
///     // The classic loop: read a line, write it back.
///     for line in BufReader::new(&*stream).lines() {
///         writeln!(&*stream, "{}", line?)?;
///     }
///     Ok(())
/// })?;
/// listener.start()?;
///
/// let client = Client::connect(listener.local_addr())?;
/// client.write_bytes(b"hello\n")?;
/// assert_eq!(client.read_bytes_exact(6)?, b"hello\n");
/// # Ok::<(), synctcp::Error>(())
/// ```
pub struct Stream {
    conn: Arc<Connection>,
    caller: Caller,
    reading: RefCell<Reading>,
}

/// The read side: what arrived and was not handed out yet.
struct Reading {
    inbound: Inbound,
    pending: ReadBuf,
    eof: bool,
    timeout: Option<Duration>,
}

impl Stream {
    pub(crate) fn new(conn: &Arc<Connection>, caller: &Caller) -> Stream {
        Stream {
            conn: Arc::clone(conn),
            caller: caller.clone(),
            reading: RefCell::new(Reading {
                inbound: Inbound::new(conn.settings.read_buffer_size),
                pending: ReadBuf::default(),
                eof: false,
                timeout: None,
            }),
        }
    }

    /// The connection's [`Caller`]: its id and addresses, and a handle other threads can
    /// keep to write to this connection (a chat server written as loops).
    ///
    /// # Examples
    ///
    /// ```
    /// fn hello(stream: &synctcp::Stream) -> synctcp::Result<()> {
    ///     let caller = stream.caller();
    ///     stream.write_bytes(format!("you are {} from {}\n", caller.id(), caller.remote_addr()).as_bytes())
    /// }
    /// ```
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// The connection's id (see [`Caller::id`]).
    ///
    /// # Examples
    ///
    /// ```
    /// fn id(stream: &synctcp::Stream) -> u64 {
    ///     stream.id()
    /// }
    /// ```
    pub fn id(&self) -> u64 {
        self.caller.id()
    }

    /// The peer's address, as [`Caller::remote_addr`].
    ///
    /// # Examples
    ///
    /// ```
    /// fn from(stream: &synctcp::Stream) -> synctcp::Addr {
    ///     stream.peer_addr()
    /// }
    /// ```
    pub fn peer_addr(&self) -> Addr {
        self.caller.remote_addr()
    }

    /// The peer's IP address (Ballerina's `remoteHost`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// fn is_local(stream: &synctcp::Stream) -> bool {
    ///     stream.remote_host().map_or(true, |ip| ip.is_loopback())
    /// }
    /// ```
    pub fn remote_host(&self) -> Option<IpAddr> {
        self.caller.remote_host()
    }

    /// The local address the connection was accepted on: an IP address and port, or the
    /// listener's socket path.
    ///
    /// # Examples
    ///
    /// ```
    /// fn on(stream: &synctcp::Stream) -> synctcp::Addr {
    ///     stream.local_addr()
    /// }
    /// ```
    pub fn local_addr(&self) -> Addr {
        self.caller.local_addr()
    }

    /// On a Unix socket, the peer process's user, group and id, as
    /// [`Caller::peer_credentials`]. With the `peer-credentials` feature only.
    ///
    /// # Examples
    ///
    /// ```
    /// fn uid(stream: &synctcp::Stream) -> Option<u32> {
    ///     stream.peer_credentials().map(|peer| peer.uid)
    /// }
    /// ```
    #[cfg(feature = "peer-credentials")]
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.caller.peer_credentials()
    }

    /// What the TLS handshake agreed on, or `None` on a plain connection.
    ///
    /// # Examples
    ///
    /// ```
    /// fn secure(stream: &synctcp::Stream) -> bool {
    ///     stream.tls().is_some()
    /// }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.caller.tls()
    }

    /// How long one read call may wait in all; `None` (the default) waits as long as the
    /// listener's `idle_timeout` and `max_lifetime` allow.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a zero duration (use `None`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// fn patient(stream: &synctcp::Stream) -> synctcp::Result<()> {
    ///     stream.set_read_timeout(Some(Duration::from_secs(30)))
    /// }
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                format!("set the read timeout of {}", self.conn.label()),
                "a timeout must be more than zero (use None to wait forever)",
            ));
        }
        self.reading.borrow_mut().timeout = timeout;
        Ok(())
    }

    /// The read timeout in force.
    ///
    /// # Examples
    ///
    /// ```
    /// fn timeout(stream: &synctcp::Stream) -> Option<std::time::Duration> {
    ///     stream.read_timeout()
    /// }
    /// ```
    pub fn read_timeout(&self) -> Option<Duration> {
        self.reading.borrow().timeout
    }

    /// Returns the bytes available now, waiting for at least one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] at the end of the stream (the peer finished sending) or once
    /// the connection was closed; [`ErrorKind::Timeout`] at the read timeout, the idle
    /// timeout or the end of the lifetime.
    ///
    /// # Examples
    ///
    /// ```
    /// fn greet(stream: &synctcp::Stream) -> synctcp::Result<()> {
    ///     let name = stream.read_bytes()?;
    ///     stream.write_bytes(&[&b"hello "[..], &name].concat())
    /// }
    /// ```
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let mut reading = self.reading.borrow_mut();
        let deadline = reading.timeout.map(|t| Instant::now() + t);
        if reading.pending.is_empty() {
            self.fill(&mut reading, deadline)?;
        }
        let n = reading.pending.len();
        Ok(reading.pending.take(n))
    }

    /// Returns exactly `len` bytes, waiting until they have all arrived; the read timeout
    /// bounds the whole call. Bytes received before an error are kept for the next read.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Stream::read_bytes); `Closed` when the stream ends before `len`
    /// bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// fn header(stream: &synctcp::Stream) -> synctcp::Result<[u8; 4]> {
    ///     let bytes = stream.read_bytes_exact(4)?;
    ///     Ok([bytes[0], bytes[1], bytes[2], bytes[3]])
    /// }
    /// ```
    pub fn read_bytes_exact(&self, len: usize) -> Result<Vec<u8>> {
        let mut reading = self.reading.borrow_mut();
        let deadline = reading.timeout.map(|t| Instant::now() + t);
        while reading.pending.len() < len {
            self.fill(&mut reading, deadline)?;
        }
        Ok(reading.pending.take(len))
    }

    /// Reads one whole frame, as `codec` finds frames (see
    /// [`Client::read_frame`](crate::Client::read_frame)).
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Stream::read_bytes); [`ErrorKind::InvalidData`] for a frame the
    /// codec refuses, or cut off by the end of the stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::Delimited;
    /// fn command(stream: &synctcp::Stream) -> synctcp::Result<String> {
    ///     Ok(String::from_utf8(stream.read_frame(&Delimited::lines())?)?)
    /// }
    /// ```
    pub fn read_frame<C: Codec + ?Sized>(&self, codec: &C) -> Result<Vec<u8>> {
        let mut reading = self.reading.borrow_mut();
        let deadline = reading.timeout.map(|t| Instant::now() + t);
        let mut progress = 0;
        loop {
            let decoded = match reading.eof {
                false => codec.decode(reading.pending.data(), &mut progress),
                true => codec.decode_eof(reading.pending.data()),
            };
            let context = || format!("read a frame from {}", self.conn.label());
            match decoded.map_err(|e| e.in_context(context()))? {
                Some(frame) => {
                    let body = reading.pending.data()[frame.body()].to_vec();
                    reading.pending.consume(frame.consumed());
                    return Ok(body);
                }
                None if reading.eof => return Err(self.ended()),
                None => {}
            }
            match self.fill(&mut reading, deadline) {
                Err(err) if err.kind() == ErrorKind::Closed && reading.eof => {}
                Err(err) => return Err(err),
                Ok(_) => {}
            }
        }
    }

    /// Writes all of `data` to the peer, in order with every other write to this
    /// connection (see [`Caller::write_bytes`]).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] once the connection is closing; [`ErrorKind::Timeout`] when
    /// the write is not done within the listener's write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// fn ok(stream: &synctcp::Stream) -> synctcp::Result<()> {
    ///     stream.write_bytes(b"OK\r\n")
    /// }
    /// ```
    pub fn write_bytes(&self, data: &[u8]) -> Result<()> {
        self.conn.reply(data)
    }

    /// Sends `frame`, encoded by `codec`, as one write.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the codec cannot encode it; otherwise as
    /// [`write_bytes`](Stream::write_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::LengthPrefixed;
    /// fn answer(stream: &synctcp::Stream, message: &[u8]) -> synctcp::Result<()> {
    ///     stream.write_frame(&LengthPrefixed::new(), message)
    /// }
    /// ```
    pub fn write_frame<C: Codec + ?Sized>(&self, codec: &C, frame: &[u8]) -> Result<()> {
        let bytes = codec
            .encoded(frame)
            .map_err(|e| e.in_context(format!("write a frame to {}", self.conn.label())))?;
        self.write_bytes(&bytes)
    }

    /// Ends the sending direction: everything written, then (TLS close_notify and) FIN;
    /// reading goes on. Later writes fail with [`ErrorKind::Closed`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when what is queued is not sent within the write timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// fn last_word(stream: &synctcp::Stream) -> synctcp::Result<Vec<u8>> {
    ///     stream.write_bytes(b"bye\n")?;
    ///     stream.shutdown_write()?;
    ///     stream.read_bytes() // the peer may still say something
    /// }
    /// ```
    pub fn shutdown_write(&self) -> Result<()> {
        self.conn.out.finish()
    }

    /// Whether the peer has ended its stream (a read saw it).
    pub(crate) fn saw_eof(&self) -> bool {
        self.reading.borrow().eof
    }

    /// Reads once more from the connection into `pending`.
    fn fill(&self, reading: &mut Reading, deadline: Option<Instant>) -> Result<usize> {
        if reading.eof {
            return Err(self.ended());
        }
        let conn = &self.conn;
        loop {
            let limit = match (deadline, limits::read_deadline(conn)) {
                (Some(d), Some(l)) => Some(d.min(l)),
                (d, l) => d.or(l),
            };
            match reading.inbound.read(conn, limit) {
                // A stop or a close on this side shut the socket: not the peer's doing.
                Ok(None) if conn.out.is_aborted() => return Err(self.closed()),
                Ok(None) => {
                    reading.eof = true;
                    return Err(self.ended());
                }
                Ok(Some(piece)) => {
                    let n = piece.len();
                    reading.pending.extend(piece);
                    conn.socket().touch();
                    if let Some(err) = limits::lifetime_over(conn) {
                        return Err(err);
                    }
                    return Ok(n);
                }
                Err(e) if net::is_timeout(&e) => {
                    if let Some(err) = limits::passed(conn) {
                        return Err(err);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(self.timed_out(reading.timeout));
                    }
                }
                Err(_) if conn.out.is_aborted() => return Err(self.closed()),
                Err(e) => return Err(Error::io(format!("read from {}", conn.label()), e)),
            }
        }
    }

    fn ended(&self) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("read from {}", self.conn.label()),
            "the peer ended the stream",
        )
    }

    fn closed(&self) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("read from {}", self.conn.label()),
            "connection is closed",
        )
    }

    fn timed_out(&self, timeout: Option<Duration>) -> Error {
        Error::with(
            ErrorKind::Timeout,
            format!("read from {}", self.conn.label()),
            format!(
                "timed out: nothing arrived within the read timeout of {:?}",
                timeout.unwrap_or_default()
            ),
        )
    }
}

/// Reads what arrived and was not handed out yet first; the end of the stream is `Ok(0)`.
impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut reading = self.reading.borrow_mut();
        if reading.pending.is_empty() && !buf.is_empty() {
            let deadline = reading.timeout.map(|t| Instant::now() + t);
            match self.fill(&mut reading, deadline) {
                Err(err) if err.kind() == ErrorKind::Closed && reading.eof => return Ok(0),
                Err(err) => return Err(err.into()),
                Ok(_) => {}
            }
        }
        let n = buf.len().min(reading.pending.len());
        buf[..n].copy_from_slice(&reading.pending.data()[..n]);
        reading.pending.consume(n);
        Ok(n)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

/// Each `write` is a whole [`write_bytes`](Stream::write_bytes).
impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf)?;
        Ok(buf.len())
    }

    /// Nothing to do: every write is out (or queued in order) when it returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sizes only: the bytes are the peer's.
impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reading = self.reading.borrow();
        f.debug_struct("Stream")
            .field("id", &self.caller.id())
            .field("peer", &self.conn.label())
            .field("buffered", &reading.pending.len())
            .field("eof", &reading.eof)
            .finish()
    }
}

/// The connection's socket, for socket options this crate does not set (as std's
/// `TcpStream` gives it). Bytes read or written through it bypass the stream's buffer and,
/// on a TLS connection, its encryption.
#[cfg(unix)]
impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.conn.socket().stream().as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.as_fd().as_raw_fd()
    }
}

/// The connection's socket, for socket options this crate does not set.
#[cfg(windows)]
impl std::os::windows::io::AsSocket for Stream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.conn.socket().stream().as_socket()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for Stream {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        use std::os::windows::io::AsSocket;
        self.as_socket().as_raw_socket()
    }
}
