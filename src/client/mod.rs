//! The client: [`Client`], Ballerina's `tcp:Client`, a blocking connection — how it is
//! made (`connect.rs`), read from (`read.rs`) and written to (`write.rs`), its
//! configuration (`config.rs`), and the plain or TLS stream under it (`stream.rs`).
//!
//! One thread may read while another writes; readers take turns, and so do writers, each
//! call with one deadline for all its waiting. `close` never waits for them: it cuts a
//! stalled write off and wakes a waiting read.

mod config;
mod connect;
mod read;
mod stream;
mod write;

pub use config::ClientConfig;

use std::net::{IpAddr, Shutdown};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::addr::Addr;
use crate::buffer::ReadBuf;
use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::timeout::AtomicTimeout;
use crate::turn::{Turn, TurnGuard};
use stream::ClientIo;

/// A TCP client: connects, then writes and reads bytes, blocking the calling thread.
///
/// Ballerina's `tcp:Client`. A read call waits at most the configured `timeout` and a write
/// call at most the `write_timeout` (300 s each by default), one deadline per call; a
/// closed or reset connection is an [`Error`], never a panic. `Client` also implements
/// [`std::io::Read`] and [`std::io::Write`] (and so does `&Client`), so it works with
/// `BufReader`, `io::copy` and `lines()`.
///
/// Every method takes `&self`: share a client (in an `Arc`) between a thread that reads and
/// a thread that writes, as a chat client does. Reads are served one at a time, and so are
/// writes; a read waiting for bytes never holds up a write.
///
/// Dropping a client closes it.
///
/// # Examples
///
/// ```
/// use synctcp::Client;
/// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let port = server.local_addr()?.port();
/// # std::thread::spawn(move || { let (mut s, _) = server.accept().unwrap();
/// #     let _ = std::io::copy(&mut s.try_clone().unwrap(), &mut s); });
///
/// let client = Client::connect(("localhost", port))?;
/// client.write_bytes(b"Hello Ballerina")?;
/// let reply = client.read_bytes_exact(15)?;
/// assert_eq!(reply, b"Hello Ballerina");
/// client.close()?;
/// # Ok::<(), synctcp::Error>(())
/// ```
#[must_use = "dropping a Client closes its connection"]
pub struct Client {
    io: ClientIo,
    /// The address as it was written, for error messages.
    target: String,
    local: Addr,
    peer: Addr,
    read_timeout: AtomicTimeout,
    write_timeout: AtomicTimeout,
    reading: Turn<Reading>,
    /// Taken for a whole write, so that writes from several threads never interleave.
    writing: Turn<Writing>,
    closed: AtomicBool,
    /// A call saw the peer reset the connection. The socket reports a reset once, to
    /// whichever call comes first, and then only an end of stream or a broken pipe; this
    /// makes every later call report the reset too.
    reset: AtomicBool,
}

/// The read side: what arrived and was not returned yet.
#[derive(Debug, Default)]
struct Reading {
    pending: ReadBuf,
    /// TLS ciphertext read from the socket and not yet decrypted.
    scratch: ReadBuf,
    peer_closed: bool,
    /// The socket's read timeout as the last read left it.
    socket_timeout: Option<Duration>,
}

/// The write side.
#[derive(Debug, Default)]
struct Writing {
    /// `shutdown_write` was called: no more writes.
    shut: bool,
    /// The socket's send timeout as the last write left it.
    socket_timeout: Option<Duration>,
}

impl Client {
    fn new(
        io: ClientIo,
        target: String,
        (local, peer): (Addr, Addr),
        config: &ClientConfig,
    ) -> Client {
        let reading = Reading {
            socket_timeout: config.timeout,
            ..Reading::default()
        };
        let writing = Writing {
            shut: false,
            socket_timeout: config.write_timeout,
        };
        Client {
            io,
            target,
            local,
            peer,
            read_timeout: AtomicTimeout::new(config.timeout),
            write_timeout: AtomicTimeout::new(config.write_timeout),
            reading: Turn::new(reading),
            writing: Turn::new(writing),
            closed: AtomicBool::new(false),
            reset: AtomicBool::new(false),
        }
    }

