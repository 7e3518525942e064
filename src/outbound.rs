//! `Outbound`: the write path of one accepted connection. Every byte for the peer passes
//! here — replies returned from `on_bytes` and `Caller::write_bytes` from any thread — in
//! the order the writes were made.
//!
//! When nothing is queued, bytes go straight to the socket, with no thread hand-off: the
//! connection's own thread may block on the socket (the peer's backpressure on itself, as
//! in a hand-written loop), other threads only send what the socket takes at once. What
//! the socket does not take waits in a queue bounded in bytes, which a writer thread —
//! started on first need, so idle connections cost one thread — drains through a
//! `crossbeam-channel`. A writer that finds the queue full blocks up to the write timeout.
//!
//! ```text
//!  on_bytes reply ──(queue empty: write)──────────────────────┐
//!  Caller::write_bytes ──(queue empty: send what fits now)─────┤──► socket
//!                 └──(rest, bounded in bytes)──► channel ──► writer thread
//! ```

use std::io::Write;
use std::net::Shutdown;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::net;

/// The largest piece one queue entry holds, so that space frees up steadily while a large
/// write drains.
const CHUNK: usize = 64 * 1024;

/// What the writer thread is asked to do, in order.
#[derive(Debug)]
enum Job {
    /// Send these bytes.
    Data(Vec<u8>),
    /// After everything before it: shut down the write side (FIN). Then wait up to `watch`
    /// for the connection thread to finish, and force the close if it has not.
    Finish { watch: Option<Duration> },
    /// The connection thread is done; end.
    Exit,
}

#[derive(Debug, Default)]
pub(crate) struct Outbound {
    /// Held by a write that may have to wait for room, for its whole length (taken before
    /// `state`).
    order: Mutex<()>,
    state: Mutex<State>,
    /// Signalled whenever `queued` shrinks, `busy` clears or the queue is discarded.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes handed to the writer thread and not yet sent (including the ones it is sending).
    queued: usize,
    /// Some thread is writing to the socket outside the lock.
    busy: bool,
    /// No more writes are accepted: FIN is sent or on its way, or the connection failed.
    shut: bool,
    /// Queued bytes are to be dropped, not sent.
    discard: bool,
    /// Threads waiting on `changed`.
    waiters: usize,
    /// The first write failure; later writers get a copy, the connection thread the original.
    failure: Option<Error>,
    writer: Option<WriterThread>,
}

#[derive(Debug)]
struct WriterThread {
    jobs: Sender<Job>,
    handle: JoinHandle<()>,
}

