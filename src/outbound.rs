//! `Outbound`: the write path of one accepted connection. Every byte for the peer passes
//! here — replies returned from `on_bytes` and `Caller::write_bytes` from any thread — in
//! the order the writes were made, each write whole.
//!
//! When nothing is queued, bytes go straight to the socket, with no thread hand-off: the
//! connection's own thread may block on the socket (the peer's backpressure on itself, as
//! in a hand-written loop), other threads only send what the socket takes at once. What
//! the socket does not take waits in a queue bounded in bytes, which a writer thread —
//! started on first need, so idle connections cost one thread — drains through a
//! `crossbeam-channel` (see `writer.rs`). A writer that finds the queue full blocks up to
//! the write timeout.
//!
//! ```text
//!  on_bytes reply ──(queue empty: write)──────────────────────┐
//!  Caller::write_bytes ──(queue empty: send what fits now)─────┤──► socket
//!                 └──(rest, bounded in bytes)──► channel ──► writer thread
//! ```

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::signal::{Signal, Waiters};
use crate::writer::{Job, WriterThread};

/// The largest piece one queue entry holds, so that space frees up steadily while a large
/// write drains.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// Held by a write that may have to wait for room, for its whole length (taken before
    /// `state`).
    order: Mutex<()>,
    state: Mutex<State>,
    /// Signalled whenever `queued` shrinks, `busy` or `in_write` clears, or the queue is
    /// discarded.
    changed: Signal,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Bytes handed to the writer thread and not yet sent (including the ones it is sending).
    pub(crate) queued: usize,
    /// Some thread is writing to the socket outside the lock.
    pub(crate) busy: bool,
    /// A write is queuing its pieces (holding the order lock): nobody may write directly.
    pub(crate) in_write: bool,
    /// No new write is accepted: a close has begun, or the connection failed.
    pub(crate) shut: bool,
    /// Queued bytes are to be dropped, not sent (a forced close).
    pub(crate) discard: bool,
    /// The last bytes (TLS close_notify) are sent or on their way; only FIN may follow.
    pub(crate) closing_sent: bool,
    /// A close asked for from another thread, waiting for the queue to drain: the drain
    /// watch the writer thread keeps after FIN.
    pub(crate) finish_pending: Option<std::time::Duration>,
    /// Threads waiting on `changed`.
    waiters: usize,
    /// The first write failure; later writers get a copy, the connection thread the original.
    failure: Option<Error>,
    pub(crate) writer: Option<WriterThread>,
}

impl Waiters for State {
    fn waiters(&mut self) -> &mut usize {
        &mut self.waiters
    }
}

impl State {
    /// Nothing queued, nobody writing: the socket is free for a direct write.
    pub(crate) fn is_idle(&self) -> bool {
        self.queued == 0 && !self.busy && !self.in_write
    }
}

impl Outbound {
    pub(crate) fn new() -> Outbound {
        Outbound::default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; recover the state if something did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the state to change, up to `deadline`.
    pub(crate) fn wait<'a>(
        &self,
        st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        self.changed.wait(st, deadline)
    }

    /// Wakes the waiters, if any, after a change of the state.
    pub(crate) fn signal(&self, st: &mut State) {
        self.changed.notify(st);
    }

    /// Writes `data` to the peer after everything written before it, never interleaved
    /// with another write. `owner` is true on the connection's own thread, which may block
    /// on the socket; other threads never do, they only wait for room in the queue.
    ///
    /// With TLS the bytes are sealed into records under the state lock, in the same
    /// critical section that starts sending or queuing them, so records leave in the order
    /// they were made. An empty `data` sends only what the session has pending.
    pub(crate) fn write(&self, conn: &Arc<Connection>, data: &[u8], owner: bool) -> Result<()> {
        if data.is_empty() && !conn.transport.has_pending() {
            return Ok(());
        }
        if owner {
            // The common case, without the order lock: nothing queued, nobody writing.
            let st = self.lock();
            self.check_open(conn, &st)?;
            if st.is_idle() {
                let sealed = seal(conn, data)?;
                return self.write_direct(conn, st, &sealed);
            }
        }
        // A write that may wait for room holds the order lock throughout, so that no other
        // write slips between its pieces.
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let st = self.lock();
        self.check_open(conn, &st)?;
        let sealed = seal(conn, data)?;
        if !st.is_idle() {
            return self.enqueue(conn, st, &sealed);
        }
        if owner {
            return self.write_direct(conn, st, &sealed);
        }
        match net::send_now(&conn.stream, &sealed) {
            Ok(n) if n == sealed.len() => {
                conn.touch();
                Ok(())
            }
            Ok(n) => {
                if n > 0 {
                    conn.touch();
                }
                self.enqueue(conn, st, &sealed[n..])
            }
            Err(e) => Err(self.fail(conn, st, Error::io(write_context(conn), e))),
        }
    }