    /// Closes the connection and returns at once, whatever other threads are doing: the
    /// peer sees an orderly end of stream after every byte written. A write in progress on
    /// another thread is cut off (it returns [`ErrorKind::Closed`], and the peer sees the
    /// end of stream after the part sent), and a read waiting on another thread returns
    /// `Closed`. Input that arrived and was not read is discarded. Calling `close` again
    /// does nothing; later reads and writes fail with `Closed`.
    ///
    /// # Errors
    ///
    /// Never fails today; the `Result` leaves room for protocols whose close can fail, and
    /// matches [`Caller::close`](crate::Caller::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect(("127.0.0.1", port))?;
    /// client.close()?;
    /// client.close()?; // idempotent
    /// assert!(client.write_bytes(b"late").is_err());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let stream = self.io.sock();
        if self.writing.is_taken() {
            // A write is in progress (perhaps stuck on a peer that does not read): cut it
            // off. Shutting the socket down wakes it with an error.
            let _ = stream.shutdown(Shutdown::Write);
        } else {
            self.io.finish_now();
        }
        // Wake a read blocked on another thread, then read what already arrived so that
        // dropping the socket does not answer unread input with a reset.
        let _ = stream.shutdown(Shutdown::Read);
        net::discard_buffered(stream);
        log::debug!("closed connection to {}", self.target);
        Ok(())
    }

    /// What the TLS handshake agreed on (version, cipher suite, the server's certificate),
    /// or `None` on a plain connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect(("127.0.0.1", port))?;
    /// match client.tls() {
    ///     Some(tls) => println!("{} with {}", tls.protocol_version(), tls.cipher_suite()),
    ///     None => println!("plain TCP"),
    /// }
    /// # assert!(client.tls().is_none());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.io.tls_info()
    }

    /// Changes the read timeout (see [`ClientConfig::timeout`]) for the read calls that
    /// start from now on; `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a zero duration (use `None` to wait forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// client.set_read_timeout(Some(Duration::from_millis(50)))?;
    /// assert_eq!(client.read_bytes().unwrap_err().kind(), synctcp::ErrorKind::Timeout);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_timeout("set the read timeout of", timeout)?;
        self.read_timeout.set(timeout);
        Ok(())
    }

    /// Changes the write timeout (see [`ClientConfig::write_timeout`]) for the write calls
    /// that start from now on; `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] for a zero duration (use `None` to wait forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// client.set_write_timeout(Some(Duration::from_secs(5)))?;
    /// assert_eq!(client.write_timeout(), Some(Duration::from_secs(5)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_timeout("set the write timeout of", timeout)?;
        self.write_timeout.set(timeout);
        Ok(())
    }

    /// The read timeout in force.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert_eq!(client.read_timeout(), Some(std::time::Duration::from_secs(300)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout.get()
    }

    /// The write timeout in force.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert_eq!(client.write_timeout(), Some(std::time::Duration::from_secs(300)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout.get()
    }

    fn check_timeout(&self, operation: &str, timeout: Option<Duration>) -> Result<()> {
        if timeout == Some(Duration::ZERO) {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                format!("{operation} {}", self.target),
                "a timeout must be more than zero (use None to wait forever)",
            ));
        }
        Ok(())
    }

    /// The local address of the connection (std's name): an IP address and port, or for
    /// a Unix socket usually an unnamed one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert!(client.local_addr().ip().unwrap().is_loopback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&self) -> Addr {
        self.local.clone()
    }

    /// The address of the peer (std's name; [`remote_addr`](Client::remote_addr) is the
    /// same).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert_eq!(client.peer_addr(), server.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_addr(&self) -> Addr {
        self.peer.clone()
    }

    /// The address of the peer, as [`Caller::remote_addr`](crate::Caller::remote_addr)
    /// names it.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert_eq!(client.remote_addr(), client.peer_addr());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_addr(&self) -> Addr {
        self.peer.clone()
    }

    /// The peer's IP address (Ballerina's `remoteHost`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert!(client.remote_host().unwrap().is_loopback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_host(&self) -> Option<IpAddr> {
        self.peer.ip()
    }

    /// The peer's port (Ballerina's `remotePort`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// assert_eq!(client.remote_port(), Some(server.local_addr()?.port()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remote_port(&self) -> Option<u16> {
        self.peer.port()
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn closed_here(&self, operation: &str) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("{operation} {}", self.target),
            "client is closed",
        )
    }

    fn was_reset(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }

    /// The error for a call after another one saw the peer reset the connection.
    fn reset_earlier(&self, operation: &str) -> Error {
        Error::with(
            ErrorKind::Reset,
            format!("{operation} {}", self.target),
            "connection reset by peer (reported to an earlier call)",
        )
    }

    fn waited_too_long(&self, operation: &str, what: &str) -> Error {
        Error::with(
            ErrorKind::Timeout,
            format!("{operation} {}", self.target),
            format!("timed out: another thread's {what} did not end in time"),
        )
    }

    /// The turn to read, within `deadline`; `Closed` once the client is closed.
    fn take_reading(
        &self,
        operation: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<TurnGuard<'_, Reading>> {
        self.take(&self.reading, operation, "read", deadline)
    }

    /// The turn to write, within `deadline`; `Closed` once the client is closed.
    fn take_writing(
        &self,
        operation: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<TurnGuard<'_, Writing>> {
        self.take(&self.writing, operation, "write", deadline)
    }

    fn take<'a, T>(
        &'a self,
        turn: &'a Turn<T>,
        operation: &str,
        what: &str,
        deadline: Option<std::time::Instant>,
    ) -> Result<TurnGuard<'a, T>> {
        if self.is_closed() {
            return Err(self.closed_here(operation));
        }
        let taken = turn
            .take(deadline)
            .ok_or_else(|| self.waited_too_long(operation, what))?;
        if self.is_closed() {
            return Err(self.closed_here(operation));
        }
        Ok(taken)
    }

    /// The error for a failed read or write: `Closed` once the client is closed (that is
    /// why it failed), `Timeout` naming the timeout, or the I/O error.
    fn failure(&self, operation: &str, e: std::io::Error, timeout: Option<Duration>) -> Error {
        if self.is_closed() {
            return self.closed_here(operation);
        }
        let err = Error::io(format!("{operation} {}", self.target), e);
        if err.kind() == ErrorKind::Reset {
            self.reset.store(true, Ordering::SeqCst);
        } else if self.was_reset() {
            return self.reset_earlier(operation);
        }
        match (err.kind(), timeout) {
            (ErrorKind::Timeout, Some(t)) if operation.starts_with("read") => err.message(format!(
                "timed out: nothing arrived within the timeout of {t:?}"
            )),
            (ErrorKind::Timeout, Some(t)) => err.message(format!(
                "timed out: not all sent within the write_timeout of {t:?}"
            )),
            _ => err,
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The socket's descriptor, for `poll` loops and socket options this crate does not set.
#[cfg(unix)]
impl std::os::fd::AsFd for Client {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.io.sock().as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Client {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.io.sock().as_fd().as_raw_fd()
    }
}

/// The socket's handle, for socket options this crate does not set.
#[cfg(windows)]
impl std::os::windows::io::AsSocket for Client {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.io.sock().as_socket()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for Client {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        use std::os::windows::io::AsSocket;
        self.io.sock().as_socket().as_raw_socket()
    }
}
