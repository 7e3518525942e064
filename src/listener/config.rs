//! `ListenerConfig`: the options of `Listener::bind_with`, every default in one `Default`
//! impl, with the limits that keep a long-running server healthy.

use std::time::Duration;

use crate::connection::Settings;
use crate::error::{Error, ErrorKind, Result};
use crate::keepalive::Keepalive;

/// Options for [`Listener::bind_with`](crate::Listener::bind_with), Ballerina's
/// `ListenerConfiguration` plus the limits a server that runs for months needs.
///
/// Start from [`ListenerConfig::new`] (the defaults) and change what you need; each setter
/// is named after its field and its doc ends with the default.
///
/// # Examples
///
/// ```
/// use synctcp::{Listener, ListenerConfig};
/// use std::time::Duration;
///
/// let config = ListenerConfig::new()
///     .max_connections(500)
///     .idle_timeout(Some(Duration::from_secs(60)));
/// let listener = Listener::bind_with("127.0.0.1:0", &config)?;
/// assert!(listener.local_addr().ip().unwrap().is_loopback());
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    pub(crate) backlog: u32,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) write_queue_bytes: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) stack_size: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) proxy_protocol: bool,
    pub(crate) proxy_header_timeout: Duration,
    pub(crate) reuse_port: bool,
    pub(crate) unix_mode: Option<u32>,
    #[cfg(feature = "tls")]
    pub(crate) secure_socket: Option<crate::tls::ListenerSecureSocket>,
}

impl Default for ListenerConfig {
    fn default() -> ListenerConfig {
        ListenerConfig {
            backlog: 4096,
            max_connections: 10_000,
            idle_timeout: None,
            max_lifetime: None,
            write_timeout: Some(Duration::from_secs(60)),
            write_queue_bytes: 1024 * 1024,
            drain_timeout: Duration::from_secs(2),
            stack_size: 256 * 1024,
            read_buffer_size: 64 * 1024,
            nodelay: true,
            keepalive: Some(Keepalive::default()),
            proxy_protocol: false,
            proxy_header_timeout: Duration::from_secs(10),
            reuse_port: false,
            unix_mode: None,
            #[cfg(feature = "tls")]
            secure_socket: None,
        }
    }
}

/// The smallest stack we let a connection thread have: our own frames need a few KiB, and
/// the callbacks need room too.
const MIN_STACK: usize = 64 * 1024;

impl ListenerConfig {
    /// The defaults: backlog 4096, at most 10,000 connections, no idle timeout or lifetime
    /// limit, 60 s write timeout, 1 MiB write queue, 2 s drain, 256 KiB thread stacks,
    /// 64 KiB largest read, `TCP_NODELAY` on, TCP keepalive after 60 s of silence.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new();
    /// # let _ = config;
    /// ```
    pub fn new() -> ListenerConfig {
        ListenerConfig::default()
    }

    /// How many connections the operating system may hold complete but not yet accepted.
    /// A burst of connects beyond it waits for SYN retransmits (a second or more). The
    /// system caps it at `net.core.somaxconn`.
    ///
    /// Default: 4096 (`std::net` uses 128, tokio 1024). Measured here, a burst of 2,000
    /// connects took up to 1 s to be served with 1024 (SYN retransmits), 0.1 s with 4096.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().backlog(128);
    /// # let _ = config;
    /// ```
    pub fn backlog(mut self, backlog: u32) -> ListenerConfig {
        self.backlog = backlog;
        self
    }

    /// The most connections served at once. At the limit the listener stops accepting
    /// until one closes; new connects wait in the backlog meanwhile.
    ///
    /// Default: 10,000.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().max_connections(100);
    /// # let _ = config;
    /// ```
    pub fn max_connections(mut self, max: usize) -> ListenerConfig {
        self.max_connections = max;
        self
    }

    /// Closes a connection that has had no traffic in either direction for this long: its
    /// service's `on_error` gets an [`ErrorKind::Timeout`] error, then `on_close` runs.
    /// A write counts as traffic while the operating system takes its bytes; a write
    /// stalled on a peer that stopped reading is closed once the socket has taken nothing
    /// for this long (on Linux the socket buffers may keep growing for a second or two
    /// after the peer stopped reading).
    /// A peer that sends one byte just before each deadline is not idle: bound it with
    /// [`max_lifetime`](ListenerConfig::max_lifetime).
    ///
    /// Default: `None` (as in Ballerina: connections may stay idle forever).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ListenerConfig::new().idle_timeout(Some(Duration::from_secs(60)));
    /// # let _ = config;
    /// ```
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> ListenerConfig {
        self.idle_timeout = timeout;
        self
    }

    /// Closes every connection this long after it was accepted, whatever its traffic, as
    /// the idle timeout does — also while it is blocked writing to a peer that reads just
    /// enough to keep the write going. The bound for peers that trickle bytes to stay just
    /// under the idle timeout.
    ///
    /// Default: `None` (no limit).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // Idle for a minute, or an hour in all, whichever comes first.
    /// let config = synctcp::ListenerConfig::new()
    ///     .idle_timeout(Some(Duration::from_secs(60)))
    ///     .max_lifetime(Some(Duration::from_secs(3600)));
    /// # let _ = config;
    /// ```
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> ListenerConfig {
        self.max_lifetime = lifetime;
        self
    }

