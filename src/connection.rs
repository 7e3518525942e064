//! `Connection`: what the threads of one accepted connection share — the socket, its
//! addresses, the write path, and the flags that decide who runs the close.
//!
//! The connection thread (see `worker.rs`) owns the read side and runs every callback.
//! Any thread may ask for a close; the phase flag decides, without a lock, whether the
//! connection thread is idle in `read` (then the asking thread sends FIN itself) or busy in
//! a callback (then the connection thread closes when the callback returns).

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::outbound::Outbound;
use crate::transport::Transport;

/// The connection thread is running a callback (or `on_connect`).
const BUSY: u8 = 0;
/// The connection thread is waiting in `read`, or about to.
const READING: u8 = 1;
/// A close has begun: no more callbacks for new bytes, input is only drained.
const CLOSING: u8 = 2;

/// Per-connection settings, copied from the listener's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) write_timeout: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_lifetime: Option<Duration>,
    pub(crate) drain_timeout: Duration,
    pub(crate) write_queue_bytes: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) stack_size: usize,
}

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) id: u64,
    pub(crate) stream: TcpStream,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) settings: Settings,
    pub(crate) transport: Transport,
    pub(crate) out: Outbound,
    /// What the TLS handshake agreed on, once it is done.
    #[cfg(feature = "tls")]
    pub(crate) tls_info: OnceLock<Arc<crate::tls::TlsInfo>>,
    /// The connection thread, set when it starts: its writes may block on the socket.
    owner: OnceLock<ThreadId>,
    phase: AtomicU8,
    close_requested: AtomicBool,
    /// `Caller::close` was called: `Caller::write_bytes` fails from now on.
    user_closed: AtomicBool,
    /// Closed by force (a stop, or a failed write): nothing more is sent.
    forced: AtomicBool,
    born: Instant,
    /// Milliseconds since `born` of the last byte read or written, for the idle timeout.
    last_activity: AtomicU64,
}

/// Who asks for a close: it decides who bounds the drain that follows (see
/// `request_close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseBy {
    /// `Caller::close`, from any thread.
    Caller,
    /// A listener stop, which bounds the drains itself.
    Stop,
}

impl Connection {
    pub(crate) fn new(
        id: u64,
        stream: TcpStream,
        local: SocketAddr,
        peer: SocketAddr,
        settings: Settings,
        transport: Transport,
    ) -> Connection {
        Connection {
            id,
            stream,
            local,
            peer,
            settings,
            transport,
            out: Outbound::new(),
            #[cfg(feature = "tls")]
            tls_info: OnceLock::new(),
            owner: OnceLock::new(),
            phase: AtomicU8::new(BUSY),
            close_requested: AtomicBool::new(false),
            user_closed: AtomicBool::new(false),
            forced: AtomicBool::new(false),
            born: Instant::now(),
            last_activity: AtomicU64::new(0),
        }
    }

    /// Called first thing on the connection thread.
    pub(crate) fn set_owner(&self, thread: ThreadId) {
        let _ = self.owner.set(thread);
    }

    pub(crate) fn is_owner(&self) -> bool {
        self.owner.get() == Some(&std::thread::current().id())
    }

    /// Writes to the peer from any thread; see `Outbound::write`.
    pub(crate) fn write(self: &Arc<Self>, data: &[u8]) -> Result<()> {
        self.out.write(self, data, self.is_owner())
    }

    /// Records traffic for the idle timeout (a clock read: skipped when there is none).
    pub(crate) fn touch(&self) {
        if self.settings.idle_timeout.is_some() {
            self.last_activity.store(self.age_ms(), SeqCst);
        }
    }

    fn age_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn born(&self) -> Instant {
        self.born
    }

    /// Time since the last byte read or written.
    pub(crate) fn idle_for(&self) -> Duration {
        let last = self.last_activity.load(SeqCst);
        Duration::from_millis(self.age_ms().saturating_sub(last))
    }

    // ---- the phase handshake between the connection thread and closers ----

    /// Connection thread: new bytes arrived; may a callback run for them? `false` once a
    /// close has begun (the bytes are then discarded as part of the drain).
    pub(crate) fn enter_callback(&self) -> bool {
        self.phase
            .compare_exchange(READING, BUSY, SeqCst, SeqCst)
            .is_ok()
    }

    /// Connection thread: a callback returned. `false` when a close was asked for in the
    /// meantime; the connection thread then runs the close itself.
    pub(crate) fn leave_callback(&self) -> bool {
        self.phase.store(READING, SeqCst);
        if self.close_requested.load(SeqCst) {
            let _ = self
                .phase
                .compare_exchange(READING, CLOSING, SeqCst, SeqCst);
            return false;
        }
        true
    }

    /// Connection thread: it is closing for its own reasons (error, end of stream).
    pub(crate) fn begin_closing(&self) {
        self.close_requested.store(true, SeqCst);
        self.phase.store(CLOSING, SeqCst);
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.phase.load(SeqCst) == CLOSING
    }

    pub(crate) fn is_user_closed(&self) -> bool {
        self.user_closed.load(SeqCst)
    }

    pub(crate) fn is_forced(&self) -> bool {
        self.forced.load(SeqCst)
    }

    /// Asks for an orderly close from any thread: what is queued is flushed, then FIN, then
    /// the connection thread drains input and runs `on_close`. Returns at once.
    ///
    /// Returns `true` when the connection was idle and FIN was sent here with nobody to
    /// bound the drain that follows: the caller (a stop) must force the close after the
    /// drain timeout. A `Caller` close starts a watchdog thread for that instead.
    pub(crate) fn request_close(self: &Arc<Self>, by: CloseBy) -> bool {
        if by == CloseBy::Caller {
            self.user_closed.store(true, SeqCst);
        }
        if self.close_requested.swap(true, SeqCst) {
            return false; // somebody asked already
        }
        // Only if the connection thread is idle in read do we close the write side here;
        // if it is in a callback, it sees `close_requested` when the callback returns.
        if self
            .phase
            .compare_exchange(READING, CLOSING, SeqCst, SeqCst)
            .is_ok()
        {
            let watchdog = by == CloseBy::Caller;
            return self
                .out
                .finish_later(self, self.settings.drain_timeout, watchdog);
        }
        false
    }

    /// Closes now, from any thread: queued bytes are dropped, both directions are shut
    /// down, and every thread blocked on the socket wakes up.
    pub(crate) fn force_close(&self) {
        self.forced.store(true, SeqCst);
        self.close_requested.store(true, SeqCst);
        self.out.discard();
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}
