//! Accepting: a running listener's worker threads wait in `accept` on the listening
//! socket, and the one that takes a connection serves it on its own thread — no hand-off
//! to another thread, no new thread per connection. When its connection ends, a worker
//! goes back to `accept` (or leaves, when enough wait there already). At least
//! [`MIN_ACCEPTORS`] wait in `accept` while the connection limit allows; a worker that
//! takes a connection starts another first if fewer are left.
//!
//! Accepting never dies and never spins: errors of one connection are skipped, resource
//! errors (out of descriptors, memory or threads) are backed off from 5 ms doubling to
//! 1 s, and at `max_connections` no worker waits in `accept`, leaving new connections in
//! the backlog until one ends.

use std::io::ErrorKind as IoKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::live::{Live, Next, MIN_ACCEPTORS};
use crate::addr::Addr;
use crate::connection::{self, Connection, Settings};
use crate::keepalive::Keepalive;
use crate::net::{self, AcceptFailure};
use crate::service::Serving;
use crate::sock::{ListenSock, Sock};
use crate::stats::Counters;

/// Connection ids, unique for the life of the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const BACKOFF_FIRST: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How long a worker beyond [`MIN_ACCEPTORS`] waits in `accept` for a connection before it
/// leaves (where the system bounds `accept` with the socket's receive timeout).
pub(crate) const SPARE_IDLE: Duration = Duration::from_secs(10);

/// What every worker of a running listener shares.
pub(crate) struct Acceptor {
    pub(crate) socket: Arc<ListenSock>,
    pub(crate) addr: Addr,
    pub(crate) live: Arc<Live>,
    pub(crate) serving: Serving,
    /// Shared by every connection of the listener.
    pub(crate) settings: Arc<Settings>,
    pub(crate) max_connections: usize,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<Keepalive>,
    /// The listening socket has `nodelay`, `keepalive` and the write timeout, and each
    /// accepted socket inherits them (with the listener's receive timeout, `SPARE_IDLE`).
    pub(crate) inherited: bool,
    pub(crate) counters: Arc<Counters>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::ServerTls>,
}

impl Acceptor {
    /// Starts the first workers. An error when not even one can be started.
    pub(crate) fn start(self: &Arc<Self>) -> std::io::Result<()> {
        for started in 0..MIN_ACCEPTORS {
            match self.spawn() {
                Ok(_) => {}
                Err(e) if started == 0 => return Err(e),
                Err(e) => log::warn!(
                    "listener on {}: {e}; starting with fewer workers",
                    self.addr
                ),
            }
        }
        Ok(())
    }

    /// Starts a worker that waits in `accept`, if the limit allows one.
    fn spawn(self: &Arc<Self>) -> std::io::Result<bool> {
        let me = Arc::clone(self);
        let builder = thread::Builder::new()
            .name("synctcp-conn".into())
            .stack_size(self.settings.stack_size);
        self.live
            .spawn_acceptor(self.max_connections, builder, move || me.work())
    }

    /// A worker: waits in `accept`, serves the connection it takes, and again, until it is
    /// not needed. It holds an acceptor slot whenever it is not serving.
    fn work(self: &Arc<Self>) {
        let mut backoff = BACKOFF_FIRST;
        loop {
            let failure = match self.socket.accept() {
                Ok((stream, peer)) => {
                    backoff = BACKOFF_FIRST;
                    match self.take(stream, peer) {
                        Taken::Served(Next::Accept) => continue,
                        Taken::Served(Next::Exit) | Taken::Stopping => return,
                        Taken::Failed(why) => why,
                    }
                }
                Err(_) if self.live.is_stopping() => {
                    self.live.acceptor_leaves();
                    return;
                }
                // The socket's receive timeout: a quiet spell.
                Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => {
                    if self.live.idle_acceptor_leaves() {
                        return;
                    }
                    continue;
                }
                Err(e) if net::classify_accept_error(&e) == AcceptFailure::Connection => {
                    log::debug!("listener on {}: accept: {e}; skipped", self.addr);
                    continue;
                }
                Err(e) => format!("accept: {e}"),
            };
            log::warn!(
                "listener on {}: {failure}; retrying in {backoff:?}",
                self.addr
            );
            self.counters.accept_backoff();
            if !self.live.pause(backoff) {
                self.live.acceptor_leaves();
                return;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    /// Sets a new connection up and serves it on this thread (also when no other worker
    /// can be started to take its place in `accept`: out of threads, new connections wait
    /// in the backlog until a worker is free).
    fn take(self: &Arc<Self>, stream: Sock, peer: Addr) -> Taken {
        let conn = match self.connection(stream, peer.clone()) {
            Ok(conn) => conn,
            Err(e) => return Taken::Failed(format!("cannot serve {peer}: {e}; closed it")),
        };
        let id = conn.id;
        self.counters.accepted();
        let Some(need_more) = self.live.admit(Arc::clone(&conn), self.max_connections) else {
            log::debug!("listener on {}: stopping; closed {peer}", self.addr);
            self.counters.refused();
            self.live.acceptor_leaves();
            return Taken::Stopping;
        };
        if need_more {
            if let Err(e) = self.spawn() {
                // Out of threads: this one serves the connection all the same. If no other
                // worker waits in `accept`, new connections wait in the backlog (as at
                // `max_connections`) until a connection ends and its worker accepts again.
                log::warn!(
                    "listener on {}: cannot start a thread: {e}; {} left waiting in accept",
                    self.addr,
                    self.live.acceptors()
                );
                self.counters.accept_backoff();
            }
        }
        if self.live.at_limit(self.max_connections) {
            self.counters.limit_wait();
        }
        name_thread(id);
        self.live.serving(Some(id));
        // The callbacks' panics are caught inside; one escaping would be our bug: it is
        // logged, and the worker goes on.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            connection::run(&conn, &self.serving)
        }));
        if run.is_err() {
            log::error!(
                "listener on {}: connection {id} failed inside synctcp",
                self.addr
            );
        }
        self.live.serving(None);
        // Its descriptor freed first: renaming opens a file.
        drop(conn);
        name_thread_idle();
        Taken::Served(self.live.ended(id, self.max_connections))
    }

