//! How a `Client` comes to be: an address resolved and tried in turn (binding a local
//! interface first when the configuration names one), a Unix socket's path, or a
//! `TcpStream` connected elsewhere; then the socket options, and the TLS handshake when
//! configured.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use super::stream::ClientIo;
use super::{Client, ClientConfig};
use crate::addr::Addr;
use crate::address::{Address, ToAddress};
use crate::error::{Error, ErrorKind, Result};
use crate::net::{self, ConnectError};
use crate::sock::Sock;

impl Client {
    /// Connects to `addr` with the default [`ClientConfig`].
    ///
    /// `addr` is written as `std::net` would take it — `"localhost:3000"`,
    /// `("localhost", 3000)`, a `SocketAddr` — see [`ToAddress`]. A name is resolved, and
    /// every address it resolves to is tried in turn. A [`Path`] (or `"unix:/path"`)
    /// connects to a Unix domain socket, on Unix systems.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ConnectionRefused`] when nothing listens there,
    /// [`ErrorKind::HostNotFound`] when the name does not resolve,
    /// [`ErrorKind::Timeout`] when connecting takes longer than the connect timeout,
    /// [`ErrorKind::InvalidConfig`] when `addr` is not an address (a port alone, a string
    /// without a port, a Unix socket path too long or on a system without them).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::Client;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = server.local_addr()?.port();
    /// let client = Client::connect(("127.0.0.1", port))?;
    /// assert_eq!(client.peer_addr().port(), Some(port));
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn connect(addr: impl ToAddress) -> Result<Client> {
        Client::connect_with(addr, &ClientConfig::default())
    }

    /// Connects to `addr` with the given configuration: a local interface to bind,
    /// timeouts, keepalive, TLS.
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
    /// let err = Client::connect_with("localhost:3000", &config).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    /// ```
    pub fn connect_with(addr: impl ToAddress, config: &ClientConfig) -> Result<Client> {
        let address = addr.to_address();
        let context = format!("connect to {address}");
        config.validate(&context)?;
        #[cfg(feature = "tls")]
        if let Some(secure) = config.secure_socket.as_ref().filter(|s| s.is_enabled()) {
            // Read the certificate files and check the settings before any connect.
            secure.config(&context)?;
        }
        if let Address::Unix(path) = &address {
            return Client::connect_unix(path, &address, config, &context);
        }
        let addrs = resolve(&address, &context)?;
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
                Ok(stream) => return Client::set_up(Sock::Tcp(stream), &address, config),
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

    /// A client over a `TcpStream` connected elsewhere (a socket handed over by a parent
    /// process, a test harness), with the default [`ClientConfig`].
    ///
    /// # Errors
    ///
    /// An I/O error when the socket's options cannot be set (it is not connected).
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// let client = synctcp::Client::from_std(stream)?;
    /// assert_eq!(client.peer_addr(), server.local_addr()?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_std(stream: TcpStream) -> Result<Client> {
        Client::from_std_with(stream, &ClientConfig::default())
    }

    /// A client over a `TcpStream` connected elsewhere, with the given configuration (its
    /// `local_host` and `connect_timeout` do not apply). With TLS configured, the handshake
    /// runs now; the server name verified is the peer's IP address unless
    /// `ClientSecureSocket::server_name` says otherwise.
    ///
    /// # Errors
    ///
    /// As [`from_std`](Client::from_std); a TLS handshake error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let stream = std::net::TcpStream::connect(server.local_addr()?)?;
    /// let config = synctcp::ClientConfig::new().timeout(Some(Duration::from_secs(5)));
    /// let client = synctcp::Client::from_std_with(stream, &config)?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_std_with(stream: TcpStream, config: &ClientConfig) -> Result<Client> {
        let context = "use a connected TcpStream";
        config.validate(context)?;
        let peer = stream.peer_addr().map_err(|e| Error::io(context, e))?;
        Client::set_up(Sock::Tcp(stream), &Address::Socket(peer), config)
    }

    /// Connects to the Unix socket at `path`.
    fn connect_unix(
        path: &Path,
        address: &Address,
        config: &ClientConfig,
        context: &str,
    ) -> Result<Client> {
        let unsupported = |what: &str| Err(Error::with(ErrorKind::InvalidConfig, context, what));
        if config.local_host.is_some() {
            return unsupported("local_host applies to TCP, not to a Unix socket");
        }
        #[cfg(feature = "tls")]
        if config
            .secure_socket
            .as_ref()
            .is_some_and(|s| s.is_enabled())
        {
            return unsupported("TLS over a Unix socket is not supported");
        }
        #[cfg(unix)]
        {
            let stream = crate::unix::connect(path, config.connect_timeout).map_err(|e| {
                // Our own explanations (a path too long, a full backlog) say more than the
                // kind's words.
                let explained = e.get_ref().map(|why| why.to_string());
                let kind = e.kind();
                let err = Error::io(context, e);
                match (kind, explained) {
                    // No socket file: nothing listens there.
                    (std::io::ErrorKind::NotFound, _) => err
                        .kind_set(ErrorKind::ConnectionRefused)
                        .message("no socket at this path"),
                    (std::io::ErrorKind::InvalidInput, why) => {
                        let err = err.kind_set(ErrorKind::InvalidConfig);
                        match why {
                            Some(why) => err.message(why),
                            None => err,
                        }
                    }
                    (_, Some(why)) => err.message(why),
                    (_, None) => err,
                }
            })?;
            Client::set_up(Sock::Unix(stream), address, config)
        }
        #[cfg(not(unix))]
        {
            let _ = (path, address);
            unsupported("Unix domain sockets are not available on this system")
        }
    }

    /// Socket options, the TLS handshake, and the client.
    fn set_up(stream: Sock, address: &Address, config: &ClientConfig) -> Result<Client> {
        let target = address.to_string();
        let context = format!("connect to {target}");
        let setup = |stream: &Sock| -> std::io::Result<(Addr, Addr)> {
            stream.set_tcp_options(config.nodelay, config.keepalive.as_ref())?;
            stream.set_read_timeout(config.timeout)?;
            stream.set_write_timeout(config.write_timeout)?;
            Ok((stream.local_addr()?, stream.peer_addr()?))
        };
        let (local, peer) = setup(&stream).map_err(|e| Error::io(&context, e))?;
        let io = ClientIo::establish(stream, &address.host(), config, &context)?;
        log::debug!("connected to {target} ({peer}) from {local}");
        Ok(Client::new(io, target, (local, peer), config))
    }
}

/// The socket addresses to try for `address`.
fn resolve(address: &Address, context: &str) -> Result<Vec<SocketAddr>> {
    match address {
        Address::Socket(addr) => Ok(vec![*addr]),
        Address::Host { host, port } => net::resolve(host, *port).map_err(|e| {
            let lookup = net::is_lookup_failure(&e);
            let err = Error::io(context, e);
            if lookup {
                err.kind_set(ErrorKind::HostNotFound)
            } else {
                err
            }
        }),
        Address::Port(port) => Err(Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!(
                "a port alone names no host to connect to: write (\"localhost\", {port}) or \"localhost:{port}\""
            ),
        )),
        Address::Unix(_) => Err(Error::with(
            ErrorKind::InvalidConfig,
            context,
            "a Unix socket's path is not resolved",
        )),
        Address::Unparsed { problem, .. } => {
            Err(Error::with(ErrorKind::InvalidConfig, context, *problem))
        }
    }
}
