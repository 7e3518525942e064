//! The end of the write path: the writer thread that drains a connection's queue, and the
//! orderly close of the write side — queued bytes, then the last bytes (TLS close_notify),
//! then FIN — from the connection thread or, while it waits in `read`, from any thread.

use std::io::Write;
use std::net::Shutdown;
use std::sync::{Arc, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::outbound::{write_context, Outbound, State};

/// What the writer thread is asked to do, in order.
#[derive(Debug)]
pub(crate) enum Job {
    /// Send these bytes.
    Data(Vec<u8>),
    /// Everything before it is queued and nothing will follow: send the last bytes, FIN,
    /// then wait up to `watch` for the connection thread to finish and force the close if
    /// it has not.
    Finish { watch: Duration },
    /// The connection thread is done; end.
    Exit,
}

#[derive(Debug)]
pub(crate) struct WriterThread {
    jobs: Sender<Job>,
    handle: JoinHandle<()>,
}

impl Outbound {
    /// The writer thread's job channel, starting the thread on first use.
    pub(crate) fn writer(&self, conn: &Arc<Connection>, st: &mut State) -> Result<Sender<Job>> {
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

    /// Writer thread: sends one queued piece once no other thread is writing.
    fn send_queued(&self, conn: &Arc<Connection>, piece: &[u8]) {
        let mut st = self.lock();
        while st.busy {
            st = self.wait(st, None);
        }
        if st.discard {
            st.queued -= piece.len();
            self.signal(&mut st);
            return;
        }
        st.busy = true;
        drop(st);
        let sent = (&conn.stream).write_all(piece);
        let mut st = self.lock();
        st.busy = false;
        st.queued -= piece.len();
        self.signal(&mut st);
        match sent {
            Ok(()) => {
                conn.touch();
                self.finish_if_drained(conn, &mut st);
            }
            Err(e) => {
                let err = Error::io(write_context(conn), e);
                log::debug!("connection {}: {err}", conn.id);
                let _ = self.fail(conn, st, err);
            }
        }
    }

    /// Sends the last bytes (TLS close_notify) once, then FIN. The state must be idle.
    fn close_write_side<'a>(
        &'a self,
        conn: &Connection,
        mut st: MutexGuard<'a, State>,
    ) -> MutexGuard<'a, State> {
        if st.discard {
            return st;
        }
        if !st.closing_sent {
            st.closing_sent = true;
            let last = conn.transport.close_notify();
            if !last.is_empty() {
                st.busy = true;
                drop(st);
                let _ = (&conn.stream).write_all(&last);
                st = self.lock();
                st.busy = false;
                self.signal(&mut st);
            }
        }
        let _ = conn.stream.shutdown(Shutdown::Write);
        st
    }

    /// Connection thread, closing: waits until everything queued is sent, then the last
    /// bytes and FIN. Bounded by `deadline`; a timeout is returned as an error.
    pub(crate) fn flush_and_shut(
        &self,
        conn: &Connection,
        deadline: Option<Instant>,
    ) -> Result<()> {
        let mut st = self.lock();
        // From here on no new write is accepted, so the queue can only shrink.
        st.shut = true;
        while !st.is_idle() && !st.discard {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::with(
                    ErrorKind::Timeout,
                    write_context(conn),
                    format!("{} queued bytes not sent before close", st.queued),
                ));
            }
            st = self.wait(st, deadline);
        }
        drop(self.close_write_side(conn, st));
        Ok(())
    }

    /// Any thread, closing while the connection thread is idle in `read`: no new writes;
    /// the last bytes and FIN go now if nothing is queued, otherwise after the queue drains
    /// (on the writer thread). The connection thread then drains input until the peer's
    /// end of stream, and somebody must bound that wait by forcing the close `drain` after
    /// FIN: the writer thread if it runs or `start_watchdog` asks for it, otherwise the
    /// caller. Returns `true` in that last case: FIN was sent and nobody watches.
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
        if st.is_idle() && st.writer.is_none() {
            let mut last = conn.transport.close_notify();
            let sent = net::send_now(&conn.stream, &last).unwrap_or(last.len());
            last.drain(..sent);
            st.closing_sent = true;
            if last.is_empty() && !start_watchdog {
                let _ = conn.stream.shutdown(Shutdown::Write);
                return true;
            }
            if !last.is_empty() {
                // The socket did not take it all: the writer thread sends the rest.
                match self.writer(conn, &mut st) {
                    Ok(jobs) => {
                        st.queued += last.len();
                        let _ = jobs.send(Job::Data(last));
                    }
                    Err(err) => return self.abandon(conn, st, &err),
                }
            }
        }
        if let Err(err) = self.writer(conn, &mut st) {
            return self.abandon(conn, st, &err);
        }
        st.finish_pending = Some(drain);
        self.finish_if_drained(conn, &mut st);
        false
    }

    /// Without a writer thread nothing would bound the drain: close now instead.
    fn abandon(&self, conn: &Connection, st: MutexGuard<'_, State>, err: &Error) -> bool {
        log::warn!("{err}; closing connection {} at once", conn.id);
        drop(st);
        conn.force_close();
        false
    }

    /// Once a close from another thread is pending and nothing is left to send, hands the
    /// writer thread its `Finish`.
    pub(crate) fn finish_if_drained(&self, _conn: &Connection, st: &mut State) {
        if !st.is_idle() {
            return;
        }
        if let (Some(watch), Some(writer)) = (st.finish_pending, &st.writer) {
            st.finish_pending = None;
            let _ = writer.jobs.send(Job::Finish { watch });
        }
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
}

fn writer_loop(conn: &Arc<Connection>, inbox: &Receiver<Job>) {
    while let Ok(job) = inbox.recv() {
        match job {
            Job::Data(piece) => conn.out.send_queued(conn, &piece),
            Job::Finish { watch } => {
                let mut st = conn.out.lock();
                while st.busy {
                    st = conn.out.wait(st, None);
                }
                drop(conn.out.close_write_side(conn, st));
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
            Job::Exit => return,
        }
    }
}
