//! Socket plumbing shared by the client and the listener: resolving names, binding,
//! connecting with a local interface, socket options, and the one non-blocking send the
//! write path needs. Everything here speaks `io::Result`; callers add the context.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

/// `host:port` as a person would type it: IPv6 literals in brackets.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Every address `host` resolves to, with `port`. Accepts names, IPv4 and IPv6 literals
/// (with or without brackets).
pub(crate) fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if is_invalid_tld(host) {
        // RFC 6761: resolvers should answer these at once, without asking a DNS server.
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "names under .invalid never resolve (RFC 6761)",
        ));
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "name resolved to no addresses",
        ));
    }
    Ok(addrs)
}

fn is_invalid_tld(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "invalid" || host.ends_with(".invalid")
}

/// Whether an error from name resolution means "no such host" rather than a socket error.
/// `getaddrinfo` failures reach us as `Uncategorized`/`Other` errors with no OS code.
pub(crate) fn is_lookup_failure(err: &io::Error) -> bool {
    err.raw_os_error().is_none()
}

/// Opens a TCP connection to `addr`, binding `local` first when given.
pub(crate) fn connect(
    addr: SocketAddr,
    local: Option<SocketAddr>,
    timeout: Option<Duration>,
) -> Result<TcpStream, ConnectError> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(ConnectError::Connect)?;
    if let Some(local) = local {
        socket
            .bind(&SockAddr::from(local))
            .map_err(ConnectError::Bind)?;
    }
    let target = SockAddr::from(addr);
    match timeout {
        Some(timeout) => socket.connect_timeout(&target, timeout),
        None => socket.connect(&target),
    }
    .map_err(ConnectError::Connect)?;
    Ok(socket.into())
}

/// Why [`connect`] failed: binding the local interface, or connecting.
#[derive(Debug)]
pub(crate) enum ConnectError {
    Bind(io::Error),
    Connect(io::Error),
}

/// A listening socket on `addr` with the given backlog. `SO_REUSEADDR` is set (as
/// `std::net` does on Unix) so that a listener can be started again on the same port while
/// old connections sit in TIME_WAIT. An IPv6 wildcard also accepts IPv4 (dual stack).
pub(crate) fn listen(addr: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Stops a listening socket so that a thread blocked in `accept` on it returns and new
/// connects are refused at once. On Linux `shutdown` does both; elsewhere the blocked
/// accept is woken by connecting to the socket once.
pub(crate) fn stop_listening(listener: &TcpListener) {
    let _ = SockRef::from(listener).shutdown(std::net::Shutdown::Read);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    if let Ok(mut addr) = listener.local_addr() {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
    }
}

/// Sends all of `data`, blocking, and gives up at `deadline`: one deadline for the whole
/// call, however many sends it takes. (`SO_SNDTIMEO` alone bounds each send, and a send
/// that made any progress would start the clock again.) `at_rest` is the socket's send
/// timeout between calls: it is lowered only while the deadline is nearer, then restored.
pub(crate) fn send_all(
    stream: &TcpStream,
    data: &[u8],
    deadline: Option<Instant>,
    at_rest: Option<Duration>,
) -> io::Result<()> {
    let mut timer = Timer::new(deadline, at_rest);
    let mut sent = 0;
    let result = loop {
        if sent == data.len() {
            break Ok(());
        }
        if let Err(e) = timer.arm(|t| stream.set_write_timeout(t)) {
            break Err(e);
        }
        match (&*stream).write(&data[sent..]) {
            Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => break Err(timed_out()),
            Err(e) => break Err(e),
        }
    };
    timer.restore(|t| stream.set_write_timeout(t));
    result
}

/// Reads once into `buf`, blocking until something arrives or `deadline` passes (as
/// [`send_all`] does for sends, `at_rest` is the socket's read timeout between calls).
pub(crate) fn recv_by(
    stream: &TcpStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
    at_rest: Option<Duration>,
) -> io::Result<usize> {
    let mut timer = Timer::new(deadline, at_rest);
    let result = loop {
        if let Err(e) = timer.arm(|t| stream.set_read_timeout(t)) {
            break Err(e);
        }
        match (&*stream).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => break Err(timed_out()),
            other => break other,
        }
    };
    timer.restore(|t| stream.set_read_timeout(t));
    result
}

/// Whether an I/O error is a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO` expired).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "deadline passed")
}

