//! The client: [`Client`], Ballerina's `tcp:Client`, a blocking connection, with its
//! configuration (`config.rs`) and the plain or TLS stream under it (`stream.rs`).
//!
//! One thread may read while another writes; readers take turns, and so do writers, each
//! call with one deadline for all its waiting. Reads keep what they received but did not
//! return in a `ReadBuf`, so a timeout in the middle of `read_bytes_exact` loses nothing.

mod config;
mod stream;

pub use config::ClientConfig;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::buffer::ReadBuf;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Codec;
use crate::net::{self, ConnectError};
use crate::turn::{Turn, TurnGuard};
use stream::ClientIo;

/// How many bytes one `read_bytes` asks the socket for.
const READ_CHUNK: usize = 16 * 1024;

/// A TCP client: connects, then writes and reads bytes, blocking the calling thread.
///
/// Ballerina's `tcp:Client`. Reads wait at most the configured `timeout` and writes at most
/// the `write_timeout` (300 s each by default); a closed or reset connection is an
/// [`Error`], never a panic. `Client` also implements [`std::io::Read`] and
/// [`std::io::Write`] (and so does `&Client`), so it works with `BufReader`, `io::copy` and
/// `lines()`.
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
/// let mut client = Client::connect("localhost", port)?;
/// client.write_bytes(b"Hello Ballerina")?;
/// let reply = client.read_bytes_exact(15)?;
/// assert_eq!(reply, b"Hello Ballerina");
/// client.close()?;
/// # Ok::<(), synctcp::Error>(())
/// ```
pub struct Client {
    io: ClientIo,
    /// `host:port` as given, for error messages.
    target: String,
    local: SocketAddr,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    reading: Turn<Reading>,
    /// Taken for a whole write, so that writes from several threads never interleave.
    writing: Turn<()>,
    closed: AtomicBool,
}

/// The read side: what arrived and was not returned yet.
#[derive(Debug, Default)]
struct Reading {
    pending: ReadBuf,
    /// TLS ciphertext read from the socket and not yet decrypted.
    scratch: ReadBuf,
    peer_closed: bool,
}

