//! `Live`: what one running listener has going — its open connections, and its worker
//! threads, each either serving one connection or waiting in `accept` to serve the next —
//! so that acceptors can keep within `max_connections`, and a stop can close every
//! connection and join every thread. Once a stop has begun nothing more is admitted: a
//! connection is either in the set, where the stop reaches it, or refused.
//!
//! Threads are joined as they end, without a reaper and without waiting: each thread that
//! leaves joins the ones that have finished since (a finished thread joins at once), so
//! only threads still on their way out are ever unjoined, and a stop joins those.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use crate::connection::{CloseBy, Connection};
use crate::signal::{Signal, Waiters};

/// Workers kept waiting in `accept` whenever the connection limit allows: with two, one
/// can accept while a replacement for the other starts.
pub(crate) const MIN_ACCEPTORS: usize = 2;

/// Workers that finished a connection go back to `accept` while fewer than this many wait
/// there; beyond it they exit. Those beyond [`MIN_ACCEPTORS`] exit after a quiet spell.
pub(crate) const MAX_ACCEPTORS: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Live {
    state: Mutex<State>,
    /// Signalled when a connection ends and when a stop begins.
    changed: Signal,
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<u64, Arc<Connection>>,
    /// Worker threads running, by id (a handle arrives just after its thread starts).
    workers: HashMap<ThreadId, JoinHandle<()>>,
    /// Workers that left before their spawner stored their handle.
    left_early: Vec<ThreadId>,
    /// Threads that have left but may not have exited yet.
    unjoined: Vec<JoinHandle<()>>,
    /// Workers waiting in `accept`, or on their way there. Each holds a slot:
    /// `live.len() + acceptors` never exceeds the connection limit.
    acceptors: usize,
    stopping: bool,
    /// Threads waiting on `changed`.
    waiters: usize,
}

impl Waiters for State {
    fn waiters(&mut self) -> &mut usize {
        &mut self.waiters
    }
}

