//! `Sock` and `ListenSock`: a connected stream socket and a listening one, TCP or (on
//! Unix) a Unix domain socket. The rest of the crate reads, writes, times out and shuts
//! down through these whatever the kind; only setting up, accepting and addresses differ.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

#[cfg(unix)]
use std::os::unix::net::UnixStream;

use crate::addr::Addr;
#[cfg(feature = "peer-credentials")]
use crate::addr::PeerCredentials;
use crate::keepalive::Keepalive;

/// A connected stream socket.
#[derive(Debug)]
pub(crate) enum Sock {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// Calls the same method on whichever socket `$sock` holds.
macro_rules! either {
    ($sock:expr, $s:ident => $body:expr) => {
        match $sock {
            Sock::Tcp($s) => $body,
            #[cfg(unix)]
            Sock::Unix($s) => $body,
        }
    };
}

impl Sock {
    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        either!(self, s => s.set_read_timeout(timeout))
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        either!(self, s => s.set_write_timeout(timeout))
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        either!(self, s => s.shutdown(how))
    }

    /// `TCP_NODELAY` and keepalive, on TCP; a Unix socket has neither (and needs neither).
    pub(crate) fn set_tcp_options(
        &self,
        nodelay: bool,
        keepalive: Option<&Keepalive>,
    ) -> io::Result<()> {
        match self {
            Sock::Tcp(s) => {
                s.set_nodelay(nodelay)?;
                Keepalive::apply(keepalive, socket2::SockRef::from(s))
            }
            #[cfg(unix)]
            Sock::Unix(_) => Ok(()),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self {
            Sock::Tcp(s) => s.local_addr().map(Addr::Tcp),
            #[cfg(unix)]
            Sock::Unix(s) => s.local_addr().map(|a| unix_addr(&a)),
        }
    }

    pub(crate) fn peer_addr(&self) -> io::Result<Addr> {
        match self {
            Sock::Tcp(s) => s.peer_addr().map(Addr::Tcp),
            #[cfg(unix)]
            Sock::Unix(s) => s.peer_addr().map(|a| unix_addr(&a)),
        }
    }

    /// Who is at the other end of a Unix socket, where the platform tells.
    #[cfg(feature = "peer-credentials")]
    pub(crate) fn peer_credentials(&self) -> Option<PeerCredentials> {
        match self {
            Sock::Tcp(_) => None,
            #[cfg(unix)]
            Sock::Unix(s) => crate::unix::peer_credentials(s),
        }
    }
}

#[cfg(unix)]
pub(crate) fn unix_addr(addr: &std::os::unix::net::SocketAddr) -> Addr {
    Addr::Unix(addr.as_pathname().map(|p| p.to_path_buf()))
}

impl Read for &Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        either!(*self, s => { let mut s = s; s.read(buf) })
    }
}

impl Write for &Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        either!(*self, s => { let mut s = s; s.write(buf) })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Sock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        either!(self, s => s.as_fd())
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Sock {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        either!(self, s => s.as_socket())
    }
}

/// A listening socket. A Unix one owns its socket file: the file is removed when the
/// socket stops listening or is dropped.
#[derive(Debug)]
pub(crate) enum ListenSock {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(crate::unix::SocketFile),
}

impl ListenSock {
    /// The next connection and whom it is from.
    pub(crate) fn accept(&self) -> io::Result<(Sock, Addr)> {
        match self {
            ListenSock::Tcp(l) => l.accept().map(|(s, a)| (Sock::Tcp(s), Addr::Tcp(a))),
            #[cfg(unix)]
            ListenSock::Unix(file) => file
                .listener()
                .accept()
                .map(|(s, a)| (Sock::Unix(s), unix_addr(&a))),
        }
    }

    pub(crate) fn local_addr(&self) -> io::Result<Addr> {
        match self {
            ListenSock::Tcp(l) => l.local_addr().map(Addr::Tcp),
            #[cfg(unix)]
            ListenSock::Unix(file) => Ok(Addr::Unix(Some(file.path().to_path_buf()))),
        }
    }

    /// Stops listening, so that the `waiting` threads blocked in `accept` return and new
    /// connects are refused; a Unix socket's file is removed.
    pub(crate) fn stop(&self, waiting: usize) {
        match self {
            ListenSock::Tcp(l) => crate::net::stop_listening(l, waiting),
            #[cfg(unix)]
            ListenSock::Unix(file) => file.stop(waiting),
        }
    }

    /// Bounds each `accept` by `timeout` (the socket's receive timeout), where the system
    /// applies it to `accept`.
    pub(crate) fn set_accept_timeout(&self, timeout: Duration) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        match self {
            ListenSock::Tcp(l) => socket2::SockRef::from(l).set_read_timeout(Some(timeout)),
            ListenSock::Unix(file) => {
                socket2::SockRef::from(file.listener()).set_read_timeout(Some(timeout))
            }
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = timeout;
            Ok(())
        }
    }

    /// Gives the listening socket the options its connections are to have, where the
    /// sockets it accepts inherit them (TCP on Linux and Android: the kernel copies the
    /// listener's socket at accept), so that no connection needs a system call for each.
    /// Returns whether they were set; if not, each connection sets its own.
    ///
    /// An accepted socket then also inherits the listener's receive timeout, which is
    /// `accept`'s ([`set_accept_timeout`](ListenSock::set_accept_timeout)).
    pub(crate) fn set_inherited_options(
        &self,
        nodelay: bool,
        keepalive: Option<&Keepalive>,
        write_timeout: Option<Duration>,
    ) -> bool {
        match self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            ListenSock::Tcp(l) => {
                let socket = socket2::SockRef::from(l);
                // socket2 would cut a timeout under a microsecond to zero, which is none at
                // all; std rounds it up, as a connection's own socket did.
                let write_timeout = write_timeout.map(|t| t.max(Duration::from_micros(1)));
                let set = || -> io::Result<()> {
                    socket.set_tcp_nodelay(nodelay)?;
                    Keepalive::apply(keepalive, socket2::SockRef::from(l))?;
                    socket.set_write_timeout(write_timeout)
                };
                set().is_ok()
            }
            _ => {
                let _ = (nodelay, keepalive, write_timeout);
                false
            }
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for ListenSock {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            ListenSock::Tcp(l) => l.as_fd(),
            ListenSock::Unix(file) => file.listener().as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for ListenSock {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            ListenSock::Tcp(l) => l.as_socket(),
        }
    }
}