    /// The connection thread writes to the socket itself, blocking while the peer does not
    /// read (up to the write timeout, set on the socket). Others queue meanwhile.
    fn write_direct(
        &self,
        conn: &Connection,
        mut st: MutexGuard<'_, State>,
        data: &[u8],
    ) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        st.busy = true;
        drop(st);
        let sent = (&conn.stream).write_all(data);
        let mut st = self.lock();
        st.busy = false;
        self.signal(&mut st);
        match sent {
            Ok(()) => {
                conn.touch();
                self.finish_if_drained(conn, &mut st);
                Ok(())
            }
            Err(e) => Err(self.fail(conn, st, Error::io(write_context(conn), e))),
        }
    }

    /// Queues `rest` in pieces, waiting for room up to the write timeout each time: a
    /// large write to a peer that reads slowly but steadily is not cut off. While it runs,
    /// nobody takes the direct path (`in_write`), so nothing lands between its pieces; a
    /// close asked for meanwhile waits for it, so an admitted write is delivered whole.
    fn enqueue(
        &self,
        conn: &Arc<Connection>,
        mut st: MutexGuard<'_, State>,
        rest: &[u8],
    ) -> Result<()> {
        st.in_write = true;
        let (mut st, outcome) = self.enqueue_pieces(conn, st, rest);
        st.in_write = false;
        self.signal(&mut st);
        self.finish_if_drained(conn, &mut st);
        outcome
    }

    fn enqueue_pieces<'a>(
        &'a self,
        conn: &Arc<Connection>,
        mut st: MutexGuard<'a, State>,
        mut rest: &[u8],
    ) -> (MutexGuard<'a, State>, Result<()>) {
        let limit = conn.settings.write_queue_bytes.max(1);
        while !rest.is_empty() {
            let deadline = conn.settings.write_timeout.map(|t| Instant::now() + t);
            let len = rest.len().min(CHUNK).min(limit);
            // An empty queue always takes one piece, so a bound below CHUNK cannot wedge.
            while st.queued > 0 && st.queued + len > limit {
                if let Some(err) = self.broken(conn, &st) {
                    return (st, Err(err));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let err = Error::with(
                        ErrorKind::Timeout,
                        write_context(conn),
                        format!(
                            "write queue stayed full ({} bytes) for the write timeout",
                            st.queued
                        ),
                    );
                    // Part of this write may be queued already: the stream is no longer
                    // whole, so the connection fails.
                    let err = self.fail(conn, st, err);
                    return (self.lock(), Err(err));
                }
                st = self.wait(st, deadline);
            }
            if let Some(err) = self.broken(conn, &st) {
                return (st, Err(err));
            }
            let jobs = match self.writer(conn, &mut st) {
                Ok(jobs) => jobs,
                Err(err) => {
                    let err = self.fail(conn, st, err);
                    return (self.lock(), Err(err));
                }
            };
            st.queued += len;
            // The writer thread holds the receiver until it has been joined.
            let _ = jobs.send(Job::Data(rest[..len].to_vec()));
            rest = &rest[len..];
        }
        (st, Ok(()))
    }

    /// Admission: a new write is refused once the connection failed or a close began.
    fn check_open(&self, conn: &Connection, st: &State) -> Result<()> {
        if let Some(err) = self.broken(conn, st) {
            return Err(err);
        }
        if st.shut {
            return Err(Error::with(
                ErrorKind::Closed,
                write_context(conn),
                "connection is closed",
            ));
        }
        Ok(())
    }

    /// Why an admitted write cannot go on: the connection failed or was closed by force.
    fn broken(&self, conn: &Connection, st: &State) -> Option<Error> {
        if let Some(failure) = &st.failure {
            return Some(failure.echo(write_context(conn)));
        }
        st.discard.then(|| {
            Error::with(
                ErrorKind::Closed,
                write_context(conn),
                "connection is closed",
            )
        })
    }

    /// Records the first failure and forces the connection closed, so that the connection
    /// thread wakes up and reports it to `on_error`. Returns the error for the writer.
    pub(crate) fn fail(
        &self,
        conn: &Connection,
        mut st: MutexGuard<'_, State>,
        err: Error,
    ) -> Error {
        if st.discard {
            // Already closed by force: this error is its echo, not a failure of its own.
            return err;
        }
        let copy = err.echo(write_context(conn));
        if st.failure.is_none() {
            st.failure = Some(err);
        }
        drop(st);
        conn.force_close();
        copy
    }

    /// The failure to report to `on_error`, if a write failed. Later writers still see it.
    pub(crate) fn take_failure(&self, conn: &Connection) -> Option<Error> {
        let mut st = self.lock();
        let failure = st.failure.take()?;
        st.failure = Some(failure.echo(write_context(conn)));
        Some(failure)
    }

    /// Drops what is queued and refuses further writes (a forced close).
    pub(crate) fn discard(&self) {
        let mut st = self.lock();
        st.shut = true;
        st.discard = true;
        self.signal(&mut st);
    }
}

/// The bytes to put on the wire for `data` (TLS records, or `data` itself). Called with the
/// state lock held, which orders the records.
fn seal<'a>(conn: &Connection, data: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    conn.transport
        .seal(data)
        .map_err(|e| Error::io(write_context(conn), e))
}

pub(crate) fn write_context(conn: &Connection) -> String {
    format!("write to {}", conn.peer)
}
