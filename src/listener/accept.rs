//! The accept loop of a running listener, on its own thread. It never dies and never
//! spins: errors of one connection are skipped, resource errors (out of descriptors,
//! memory or threads) are backed off from 5 ms doubling to 1 s, and at `max_connections`
//! it stops accepting until a slot frees, leaving new connections in the backlog.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use super::live::Live;
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

pub(crate) struct AcceptLoop {
    pub(crate) socket: Arc<ListenSock>,
    pub(crate) addr: Addr,
    pub(crate) live: Arc<Live>,
    pub(crate) serving: Serving,
    pub(crate) settings: Settings,
    pub(crate) max_connections: usize,
    pub(crate) nodelay: bool,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) counters: Arc<Counters>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::ServerTls>,
}

impl AcceptLoop {
    pub(crate) fn run(self) {
        log::debug!("listener on {} accepting", self.addr);
        let mut backoff = BACKOFF_FIRST;
        while self
            .live
            .wait_for_slot(self.max_connections, || self.counters.limit_wait())
        {
            match self.socket.accept() {
                Ok((stream, peer)) => match self.admit(stream, peer.clone()) {
                    Ok(()) => {
                        backoff = BACKOFF_FIRST;
                        continue;
                    }
                    Err(e) => log::warn!(
                        "listener on {}: cannot serve {peer}: {e}; closed it, retrying in {backoff:?}",
                        self.addr
                    ),
                },
                Err(_) if self.live.is_stopping() => break,
                Err(e) if net::classify_accept_error(&e) == AcceptFailure::Connection => {
                    log::debug!("listener on {}: accept: {e}; skipped", self.addr);
                    continue;
                }
                Err(e) => log::warn!(
                    "listener on {}: accept: {e}; retrying in {backoff:?}",
                    self.addr
                ),
            }
            self.counters.accept_backoff();
            if !self.live.pause(backoff) {
                break;
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
        log::debug!("listener on {} stopped accepting", self.addr);
    }

    /// Sets the new socket up and starts its connection thread. On error the socket is
    /// dropped, which closes it.
    fn admit(&self, stream: Sock, peer: Addr) -> std::io::Result<()> {
        stream.set_tcp_options(self.nodelay, self.keepalive.as_ref())?;
        stream.set_write_timeout(self.settings.write_timeout)?;
        // Bound to one address, every connection's local address is that address: spare
        // the system call. A wildcard bind has to ask.
        let local = match self.addr.ip() {
            Some(ip) if ip.is_unspecified() => stream.local_addr()?,
            _ => self.addr.clone(),
        };
        // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; show them as a.b.c.d.
        let (local, peer) = (unmapped(local), unmapped(peer));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // The TLS session is made here; its handshake runs on the connection's thread.
        #[cfg(feature = "tls")]
        let tls = self.tls.as_ref().map(|tls| tls.session()).transpose()?;
        self.counters.accepted();
        let conn = Connection::new(
            id,
            stream,
            (local, peer.clone()),
            self.settings,
            #[cfg(feature = "tls")]
            tls,
            Arc::clone(&self.counters),
        );
        let builder = thread::Builder::new()
            .name(format!("synctcp-conn-{id}"))
            .stack_size(self.settings.stack_size);
        let serving = self.serving.clone();
        let admitted = self.live.spawn(Arc::new(conn), builder, move |conn| {
            connection::run(conn, &serving)
        })?;
        if !admitted {
            log::debug!("listener on {}: stopping; closed {peer}", self.addr);
            self.counters.refused();
        }
        Ok(())
    }
}

fn unmapped(addr: Addr) -> Addr {
    match addr {
        Addr::Tcp(SocketAddr::V6(v6)) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => Addr::Tcp(SocketAddr::from((v4, v6.port()))),
            None => addr,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_are_shown_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(unmapped(Addr::Tcp(mapped)), v4);
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(unmapped(Addr::Tcp(v6)), v6);
    }
}
