//! `Keepalive`: TCP keepalive settings for clients and accepted connections, so that a
//! connection whose peer vanished (a crashed host, a dropped NAT entry) is noticed without
//! any traffic of the application's own.

use std::io;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// TCP keepalive: after a connection has been silent for `idle`, the operating system
/// sends a probe every `interval`; after `retries` probes without an answer it declares the
/// peer dead, and a blocked read returns an error.
///
/// The default — 60 s idle, probes every 10 s, 6 retries — notices a vanished peer within
/// about two minutes, far sooner than the operating system's own default (two hours idle on
/// Linux), and costs a few bytes a minute on a silent connection. Where the platform lacks
/// a setting (Windows has no retry count, OpenBSD only the system-wide values), the
/// system's value applies.
///
/// # Examples
///
/// ```
/// use synctcp::{ClientConfig, Keepalive, ListenerConfig};
/// use std::time::Duration;
///
/// let eager = Keepalive { idle: Duration::from_secs(10), retries: 3, ..Keepalive::default() };
/// let listener = ListenerConfig::new().keepalive(Some(eager));
/// let client = ClientConfig::new().keepalive(None); // no keepalive probes at all
/// # let _ = (listener, client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// The silence before the first probe. Default: 60 s.
    pub idle: Duration,
    /// The time between unanswered probes. Default: 10 s.
    pub interval: Duration,
    /// How many unanswered probes mean the peer is gone. Default: 6.
    pub retries: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            idle: Duration::from_secs(60),
            interval: Duration::from_secs(10),
            retries: 6,
        }
    }
}

impl Keepalive {
    /// Probes after `idle` of silence, with the default interval (10 s) and retries (6).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let keepalive = synctcp::Keepalive::new(Duration::from_secs(30));
    /// assert_eq!(keepalive.retries, 6);
    /// ```
    pub fn new(idle: Duration) -> Keepalive {
        Keepalive {
            idle,
            ..Keepalive::default()
        }
    }

    /// Turns keepalive on for `socket` with these settings, or off with `None`.
    pub(crate) fn apply(keepalive: Option<&Keepalive>, socket: SockRef<'_>) -> io::Result<()> {
        let Some(keepalive) = keepalive else {
            return socket.set_keepalive(false);
        };
        let settings = TcpKeepalive::new().with_time(keepalive.idle);
        #[cfg(any(
            target_os = "android",
            target_os = "freebsd",
            target_os = "ios",
            target_os = "linux",
            target_os = "macos",
            target_os = "netbsd",
            target_os = "windows",
        ))]
        let settings = settings.with_interval(keepalive.interval);
        #[cfg(any(
            target_os = "android",
            target_os = "freebsd",
            target_os = "ios",
            target_os = "linux",
            target_os = "macos",
            target_os = "netbsd",
        ))]
        let settings = settings.with_retries(keepalive.retries);
        socket.set_tcp_keepalive(&settings)
    }
}