impl Client {
    /// Connects to `host:port` with the default [`ClientConfig`].
    ///
    /// `host` is a name, an IPv4 or an IPv6 address; every address a name resolves to is
    /// tried in turn.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionRefused`] when nothing listens there,
    /// [`ErrorKind::HostNotFound`] when the name does not resolve,
    /// [`ErrorKind::Timeout`] when connecting takes longer than the connect timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::Client;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = Client::connect("127.0.0.1", port)?;
    /// assert_eq!(client.peer_addr().port(), port);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn connect(host: &str, port: u16) -> Result<Client> {
        Client::connect_with(host, port, &ClientConfig::default())
    }

    /// Connects to `host:port` with the given configuration: a local interface to bind,
    /// timeouts, TLS.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`], and [`ErrorKind::InvalidConfig`] when `local_host` is not an
    /// interface of this machine or a timeout is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Client, ClientConfig, ErrorKind};
    ///
    /// let config = ClientConfig::new().local_host("invalid");
    /// let err = Client::connect_with("localhost", 3000, &config).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    /// ```
    pub fn connect_with(host: &str, port: u16, config: &ClientConfig) -> Result<Client> {
        let target = net::host_port(host, port);
        let context = format!("connect to {target}");
        config.validate(&context)?;
        #[cfg(feature = "tls")]
        if let Some(secure) = config.secure_socket.as_ref().filter(|s| s.is_enabled()) {
            // Read the certificate files and check the settings before any connect.
            secure.config(&context)?;
        }
        let addrs = net::resolve(host, port).map_err(|e| lookup_error(&context, e))?;
        let locals = match &config.local_host {
            Some(local) => Some(net::resolve(local, 0).map_err(|e| {
                Error::io(&context, e)
                    .kind_set(ErrorKind::InvalidConfig)
                    .message(format!("local_host {local:?} is not a local interface"))
            })?),
            None => None,
        };

        let mut last = None;
        for addr in addrs {
            // Bind a local address of the same family as the one we connect to.
            let local = match &locals {
                None => None,
                Some(list) => match list.iter().find(|l| l.is_ipv4() == addr.is_ipv4()) {
                    Some(local) => Some(*local),
                    None => {
                        last = Some(Error::with(
                            ErrorKind::InvalidConfig,
                            &context,
                            format!("local_host has no address of the family of {addr}"),
                        ));
                        continue;
                    }
                },
            };
            match net::connect(addr, local, config.connect_timeout) {
                Ok(stream) => return Client::from_stream(stream, host, target, config),
                Err(ConnectError::Bind(e)) => {
                    let local_host = config.local_host.as_deref().unwrap_or_default();
                    last = Some(
                        Error::io(&context, e)
                            .kind_set(ErrorKind::InvalidConfig)
                            .message(format!(
                                "local_host {local_host:?} is not a local interface"
                            )),
                    );
                }
                Err(ConnectError::Connect(e)) => last = Some(Error::io(&context, e)),
            }
        }
        Err(last.unwrap_or_else(|| Error::with(ErrorKind::HostNotFound, &context, "no address")))
    }

    fn from_stream(
        stream: TcpStream,
        host: &str,
        target: String,
        config: &ClientConfig,
    ) -> Result<Client> {
        let context = format!("connect to {target}");
        let setup = |stream: &TcpStream| -> io::Result<(SocketAddr, SocketAddr)> {
            stream.set_nodelay(config.nodelay)?;
            stream.set_read_timeout(config.timeout)?;
            stream.set_write_timeout(config.write_timeout)?;
            Ok((stream.local_addr()?, stream.peer_addr()?))
        };
        let (local, peer) = setup(&stream).map_err(|e| Error::io(&context, e))?;
        let io = ClientIo::establish(stream, host, config, &context)?;
        log::debug!("connected to {target} ({peer}) from {local}");
        Ok(Client {
            io,
            target,
            local,
            peer,
            read_timeout: config.timeout,
            write_timeout: config.write_timeout,
            reading: Turn::default(),
            writing: Turn::default(),
            closed: AtomicBool::new(false),
        })
    }

    /// Sends every byte of `data`, blocking until the operating system has taken them all.
    ///
    /// The write timeout bounds the whole call: waiting for another thread's write to
    /// finish, and every send it takes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the bytes are not all sent within the write timeout,
    /// [`ErrorKind::Closed`] when the connection is closed (by [`close`](Client::close),
    /// from any thread, or the peer), [`ErrorKind::Reset`] when the peer reset it. After an
    /// error some of the bytes may have been sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// client.write_bytes(b"ping")?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn write_bytes(&self, data: &[u8]) -> Result<()> {
        let deadline = self.write_timeout.map(|t| Instant::now() + t);
        let _writing = self.take_writing("write to", deadline)?;
        self.io
            .write_all(data, deadline)
            .map_err(|e| self.failure("write to", e, self.write_timeout))
    }

    /// Returns the bytes available now, waiting for at least one.
    ///
    /// How many bytes come back depends on how the peer's writes were split on the way:
    /// TCP is a stream, not a sequence of messages. Use
    /// [`read_bytes_exact`](Client::read_bytes_exact) (or the `framing` module) to read
    /// whole messages.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when nothing arrives within the read timeout (the connection
    /// stays usable), [`ErrorKind::Closed`] when the peer has closed the connection,
    /// [`ErrorKind::Reset`] when it reset it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let mut client = synctcp::Client::connect("127.0.0.1", port)?;
    /// # server.accept()?.0.write_all(b"hi")?;
    /// let data = client.read_bytes()?;
    /// assert!(!data.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let deadline = self.read_deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        if reading.pending.is_empty() {
            self.fill(&mut reading, deadline)?;
        }
        let n = reading.pending.len();
        Ok(reading.pending.take(n))
    }

    /// Returns exactly `len` bytes, waiting until they have all arrived.
    ///
    /// The read timeout bounds the whole call. Bytes received before an error are kept:
    /// calling again after a timeout continues where the first call stopped.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Client::read_bytes); [`ErrorKind::Closed`] when the peer closes
    /// before `len` bytes arrived (the message says how many did).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// # let mut peer = server.accept()?.0; peer.write_all(b"4 by")?; peer.write_all(b"tes!")?;
    /// assert_eq!(client.read_bytes_exact(8)?, b"4 bytes!");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_bytes_exact(&self, len: usize) -> Result<Vec<u8>> {
        let deadline = self.read_deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        while reading.pending.len() < len {
            let before = reading.pending.len();
            if let Err(err) = self.fill(&mut reading, deadline) {
                if err.kind() == ErrorKind::Closed && reading.peer_closed {
                    return Err(err.message(format!(
                        "connection closed by peer after {before} of {len} bytes"
                    )));
                }
                return Err(err);
            }
        }
        Ok(reading.pending.take(len))
    }

    /// Reads one whole frame, as `codec` finds frames: however the peer's bytes were split
    /// on the way, a whole message comes back.
    ///
    /// Bytes that arrive after the frame are kept for the next read, whatever codec it
    /// uses: the codec only describes the format, and can be shared by any number of
    /// clients. The read timeout bounds the whole call.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Client::read_bytes); [`ErrorKind::InvalidData`] when the frame is
    /// longer than the codec allows, or the peer closes in the middle of a frame (unless
    /// the codec takes what is left as a last frame: see
    /// [`Codec::decode_eof`](crate::framing::Codec::decode_eof)).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::Delimited;
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// # let mut peer = server.accept()?.0; peer.write_all(b"first li")?; peer.write_all(b"ne\nsecond line\n")?;
    /// let lines = Delimited::lines();
    /// assert_eq!(client.read_frame(&lines)?, b"first line");
    /// assert_eq!(client.read_frame(&lines)?, b"second line");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_frame<C: Codec + ?Sized>(&self, codec: &C) -> Result<Vec<u8>> {
        let context = || format!("read a frame from {}", self.target);
        let deadline = self.read_deadline();
        let mut reading = self.take_reading("read a frame from", deadline)?;
        // The codec's progress is kept for this call only: the next call may bring
        // another codec, which starts afresh.
        let mut progress = 0;
        loop {
            let decoded = match reading.peer_closed {
                false => codec.decode(reading.pending.data(), &mut progress),
                true => codec.decode_eof(reading.pending.data()),
            };
            match decoded.map_err(|e| e.in_context(context()))? {
                Some(frame) => {
                    let body = reading.pending.data()[frame.body()].to_vec();
                    reading.pending.consume(frame.consumed());
                    return Ok(body);
                }
                None if reading.peer_closed => return Err(self.closed_by_peer()),
                None => {}
            }
            match self.fill(&mut reading, deadline) {
                // The end of stream: what is left is the codec's to judge, above.
                Err(err) if err.kind() == ErrorKind::Closed && reading.peer_closed => {}
                Err(err) => return Err(err),
                Ok(_) => {}
            }
        }
    }

    /// Sends `frame`, encoded by `codec`, as one write.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the codec cannot encode it (too long, or holding the
    /// delimiter); otherwise as [`write_bytes`](Client::write_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::LengthPrefixed;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// client.write_frame(&LengthPrefixed::new(), b"one message")?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn write_frame<C: Codec>(&self, codec: &C, frame: &[u8]) -> Result<()> {
        let bytes = codec
            .encoded(frame)
            .map_err(|e| e.in_context(format!("write a frame to {}", self.target)))?;
        self.write_bytes(&bytes)
    }

    /// Reads once from the connection into `pending`, waiting until `deadline`.
    fn fill(&self, reading: &mut Reading, deadline: Option<Instant>) -> Result<usize> {
        if reading.peer_closed {
            return Err(self.closed_by_peer());
        }
        let Reading {
            pending, scratch, ..
        } = reading;
        let read = self.io.read(pending.spare(READ_CHUNK), scratch, deadline);
        if self.closed.load(Ordering::SeqCst) {
            // Closed from another thread while we waited: whatever the socket said.
            return Err(self.closed_here("read from"));
        }
        match read {
            Ok(0) => {
                reading.peer_closed = true;
                Err(self.closed_by_peer())
            }
            Ok(n) => {
                pending.commit(n);
                Ok(n)
            }
            Err(e) => Err(self.failure("read from", e, self.read_timeout)),
        }
    }

    /// The error for a failed read or write: `Closed` once the client is closed (that is
    /// why it failed), `Timeout` naming the timeout, or the I/O error.
    fn failure(&self, operation: &str, e: io::Error, timeout: Option<Duration>) -> Error {
        if self.closed.load(Ordering::SeqCst) {
            return self.closed_here(operation);
        }
        let err = Error::io(format!("{operation} {}", self.target), e);
        match (err.kind(), timeout) {
            (ErrorKind::Timeout, Some(t)) if operation == "read from" => err.message(format!(
                "timed out: nothing arrived within the timeout of {t:?}"
            )),
            (ErrorKind::Timeout, Some(t)) => err.message(format!(
                "timed out: not all sent within the write_timeout of {t:?}"
            )),
            _ => err,
        }
    }

    fn read_deadline(&self) -> Option<Instant> {
        self.read_timeout.map(|t| Instant::now() + t)
    }

    fn closed_by_peer(&self) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("read from {}", self.target),
            "connection closed by peer",
        )
    }

    fn closed_here(&self, operation: &str) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("{operation} {}", self.target),
            "client is closed",
        )
    }

    fn waited_too_long(&self, operation: &str, what: &str) -> Error {
        Error::with(
            ErrorKind::Timeout,
            format!("{operation} {}", self.target),
            format!("timed out: another thread's {what} did not end in time"),
        )
    }

    fn take_reading(
        &self,
        operation: &str,
        deadline: Option<Instant>,
    ) -> Result<TurnGuard<'_, Reading>> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_here(operation));
        }
        let turn = self
            .reading
            .take(deadline)
            .ok_or_else(|| self.waited_too_long(operation, "read"))?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_here(operation));
        }
        Ok(turn)
    }

    fn take_writing(
        &self,
        operation: &str,
        deadline: Option<Instant>,
    ) -> Result<TurnGuard<'_, ()>> {
        let turn = self
            .writing
            .take(deadline)
            .ok_or_else(|| self.waited_too_long(operation, "write"))?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_here(operation));
        }
        Ok(turn)
    }

    /// Ends the sending direction: the peer reads everything written, then an end of
    /// stream (after TLS close_notify), while this client can still read the peer's reply.
    /// Later writes fail with [`ErrorKind::Closed`]. Like `nc -N` on end of input.
    ///
    /// # Errors
    ///
    /// An I/O error if the final bytes cannot be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// # std::thread::spawn(move || { let (mut s, _) = server.accept().unwrap();
    /// #     let mut all = Vec::new(); s.read_to_end(&mut all).unwrap(); s.write_all(&all).unwrap(); });
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// client.write_bytes(b"whole request")?;
    /// client.shutdown_write()?; // the server reads to the end, then answers
    /// assert_eq!(client.read_bytes_exact(13)?, b"whole request");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_write(&self) -> Result<()> {
        let deadline = self.write_timeout.map(|t| Instant::now() + t);
        let _writing = self.take_writing("shut down writing to", deadline)?;
        self.io
            .shutdown_write(deadline)
            .map_err(|e| self.failure("shut down writing to", e, self.write_timeout))
    }

    /// Closes the connection and returns at once, whatever other threads are doing: the
    /// peer sees an orderly end of stream after every byte written. A write in progress on
    /// another thread is cut off (it returns [`ErrorKind::Closed`], and the peer sees the
    /// end of stream after the part sent), and a read waiting on another thread returns
    /// [`ErrorKind::Closed`]. Input that arrived and was not read is discarded. Calling
    /// `close` again does nothing; later reads and writes fail with `Closed`.
    ///
    /// # Errors
    ///
    /// Never fails today; the `Result` leaves room for protocols whose close can fail.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// client.close()?;
    /// client.close()?; // idempotent
    /// assert!(client.write_bytes(b"late").is_err());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let stream = self.io.tcp();
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
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// match client.tls() {
    ///     Some(tls) => println!("{} with {}", tls.protocol_version(), tls.cipher_suite()),
    ///     None => println!("plain TCP"),
    /// }
    /// # assert!(client.tls().is_none());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<crate::tls::TlsInfo> {
        self.io.tls_info()
    }

    /// The local address of the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// assert!(client.local_addr().ip().is_loopback());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The address of the peer.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// assert_eq!(client.peer_addr(), server.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

fn lookup_error(context: &str, err: io::Error) -> Error {
    let lookup = net::is_lookup_failure(&err);
    let err = Error::io(context, err);
    if lookup {
        err.kind_set(ErrorKind::HostNotFound)
    } else {
        err
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.target)
            .field("local", &self.local)
            .field("peer", &self.peer)
            .field("closed", &self.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// Reads what was received and not yet returned first, then from the connection. End of
/// stream is `Ok(0)`, as `Read` requires.
impl Read for &Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = self.read_deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        if !reading.pending.is_empty() {
            let n = buf.len().min(reading.pending.len());
            buf[..n].copy_from_slice(&reading.pending.data()[..n]);
            reading.pending.consume(n);
            return Ok(n);
        }
        if reading.peer_closed || buf.is_empty() {
            return Ok(0);
        }
        let Reading { scratch, .. } = &mut *reading;
        let read = self.io.read(buf, scratch, deadline);
        if self.closed.load(Ordering::SeqCst) {
            return Err(self.closed_here("read from").into());
        }
        let n = read.map_err(|e| self.failure("read from", e, self.read_timeout))?;
        if n == 0 {
            reading.peer_closed = true;
        }
        Ok(n)
    }
}

/// Each `write` sends all of `buf`.
impl Write for &Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
