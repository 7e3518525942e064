//! How a `Listener` comes to be: an address bound (a port alone on every interface, dual
//! stack where the system has IPv6), a Unix socket's path, or a `TcpListener` made
//! elsewhere (socket activation, tests). The TLS configuration is read and checked here,
//! so every mistake shows at bind.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

use super::stop::Control;
use super::{Listener, ListenerConfig};
use crate::addr::Addr;
use crate::address::{Address, ToAddress};
use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::sock::ListenSock;

impl Listener {
    /// Binds `addr` with the default [`ListenerConfig`]: a port alone (`Listener::bind(3000)`,
    /// every interface, as Ballerina's `new tcp:Listener(3000)`), or an address as
    /// `std::net` takes it — `"127.0.0.1:0"`, `("localhost", 3000)`, a `SocketAddr` (see
    /// [`ToAddress`]). Port 0 picks a free port; [`local_addr`](Listener::local_addr)
    /// tells which.
    ///
    /// A [`Path`] (or `"unix:/path"`) binds a Unix domain socket, on Unix systems: its file
    /// is created, and removed again when the listener stops. A socket file left behind by
    /// a process that is gone is replaced; one that a process listens on is
    /// [`ErrorKind::AddressInUse`], and so is a file that is not a socket (never removed).
    ///
    /// The socket listens from now on: connects wait in the backlog until
    /// [`start`](Listener::start).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AddressInUse`] when the port or path is taken;
    /// [`ErrorKind::InvalidConfig`] when the host is not an address of this machine, `addr`
    /// is not an address, or a Unix socket's path is too long (or the system has no Unix
    /// sockets).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert!(listener.local_addr().ip().unwrap().is_loopback());
    /// assert_ne!(listener.local_addr().port(), Some(0));
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn bind(addr: impl ToAddress) -> Result<Listener> {
        Listener::bind_with(addr, &ListenerConfig::default())
    }

    /// Binds `addr` with the given configuration: limits, timeouts, TLS.
    ///
    /// # Errors
    ///
    /// As [`bind`](Listener::bind); [`ErrorKind::InvalidConfig`] when a value is out of
    /// range or the TLS files or settings are wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Listener, ListenerConfig};
    ///
    /// # if std::net::TcpListener::bind("[::1]:0").is_ok() {
    /// let listener = Listener::bind_with("[::1]:0", &ListenerConfig::new().max_connections(100))?;
    /// assert_eq!(listener.local_addr().to_string(), format!("[::1]:{}", listener.local_addr().port().unwrap()));
    /// # }
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn bind_with(addr: impl ToAddress, config: &ListenerConfig) -> Result<Listener> {
        let address = addr.to_address();
        let context = format!("bind {address}");
        config.validate(&context)?;
        #[cfg(feature = "tls")]
        let tls = match &config.secure_socket {
            Some(secure_socket) => Some(secure_socket.build(&context)?),
            None => None,
        };
        let socket = match &address {
            Address::Unix(path) => listen_unix(path, config, &context)?,
            Address::Port(port) => {
                // Dual stack where the system has IPv6, IPv4 only where it does not.
                let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, *port));
                let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port));
                match net::listen(any6, config.backlog, config.reuse_port) {
                    Ok(socket) => ListenSock::Tcp(socket),
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        return Err(Error::io(&context, e))
                    }
                    Err(_) => ListenSock::Tcp(first_listening(&[any4], config, &context)?),
                }
            }
            Address::Socket(addr) => ListenSock::Tcp(first_listening(&[*addr], config, &context)?),
            Address::Host { host, port } => {
                let addrs = net::resolve(host, *port).map_err(|e| {
                    Error::io(&context, e)
                        .kind_set(ErrorKind::InvalidConfig)
                        .message(format!("{host:?} does not resolve"))
                })?;
                ListenSock::Tcp(first_listening(&addrs, config, &context)?)
            }
            Address::Unparsed { problem, .. } => {
                return Err(Error::with(ErrorKind::InvalidConfig, &context, *problem))
            }
        };
        let addr = socket.local_addr().map_err(|e| Error::io(&context, e))?;
        log::debug!("listener bound to {addr}");
        Ok(Listener {
            config: config.clone(),
            #[cfg(feature = "tls")]
            tls,
            control: Arc::new(Control::new(addr.clone(), config.drain_timeout)),
            addr,
            socket: Arc::new(socket),
            fresh: true,
            service: None,
        })
    }

    /// A listener over a `TcpListener` bound elsewhere (socket activation by a service
    /// manager, a test harness), with the default [`ListenerConfig`] (its `backlog`
    /// applies only when the listener is started again after a stop).
    ///
    /// # Errors
    ///
    /// An I/O error when the socket's address cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let address = socket.local_addr()?;
    /// let listener = synctcp::Listener::from_std(socket)?;
    /// assert_eq!(listener.local_addr(), address);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_std(socket: TcpListener) -> Result<Listener> {
        Listener::from_std_with(socket, &ListenerConfig::default())
    }

    /// A listener over a `TcpListener` bound elsewhere, with the given configuration.
    ///
    /// # Errors
    ///
    /// As [`from_std`](Listener::from_std), and as [`bind_with`](Listener::bind_with) for
    /// the configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let config = synctcp::ListenerConfig::new().max_connections(10);
    /// let listener = synctcp::Listener::from_std_with(socket, &config)?;
    /// # let _ = listener;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_std_with(socket: TcpListener, config: &ListenerConfig) -> Result<Listener> {
        let context = "use a bound TcpListener";
        let addr = Addr::Tcp(socket.local_addr().map_err(|e| Error::io(context, e))?);
        let context = format!("use the listener bound to {addr}");
        config.validate(&context)?;
        #[cfg(feature = "tls")]
        let tls = match &config.secure_socket {
            Some(secure_socket) => Some(secure_socket.build(&context)?),
            None => None,
        };
        Ok(Listener {
            config: config.clone(),
            #[cfg(feature = "tls")]
            tls,
            control: Arc::new(Control::new(addr.clone(), config.drain_timeout)),
            addr,
            socket: Arc::new(ListenSock::Tcp(socket)),
            fresh: true,
            service: None,
        })
    }
}

