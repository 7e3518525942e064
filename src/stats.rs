//! Live counters of a listener — connections accepted, refused and closed by cause, bytes
//! in and out, TLS handshake failures, accept back-offs — kept as relaxed atomics on the
//! hot path, read as a [`Stats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a listener's counters, from [`Listener::stats`](crate::Listener::stats):
/// how a server that runs for months is doing, without a debugger. Counts start at bind
/// and go on across stops and restarts.
///
/// The counters are read one after another, not frozen together: while connections come
/// and go, the figures of one snapshot can be a few events apart (a connection counted in
/// `accepted` but not yet in `active`, say). Compare snapshots taken while the listener is
/// quiet when the figures must agree exactly.
///
/// # Examples
///
/// ```
/// # use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
/// # struct Echo;
/// # impl ConnectionService for Echo {
/// #     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> { Ok(Reply::Echo) }
/// # }
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach(|_| Ok(Echo))?;
/// listener.start()?;
/// let client = synctcp::Client::connect(listener.local_addr())?;
/// client.write_bytes(b"hello")?;
/// client.read_bytes_exact(5)?;
/// let stats = listener.stats();
/// assert_eq!((stats.accepted, stats.active, stats.bytes_in), (1, 1, 5));
/// // (bytes_out is counted just after the send: the echo may be read a moment before.)
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Connections open now.
    pub active: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Accepted connections that never reached the service: refused by `on_connect`,
    /// without a valid PROXY header, or accepted just as a stop began.
    pub refused: u64,
    /// How often the accept loop paused because `max_connections` were open (new connects
    /// then wait in the backlog).
    pub limit_waits: u64,
    /// Connections closed, by what closed them.
    pub closed: Closed,
    /// Bytes read from peers (on the wire: with TLS, records).
    pub bytes_in: u64,
    /// Bytes written to peers (on the wire: with TLS, records).
    pub bytes_out: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: u64,
    /// How often the accept loop backed off after an error (out of descriptors, say).
    pub accept_backoffs: u64,
}

/// Closed connections by cause (see [`Stats::closed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Closed {
    /// The peer ended the stream.
    pub by_peer: u64,
    /// `Caller::close`, or a stream handler that returned.
    pub locally: u64,
    /// A read or write failed, or a callback returned an error.
    pub by_error: u64,
    /// The idle timeout, the lifetime, a write timeout or the handshake timeout.
    pub by_timeout: u64,
    /// A callback panicked.
    pub by_panic: u64,
    /// A listener stop.
    pub by_stop: u64,
}

/// What closed a connection, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    Peer,
    Local,
    Error,
    Timeout,
    Panic,
    Stop,
}

/// The counters themselves, shared by the listener, its accept loop and its connections.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    limit_waits: AtomicU64,
    closed: [AtomicU64; 6],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    tls_handshake_failures: AtomicU64,
    accept_backoffs: AtomicU64,
}

impl Counters {
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    pub(crate) fn limit_wait(&self) {
        self.limit_waits.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self, cause: Cause) {
        self.closed[cause as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    #[cfg(feature = "tls")]
    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Relaxed);
    }

    pub(crate) fn accept_backoff(&self) {
        self.accept_backoffs.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self, active: usize) -> Stats {
        let closed = |cause: Cause| self.closed[cause as usize].load(Relaxed);
        Stats {
            active: active as u64,
            accepted: self.accepted.load(Relaxed),
            refused: self.refused.load(Relaxed),
            limit_waits: self.limit_waits.load(Relaxed),
            closed: Closed {
                by_peer: closed(Cause::Peer),
                locally: closed(Cause::Local),
                by_error: closed(Cause::Error),
                by_timeout: closed(Cause::Timeout),
                by_panic: closed(Cause::Panic),
                by_stop: closed(Cause::Stop),
            },
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            tls_handshake_failures: self.tls_handshake_failures.load(Relaxed),
            accept_backoffs: self.accept_backoffs.load(Relaxed),
        }
    }
}
