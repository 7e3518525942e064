//! One accepted connection: what its threads share ([`Connection`]), the thread that reads
//! and runs the callbacks (`thread.rs`), its read side (`inbound.rs`), its write path and
//! close (`outbound.rs`, the one state machine), and the [`Caller`] handle services get.
//!
//! ```text
//!  thread.rs ──► inbound.rs ──┐
//!      │                      ├──► socket.rs (TCP stream, TLS session)
//!      └──────► outbound.rs ──┘
//!  caller.rs ──► outbound.rs
//! ```

mod caller;
mod inbound;
mod label;
mod limits;
mod outbound;
mod proxy_header;
mod settings;
mod socket;
mod stream;
mod thread;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

pub use caller::Caller;
pub(crate) use outbound::CloseBy;
use outbound::{Wait, Write};
pub(crate) use settings::Settings;
pub use stream::Stream;
pub(crate) use thread::run;

use crate::addr::Addr;
#[cfg(feature = "peer-credentials")]
use crate::addr::PeerCredentials;
use crate::error::Result;
use crate::sock::Sock;
use crate::stats::Counters;
use label::Label;
use outbound::Outbound;
use socket::Socket;

/// What the threads of one accepted connection share: its addresses, its settings, and
/// its write/close state machine (which owns the socket).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) local: Addr,
    pub(crate) peer: Addr,
    /// Who the peer is, on a Unix socket where the system tells.
    #[cfg(feature = "peer-credentials")]
    pub(crate) credentials: Option<PeerCredentials>,
    /// The listener's, shared by all its connections.
    pub(crate) settings: Arc<Settings>,
    pub(crate) out: Arc<Outbound>,
    /// What the TLS handshake agreed on, once it is done.
    #[cfg(feature = "tls")]
    pub(crate) tls_info: OnceLock<Arc<crate::tls::TlsInfo>>,
    /// The connection thread, set when it starts: its writes may block on the socket.
    owner: OnceLock<ThreadId>,
    /// The original client, when a load balancer's PROXY header named it (`peer` is then
    /// the balancer). Boxed: most connections have none, and every one holds the field.
    client: OnceLock<Box<SocketAddr>>,
    counters: Arc<Counters>,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        stream: Sock,
        (local, peer): (Addr, Addr),
        settings: Arc<Settings>,
        #[cfg(feature = "tls")] tls: Option<Box<crate::tls::ServerSession>>,
        counters: Arc<Counters>,
    ) -> Connection {
        #[cfg(feature = "peer-credentials")]
        let credentials = stream.peer_credentials();
        #[cfg(feature = "peer-credentials")]
        let client_pid = credentials.and_then(|peer| peer.pid);
        #[cfg(not(feature = "peer-credentials"))]
        let client_pid = None;
        let label = Label::new(&local, &peer, client_pid);
        let socket = Socket::new(
            stream,
            #[cfg(feature = "tls")]
            tls,
            settings.write_timeout,
            settings.idle_timeout,
            Arc::clone(&counters),
        );
        Connection {
            id,
            local,
            out: Arc::new(Outbound::new(id, label, Arc::clone(&settings), socket)),
            peer,
            #[cfg(feature = "peer-credentials")]
            credentials,
            settings,
            #[cfg(feature = "tls")]
            tls_info: OnceLock::new(),
            owner: OnceLock::new(),
            client: OnceLock::new(),
            counters,
        }
    }

    /// The peer as errors and logs name it: its address, or for an unnamed Unix client
    /// the listener's path and the client's process.
    pub(crate) fn label(&self) -> &Label {
        self.out.peer()
    }

    /// Counts bytes read, for the listener's stats.
    pub(crate) fn counted_in(&self, n: usize) {
        self.counters.bytes_in(n);
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    pub(crate) fn socket(&self) -> &Socket {
        self.out.socket()
    }

    /// Whom the connection is from: the original client behind a load balancer, or the
    /// peer itself.
    pub(crate) fn remote(&self) -> Addr {
        match self.client.get() {
            Some(client) => Addr::Tcp(**client),
            None => self.peer.clone(),
        }
    }

    /// The load balancer the connection came through, if a PROXY header named a client.
    pub(crate) fn proxied_by(&self) -> Option<Addr> {
        self.client.get().map(|_| self.peer.clone())
    }

    /// Called first thing on the connection thread.
    fn set_owner(&self) {
        let _ = self.owner.set(std::thread::current().id());
    }

    #[inline]
    fn is_owner(&self) -> bool {
        self.owner.get() == Some(&std::thread::current().id())
    }

    /// A `Caller` write, from any thread: waiting up to `timeout` (the listener's
    /// `write_timeout` with `None`), or not at all with `wait` false.
    pub(crate) fn write(
        &self,
        data: &[u8],
        timeout: Option<std::time::Duration>,
        wait: bool,
    ) -> Result<()> {
        let wait = match (wait, timeout) {
            (false, _) => Wait::Never,
            (true, None) => Wait::WriteTimeout,
            (true, Some(timeout)) => Wait::Timeout(timeout),
        };
        let how = Write {
            owner: self.is_owner(),
            by_caller: true,
            wait,
        };
        self.out.write(data, how)
    }

    /// A reply from the connection's own callbacks (returned from `on_bytes`, or a
    /// `Framed` reply): not refused after `Caller::close` inside that callback.
    #[inline]
    pub(crate) fn reply(&self, data: &[u8]) -> Result<()> {
        let how = Write {
            owner: self.is_owner(),
            by_caller: false,
            wait: Wait::WriteTimeout,
        };
        self.out.write(data, how)
    }

    /// Asks for an orderly close from any thread; see `Outbound::request_close`.
    pub(crate) fn request_close(&self, by: CloseBy) -> bool {
        self.out.request_close(by)
    }

    /// Closes now, from any thread, dropping what is queued.
    pub(crate) fn abort(&self) {
        self.out.abort();
    }
}
