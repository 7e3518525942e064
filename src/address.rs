//! `ToAddress`: the ways to say where to connect or listen — `"host:port"`,
//! `("host", port)`, a `SocketAddr`, an IP and a port, for a listener a port alone, and a
//! Unix socket's path — kept as the user wrote them, so that errors can name what was
//! typed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};

use crate::addr::Addr;

/// An address to connect to or listen on, written any of the ways `std::net` accepts, plus
/// Ballerina's port-only form for listeners:
///
/// | written as | means |
/// |---|---|
/// | `"localhost:3000"`, `"127.0.0.1:3000"`, `"[::1]:3000"` (or a `String`) | a host name or IP literal and a port |
/// | `("localhost", 3000)` (or with a `String`) | the same, host and port apart |
/// | a [`SocketAddr`], `(IpAddr, u16)` and their v4/v6 forms | an IP address and a port |
/// | `3000` (a `u16`) | listeners only: that port on every interface |
/// | a [`Path`] or [`PathBuf`] (`Path::new("/run/app.sock")`), or a string `"unix:/run/app.sock"` | a Unix domain socket (Unix only) |
/// | an [`Addr`] (what `local_addr()` returns) | the address or path it holds |
///
/// Names are resolved when the client connects or the listener binds; every address a
/// name resolves to is tried in turn. Errors show the address as it was written
/// (`connect to localhost:3000: connection refused`).
///
/// This trait is sealed: the types above are the ones that implement it.
///
/// # Examples
///
/// ```
/// use synctcp::{Client, Listener};
/// use std::net::{Ipv4Addr, SocketAddr};
///
/// let listener = Listener::bind("127.0.0.1:0")?;
/// let port = listener.local_addr().port().unwrap();
///
/// let a = Client::connect(format!("127.0.0.1:{port}"))?;
/// let b = Client::connect(("localhost", port))?;
/// let c = Client::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
/// # let _ = (a, b, c);
/// # Ok::<(), synctcp::Error>(())
/// ```
pub trait ToAddress: sealed::Sealed {
    /// The address as the crate keeps it.
    #[doc(hidden)]
    fn to_address(&self) -> sealed::Address;
}

pub(crate) use sealed::Address;

mod sealed {
    use super::*;

    pub trait Sealed {}

    /// Where to connect or listen, as the user wrote it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[allow(unreachable_pub)] // reachable only through the sealed trait
    pub enum Address {
        /// A name or IP literal and a port, resolved when used.
        Host { host: String, port: u16 },
        /// An IP address and a port.
        Socket(SocketAddr),
        /// A port alone: every interface, for listeners.
        Port(u16),
        /// A Unix domain socket's path.
        Unix(PathBuf),
        /// A string that is not `host:port`: the reason is reported where it is used.
        Unparsed { text: String, problem: &'static str },
    }
}

impl Address {
    /// The name to verify a TLS server certificate against: the host as written.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn host(&self) -> String {
        match self {
            Address::Host { host, .. } => host.clone(),
            Address::Socket(addr) => addr.ip().to_string(),
            Address::Port(_) => "*".to_string(),
            Address::Unix(path) => path.display().to_string(),
            Address::Unparsed { text, .. } => text.clone(),
        }
    }
}

/// As written: `localhost:3000`, `[::1]:3000`, `*:3000` for a port alone.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Host { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Host { host, port } => write!(f, "{host}:{port}"),
            Address::Socket(addr) => write!(f, "{addr}"),
            Address::Port(port) => write!(f, "*:{port}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Unparsed { text, .. } => write!(f, "{text:?}"),
        }
    }
}