/// Listens on `addr` again, after a stop closed the socket.
pub(super) fn listen_again(
    addr: &Addr,
    config: &ListenerConfig,
    context: &str,
) -> Result<ListenSock> {
    match addr {
        Addr::Tcp(addr) => net::listen(*addr, config.backlog, config.reuse_port)
            .map(ListenSock::Tcp)
            .map_err(|e| Error::io(context, e)),
        Addr::Unix(Some(path)) => listen_unix(path, config, context),
        Addr::Unix(None) => Err(Error::with(ErrorKind::InvalidConfig, context, "no path")),
    }
}

/// A Unix socket listening on `path`.
fn listen_unix(path: &Path, config: &ListenerConfig, context: &str) -> Result<ListenSock> {
    let unsupported = |what: &str| Err(Error::with(ErrorKind::InvalidConfig, context, what));
    #[cfg(feature = "tls")]
    if config.secure_socket.is_some() {
        return unsupported("TLS over a Unix socket is not supported");
    }
    if config.reuse_port {
        return unsupported("reuse_port applies to TCP: a Unix socket's path has one listener");
    }
    #[cfg(unix)]
    {
        crate::unix::listen(path, config.backlog, config.unix_mode)
            .map(ListenSock::Unix)
            .map_err(|e| {
                let invalid = e.kind() == std::io::ErrorKind::InvalidInput;
                // Our own explanations (a live socket, a file that is not one, a path too
                // long) say more than the kind's words.
                let explained = e.get_ref().map(|why| why.to_string());
                let mut err = Error::io(context, e);
                if invalid {
                    err = err.kind_set(ErrorKind::InvalidConfig);
                }
                match explained {
                    Some(why) => err.message(why),
                    None => err,
                }
            })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        unsupported("Unix domain sockets are not available on this system")
    }
}

/// The first of `addrs` that can be bound and listened on.
fn first_listening(
    addrs: &[SocketAddr],
    config: &ListenerConfig,
    context: &str,
) -> Result<TcpListener> {
    let mut last = None;
    for addr in addrs {
        match net::listen(*addr, config.backlog, config.reuse_port) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                last = Some(
                    Error::io(context, e)
                        .kind_set(ErrorKind::InvalidConfig)
                        .message(format!("{} is not an address of this machine", addr.ip())),
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                last = Some(Error::io(context, e).kind_set(ErrorKind::InvalidConfig));
            }
            Err(e) => last = Some(Error::io(context, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::with(ErrorKind::InvalidConfig, context, "no address")))
}