impl Outbound {
    pub(crate) fn new() -> Outbound {
        Outbound::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; recover the state if something did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the state to change, up to `deadline`. Waiters count themselves so that
    /// the hot path signals (a system call) only when somebody waits.
    fn wait<'a>(
        &self,
        mut st: MutexGuard<'a, State>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State> {
        st.waiters += 1;
        let mut st = match deadline {
            None => self.changed.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.changed
                    .wait_timeout(st, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
        st.waiters -= 1;
        st
    }

    /// Wakes the waiters, if any, after a change of the state.
    fn signal(&self, st: &State) {
        if st.waiters > 0 {
            self.changed.notify_all();
        }
    }

    /// Writes `data` to the peer after everything written before it, never interleaved
    /// with another write. `owner` is true on the connection's own thread, which may block
    /// on the socket; other threads never do, they only wait for room in the queue.
    pub(crate) fn write(&self, conn: &Arc<Connection>, data: &[u8], owner: bool) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        if owner {
            // The common case, without the order lock: nothing queued, nobody writing.
            let st = self.lock();
            self.check_open(conn, &st)?;
            if st.queued == 0 && !st.busy {
                return self.write_direct(conn, st, data);
            }
        }
        // A write that may wait for room holds the order lock throughout, so that no other
        // write slips between its pieces.
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let st = self.lock();
        self.check_open(conn, &st)?;
        if st.queued > 0 || st.busy {
            return self.enqueue(conn, st, data);
        }
        if owner {
            return self.write_direct(conn, st, data);
        }
        match net::send_now(&conn.stream, data) {
            Ok(n) if n == data.len() => {
                conn.touch();
                Ok(())
            }
            Ok(n) => {
                if n > 0 {
                    conn.touch();
                }
                self.enqueue(conn, st, &data[n..])
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
        st.busy = true;
        drop(st);
        let sent = (&conn.stream).write_all(data);
        let mut st = self.lock();
        st.busy = false;
        self.signal(&st);
        match sent {
            Ok(()) => {
                conn.touch();
                Ok(())
            }
            Err(e) => Err(self.fail(conn, st, Error::io(write_context(conn), e))),
        }
    }

    /// Queues `rest` in chunks, waiting for room up to the write timeout each time: a
    /// large write to a peer that reads slowly but steadily is not cut off.
    fn enqueue(
        &self,
        conn: &Arc<Connection>,
        mut st: MutexGuard<'_, State>,
        mut rest: &[u8],
    ) -> Result<()> {
        let limit = conn.settings.write_queue_bytes.max(1);
        while !rest.is_empty() {
            let deadline = conn.settings.write_timeout.map(|t| Instant::now() + t);
            let len = rest.len().min(CHUNK).min(limit);
            // An empty queue always takes one chunk, so a bound below CHUNK cannot wedge.
            while st.queued > 0 && st.queued + len > limit {
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
                    return Err(self.fail(conn, st, err));
                }
                st = self.wait(st, deadline);
                self.check_open(conn, &st)?;
            }
            let jobs = match self.writer(conn, &mut st) {
                Ok(jobs) => jobs,
                Err(err) => return Err(self.fail(conn, st, err)),
            };
            st.queued += len;
            // The writer thread holds the receiver until it has been joined.
            let _ = jobs.send(Job::Data(rest[..len].to_vec()));
            rest = &rest[len..];
        }
        Ok(())
    }

    /// The writer thread's job channel, starting the thread on first use.
    fn writer(&self, conn: &Arc<Connection>, st: &mut State) -> Result<Sender<Job>> {
        if let Some(writer) = &st.writer {
            return Ok(writer.jobs.clone());
        }
        let (jobs, inbox) = crossbeam_channel::unbounded();
        let thread_conn = Arc::clone(conn);
        let handle = thread::Builder::new()
            .name(format!("synctcp-write-{}", conn.id))
            .stack_size(conn.settings.stack_size)
            .spawn(move || writer_loop(&thread_conn, &inbox))
            .map_err(|e| Error::io(format!("start writer thread for {}", conn.peer), e))?;
        st.writer = Some(WriterThread {
            jobs: jobs.clone(),
            handle,
        });
        Ok(jobs)
    }

    fn check_open(&self, conn: &Connection, st: &State) -> Result<()> {
        if let Some(failure) = &st.failure {
            return Err(failure.echo(write_context(conn)));
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

    /// Records the first failure and forces the connection closed, so that the connection
    /// thread wakes up and reports it to `on_error`. Returns the error for the writer.
    fn fail(&self, conn: &Connection, mut st: MutexGuard<'_, State>, err: Error) -> Error {
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

    /// Connection thread, closing: waits until everything queued is sent, then shuts down
    /// the write side. Bounded by `deadline`; a timeout is returned as an error.
    pub(crate) fn flush_and_shut(
        &self,
        conn: &Connection,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mut st = self.lock();
        // From here on no new write is accepted, so the queue can only shrink.
        st.shut = true;
        while (st.queued > 0 || st.busy) && !st.discard {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::with(
                    ErrorKind::Timeout,
                    write_context(conn),
                    format!("{} queued bytes not sent before close", st.queued),
                ));
            }
            st = self.wait(st, deadline);
        }
        if !st.discard {
            let _ = conn.stream.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// Any thread, closing while the connection thread is idle in `read`: shut down the
    /// write side now if nothing is queued, otherwise after the queue drains (on the writer
    /// thread). The connection thread then drains input until the peer's end of stream,
    /// and somebody must bound that wait by forcing the close `drain` after FIN: the writer
    /// thread if it runs, or if it does not, a new one when `start_watchdog` is set.
    /// Returns `true` when FIN was sent now and nobody watches: the caller bounds the drain.
    pub(crate) fn finish_later(
        &self,
        conn: &Arc<Connection>,
        drain: Duration,
        start_watchdog: bool,
    ) -> bool {
        let mut st = self.lock();
        if st.shut {
            return false;
        }
        st.shut = true;
        if st.writer.is_none() && !start_watchdog {
            // Nothing is queued: a queue is only ever drained by the writer thread.
            let _ = conn.stream.shutdown(Shutdown::Write);
            return true;
        }
        match self.writer(conn, &mut st) {
            Ok(jobs) => {
                let _ = jobs.send(Job::Finish { watch: Some(drain) });
            }
            Err(err) => {
                // Without a watchdog nothing bounds the drain: close now instead.
                log::warn!("{err}; closing connection {} at once", conn.id);
                drop(st);
                conn.force_close();
            }
        }
        false
    }

    /// Drops what is queued and refuses further writes (a forced close).
    pub(crate) fn discard(&self, _conn: &Connection) {
        let mut st = self.lock();
        st.shut = true;
        st.discard = true;
        self.signal(&st);
    }

    /// Connection thread, at the very end: stops the writer thread, if one was started, and
    /// joins it.
    pub(crate) fn stop_writer(&self) {
        let writer = self.lock().writer.take();
        if let Some(writer) = writer {
            let _ = writer.jobs.send(Job::Exit);
            drop(writer.jobs);
            let _ = writer.handle.join();
        }
    }

    /// Writer thread: sends one queued chunk once no other thread is writing.
    fn send_queued(&self, conn: &Connection, chunk: &[u8]) {
        let mut st = self.lock();
        while st.busy {
            st = self.wait(st, None);
        }
        if st.discard || st.failure.is_some() {
            st.queued -= chunk.len();
            self.signal(&st);
            return;
        }
        st.busy = true;
        drop(st);
        let sent = (&conn.stream).write_all(chunk);
        let mut st = self.lock();
        st.busy = false;
        st.queued -= chunk.len();
        self.signal(&st);
        match sent {
            Ok(()) => conn.touch(),
            Err(e) => {
                let err = Error::io(write_context(conn), e);
                log::debug!("connection {}: {err}", conn.id);
                let _ = self.fail(conn, st, err);
            }
        }
    }

    /// Writer thread: everything before this job is sent; shut down the write side.
    fn shut_write_side(&self, conn: &Connection) {
        let mut st = self.lock();
        while st.busy {
            st = self.wait(st, None);
        }
        if !st.discard {
            let _ = conn.stream.shutdown(Shutdown::Write);
        }
    }
}

fn writer_loop(conn: &Arc<Connection>, inbox: &Receiver<Job>) {
    while let Ok(job) = inbox.recv() {
        match job {
            Job::Data(chunk) => conn.out.send_queued(conn, &chunk),
            Job::Finish { watch } => {
                conn.out.shut_write_side(conn);
                if let Some(watch) = watch {
                    match inbox.recv_timeout(watch) {
                        Ok(Job::Exit) | Err(RecvTimeoutError::Disconnected) => return,
                        Ok(_) => {}
                        Err(RecvTimeoutError::Timeout) => {
                            log::debug!(
                                "connection {}: peer did not close within {watch:?} of our FIN; forcing",
                                conn.id
                            );
                            conn.force_close();
                        }
                    }
                }
            }
            Job::Exit => return,
        }
    }
}

fn write_context(conn: &Connection) -> String {
    format!("write to {}", conn.peer)
}