    /// How long one write may take in all: from the call until the last of its bytes is
    /// handed to the operating system — the connection thread's own blocking send, the
    /// waits for room in a full write queue, and the sends the writer thread makes of the
    /// write's queued bytes. When it expires the write fails with [`ErrorKind::Timeout`]
    /// and the connection is closed (its `on_error` and `on_close` run). A write never
    /// outlives [`max_lifetime`](ListenerConfig::max_lifetime). `None` waits forever.
    ///
    /// Default: `Some(60 s)`: a server should not hold a thread for minutes on a peer
    /// that stopped reading.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ListenerConfig::new().write_timeout(Some(Duration::from_secs(10)));
    /// # let _ = config;
    /// ```
    pub fn write_timeout(mut self, timeout: Option<Duration>) -> ListenerConfig {
        self.write_timeout = timeout;
        self
    }

    /// The most bytes each connection's write queue holds (bytes written from other
    /// threads that the socket could not take at once). A writer that finds it full
    /// waits, up to the write timeout. One write larger than this is queued piece by piece.
    ///
    /// Default: 1 MiB.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().write_queue_bytes(256 * 1024);
    /// # let _ = config;
    /// ```
    pub fn write_queue_bytes(mut self, bytes: usize) -> ListenerConfig {
        self.write_queue_bytes = bytes;
        self
    }

    /// When this side closes a connection, how long to keep reading (and discarding) the
    /// peer's input after our FIN, waiting for its end of stream. Closing a socket with
    /// unread input sends a reset, which can destroy replies the peer has not read yet.
    ///
    /// Default: 2 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ListenerConfig::new().drain_timeout(Duration::from_millis(500));
    /// # let _ = config;
    /// ```
    pub fn drain_timeout(mut self, timeout: Duration) -> ListenerConfig {
        self.drain_timeout = timeout;
        self
    }

    /// The stack size of each connection thread, which runs the service's callbacks.
    /// Only the pages a thread touches cost memory; raise it for deeply recursive
    /// callbacks. At least 64 KiB.
    ///
    /// Default: 256 KiB (Rust's default is 2 MiB).
    ///
    /// # Examples
    ///
    /// ```
    /// // Callbacks that recurse deeply need more room.
    /// let config = synctcp::ListenerConfig::new().stack_size(2 * 1024 * 1024);
    /// # let _ = config;
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> ListenerConfig {
        self.stack_size = bytes;
        self
    }

    /// The most bytes one read hands to `on_bytes`. A connection's first reads land in
    /// 512 bytes on its thread's stack; once a read fills them, reads go to a buffer on
    /// the heap that starts at 1 KiB and doubles up to this while reads fill it.
    ///
    /// Default: 64 KiB.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().read_buffer_size(16 * 1024);
    /// # let _ = config;
    /// ```
    pub fn read_buffer_size(mut self, bytes: usize) -> ListenerConfig {
        self.read_buffer_size = bytes;
        self
    }

    /// Whether to set `TCP_NODELAY` on accepted connections, sending small replies at
    /// once instead of batching them (Nagle's algorithm).
    ///
    /// Default: `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().nodelay(false);
    /// # let _ = config;
    /// ```
    pub fn nodelay(mut self, nodelay: bool) -> ListenerConfig {
        self.nodelay = nodelay;
        self
    }

    /// TCP keepalive probes on silent connections, so that a peer that vanished (a crashed
    /// host, a dropped NAT entry) is noticed and its connection closed — an idle
    /// connection without an `idle_timeout` would otherwise stay forever. `None` turns them
    /// off.
    ///
    /// Default: `Some(Keepalive::default())`: probes after 60 s of silence, every 10 s, 6
    /// retries (a vanished peer is noticed within about two minutes).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use synctcp::{Keepalive, ListenerConfig};
    ///
    /// let eager = ListenerConfig::new().keepalive(Some(Keepalive::new(Duration::from_secs(20))));
    /// let config = ListenerConfig::new().keepalive(None);
    /// # let _ = eager;
    /// # let _ = config;
    /// ```
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> ListenerConfig {
        self.keepalive = keepalive;
        self
    }

    /// Reads HAProxy's PROXY protocol (versions 1 and 2): every connection must begin with
    /// the header a load balancer sends (HAProxy's `send-proxy`/`send-proxy-v2`, Envoy's
    /// and the cloud balancers' PROXY protocol options), read before anything else — the
    /// TLS handshake too. The [`Caller`](crate::Caller) then reports the original client's
    /// address as its `remote_addr`, and the balancer's as
    /// [`proxied_by`](crate::Caller::proxied_by). A connection without a valid header
    /// within [`proxy_header_timeout`](ListenerConfig::proxy_header_timeout) is refused and
    /// counted ([`Stats::refused`](crate::Stats::refused)); it never reaches the service.
    /// A v2 `LOCAL` header (a health check) is served with the real addresses.
    ///
    /// Only turn it on behind a balancer that always sends the header: a direct client
    /// could otherwise claim any address.
    ///
    /// Default: `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = synctcp::ListenerConfig::new().proxy_protocol(true);
    /// # let _ = config;
    /// ```
    pub fn proxy_protocol(mut self, on: bool) -> ListenerConfig {
        self.proxy_protocol = on;
        self
    }