    /// The socket's options, and the connection that will own it. Not inlined: the
    /// connection is built on this frame, which then gives its stack back before the
    /// connection is served (an idle connection's stack stays within two pages).
    #[inline(never)]
    fn connection(&self, stream: Sock, peer: Addr) -> std::io::Result<Arc<Connection>> {
        // The TLS session is made here; its handshake runs in `connection::run`.
        #[cfg(feature = "tls")]
        let tls = self.tls.as_ref().map(|tls| tls.session()).transpose()?;
        #[cfg(feature = "tls")]
        let handshake = tls.is_some();
        #[cfg(not(feature = "tls"))]
        let handshake = false;
        if !self.inherited {
            stream.set_tcp_options(self.nodelay, self.keepalive.as_ref())?;
            stream.set_write_timeout(self.settings.write_timeout)?;
        } else if !handshake {
            // Inherited from the listener with the rest: `accept`'s timeout. A handshake
            // sets its own, and clears it after.
            stream.set_read_timeout(None)?;
        }
        // Bound to one address, every connection's local address is that address: spare
        // the system call. A wildcard bind has to ask.
        let local = match self.addr.ip() {
            Some(ip) if ip.is_unspecified() => stream.local_addr()?,
            _ => self.addr.clone(),
        };
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; show them as a.b.c.d.
        let (local, peer) = (unmapped(local), unmapped(peer));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(Connection::new(
            id,
            stream,
            (local, peer),
            Arc::clone(&self.settings),
            #[cfg(feature = "tls")]
            tls,
            Arc::clone(&self.counters),
        )))
    }
}

/// How taking a connection went.
enum Taken {
    /// Served; what the worker does next.
    Served(Next),
    /// A stop began: the worker leaves.
    Stopping,
    /// Could not be served (the worker still accepts): why, for the log.
    Failed(String),
}

/// The system's name of a worker thread (`ps -L`, `top -H`, debuggers):
/// `synctcp-conn-ID` of the connection it serves. (std's name, for panic messages, stays
/// `synctcp-conn`: it is set once, when the thread starts.)
fn name_thread(id: u64) {
    set_system_name(format_args!("synctcp-conn-{id}"));
}

/// A worker back in `accept` is named after no connection.
fn name_thread_idle() {
    set_system_name(format_args!("synctcp-conn"));
}

/// Names the thread without allocating: a heap block freed here would stay in this
/// thread's allocator cache for the whole connection.
fn set_system_name(name: std::fmt::Arguments<'_>) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::io::Write;
        // The system keeps 15 bytes of it, as it did of the names given at spawn.
        let mut buf = [0u8; 15];
        let mut room = &mut buf[..];
        let _ = room.write_fmt(name); // cut at 15 bytes
        let len = 15 - room.len();
        // This thread's name, as `prctl(PR_SET_NAME)` sets it, without unsafe code (Linux
        // 3.17 and later; without /proc the thread keeps its name).
        if let Ok(mut comm) = std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/thread-self/comm")
        {
            let _ = comm.write_all(&buf[..len]);
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = name;
}

fn unmapped(addr: Addr) -> Addr {
    match addr {
        Addr::Tcp(std::net::SocketAddr::V6(v6)) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => Addr::Tcp(std::net::SocketAddr::from((v4, v6.port()))),
            None => addr,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn ipv4_mapped_addresses_are_shown_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(unmapped(Addr::Tcp(mapped)), v4);
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(unmapped(Addr::Tcp(v6)), v6);
    }
}