/// Keeps a socket timeout at what is left until a deadline, touching the socket only
/// when the deadline is nearer than the timeout it has at rest.
struct Timer {
    deadline: Option<Instant>,
    at_rest: Option<Duration>,
    current: Option<Duration>,
}

impl Timer {
    fn new(deadline: Option<Instant>, at_rest: Option<Duration>) -> Timer {
        Timer {
            deadline,
            at_rest,
            current: at_rest,
        }
    }

    fn arm(&mut self, set: impl Fn(Option<Duration>) -> io::Result<()>) -> io::Result<()> {
        let Some(deadline) = self.deadline else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        // Within a millisecond of the timeout at rest is close enough: no system call.
        let nearer = self
            .at_rest
            .map_or(true, |rest| left + Duration::from_millis(1) < rest);
        let wanted = if nearer { Some(left) } else { self.at_rest };
        if wanted != self.current {
            set(wanted)?;
            self.current = wanted;
        }
        Ok(())
    }

    fn restore(&self, set: impl Fn(Option<Duration>) -> io::Result<()>) {
        if self.current != self.at_rest {
            let _ = set(self.at_rest);
        }
    }
}

/// Sends as much of `data` as the socket takes now, without blocking; `Ok(0)` when it
/// takes nothing. Used by writers that must not wait on the socket (any thread other
/// than the connection's own). Where the platform has no per-call non-blocking flag,
/// nothing is sent and the bytes go through the write queue instead.
pub(crate) fn send_now(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let flags = libc::MSG_DONTWAIT;
        let sock = SockRef::from(stream);
        let mut sent = 0;
        while sent < data.len() {
            match sock.send_with_flags(&data[sent..], flags) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }
    #[cfg(not(unix))]
    {
        let _ = (stream, data);
        Ok(0)
    }
}

/// Reads what is already buffered on the socket without waiting, and discards it, so that
/// closing does not answer unread input with a reset. Bounded so that a flood cannot hold
/// the caller.
pub(crate) fn discard_buffered(stream: &TcpStream) {
    #[cfg(unix)]
    {
        let sock = SockRef::from(stream);
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        for _ in 0..256 {
            match sock.recv_with_flags(&mut scratch, libc::MSG_DONTWAIT) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = stream;
}

/// The classes of `accept` errors the accept loop tells apart.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AcceptFailure {
    /// Belongs to one connection that failed before we took it: skip it and go on.
    Connection,
    /// Out of descriptors, memory or buffers: back off and try again.
    Resources,
    /// Anything else: also backed off, so a persistent fault never spins.
    Other,
}

pub(crate) fn classify_accept_error(err: &io::Error) -> AcceptFailure {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionAborted | K::ConnectionReset | K::Interrupted | K::WouldBlock => {
            return AcceptFailure::Connection
        }
        K::OutOfMemory => return AcceptFailure::Resources,
        _ => {}
    }
    #[cfg(unix)]
    if let Some(code) = err.raw_os_error() {
        if [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code) {
            return AcceptFailure::Resources;
        }
        // Linux passes on network errors of the new connection from accept(2).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if [
            libc::EPROTO,
            libc::EPERM,
            libc::ENETDOWN,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::ENONET,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
        ]
        .contains(&code)
        {
            return AcceptFailure::Connection;
        }
    }
    AcceptFailure::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_brackets_ipv6() {
        assert_eq!(host_port("localhost", 80), "localhost:80");
        assert_eq!(host_port("::1", 80), "[::1]:80");
        assert_eq!(host_port("[::1]", 80), "[::1]:80");
    }

    #[test]
    fn invalid_names_fail_without_a_lookup() {
        for host in ["invalid", "x.invalid", "X.INVALID."] {
            let err = resolve(host, 1).unwrap_err();
            assert!(is_lookup_failure(&err), "{host}");
        }
        assert!(!is_invalid_tld("invalid.example"));
    }

    #[test]
    fn resolves_literals_and_bracketed_ipv6() {
        assert_eq!(
            resolve("127.0.0.1", 5).unwrap()[0],
            "127.0.0.1:5".parse().unwrap()
        );
        assert_eq!(resolve("[::1]", 5).unwrap()[0], "[::1]:5".parse().unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn accept_errors_are_classified() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(classify_accept_error(&emfile), AcceptFailure::Resources);
        let aborted = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(classify_accept_error(&aborted), AcceptFailure::Connection);
        let einval = io::Error::from_raw_os_error(libc::EINVAL);
        assert_eq!(classify_accept_error(&einval), AcceptFailure::Other);
    }
}
