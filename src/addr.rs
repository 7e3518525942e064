//! `Addr`: where one end of a connection is — an IP address and port, or a Unix domain
//! socket's path — as listeners, clients and callers report it.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// One end of a connection: an IP address and a port for TCP, a path for a Unix domain
/// socket.
///
/// [`Listener::local_addr`](crate::Listener::local_addr),
/// [`Caller::remote_addr`](crate::Caller::remote_addr) and the client's addresses are
/// `Addr`s, because one listener type serves both kinds. For TCP, [`tcp`](Addr::tcp),
/// [`ip`](Addr::ip) and [`port`](Addr::port) give the parts; an `Addr` compares equal to
/// the `SocketAddr` it holds, and can be passed wherever `std::net` takes an address
/// (`TcpStream::connect(listener.local_addr())`). It is also what
/// [`Client::connect`](crate::Client::connect) takes, so a client can connect to a listener's
/// `local_addr()` whatever its kind.
///
/// Shown as `127.0.0.1:3000`, `[::1]:3000`, or `unix:/run/app.sock` (`unix:(unnamed)` for a
/// socket without a path, as a Unix client's end usually is).
///
/// # Examples
///
/// ```
/// use synctcp::{Addr, Listener};
///
/// let listener = Listener::bind("127.0.0.1:0")?;
/// let addr: Addr = listener.local_addr();
/// assert!(addr.ip().unwrap().is_loopback());
/// assert_ne!(addr.port(), Some(0));
/// assert_eq!(addr, addr.tcp().unwrap());
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Addr {
    /// An IP address and a port.
    Tcp(SocketAddr),
    /// A Unix domain socket: its path, or `None` for an unnamed socket (a client's end,
    /// unless it was bound to a path).
    Unix(Option<PathBuf>),
}

impl Addr {
    /// The IP address and port, for TCP.
    pub fn tcp(&self) -> Option<SocketAddr> {
        match self {
            Addr::Tcp(addr) => Some(*addr),
            Addr::Unix(_) => None,
        }
    }

    /// The IP address, for TCP (Ballerina's `remoteHost`/`localHost`).
    pub fn ip(&self) -> Option<IpAddr> {
        self.tcp().map(|addr| addr.ip())
    }

    /// The port, for TCP (Ballerina's `remotePort`/`localPort`).
    pub fn port(&self) -> Option<u16> {
        self.tcp().map(|addr| addr.port())
    }

    /// The path, for a named Unix domain socket.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// # let dir = std::env::temp_dir().join(format!("synctcp-doc-addr-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("app.sock");
    /// let listener = synctcp::Listener::bind(path.as_path())?;
    /// assert_eq!(listener.local_addr().unix_path(), Some(path.as_path()));
    /// assert_eq!(listener.local_addr().to_string(), format!("unix:{}", path.display()));
    /// # drop(listener);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Addr::Unix(path) => path.as_deref(),
            Addr::Tcp(_) => None,
        }
    }

    /// Whether this is a Unix domain socket's address.
    pub fn is_unix(&self) -> bool {
        matches!(self, Addr::Unix(_))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(addr) => write!(f, "{addr}"),
            Addr::Unix(Some(path)) => write!(f, "unix:{}", path.display()),
            Addr::Unix(None) => write!(f, "unix:(unnamed)"),
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(addr: SocketAddr) -> Addr {
        Addr::Tcp(addr)
    }
}

impl PartialEq<SocketAddr> for Addr {
    fn eq(&self, other: &SocketAddr) -> bool {
        self.tcp() == Some(*other)
    }
}

/// So that `std::net` can connect to or bind a TCP `Addr`; a Unix socket's address is an
/// `InvalidInput` error.
impl ToSocketAddrs for Addr {
    type Iter = std::option::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        match self {
            Addr::Tcp(addr) => Ok(Some(*addr).into_iter()),
            Addr::Unix(_) => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{self} is a Unix socket, not an IP address and port"),
            )),
        }
    }
}

/// Who is at the other end of a Unix domain socket, as the system vouches for it (Linux's
/// `SO_PEERCRED`): the user and group the peer process ran as when it connected, and its
/// process id. A service can use them for access control, as the socket file's mode is.
///
/// [`Caller::peer_credentials`](crate::Caller::peer_credentials) gives them; `None` on TCP,
/// and on systems that do not tell.
///
/// With the `peer-credentials` feature only.
#[cfg(feature = "peer-credentials")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PeerCredentials {
    /// The peer's user id.
    pub uid: u32,
    /// The peer's group id.
    pub gid: u32,
    /// The peer's process id, when known.
    pub pid: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_the_address_or_the_path() {
        let tcp = Addr::from(SocketAddr::from(([127, 0, 0, 1], 80)));
        assert_eq!(tcp.to_string(), "127.0.0.1:80");
        assert_eq!(tcp.port(), Some(80));
        let unix = Addr::Unix(Some(PathBuf::from("/run/a.sock")));
        assert_eq!(unix.to_string(), "unix:/run/a.sock");
        assert_eq!(unix.port(), None);
        assert_eq!(Addr::Unix(None).to_string(), "unix:(unnamed)");
        assert!(unix.to_socket_addrs().is_err());
    }
}
