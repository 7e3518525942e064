//! `Caller`: the handle a service gets for one connection, Ballerina's `tcp:Caller`.
//! It holds the connection weakly, so a stored caller never keeps a closed socket open.

use std::fmt;
use std::io;
use std::net::IpAddr;

use crate::addr::Addr;
#[cfg(feature = "peer-credentials")]
use crate::addr::PeerCredentials;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{CloseBy, Connection};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Codec;

/// A cheap, cloneable handle to one accepted connection: its addresses and id, and the
/// means to write to it and close it from any thread.
///
/// Ballerina's `tcp:Caller`. Services get one in every callback; clone it and keep it to
/// write later, from any thread (a chat server broadcasts through stored callers). Once the
/// connection is closed, [`write_bytes`](Caller::write_bytes) returns an
/// [`ErrorKind::Closed`] error; nothing panics.
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, Client, ConnectionService, Error, Listener, Reply};
/// use std::io::Write;
///
/// struct Greeter;
/// impl ConnectionService for Greeter {
///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
///         Ok(Reply::None)
///     }
/// }
///
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach(|caller| {
///     writeln!(&*caller, "you are connection {}", caller.id())?; // a Caller is a writer
///     Ok(Greeter)
/// })?;
/// listener.start()?;
///
/// let client = Client::connect(listener.local_addr())?;
/// let greeting = client.read_bytes()?;
/// assert!(greeting.starts_with(b"you are connection "));
/// listener.graceful_stop(std::time::Duration::from_secs(5))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Clone)]
pub struct Caller {
    conn: Weak<Connection>,
    id: u64,
    local: Addr,
    remote: Addr,
    proxied_by: Option<Addr>,
    #[cfg(feature = "peer-credentials")]
    credentials: Option<PeerCredentials>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<crate::tls::TlsInfo>>,
}

impl Caller {
    pub(crate) fn new(conn: &Arc<Connection>) -> Caller {
        Caller {
            conn: Arc::downgrade(conn),
            id: conn.id,
            local: conn.local.clone(),
            remote: conn.remote(),
            proxied_by: conn.proxied_by(),
            #[cfg(feature = "peer-credentials")]
            credentials: conn.credentials,
            #[cfg(feature = "tls")]
            tls: conn.tls_info.get().cloned(),
        }
    }

    /// What the TLS handshake agreed on (version, cipher suite, the client's certificate
    /// with mutual TLS), or `None` on a plain connection.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn client_has_certificate(caller: &Caller) -> bool {
    ///     caller.tls().is_some_and(|tls| tls.peer_certificate().is_some())
    /// }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&crate::tls::TlsInfo> {
        self.tls.as_deref()
    }

    /// The connection's id, unique among all connections of this process (across
    /// listeners and restarts).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn log_line(caller: &Caller, text: &str) -> String {
    ///     format!("[{}] {text}", caller.id())
    /// }
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The peer's IP address (Ballerina's `remoteHost`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn is_local(caller: &Caller) -> bool {
    ///     caller.remote_host().map_or(true, |ip| ip.is_loopback())
    /// }
    /// ```
    pub fn remote_host(&self) -> Option<IpAddr> {
        self.remote.ip()
    }

    /// The peer's port (Ballerina's `remotePort`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn client_port(caller: &Caller) -> u16 {
    ///     caller.remote_port().unwrap_or(0)
    /// }
    /// ```
    pub fn remote_port(&self) -> Option<u16> {
        self.remote.port()
    }

    /// The local IP address the connection was accepted on (Ballerina's `localHost`);
    /// `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn via_loopback(caller: &Caller) -> bool {
    ///     caller.local_host().is_some_and(|ip| ip.is_loopback())
    /// }
    /// ```
    pub fn local_host(&self) -> Option<IpAddr> {
        self.local.ip()
    }

    /// The local port, the listener's (Ballerina's `localPort`); `None` on a Unix socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn listener_port(caller: &Caller) -> Option<u16> {
    ///     caller.local_port()
    /// }
    /// ```
    pub fn local_port(&self) -> Option<u16> {
        self.local.port()
    }

    /// The peer's address: an IP address and port, or on a Unix socket the peer's path
    /// (usually none: clients are unnamed). Shown as `127.0.0.1:50312` or
    /// `unix:(unnamed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn peer(caller: &Caller) -> String {
    ///     caller.remote_addr().to_string()
    /// }
    /// ```
    pub fn remote_addr(&self) -> Addr {
        self.remote.clone()
    }

    /// The local address: the listener's IP address and port, or its socket's path.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn local(caller: &Caller) -> String {
    ///     caller.local_addr().to_string()
    /// }
    /// ```
    pub fn local_addr(&self) -> Addr {
        self.local.clone()
    }

    /// On a Unix socket, who connected: the peer process's user, group and id, as the
    /// system vouches for them (Linux and Android; `None` elsewhere and on TCP). With the
    /// `peer-credentials` feature only.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// /// Lets only processes of the same user in.
    /// fn same_user(caller: &Caller, uid: u32) -> bool {
    ///     caller.peer_credentials().is_some_and(|peer| peer.uid == uid)
    /// }
    /// ```
    #[cfg(feature = "peer-credentials")]
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.credentials
    }

    /// The load balancer this connection came through, when the listener reads the PROXY
    /// protocol ([`ListenerConfig::proxy_protocol`](crate::ListenerConfig::proxy_protocol))
    /// and the balancer's header named a client; [`remote_addr`](Caller::remote_addr) is
    /// then that client. `None` for a direct connection or the balancer's own (a health
    /// check).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn describe(caller: &Caller) -> String {
    ///     match caller.proxied_by() {
    ///         Some(balancer) => format!("{} via {balancer}", caller.remote_addr()),
    ///         None => caller.remote_addr().to_string(),
    ///     }
    /// }
    /// ```
    pub fn proxied_by(&self) -> Option<Addr> {
        self.proxied_by.clone()
    }

    /// The peer's address (std's name; [`remote_addr`](Caller::remote_addr) is the same).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn same(caller: &Caller) -> bool {
    ///     caller.peer_addr() == caller.remote_addr()
    /// }
    /// ```
    pub fn peer_addr(&self) -> Addr {
        self.remote.clone()
    }

    /// Writes `data` to the peer, after everything written to it before, never cut into by
    /// another write.
    ///
    /// On the connection's own thread (inside its callbacks) this blocks while the peer
    /// is not reading, as a plain socket write would. From any other thread it sends what
    /// the socket takes at once and queues the rest; it waits only while the connection's
    /// write queue is full. Either way the whole write is bounded by the listener's
    /// [`write_timeout`](crate::ListenerConfig::write_timeout). See
    /// [`try_write_bytes`](Caller::try_write_bytes) for a write that never waits, and
    /// [`write_bytes_timeout`](Caller::write_bytes_timeout) for another bound.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] once the connection is closed (or [`close`](Caller::close)
    /// was called); [`ErrorKind::Timeout`] when the write is not done within the write
    /// timeout, after which the connection is closed and its service's `on_error` runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn broadcast(callers: &[Caller], line: &str) {
    ///     for caller in callers {
    ///         // A closed connection just returns an error; the others still get the line.
    ///         let _ = caller.write_bytes(line.as_bytes());
    ///     }
    /// }
    /// ```
    pub fn write_bytes(&self, data: &[u8]) -> Result<()> {
        self.live("write to")?.write(data, None, true)
    }

    /// Writes `data` if that needs no waiting at all: it is sent as far as the socket takes
    /// it now, and the rest queued — but only if the whole of it fits in the write queue
    /// now. Otherwise nothing is written, and an [`ErrorKind::WouldBlock`] error says so;
    /// the connection stays open. A write longer than
    /// [`write_queue_bytes`](crate::ListenerConfig::write_queue_bytes) never fits.
    ///
    /// Never blocks, on any thread: for a broadcaster that must not be held up by one
    /// slow peer.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WouldBlock`] as above; otherwise as [`write_bytes`](Caller::write_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::{Caller, ErrorKind};
    /// /// Sends a tick to everyone who keeps up; slow peers miss it.
    /// fn tick(callers: &[Caller]) {
    ///     for caller in callers {
    ///         match caller.try_write_bytes(b"tick\n") {
    ///             Err(err) if err.kind() == ErrorKind::WouldBlock => {} // skipped
    ///             _ => {}
    ///         }
    ///     }
    /// }
    /// ```
    pub fn try_write_bytes(&self, data: &[u8]) -> Result<()> {
        self.live("write to")?.write(data, None, false)
    }

    /// [`write_bytes`](Caller::write_bytes), bounded by `timeout` instead of the
    /// listener's write timeout (and never past the connection's `max_lifetime`).
    ///
    /// # Errors
    ///
    /// As [`write_bytes`](Caller::write_bytes): [`ErrorKind::Timeout`] when the write is
    /// not done within `timeout`, after which the connection is closed (part of the
    /// write may have been sent).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// use std::time::Duration;
    ///
    /// fn notify(caller: &Caller) -> synctcp::Result<()> {
    ///     caller.write_bytes_timeout(b"update\n", Duration::from_millis(500))
    /// }
    /// ```
    pub fn write_bytes_timeout(&self, data: &[u8], timeout: Duration) -> Result<()> {
        self.live("write to")?.write(data, Some(timeout), true)
    }

    /// Sends `frame`, encoded by `codec`, as one write (see
    /// [`write_bytes`](Caller::write_bytes)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the codec cannot encode it (too long, or holding the
    /// delimiter); otherwise as [`write_bytes`](Caller::write_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// use synctcp::framing::LengthPrefixed;
    ///
    /// fn send_message(caller: &Caller, message: &[u8]) -> synctcp::Result<()> {
    ///     caller.write_frame(&LengthPrefixed::new(), message)
    /// }
    /// ```
    pub fn write_frame<C: Codec + ?Sized>(&self, codec: &C, frame: &[u8]) -> Result<()> {
        let bytes = codec
            .encoded(frame)
            .map_err(|e| e.in_context(format!("write a frame to {}", self.remote)))?;
        self.write_bytes(&bytes)
    }

    /// A reply made on the connection's behalf inside a callback (`Framed` sends each
    /// frame's reply this way): it goes out even after `close` was called in the callback,
    /// as bytes returned from `on_bytes` do.
    pub(crate) fn reply(&self, data: &[u8]) -> Result<()> {
        self.live("write to")?.reply(data)
    }

    /// Closes the connection and returns at once: what was written before is still
    /// delivered, then the peer sees an end of stream, and the service's `on_close` runs.
    /// Calling it again, or on a closed connection, does nothing.
    ///
    /// Called inside a callback, the close happens when the callback returns (bytes it
    /// returns are still sent first). Called from another thread while the connection
    /// waits for input, FIN goes out at once (after what is queued), and `on_close` runs
    /// when the peer answers with its own end of stream — or after the listener's
    /// `drain_timeout`, when the connection is closed by force.
    ///
    /// # Errors
    ///
    /// Never fails today; the `Result` matches [`Client::close`](crate::Client::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn kick(caller: &Caller) -> synctcp::Result<()> {
    ///     let _ = caller.write_bytes(b"bye\n");
    ///     caller.close()
    /// }
    /// ```
    pub fn close(&self) -> Result<()> {
        if let Some(conn) = self.conn.upgrade() {
            conn.request_close(CloseBy::Caller);
        }
        Ok(())
    }

    /// Whether the connection has closed or is closing.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn prune(callers: &mut Vec<Caller>) {
    ///     callers.retain(|c| !c.is_closed());
    /// }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.conn.upgrade().is_none_or(|conn| conn.out.is_closed())
    }

    fn live(&self, operation: &str) -> Result<Arc<Connection>> {
        self.conn.upgrade().ok_or_else(|| self.closed(operation))
    }

    fn closed(&self, operation: &str) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("{operation} {}", self.remote),
            "connection is closed",
        )
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Caller")
            .field("id", &self.id)
            .field("remote", &self.remote)
            .field("local", &self.local)
            .finish()
    }
}

/// `write!` and `io::copy` to the peer: each `write` is a whole
/// [`write_bytes`](Caller::write_bytes).
impl io::Write for &Caller {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf)?;
        Ok(buf.len())
    }

    /// Nothing to do: every write has been handed to the connection's write path (sent,
    /// or queued to be sent in order) when it returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Write for Caller {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