/// `"host:port"`: an IP literal with a port (`"[::1]:80"`), or a name and a port split at
/// the last colon.
fn parse(text: &str) -> Address {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Address::Socket(addr);
    }
    if let Some(path) = text.strip_prefix("unix:") {
        return Address::Unix(PathBuf::from(path));
    }
    if text.starts_with('/') || text.starts_with("./") {
        return Address::Unparsed {
            text: text.to_string(),
            problem: "a Unix socket's path is written \"unix:/path\" or given as a Path",
        };
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Address::Unparsed {
            text: text.to_string(),
            problem: "an address needs a port, as in \"localhost:3000\"",
        };
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match port.parse::<u16>() {
        Ok(port) if !host.is_empty() && !host.contains(':') => Address::Host {
            host: host.to_string(),
            port,
        },
        Ok(_) if host.is_empty() => Address::Unparsed {
            text: text.to_string(),
            problem: "an address needs a host, as in \"localhost:3000\"",
        },
        Ok(_) => Address::Unparsed {
            text: text.to_string(),
            problem: "an IPv6 address needs brackets, as in \"[::1]:3000\"",
        },
        Err(_) => Address::Unparsed {
            text: text.to_string(),
            problem: "the port must be a number from 0 to 65535",
        },
    }
}

fn host(host: &str, port: u16) -> Address {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Address::Socket(SocketAddr::new(ip, port)),
        Err(_) => Address::Host {
            host: host.to_string(),
            port,
        },
    }
}

macro_rules! to_address {
    ($($ty:ty => |$v:ident| $body:expr;)*) => {$(
        impl sealed::Sealed for $ty {}
        impl ToAddress for $ty {
            fn to_address(&self) -> Address {
                let $v = self;
                $body
            }
        }
    )*};
}

to_address! {
    str => |s| parse(s);
    String => |s| parse(s);
    (&str, u16) => |t| host(t.0, t.1);
    (String, u16) => |t| host(&t.0, t.1);
    (&String, u16) => |t| host(t.0, t.1);
    SocketAddr => |a| Address::Socket(*a);
    SocketAddrV4 => |a| Address::Socket(SocketAddr::V4(*a));
    SocketAddrV6 => |a| Address::Socket(SocketAddr::V6(*a));
    (IpAddr, u16) => |t| Address::Socket(SocketAddr::new(t.0, t.1));
    (Ipv4Addr, u16) => |t| Address::Socket(SocketAddr::from(*t));
    (Ipv6Addr, u16) => |t| Address::Socket(SocketAddr::from(*t));
    u16 => |p| Address::Port(*p);
    Path => |p| Address::Unix(p.to_path_buf());
    PathBuf => |p| Address::Unix(p.clone());
    Addr => |a| match a {
        Addr::Tcp(addr) => Address::Socket(*addr),
        Addr::Unix(Some(path)) => Address::Unix(path.clone()),
        Addr::Unix(None) => Address::Unparsed {
            text: a.to_string(),
            problem: "an unnamed Unix socket has no path to connect to",
        },
    };
}

impl<T: ToAddress + ?Sized> sealed::Sealed for &T {}

/// A reference to an address is an address.
impl<T: ToAddress + ?Sized> ToAddress for &T {
    fn to_address(&self) -> Address {
        (**self).to_address()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keep_what_was_written() {
        assert_eq!(
            "localhost:3000".to_address(),
            Address::Host {
                host: "localhost".into(),
                port: 3000
            }
        );
        assert_eq!("localhost:3000".to_address().to_string(), "localhost:3000");
        assert_eq!("[::1]:80".to_address().to_string(), "[::1]:80");
        assert_eq!(("::1", 80).to_address().to_string(), "[::1]:80");
        assert_eq!(("[::1]", 80).to_address().to_string(), "[::1]:80");
        assert_eq!(3000u16.to_address().to_string(), "*:3000");
        assert_eq!(
            "unix:/run/a.sock".to_address(),
            Address::Unix(PathBuf::from("/run/a.sock"))
        );
        assert_eq!(
            Path::new("/run/a.sock").to_address().to_string(),
            "unix:/run/a.sock"
        );
    }

    #[test]
    fn malformed_strings_say_why() {
        for (text, why) in [
            ("localhost", "needs a port"),
            (":80", "needs a host"),
            ("::1:80", "brackets"),
            ("localhost:http", "a number"),
            ("localhost:70000", "a number"),
            ("/run/a.sock", "unix:/path"),
        ] {
            match text.to_address() {
                Address::Unparsed { problem, .. } => assert!(problem.contains(why), "{text}"),
                other => panic!("{text} parsed as {other:?}"),
            }
        }
    }
}
