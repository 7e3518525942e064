//! `Tracker`: the live connections of one running listener and their threads, so that the
//! accept loop can wait for a free slot and a stop can close every connection and join
//! every thread.
//!
//! Threads are joined as they end, without a reaper: each ending connection thread joins
//! the one that ended before it, so at most one finished thread is ever unjoined, and a
//! stop joins that last one.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::connection::{CloseBy, Connection};

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    state: Mutex<State>,
    /// Signalled when a connection ends and when a stop begins.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    live: HashMap<u64, Live>,
    last_finished: Option<JoinHandle<()>>,
    stopping: bool,
}

#[derive(Debug)]
struct Live {
    conn: Arc<Connection>,
    thread: Option<JoinHandle<()>>,
}

impl Tracker {
    pub(crate) fn new() -> Tracker {
        Tracker::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `body` on a new thread for `conn` and registers both. The registration
    /// happens under the lock the thread needs to unregister, so it cannot end first.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        conn: Arc<Connection>,
        builder: thread::Builder,
        body: impl FnOnce(&Arc<Connection>) + Send + 'static,
    ) -> io::Result<()> {
        let mut st = self.lock();
        let tracker = Arc::clone(self);
        let thread_conn = Arc::clone(&conn);
        let handle = builder.spawn(move || {
            // Made on the new thread, so that a failed spawn (which drops this closure
            // unrun) unregisters nothing; unregisters even if `body` unwinds.
            let _finished = Finished {
                tracker,
                id: thread_conn.id,
            };
            body(&thread_conn);
        })?;
        st.live.insert(
            conn.id,
            Live {
                conn,
                thread: Some(handle),
            },
        );
        Ok(())
    }

    fn finished(&self, id: u64) {
        let previous = {
            let mut st = self.lock();
            let own = st.live.remove(&id).and_then(|live| live.thread);
            self.changed.notify_all();
            std::mem::replace(&mut st.last_finished, own)
        };
        if let Some(previous) = previous {
            let _ = previous.join();
        }
    }

    /// How many connections are open.
    pub(crate) fn count(&self) -> usize {
        self.lock().live.len()
    }

    /// Accept loop: waits until fewer than `max` connections are open. `false` when the
    /// listener is stopping.
    pub(crate) fn wait_for_slot(&self, max: usize) -> bool {
        let mut st = self.lock();
        while !st.stopping && st.live.len() >= max {
            st = self.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        !st.stopping
    }

    /// Accept loop: pauses for `pause` unless the listener stops first. `false` when it
    /// is stopping.
    pub(crate) fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut st = self.lock();
        while !st.stopping {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        false
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.lock().stopping
    }

    /// Marks the listener as stopping and wakes the accept loop wherever it waits.
    pub(crate) fn stop(&self) {
        self.lock().stopping = true;
        self.changed.notify_all();
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
            conn.force_close();
        }
    }

    /// Waits until every connection has ended, or `deadline`. Returns how many are left.
    pub(crate) fn wait_idle(&self, deadline: Instant) -> usize {
        let mut st = self.lock();
        while !st.live.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        st.live.len()
    }

    /// Joins the last finished thread; with no live connections left, that joins them all.
    pub(crate) fn join_finished(&self) {
        let last = self.lock().last_finished.take();
        if let Some(last) = last {
            let _ = last.join();
        }
    }
}

/// Unregisters a connection thread when it ends, however it ends.
struct Finished {
    tracker: Arc<Tracker>,
    id: u64,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.tracker.finished(self.id);
    }
}
