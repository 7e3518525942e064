//! `ClientConfig`: the options of `Client::connect_with`, every default in one `Default` impl.

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::keepalive::Keepalive;

/// Options for [`Client::connect_with`](crate::Client::connect_with), Ballerina's
/// `ClientConfiguration`.
///
/// Start from [`ClientConfig::new`] (the defaults) and change what you need; each setter is
/// named after its field and its doc ends with the default.
///
/// # Examples
///
/// ```
/// use synctcp::{Client, ClientConfig};
/// use std::time::Duration;
///
/// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let port = server.local_addr()?.port();
/// let config = ClientConfig::new()
///     .local_host("127.0.0.1")
///     .timeout(Some(Duration::from_secs(5)))
///     .write_timeout(Some(Duration::from_secs(5)));
/// let client = Client::connect_with(("127.0.0.1", port), &config)?;
/// assert_eq!(client.local_addr().ip().unwrap().to_string(), "127.0.0.1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) local_host: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<Keepalive>,
    #[cfg(feature = "tls")]
    pub(crate) secure_socket: Option<crate::tls::ClientSecureSocket>,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            local_host: None,
            timeout: Some(Duration::from_secs(300)),
            write_timeout: Some(Duration::from_secs(300)),
            connect_timeout: Some(Duration::from_secs(30)),
            nodelay: true,
            keepalive: Some(Keepalive::default()),
            #[cfg(feature = "tls")]
            secure_socket: None,
        }
    }
}

impl ClientConfig {
    /// The defaults: no local interface, 300 s read and write timeouts, 30 s connect
    /// timeout, `TCP_NODELAY` on, TCP keepalive after 60 s of silence
    /// ([`Keepalive::default`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ClientConfig::new();
    /// # let _ = config;
    /// ```
    pub fn new() -> ClientConfig {
        ClientConfig::default()
    }

    /// The local interface (host name or IP address) to bind before connecting, as
    /// Ballerina's `localHost`. A name that is not an address of this machine makes the
    /// connect fail with [`ErrorKind::InvalidConfig`].
    ///
    /// Default: none; the operating system picks the interface.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ClientConfig::new().local_host("127.0.0.1");
    /// # let _ = config;
    /// ```
    pub fn local_host(mut self, host: impl Into<String>) -> ClientConfig {
        self.local_host = Some(host.into());
        self
    }

    /// How long one read call may wait in all (`read_bytes`, `read_bytes_exact`,
    /// `read_frame`, or a `Read::read`) before it fails with [`ErrorKind::Timeout`]: one
    /// deadline for the call, however the bytes trickle in. `None` waits forever.
    /// Ballerina's `timeout`.
    ///
    /// Default: `Some(300 s)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // Fail a read after 5 s of silence; `None` would wait forever.
    /// let config = synctcp::ClientConfig::new().timeout(Some(Duration::from_secs(5)));
    /// # let _ = config;
    /// ```
    pub fn timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.timeout = timeout;
        self
    }

    /// How long one write call may take in all — waiting for another thread's write, and
    /// every send until the operating system has taken the last byte — before it fails
    /// with [`ErrorKind::Timeout`]. `None` waits forever. Ballerina's `writeTimeout`.
    ///
    /// Default: `Some(300 s)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ClientConfig::new().write_timeout(Some(Duration::from_secs(5)));
    /// # let _ = config;
    /// ```
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.write_timeout = timeout;
        self
    }

    /// How long connecting to one address may take. `None` leaves it to the operating
    /// system (about two minutes on Linux).
    ///
    /// Default: `Some(30 s)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ClientConfig::new().connect_timeout(Some(Duration::from_secs(2)));
    /// # let _ = config;
    /// ```
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }

    /// Whether to set `TCP_NODELAY`, sending small writes at once instead of batching them
    /// (Nagle's algorithm). Request/response protocols want it on.
    ///
    /// Default: `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// // Let the kernel batch small writes (bulk transfers, not request/response).
    /// let config = synctcp::ClientConfig::new().nodelay(false);
    /// # let _ = config;
    /// ```
    pub fn nodelay(mut self, nodelay: bool) -> ClientConfig {
        self.nodelay = nodelay;
        self
    }

    /// TCP keepalive probes on a silent connection, so that a peer that vanished (a
    /// crashed host, a dropped NAT entry) is noticed; `None` turns them off.
    ///
    /// Default: `Some(Keepalive::default())`: probes after 60 s of silence, every 10 s, 6
    /// retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use synctcp::{ClientConfig, Keepalive};
    /// let config = ClientConfig::new().keepalive(Some(Keepalive::new(Duration::from_secs(20))));
    /// # let _ = config;
    /// ```
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> ClientConfig {
        self.keepalive = keepalive;
        self
    }

    /// Connects with TLS: Ballerina's `secureSocket`. With
    /// [`enable(false)`](crate::ClientSecureSocket::enable) the client connects in plain
    /// TCP.
    ///
    /// Default: none (plain TCP).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ClientConfig, ClientSecureSocket};
    /// let config = ClientConfig::new().secure_socket(ClientSecureSocket::new("ca.pem"));
    /// # let _ = config;
    /// ```
    #[cfg(feature = "tls")]
    pub fn secure_socket(mut self, secure_socket: crate::tls::ClientSecureSocket) -> ClientConfig {
        self.secure_socket = Some(secure_socket);
        self
    }

    /// Checks the values that cannot be checked by their setters.
    pub(crate) fn validate(&self, context: &str) -> Result<()> {
        for (name, value) in [
            ("timeout", self.timeout),
            ("write_timeout", self.write_timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return Err(Error::with(
                    ErrorKind::InvalidConfig,
                    context,
                    format!("{name} must be more than zero (use None to wait forever)"),
                ));
            }
        }
        Ok(())
    }
}