/// What a worker does after its connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Waits in `accept` again (it holds a slot).
    Accept,
    /// Leaves: enough workers wait in `accept`, the limit is reached, or a stop began.
    Exit,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a worker that waits in `accept` (its slot is reserved here); `Ok(false)`
    /// when no slot is free or a stop began. The lock is not held while the thread is
    /// created (tens of microseconds).
    pub(crate) fn spawn_acceptor(
        self: &Arc<Self>,
        max: usize,
        builder: thread::Builder,
        body: impl FnOnce() + Send + 'static,
    ) -> io::Result<bool> {
        {
            let mut st = self.lock();
            if st.stopping || st.live.len() + st.acceptors >= max {
                return Ok(false);
            }
            st.acceptors += 1;
        }
        let tracker = Arc::clone(self);
        let spawned = builder.spawn(move || {
            // Made on the new thread, so that a failed spawn (which drops this closure
            // unrun) gives nothing back twice; leaves even if `body` unwinds.
            let _leaving = Leaving { live: tracker };
            body();
        });
        let mut st = self.lock();
        match spawned {
            Ok(handle) => {
                let id = handle.thread().id();
                match st.left_early.iter().position(|left| *left == id) {
                    Some(i) => {
                        st.left_early.swap_remove(i);
                        st.unjoined.push(handle);
                    }
                    None => {
                        st.workers.insert(id, handle);
                    }
                }
                Ok(true)
            }
            Err(e) => {
                st.acceptors -= 1;
                self.changed.notify(&mut *st);
                Err(e)
            }
        }
    }

    /// An acceptor took `conn`: it is served from now on, by this worker, unless a stop
    /// began (`None`). Also says whether another acceptor is needed (fewer than
    /// [`MIN_ACCEPTORS`] wait and the limit allows one): the caller starts it.
    pub(crate) fn admit(&self, conn: Arc<Connection>, max: usize) -> Option<bool> {
        let mut st = self.lock();
        if st.stopping {
            return None;
        }
        st.acceptors -= 1;
        st.live.insert(conn.id, conn);
        Some(st.acceptors < MIN_ACCEPTORS && st.live.len() + st.acceptors < max)
    }

    /// Whether no worker waits in `accept` because the connection limit is reached (the
    /// listener then waits for a connection to end).
    pub(crate) fn at_limit(&self, max: usize) -> bool {
        let st = self.lock();
        st.acceptors == 0 && st.live.len() >= max
    }

    /// The worker's connection ended: back to `accept`, or leave.
    pub(crate) fn ended(&self, id: u64, max: usize) -> Next {
        let mut st = self.lock();
        st.live.remove(&id);
        self.changed.notify(&mut *st);
        if st.stopping || st.acceptors >= MAX_ACCEPTORS || st.live.len() + st.acceptors >= max {
            return Next::Exit;
        }
        st.acceptors += 1;
        Next::Accept
    }

    /// An acceptor waited a quiet spell without a connection: it leaves if more than
    /// [`MIN_ACCEPTORS`] wait (`true`).
    pub(crate) fn idle_acceptor_leaves(&self) -> bool {
        let mut st = self.lock();
        if st.acceptors > MIN_ACCEPTORS {
            st.acceptors -= 1;
            return true;
        }
        false
    }

    /// An acceptor gives its slot back (it is leaving: a stop, or it could not go on).
    pub(crate) fn acceptor_leaves(&self) {
        let mut st = self.lock();
        st.acceptors -= 1;
        self.changed.notify(&mut *st);
    }

    /// How many workers wait in `accept`.
    pub(crate) fn acceptors(&self) -> usize {
        self.lock().acceptors
    }

    /// A worker thread is about to exit: its handle goes to the unjoined, and the threads
    /// that have exited since are joined.
    fn leaving(&self) {
        let me = thread::current().id();
        let mut exited = Vec::new();
        {
            let mut st = self.lock();
            let mut i = 0;
            while i < st.unjoined.len() {
                if st.unjoined[i].is_finished() {
                    exited.push(st.unjoined.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            match st.workers.remove(&me) {
                Some(own) => st.unjoined.push(own),
                None => st.left_early.push(me),
            }
            self.changed.notify(&mut *st);
        }
        for thread in exited {
            let _ = thread.join();
        }
    }

    fn wait<'a>(
        &self,
        st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        self.changed.wait(st, deadline)
    }

    /// How many connections are open.
    pub(crate) fn count(&self) -> usize {
        self.lock().live.len()
    }

    /// An acceptor pauses for `pause` (backing off from an accept error) unless the
    /// listener stops first. `false` when it is stopping.
    pub(crate) fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut st = self.lock();
        while !st.stopping {
            if Instant::now() >= deadline {
                return true;
            }
            st = self.wait(st, Some(deadline));
        }
        false
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Marks the listener as stopping and wakes every worker wherever it waits but in
    /// `accept` (the socket's stop wakes those). Returns how many wait in `accept`.
    pub(crate) fn stop(&self) -> usize {
        let mut st = self.lock();
        st.stopping = true;
        self.changed.notify(&mut *st);
        st.acceptors
    }

    fn connections(&self) -> Vec<Arc<Connection>> {
        self.lock().live.values().map(Arc::clone).collect()
    }

    /// Asks every open connection to close in order. Returns the ones that were idle and
    /// got their FIN right away, or had input waiting to be served: the caller forces them
    /// after the drain timeout.
    pub(crate) fn close_all(&self) -> Vec<Arc<Connection>> {
        let mut draining = self.connections();
        draining.retain(|conn| conn.request_close(CloseBy::Stop));
        draining
    }

    /// Closes every open connection at once, but the one whose callback this thread is in
    /// (a stop from inside a callback): that one closes when its callback returns, its
    /// reply sent first.
    pub(crate) fn force_all(&self) {
        self.force(&self.connections());
    }

    /// Closes `conns` at once, as [`force_all`](Live::force_all) does.
    pub(crate) fn force(&self, conns: &[Arc<Connection>]) {
        let own = self.own_connection();
        for conn in conns {
            if Some(conn.id) == own {
                conn.request_close(CloseBy::StopNow);
            } else {
                conn.abort();
            }
        }
    }

    /// Waits until every connection has ended and every acceptor has left, or
    /// `deadline`. Returns how many connections are left. Called on one of this set's own
    /// workers (a stop from inside a callback), it does not wait for that worker's
    /// connection: it cannot end while its thread waits here.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> usize {
        let own = self.own_connection();
        let me = thread::current().id();
        let left = |st: &State| {
            st.live.len() - usize::from(own.is_some_and(|id| st.live.contains_key(&id)))
        };
        // Every worker but this thread gone too (an acceptor counts from before its
        // handle is stored).
        let working = |st: &State| st.acceptors > 0 || st.workers.keys().any(|id| *id != me);
        let mut st = self.lock();
        while (left(&st) > 0 || working(&st)) && Instant::now() < deadline {
            st = self.wait(st, Some(deadline));
        }
        left(&st)
    }

    /// The connection this thread serves, if it is one of this set's workers.
    pub(crate) fn own_connection(&self) -> Option<u64> {
        match SERVING.with(Cell::get) {
            Some((key, id)) if key == self.key() => Some(id),
            _ => None,
        }
    }

    /// This set's identity, for [`SERVING`].
    fn key(&self) -> usize {
        self as *const Live as usize
    }

    /// Marks this thread as serving connection `id` of this set (`None`: none).
    pub(crate) fn serving(&self, id: Option<u64>) {
        let key = self.key();
        SERVING.with(|serving| serving.set(id.map(|id| (key, id))));
    }

    /// Joins the threads that left and were not joined yet (they are on their way out).
    /// Not from one of this set's own workers (it would wait for itself).
    pub(crate) fn join_finished(&self) {
        let me = thread::current().id();
        let unjoined = std::mem::take(&mut self.lock().unjoined);
        for thread in unjoined {
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

thread_local! {
    /// On a worker serving a connection: its set (by address) and its connection id.
    static SERVING: Cell<Option<(usize, u64)>> = const { Cell::new(None) };
}

/// Hands a worker thread's handle on when it ends, however it ends.
struct Leaving {
    live: Arc<Live>,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        self.live.serving(None);
        self.live.leaving();
    }
}
