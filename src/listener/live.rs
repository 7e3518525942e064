//! `Live`: the live connections of one running listener and their threads, so that the
//! accept loop can wait for a free slot and a stop can close every connection and join
//! every thread. Once a stop has begun nothing more is admitted: a connection is either in
//! the set, where the stop reaches it, or refused.
//!
//! Threads are joined as they end, without a reaper and without waiting: each ending
//! connection thread joins the ones that have finished since (a finished thread joins at
//! once), so only threads still on their way out are ever unjoined, and a stop joins those.

use std::cell::Cell;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::connection::{CloseBy, Connection};
use crate::signal::{Signal, Waiters};

#[derive(Debug, Default)]
pub(crate) struct Live {
    state: Mutex<State>,
    /// Signalled when a connection ends and when a stop begins.
    changed: Signal,
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<u64, Entry>,
    /// Threads that have left the live set but may not have exited yet.
    unjoined: Vec<JoinHandle<()>>,
    stopping: bool,
    /// Threads waiting on `changed`.
    waiters: usize,
}

impl Waiters for State {
    fn waiters(&mut self) -> &mut usize {
        &mut self.waiters
    }
}

#[derive(Debug)]
struct Entry {
    conn: Arc<Connection>,
    thread: Option<JoinHandle<()>>,
}

impl Live {
    pub(crate) fn new() -> Live {
        Live::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `body` on a new thread for `conn` and registers both; `Ok(false)` (and
    /// nothing started) once the listener is stopping. The lock is not held while the
    /// thread is created (tens of microseconds), so ending connections never wait for the
    /// accept loop.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        conn: Arc<Connection>,
        builder: thread::Builder,
        body: impl FnOnce(&Arc<Connection>) + Send + 'static,
    ) -> io::Result<bool> {
        let id = conn.id;
        let thread_conn = Arc::clone(&conn);
        {
            let mut st = self.lock();
            if st.stopping {
                return Ok(false);
            }
            st.live.insert(id, Entry { conn, thread: None });
        }
        let tracker = Arc::clone(self);
        let spawned = builder.spawn(move || {
            // Made on the new thread, so that a failed spawn (which drops this closure
            // unrun) unregisters nothing; unregisters even if `body` unwinds.
            let _finished = Finished {
                live: tracker,
                id: thread_conn.id,
            };
            SERVING.with(|serving| serving.set(Some((_finished.live.key(), thread_conn.id))));
            body(&thread_conn);
        });
        let mut st = self.lock();
        match spawned {
            Ok(handle) => match st.live.get_mut(&id) {
                Some(live) => live.thread = Some(handle),
                // It has ended already: join it with the others.
                None => st.unjoined.push(handle),
            },
            Err(e) => {
                st.live.remove(&id);
                return Err(e);
            }
        }
        Ok(true)
    }

    fn finished(&self, id: u64) {
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
            if let Some(own) = st.live.remove(&id).and_then(|live| live.thread) {
                st.unjoined.push(own);
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

    /// Accept loop: waits until fewer than `max` connections are open, calling `waiting`
    /// first if it has to. `false` when the listener is stopping.
    pub(crate) fn wait_for_slot(&self, max: usize, waiting: impl FnOnce()) -> bool {
        let mut st = self.lock();
        if !st.stopping && st.live.len() >= max {
            waiting();
        }
        while !st.stopping && st.live.len() >= max {
            st = self.wait(st, None);
        }
        !st.stopping
    }

    /// Accept loop: pauses for `pause` unless the listener stops first. `false` when it
    /// is stopping.
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

    /// Marks the listener as stopping and wakes the accept loop wherever it waits.
    pub(crate) fn stop(&self) {
        let mut st = self.lock();
        st.stopping = true;
        self.changed.notify(&mut *st);
    }

    fn connections(&self) -> Vec<Arc<Connection>> {
        self.lock()
            .live
            .values()
            .map(|live| Arc::clone(&live.conn))
            .collect()
    }

    /// Asks every open connection to close in order. Returns the ones that were idle and
    /// got their FIN right away: the caller forces them after the drain timeout.
    pub(crate) fn close_all(&self) -> Vec<Arc<Connection>> {
        let mut draining = self.connections();
        draining.retain(|conn| conn.request_close(CloseBy::Stop));
        draining
    }

    /// Closes every open connection at once.
    pub(crate) fn force_all(&self) {
        for conn in self.connections() {
            conn.abort();
        }
    }

    /// Waits until every connection has ended, or `deadline`. Returns how many are left.
    /// Called on one of this set's own connection threads (a stop from inside a
    /// callback), it does not wait for that connection: it cannot end while its thread
    /// waits here.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> usize {
        let own = self.own_connection();
        let left = |st: &State| {
            st.live.len() - usize::from(own.is_some_and(|id| st.live.contains_key(&id)))
        };
        let mut st = self.lock();
        while left(&st) > 0 && Instant::now() < deadline {
            st = self.wait(st, Some(deadline));
        }
        left(&st)
    }

    /// The connection this thread serves, if it is one of this set's connection threads.
    fn own_connection(&self) -> Option<u64> {
        match SERVING.with(Cell::get) {
            Some((key, id)) if key == self.key() => Some(id),
            _ => None,
        }
    }

    /// This set's identity, for [`SERVING`].
    fn key(&self) -> usize {
        self as *const Live as usize
    }

    /// Joins the threads that ended and were not joined yet (they are on their way out).
    pub(crate) fn join_finished(&self) {
        let unjoined = std::mem::take(&mut self.lock().unjoined);
        for thread in unjoined {
            let _ = thread.join();
        }
    }
}

thread_local! {
    /// On a connection thread: its set (by address) and its connection id.
    static SERVING: Cell<Option<(usize, u64)>> = const { Cell::new(None) };
}

/// Unregisters a connection thread when it ends, however it ends.
struct Finished {
    live: Arc<Live>,
    id: u64,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.live.finished(self.id);
    }
}
