//! Socket plumbing shared by the client and the listener: resolving names, binding,
//! connecting with a local interface, socket options, and the one non-blocking send the
//! write path needs. Everything here speaks `io::Result`; callers add the context.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};

use crate::sock::Sock;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};

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
/// old connections sit in TIME_WAIT; `SO_REUSEPORT` when asked for. An IPv6 wildcard also
/// accepts IPv4 (dual stack).
pub(crate) fn listen(addr: SocketAddr, backlog: u32, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    if reuse_port {
        #[cfg(all(
            unix,
            not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
        ))]
        socket.set_reuse_port(true)?;
        #[cfg(not(all(
            unix,
            not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin"))
        )))]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this platform",
        ));
    }
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&SockAddr::from(addr))?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Stops a listening socket so that the `waiting` threads blocked in `accept` on it return
/// and new connects are refused at once. On Linux `shutdown` does both; elsewhere each
/// blocked accept is woken by connecting to the socket once.
pub(crate) fn stop_listening(listener: &TcpListener, waiting: usize) {
    let _ = SockRef::from(listener).shutdown(std::net::Shutdown::Read);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    if let Ok(mut addr) = listener.local_addr() {
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        for _ in 0..waiting {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        }
    }
    let _ = waiting;
}

/// Sends all of `data`, blocking, and gives up at `deadline`: one deadline for the whole
/// call, however many sends it takes. (`SO_SNDTIMEO` alone bounds each send, and a send
/// that made any progress would start the clock again.) `current` is the socket's send
/// timeout as the caller last left it; it is changed only when it does not fit what is
/// left until the deadline, and kept up to date.
pub(crate) fn send_all(
    stream: &Sock,
    data: &[u8],
    deadline: Option<Instant>,
    current: &mut Option<Duration>,
) -> io::Result<()> {
    send_all_until(stream, data, &|| deadline, &|| {}, current)
}

/// [`send_all`] with a deadline that may move (`deadline` is asked before each send), and
/// `progress` called after each send that took bytes.
pub(crate) fn send_all_until(
    stream: &Sock,
    data: &[u8],
    deadline: &dyn Fn() -> Option<Instant>,
    progress: &dyn Fn(),
    current: &mut Option<Duration>,
) -> io::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        arm(deadline(), current, |t| stream.set_write_timeout(t))?;
        match (&*stream).write(&data[sent..]) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                sent += n;
                progress();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // The socket's timeout; the deadline decides (checked when arming again).
            Err(e) if is_timeout(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads once into `buf`, blocking until something arrives or `deadline` passes; as
/// [`send_all`] does for sends, `current` tracks the socket's read timeout.
pub(crate) fn recv_by(
    stream: &Sock,
    buf: &mut [u8],
    deadline: Option<Instant>,
    current: &mut Option<Duration>,
) -> io::Result<usize> {
    loop {
        arm(deadline, current, |t| stream.set_read_timeout(t))?;
        match (&*stream).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {}
            other => return other,
        }
    }
}

/// Whether an I/O error is a socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO` expired).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Readies a socket timeout for one more blocking call before `deadline`: a `TimedOut`
/// error once the deadline has passed; otherwise the timeout is set to what is left,
/// unless the one it has already ends no later than a millisecond past the deadline and
/// no sooner than halfway there (no system call in the common case).
fn arm(
    deadline: Option<Instant>,
    current: &mut Option<Duration>,
    set: impl Fn(Option<Duration>) -> io::Result<()>,
) -> io::Result<()> {
    let wanted = match deadline {
        None => None,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"));
            }
            Some(left)
        }
    };
    let fits = match (wanted, *current) {
        (None, None) => true,
        (Some(left), Some(now)) => now <= left + Duration::from_millis(1) && now * 2 >= left,
        _ => false,
    };
    if !fits {
        set(wanted)?;
        *current = wanted;
    }
    Ok(())
}

/// Sends as much of `data` as the socket takes now, without blocking; `Ok(0)` when it
/// takes nothing. Used by writers that must not wait on the socket (any thread other
/// than the connection's own). Where the platform has no per-call non-blocking flag,
/// nothing is sent and the bytes go through the write queue instead.
pub(crate) fn send_now(stream: &Sock, data: &[u8]) -> io::Result<usize> {
    #[cfg(unix)]
    {
        let sock = SockRef::from(stream);
        let mut sent = 0;
        while sent < data.len() {
            match sock.send_with_flags(&data[sent..], NOW) {
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

/// The flags of a send that never waits (and never raises `SIGPIPE` where it can say so).
#[cfg(any(target_os = "linux", target_os = "android"))]
const NOW: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const NOW: libc::c_int = libc::MSG_DONTWAIT;

/// One vectored send of what the socket takes now, without blocking: a `WouldBlock` error
/// when it takes nothing (always, where the platform has no per-call non-blocking flag).
/// TLS writes hand the socket rustls' records with it.
#[cfg(feature = "tls")]
pub(crate) fn send_vectored_now(stream: &Sock, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    #[cfg(unix)]
    loop {
        match SockRef::from(stream).send_vectored_with_flags(bufs, NOW) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (stream, bufs);
        Err(io::ErrorKind::WouldBlock.into())
    }
}

/// Whether a read would return at once: input has arrived, or the end of the stream or an
/// error is waiting. Looks without taking anything and without waiting. `false` where the
/// platform has no per-call non-blocking flag.
pub(crate) fn has_input(stream: &Sock) -> bool {
    #[cfg(unix)]
    {
        let sock = SockRef::from(stream);
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 1];
        loop {
            match sock.recv_with_flags(&mut scratch, libc::MSG_PEEK | libc::MSG_DONTWAIT) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return e.kind() != io::ErrorKind::WouldBlock,
                Ok(_) => return true,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = stream;
        false
    }
}

/// The most input that can be waiting in the socket: its receive buffer for TCP. A Unix
/// socket's queue is bounded by the sender's send buffer instead, which any sender may
/// raise to twice `net.core.wmem_max`.
pub(crate) fn most_waiting(stream: &Sock) -> usize {
    let receive = SockRef::from(stream)
        .recv_buffer_size()
        .unwrap_or(256 * 1024);
    match stream {
        Sock::Tcp(_) => receive,
        #[cfg(unix)]
        Sock::Unix(_) => {
            let wmem_max = std::fs::read_to_string("/proc/sys/net/core/wmem_max")
                .ok()
                .and_then(|text| text.trim().parse::<usize>().ok())
                .unwrap_or(4 << 20);
            receive.max(wmem_max.saturating_mul(2))
        }
    }
}

/// Reads what is already buffered on the socket without waiting, and discards it, so that
/// closing does not answer unread input with a reset. Bounded so that a flood cannot hold
/// the caller.
pub(crate) fn discard_buffered(stream: &Sock) {
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