    /// With [`proxy_protocol`](ListenerConfig::proxy_protocol): how long a connection may
    /// take to send its whole header.
    ///
    /// Default: 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = synctcp::ListenerConfig::new()
    ///     .proxy_protocol(true)
    ///     .proxy_header_timeout(Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    pub fn proxy_header_timeout(mut self, timeout: Duration) -> ListenerConfig {
        self.proxy_header_timeout = timeout;
        self
    }

    /// Lets several listeners — in several processes — bind the same address and port
    /// (`SO_REUSEPORT`, Unix only): the operating system spreads new connections over them.
    /// Run N copies of a server on one port to use N cores' accept loops; stop one and the
    /// others go on serving. Every listener on the port must set it (and, on Linux, run as
    /// the same user). TCP only: binding a Unix socket's path with it is an
    /// [`InvalidConfig`](crate::ErrorKind::InvalidConfig) error.
    ///
    /// Default: `false`.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Listener, ListenerConfig};
    /// # #[cfg(unix)] {
    /// let config = ListenerConfig::new().reuse_port(true);
    /// let first = Listener::bind_with("127.0.0.1:0", &config)?;
    /// let second = Listener::bind_with(first.local_addr(), &config)?; // the same port
    /// assert_eq!(first.local_addr(), second.local_addr());
    /// # }
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn reuse_port(mut self, on: bool) -> ListenerConfig {
        self.reuse_port = on;
        self
    }

    /// The permissions of a Unix socket's file (`0o600`: only this user may connect;
    /// `0o660`: this user and group), set before the socket listens, so no client ever
    /// connects under others. Ignored for TCP. Values above `0o777` are an
    /// [`InvalidConfig`](crate::ErrorKind::InvalidConfig) error.
    ///
    /// Default: none (the file gets `0o777` less the process's umask).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(unix)] {
    /// use std::os::unix::fs::PermissionsExt;
    /// use synctcp::{Listener, ListenerConfig};
    ///
    /// # let dir = std::env::temp_dir().join(format!("synctcp-doc-mode-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("admin.sock");
    /// let listener = Listener::bind_with(path.as_path(), &ListenerConfig::new().unix_mode(0o600))?;
    /// let mode = std::fs::metadata(&path)?.permissions().mode();
    /// assert_eq!(mode & 0o777, 0o600);
    /// # drop(listener);
    /// # std::fs::remove_dir_all(&dir)?;
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unix_mode(mut self, mode: u32) -> ListenerConfig {
        self.unix_mode = Some(mode);
        self
    }

    /// Serves TLS: Ballerina's `secureSocket`. The certificate and key files are read, and
    /// every setting checked, when the listener is bound.
    ///
    /// Default: none (plain TCP).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ListenerConfig, ListenerSecureSocket};
    /// let tls = ListenerSecureSocket::new("server.pem", "server.key");
    /// let config = ListenerConfig::new().secure_socket(tls);
    /// # let _ = config;
    /// ```
    #[cfg(feature = "tls")]
    pub fn secure_socket(
        mut self,
        secure_socket: crate::tls::ListenerSecureSocket,
    ) -> ListenerConfig {
        self.secure_socket = Some(secure_socket);
        self
    }

    pub(crate) fn validate(&self, context: &str) -> Result<()> {
        let invalid =
            |message: String| Err(Error::with(ErrorKind::InvalidConfig, context, message));
        for (name, value) in [
            ("idle_timeout", self.idle_timeout),
            ("max_lifetime", self.max_lifetime),
            ("write_timeout", self.write_timeout),
        ] {
            if value == Some(Duration::ZERO) {
                return invalid(format!(
                    "{name} must be more than zero (use None for no limit)"
                ));
            }
        }
        let minimums: [(&str, usize, usize); 5] = [
            ("backlog", self.backlog as usize, 1),
            ("max_connections", self.max_connections, 1),
            ("write_queue_bytes", self.write_queue_bytes, 1),
            ("read_buffer_size", self.read_buffer_size, 1),
            ("stack_size", self.stack_size, MIN_STACK),
        ];
        for (name, value, min) in minimums {
            if value < min {
                return invalid(format!("{name} must be at least {min}"));
            }
        }
        if let Some(mode) = self.unix_mode.filter(|mode| *mode > 0o777) {
            return invalid(format!(
                "unix_mode {mode:#o} is not a file mode (0o000 to 0o777)"
            ));
        }
        Ok(())
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            write_timeout: self.write_timeout,
            idle_timeout: self.idle_timeout,
            max_lifetime: self.max_lifetime,
            drain_timeout: self.drain_timeout,
            write_queue_bytes: self.write_queue_bytes,
            read_buffer_size: self.read_buffer_size,
            stack_size: self.stack_size,
            proxy_header_timeout: self.proxy_protocol.then_some(self.proxy_header_timeout),
        }
    }
}
