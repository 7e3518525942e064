//! `Caller`: the handle a service gets for one connection, Ballerina's `tcp:Caller`.
//! It holds the connection weakly, so a stored caller never keeps a closed socket open.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};

use super::{CloseBy, Connection};
use crate::error::{Error, ErrorKind, Result};

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
/// use synctcp::{Caller, Client, ConnectionService, Error, Listener};
/// use std::borrow::Cow;
///
/// struct Greeter;
/// impl ConnectionService for Greeter {
///     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
///         Ok(None)
///     }
/// }
///
/// let mut listener = Listener::bind(0)?;
/// listener.attach(|caller: &Caller| {
///     caller.write_bytes(format!("you are connection {}\n", caller.id()).as_bytes())?;
///     Ok(Greeter)
/// })?;
/// listener.start()?;
///
/// let mut client = Client::connect("127.0.0.1", listener.local_addr().port())?;
/// let greeting = client.read_bytes()?;
/// assert!(greeting.starts_with(b"you are connection "));
/// listener.graceful_stop(std::time::Duration::from_secs(5))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Clone)]
pub struct Caller {
    conn: Weak<Connection>,
    id: u64,
    local: SocketAddr,
    remote: SocketAddr,
    #[cfg(feature = "tls")]
    tls: Option<Arc<crate::tls::TlsInfo>>,
}

impl Caller {
    pub(crate) fn new(conn: &Arc<Connection>) -> Caller {
        Caller {
            conn: Arc::downgrade(conn),
            id: conn.id,
            local: conn.local,
            remote: conn.peer,
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

    /// The peer's IP address.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn is_local(caller: &Caller) -> bool {
    ///     caller.remote_host().is_loopback()
    /// }
    /// ```
    pub fn remote_host(&self) -> IpAddr {
        self.remote.ip()
    }

    /// The peer's port.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn describe(caller: &Caller) -> String {
    ///     format!("{} port {}", caller.remote_host(), caller.remote_port())
    /// }
    /// ```
    pub fn remote_port(&self) -> u16 {
        self.remote.port()
    }

    /// The local IP address the connection was accepted on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn via_loopback(caller: &Caller) -> bool {
    ///     caller.local_host().is_loopback()
    /// }
    /// ```
    pub fn local_host(&self) -> IpAddr {
        self.local.ip()
    }

    /// The local port (the listener's port).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn listener_port(caller: &Caller) -> u16 {
    ///     caller.local_port()
    /// }
    /// ```
    pub fn local_port(&self) -> u16 {
        self.local.port()
    }

    /// The peer's address: [`remote_host`](Caller::remote_host) and
    /// [`remote_port`](Caller::remote_port) together.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn peer(caller: &Caller) -> String {
    ///     caller.remote_addr().to_string()
    /// }
    /// ```
    pub fn remote_addr(&self) -> SocketAddr {
        self.remote
    }

    /// The local address: [`local_host`](Caller::local_host) and
    /// [`local_port`](Caller::local_port) together.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn local(caller: &Caller) -> String {
    ///     caller.local_addr().to_string()
    /// }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Writes `data` to the peer, after everything written to it before.
    ///
    /// On the connection's own thread (inside its callbacks) this blocks while the peer
    /// is not reading, as a plain socket write would. From any other thread it sends what
    /// the socket takes at once and queues the rest; it blocks only while the connection's
    /// write queue is full, up to the listener's write timeout.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Closed`] once the connection is closed (or [`close`](Caller::close)
    /// was called); [`ErrorKind::Timeout`] when the peer stops reading for the write
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
        self.live("write to")?.write(data)
    }

    /// A reply made on the connection's behalf inside a callback (`Framed` sends each
    /// frame's reply this way): it goes out even after `close` was called in the callback,
    /// as bytes returned from `on_bytes` do.
    pub(crate) fn reply(&self, data: &[u8]) -> Result<()> {
        self.live("write to")?.reply(data)
    }

    /// Closes the connection: what was written before is still delivered, then the peer
    /// sees an end of stream, and the service's `on_close` runs. Returns at once; calling
    /// it again, or on a closed connection, does nothing.
    ///
    /// Called inside a callback, the close happens when the callback returns (bytes it
    /// returns are still sent first).
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::Caller;
    /// fn kick(caller: &Caller) {
    ///     let _ = caller.write_bytes(b"bye\n");
    ///     caller.close();
    /// }
    /// ```
    pub fn close(&self) {
        if let Some(conn) = self.conn.upgrade() {
            conn.request_close(CloseBy::Caller);
        }
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
        self.conn
            .upgrade()
            .map_or(true, |conn| conn.out.is_closed())
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
