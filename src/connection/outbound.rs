//! `Outbound`: the write path and the close of one accepted connection, as one state
//! machine under one lock. Every byte for the peer passes here — replies from the
//! connection thread and `Caller::write_bytes` from any thread — each write whole and in
//! the order the writes were made; and every way a connection ends (the peer, a
//! `Caller::close`, an error, a stop, a failed write) is a move of its [`Stage`].
//!
//! Who sends on the socket:
//! - with nothing queued, the connection thread sends straight to the socket and may block
//!   on it (the peer's backpressure on itself, as in a hand-written loop);
//! - with nothing queued, any other thread sends what the socket takes at once;
//! - everything else waits in a queue bounded in bytes, drained by a writer thread that
//!   starts on first need, so an idle connection costs one thread. Queued TLS data stays
//!   plaintext until the writer thread sends it: records are sealed in the order they leave.
//!
//! ```text
//!  reply (connection thread) ──(nothing queued: blocking send)──────┐
//!  Caller::write_bytes ──(nothing queued: what the socket takes now)─┤──► socket
//!            └──(the rest; queue full: wait)──► queue ──► writer thread
//! ```
//!
//! Every write has one deadline, `write_timeout` after it was called and never past the
//! end of `max_lifetime`: it bounds the wait for an earlier write to finish queuing, the
//! waits for room in the queue, and every send of the write's bytes, those the writer
//! thread makes for it included.

use std::net::Shutdown;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::label::Label;
use super::settings::Settings;
use super::socket::Socket;
use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::signal::{Signal, Waiters};

/// The largest piece one queue entry holds, so that room frees up steadily while a large
/// write drains.
const CHUNK: usize = 64 * 1024;

/// Who asks for a close from outside the connection thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseBy {
    /// `Caller::close`: the caller's own writes are refused from then on.
    Caller,
    /// A listener stop, which bounds the drains it starts itself. Input that has reached
    /// the connection when its close begins is still given to the service.
    Stop,
    /// A stop forcing the close of the connection whose callback called it: it closes when
    /// that callback returns, reading nothing more.
    StopNow,
}

impl CloseBy {
    /// A stop of the listener, graceful or forced (for the stats).
    pub(crate) fn is_stop(self) -> bool {
        matches!(self, CloseBy::Stop | CloseBy::StopNow)
    }
}

/// What the connection thread does when a callback returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Go on serving: read (or hand out the input already read).
    Serve,
    /// A graceful stop came: serve only the input that has already arrived, then close
    /// ([`Outbound::end_last_input`]).
    LastInput,
    /// Close now (a close that waited for the callback, or the connection was closed by
    /// force).
    Close,
}

/// Who writes, and how long the write may wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write {
    /// On the connection thread, which may block on the socket itself.
    pub(crate) owner: bool,
    /// A `Caller` write, refused once `Caller::close` was called (a reply returned from
    /// the callback that called it still goes out).
    pub(crate) by_caller: bool,
    pub(crate) wait: Wait,
}

/// How long a write may wait for its turn, for room in the queue and for the socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// The listener's `write_timeout`.
    WriteTimeout,
    /// This long.
    Timeout(Duration),
    /// Not at all: refused (`WouldBlock`) unless it is sure to fit now.
    Never,
}

/// Where a connection is in its life. Only this file changes it.
#[derive(Debug)]
enum Stage {
    /// Accepted; `on_connect` has not started. A stop now closes it without callbacks.
    Accepted,
    /// The connection thread runs a callback, or hands out input it has read already. A
    /// close asked for meanwhile (`close`) begins when the callback returns, so that its
    /// reply still goes out; with a stop, after the input that has arrived by then.
    InCallback { close: Option<CloseBy> },
    /// The connection thread waits for input: a close asked for now begins at once,
    /// unless it is a stop and input has arrived (`close`: the stop, which then waits
    /// until that input has been served).
    Reading { close: Option<CloseBy> },
    /// The connection thread runs a stream handler, which reads and writes as it goes. A
    /// `Caller` close begins at once (its reads then see the end of stream when the peer
    /// answers our FIN); a stop waits for the handler to return (`close`).
    Streaming { close: Option<CloseBy> },
    /// No new writes. What is queued goes out, then TLS close_notify and FIN, sent by
    /// `finisher` once nothing is queued.
    Closing { finisher: Finisher },
    /// close_notify and FIN are out; the peer's end of stream is all that is left.
    Finished,
    /// Closed by force (a stop, a failed write): nothing more is sent and the socket is
    /// shut down both ways, which wakes every thread blocked on it. `failure` is the first
    /// failed write, for `on_error`; `None` for a stop. (Boxed, as `State::writer`.)
    Aborted { failure: Option<Box<Error>> },
}

/// Who sends close_notify and FIN when the queue is empty.
#[derive(Debug, Clone, Copy)]
enum Finisher {
    /// The connection thread, which waits for the queue in [`Outbound::finish`].
    Owner,
    /// The writer thread, after the last queued piece (a close asked for while the
    /// connection thread reads). It then waits up to `watch` (the drain timeout) for the
    /// connection thread to end, and forces the close if the peer never answers our FIN.
    Writer { watch: Duration },
}

/// Who sends on the socket outside the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnSocket {
    Nobody,
    /// The connection thread, in a blocking send; queued bytes wait behind it.
    Owner,
    /// The writer thread, sending the queue's first piece.
    Writer,
}

#[derive(Debug)]
struct State {
    stage: Stage,
    on_socket: OnSocket,
    /// Bytes in the queue, the piece the writer thread is sending included.
    queued: usize,
    /// A write is putting its pieces in the queue; other writes wait for it, so that
    /// nothing lands between them.
    appending: bool,
    /// Who first asked for a close from outside the connection thread (for the stats).
    asked_by: Option<CloseBy>,
    /// Boxed: most connections never start one, and every connection holds a `State`.
    writer: Option<Box<WriterThread>>,
    /// Threads waiting on `changed`.
    waiters: usize,
}

impl Waiters for State {
    fn waiters(&mut self) -> &mut usize {
        &mut self.waiters
    }
}

impl State {
    /// Nothing queued and nobody sending: the next write may go straight to the socket.
    fn is_idle(&self) -> bool {
        self.queued == 0 && self.on_socket == OnSocket::Nobody && !self.appending
    }
}

/// One entry of the queue.
#[derive(Debug)]
enum Piece {
    /// Bytes to send as they are: plain TCP data, or TLS records already sealed.
    Wire(Vec<u8>),
    /// TLS plaintext, sealed when it is sent.
    Plain(Vec<u8>),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Wire(bytes) | Piece::Plain(bytes) => bytes.len(),
        }
    }
}

/// What the writer thread is asked to do, in order.
#[derive(Debug)]
enum Job {
    Data {
        piece: Piece,
        deadline: Deadline,
    },
    /// A close is pending: send FIN once nothing is queued.
    Finish,
    /// The connection thread is done; end.
    Exit,
}

#[derive(Debug)]
struct WriterThread {
    jobs: Sender<Job>,
    handle: JoinHandle<()>,
}

/// When a write must be done by, and which limit that is (the error names it).
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: Option<Instant>,
    by: Limit,
}

/// The limit a write's deadline comes from.
#[derive(Debug, Clone, Copy)]
enum Limit {
    /// The listener's `write_timeout` (none: no deadline).
    WriteTimeout,
    /// The timeout given with the write (`write_bytes_timeout`).
    Given(Duration),
    /// The end of the connection's `max_lifetime`, when it comes first.
    Lifetime,
}

impl Deadline {
    fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }
}

#[derive(Debug)]
pub(crate) struct Outbound {
    id: u64,
    /// The peer as errors name it.
    peer: Label,
    settings: Arc<Settings>,
    socket: Socket,
    state: Mutex<State>,
    /// Signalled when the queue shrinks, the socket is free again, an append ends or the
    /// stage changes.
    changed: Signal,
}

impl Outbound {
    pub(crate) fn new(id: u64, peer: Label, settings: Arc<Settings>, socket: Socket) -> Outbound {
        Outbound {
            id,
            peer,
            settings,
            socket,
            state: Mutex::new(State {
                stage: Stage::Accepted,
                on_socket: OnSocket::Nobody,
                queued: 0,
                appending: false,
                asked_by: None,
                writer: None,
                waiters: 0,
            }),
            changed: Signal::default(),
        }
    }

    /// The peer as errors name it.
    pub(crate) fn peer(&self) -> &Label {
        &self.peer
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding this lock; recover the state if something did.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, st: MutexGuard<'a, State>, until: Option<Instant>) -> MutexGuard<'a, State> {
        self.changed.wait(st, until)
    }

    // ---- the connection thread's moves ----

    /// `on_connect` may run: `false` if the connection was closed before it could.
    pub(crate) fn begin_connect(&self) -> bool {
        self.begin(Stage::InCallback { close: None })
    }

    /// A stream handler may run: `false` if the connection was closed before it could.
    pub(crate) fn begin_stream(&self) -> bool {
        self.begin(Stage::Streaming { close: None })
    }

    fn begin(&self, stage: Stage) -> bool {
        let mut st = self.lock();
        if !matches!(st.stage, Stage::Accepted) {
            return false;
        }
        st.stage = stage;
        true
    }

    /// New input arrived: may a callback run for it? `false` once a close has begun (the
    /// input is then part of the drain).
    pub(crate) fn enter_callback(&self) -> bool {
        let mut st = self.lock();
        // The common case first, written so that it compiles to a test and a store.
        if matches!(st.stage, Stage::Reading { close: None }) {
            st.stage = Stage::InCallback { close: None };
            return true;
        }
        match st.stage {
            Stage::Reading { close } => {
                st.stage = Stage::InCallback { close };
                true
            }
            // Input read before was still being handed out (see `leave_callback`).
            Stage::InCallback {
                close: None | Some(CloseBy::Stop),
            } => true,
            Stage::InCallback { close: Some(_) } => {
                st.stage = Stage::Closing {
                    finisher: Finisher::Owner,
                };
                false
            }
            _ => false,
        }
    }

    /// A callback returned. `buffered`: input already read waits to be handed out, so the
    /// connection thread will not wait on the socket next (it stays "in a callback", where
    /// a stop waits for it rather than sending FIN under it).
    pub(crate) fn leave_callback(&self, buffered: bool) -> Next {
        let mut st = self.lock();
        match st.stage {
            Stage::InCallback { close: None } => {
                if !buffered {
                    st.stage = Stage::Reading { close: None };
                }
                Next::Serve
            }
            Stage::InCallback {
                close: Some(CloseBy::Stop),
            } => Next::LastInput,
            // The reply is out; now the close that waited for it.
            Stage::InCallback { close: Some(_) } => {
                st.stage = Stage::Closing {
                    finisher: Finisher::Owner,
                };
                Next::Close
            }
            _ => Next::Close,
        }
    }

    /// The input that had arrived when a stop came has been served: the close begins.
    pub(crate) fn end_last_input(&self) {
        let mut st = self.lock();
        if let Stage::InCallback { .. } | Stage::Reading { .. } = st.stage {
            st.stage = Stage::Closing {
                finisher: Finisher::Owner,
            };
        }
    }

    /// Connection thread, closing for whatever reason: waits (up to a write deadline) until
    /// everything queued is sent, then sends close_notify and FIN. Returns at once when the
    /// connection was closed by force or the write side is finished already.
    ///
    /// # Errors
    ///
    /// `Timeout` when the queue did not drain in time; the caller then aborts.
    pub(crate) fn finish(&self) -> Result<()> {
        let deadline = self.deadline(Limit::WriteTimeout);
        let mut st = self.lock();
        // Whoever was to send FIN, the connection thread does it now: it is here anyway.
        match st.stage {
            Stage::Finished | Stage::Aborted { .. } => return Ok(()),
            _ => {
                st.stage = Stage::Closing {
                    finisher: Finisher::Owner,
                }
            }
        }
        while !st.is_idle() {
            if matches!(st.stage, Stage::Finished | Stage::Aborted { .. }) {
                return Ok(());
            }
            if deadline.passed() {
                return Err(Error::with(
                    ErrorKind::Timeout,
                    self.context(),
                    format!(
                        "timed out: {} queued bytes not sent before close {}",
                        st.queued,
                        self.deadline_text(deadline)
                    ),
                ));
            }
            st = self.wait(st, deadline.at);
        }
        self.send_fin(st, OnSocket::Owner, deadline);
        Ok(())
    }

    /// Sends close_notify and FIN (the state is idle and the stage `Closing`), then moves to
    /// `Finished`.
    fn send_fin(&self, mut st: MutexGuard<'_, State>, sender: OnSocket, deadline: Deadline) {
        st.on_socket = sender;
        drop(st);
        let last = self.socket.close_notify();
        let _ = self.socket.send_sealed(&last, deadline.at);
        self.socket.shutdown(Shutdown::Write);
        let mut st = self.lock();
        st.on_socket = OnSocket::Nobody;
        if let Stage::Closing { .. } = st.stage {
            st.stage = Stage::Finished;
        }
        self.changed.notify(&mut *st);
    }

    /// The first failed write, for `on_error`, taken once; later writers still see a copy.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        let mut st = self.lock();
        let Stage::Aborted { failure } = &mut st.stage else {
            return None;
        };
        let first = failure.take()?;
        *failure = Some(Box::new(first.echo(self.context())));
        Some(*first)
    }

    /// Who first asked for a close from outside the connection thread, if anybody did.
    pub(crate) fn asked_by(&self) -> Option<CloseBy> {
        self.lock().asked_by
    }

    /// Closed by force (or after a failed write).
    pub(crate) fn is_aborted(&self) -> bool {
        matches!(self.lock().stage, Stage::Aborted { .. })
    }

    /// A close has begun on this side (or it was forced).
    pub(crate) fn is_closing(&self) -> bool {
        matches!(
            self.lock().stage,
            Stage::Closing { .. } | Stage::Finished | Stage::Aborted { .. }
        )
    }

    /// For `Caller::is_closed`: a close has begun or was asked for.
    pub(crate) fn is_closed(&self) -> bool {
        !matches!(
            self.lock().stage,
            Stage::Accepted
                | Stage::Reading { close: None }
                | Stage::InCallback { close: None }
                | Stage::Streaming { close: None }
        )
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

    // ---- any thread's moves ----

    /// Writes `data` to the peer after everything written before it, never interleaved
    /// with another write. `how` says who writes and how long the write may wait (see
    /// [`Write`]). An empty `data` sends only what the TLS session has waiting.
    pub(crate) fn write(self: &Arc<Self>, data: &[u8], how: Write) -> Result<()> {
        if data.is_empty() && !self.socket.has_pending() {
            return Ok(());
        }
        let deadline = match how.wait {
            Wait::Never => return self.try_write(data, how.by_caller),
            Wait::WriteTimeout => self.deadline(Limit::WriteTimeout),
            Wait::Timeout(timeout) => self.deadline(Limit::Given(timeout)),
        };
        let mut st = self.lock();
        while st.appending {
            self.admit(&st, how.by_caller)?;
            if deadline.passed() {
                return Err(self.timeout(deadline, "an earlier write was still being queued"));
            }
            st = self.wait(st, deadline.at);
        }
        self.admit(&st, how.by_caller)?;
        if !st.is_idle() {
            return self.append(st, Vec::new(), data, deadline, true);
        }
        if how.owner {
            st.on_socket = OnSocket::Owner;
            drop(st);
            let sent = self.socket.send(data, deadline.at);
            let mut st = self.lock();
            st.on_socket = OnSocket::Nobody;
            self.changed.notify(&mut *st);
            return sent.map_err(|e| self.fail(st, self.send_error(e, deadline)));
        }
        // Never blocks, so it is done under the lock.
        match self.socket.send_now(data) {
            Ok((used, sealed)) if used == data.len() && sealed.is_empty() => Ok(()),
            Ok((used, sealed)) => self.append(st, sealed, &data[used..], deadline, true),
            Err(e) => Err(self.fail(st, Error::io(self.context(), e))),
        }
    }

    /// A write that never waits: what the socket takes now, the rest queued — only if
    /// the whole of `data` is sure to fit, so nothing is ever partly written.
    fn try_write(self: &Arc<Self>, data: &[u8], by_caller: bool) -> Result<()> {
        let st = self.lock();
        self.admit(&st, by_caller)?;
        let room = self.settings.write_queue_bytes.saturating_sub(st.queued);
        if st.appending || data.len() > room {
            return Err(Error::with(
                ErrorKind::WouldBlock,
                self.context(),
                format!(
                    "the write queue has room for {room} of {} bytes now",
                    data.len()
                ),
            ));
        }
        // It fits (TLS records, a few bytes longer than their plaintext, may overrun the
        // bound by as much): queued without waiting for room. Its sends have the usual
        // deadline.
        let deadline = self.deadline(Limit::WriteTimeout);
        if !st.is_idle() {
            return self.append(st, Vec::new(), data, deadline, false);
        }
        match self.socket.send_now(data) {
            Ok((used, sealed)) if used == data.len() && sealed.is_empty() => Ok(()),
            Ok((used, sealed)) => self.append(st, sealed, &data[used..], deadline, false),
            Err(e) => Err(self.fail(st, Error::io(self.context(), e))),
        }
    }

    /// Whether a new write may start.
    fn admit(&self, st: &State, by_caller: bool) -> Result<()> {
        match &st.stage {
            Stage::InCallback {
                close: Some(CloseBy::Caller),
            } if by_caller => Err(self.closed()),
            Stage::Accepted
            | Stage::InCallback { .. }
            | Stage::Reading { .. }
            | Stage::Streaming { .. } => Ok(()),
            Stage::Aborted {
                failure: Some(first),
            } => Err(first.echo(self.context())),
            _ => Err(self.closed()),
        }
    }

    /// Why an admitted write cannot go on: the connection was closed by force or failed.
    fn aborted(&self, st: &State) -> Option<Error> {
        match &st.stage {
            Stage::Aborted {
                failure: Some(first),
            } => Some(first.echo(self.context())),
            Stage::Aborted { failure: None } => Some(self.closed()),
            _ => None,
        }
    }

    /// Queues `sealed` (records already made), then `data` in pieces, waiting for room up
    /// to the deadline; nobody else queues meanwhile. Part of a write queued and the rest
    /// timed out leaves the stream broken, so a timeout here fails the connection.
    /// `wait_for_room`: `false` when the caller made sure it fits, to queue it all at
    /// once.
    fn append(
        self: &Arc<Self>,
        mut st: MutexGuard<'_, State>,
        sealed: Vec<u8>,
        data: &[u8],
        deadline: Deadline,
        wait_for_room: bool,
    ) -> Result<()> {
        st.appending = true;
        let limit = self.settings.write_queue_bytes.max(1);
        let tls = self.socket.is_tls();
        let first = (!sealed.is_empty()).then_some(Piece::Wire(sealed));
        let rest = data.chunks(CHUNK).map(|chunk| match tls {
            true => Piece::Plain(chunk.to_vec()),
            false => Piece::Wire(chunk.to_vec()),
        });
        for piece in first.into_iter().chain(rest) {
            let len = piece.len();
            // An empty queue always takes a piece, so a bound below CHUNK cannot wedge.
            while wait_for_room && st.queued > 0 && st.queued + len > limit {
                if let Some(err) = self.aborted(&st) {
                    return Err(self.end_append(st, err));
                }
                if deadline.passed() {
                    let err = self.timeout(deadline, "the write queue stayed full");
                    st.appending = false;
                    return Err(self.fail(st, err));
                }
                st = self.wait(st, deadline.at);
            }
            if let Some(err) = self.aborted(&st) {
                return Err(self.end_append(st, err));
            }
            let jobs = match self.writer(&mut st) {
                Ok(jobs) => jobs,
                Err(err) => {
                    st.appending = false;
                    return Err(self.fail(st, err));
                }
            };
            st.queued += len;
            // The writer thread holds its receiver until it is joined.
            let _ = jobs.send(Job::Data { piece, deadline });
        }
        st.appending = false;
        self.changed.notify(&mut *st);
        Ok(())
    }

    fn end_append(&self, mut st: MutexGuard<'_, State>, err: Error) -> Error {
        st.appending = false;
        self.changed.notify(&mut *st);
        err
    }

    /// Asks for an orderly close from another thread: what is queued is sent, then FIN,
    /// then the connection thread drains input and runs `on_close`. Returns at once.
    ///
    /// Returns `true` when FIN was sent here and nobody bounds the drain that follows, or
    /// when a stop waits for the connection thread to serve input that has arrived (the
    /// rest of a TLS record may never come): the caller (a stop) must abort the connection
    /// after the drain timeout.
    pub(crate) fn request_close(self: &Arc<Self>, by: CloseBy) -> bool {
        let mut st = self.lock();
        st.asked_by.get_or_insert(by);
        match &mut st.stage {
            // on_connect has not started: the connection thread closes when it does.
            Stage::Accepted => {
                st.stage = Stage::Closing {
                    finisher: Finisher::Owner,
                };
                false
            }
            // The callback's reply goes out first; a Caller close refuses caller writes now,
            // and a forced close reads nothing more.
            Stage::InCallback { close } => {
                if close.is_none() || by != CloseBy::Stop {
                    *close = Some(by);
                }
                false
            }
            // Input has arrived (or the peer's end of stream, or an error): the connection
            // thread is about to read it and serves it before it closes.
            Stage::Reading { close: None } if by == CloseBy::Stop && self.socket.has_input() => {
                st.stage = Stage::Reading { close: Some(by) };
                true
            }
            Stage::Reading { close: Some(_) } if by == CloseBy::Stop => false,
            Stage::Reading { .. } => self.close_while_reading(st, by),
            // A stop lets the handler finish (until the stop's deadline forces it).
            Stage::Streaming { close } if by.is_stop() => {
                close.get_or_insert(by);
                false
            }
            // A Caller close ends the conversation now: the handler's writes are refused
            // and its reads see the end of stream once the peer answers our FIN.
            Stage::Streaming { .. } => self.close_while_reading(st, by),
            _ => false,
        }
    }

    /// The connection thread waits in `read` and will only wake for the peer's input or
    /// end of stream, so the closing starts from here: FIN goes out (now, or after the
    /// queue, from the writer thread), the peer answers with its own, and the connection
    /// thread then finishes. A `Caller` close has the writer thread watch that answer
    /// come; a stop watches it itself.
    fn close_while_reading(self: &Arc<Self>, mut st: MutexGuard<'_, State>, by: CloseBy) -> bool {
        if by.is_stop() && st.is_idle() && st.writer.is_none() {
            // The common case of a stop: FIN now, from here, with no thread to start.
            let last = self.socket.close_notify();
            let sent = net::send_now(self.socket.stream(), &last).unwrap_or(last.len());
            if sent == last.len() {
                self.socket.shutdown(Shutdown::Write);
                st.stage = Stage::Finished;
                return true;
            }
            // The rest of close_notify goes ahead of FIN, from the writer thread.
            if let Ok(jobs) = self.writer(&mut st) {
                st.queued += last.len() - sent;
                let piece = Piece::Wire(last[sent..].to_vec());
                let deadline = self.deadline(Limit::WriteTimeout);
                let _ = jobs.send(Job::Data { piece, deadline });
            }
        }
        st.stage = Stage::Closing {
            finisher: Finisher::Writer {
                watch: self.settings.drain_timeout,
            },
        };
        match self.writer(&mut st) {
            Ok(jobs) => {
                let _ = jobs.send(Job::Finish);
            }
            Err(err) => {
                // Nothing could bound the drain: close now instead.
                log::warn!("{err}; closing connection {} at once", self.id);
                drop(st);
                self.abort();
            }
        }
        false
    }

    /// Closes now, from any thread: queued bytes are dropped, both directions are shut
    /// down, and every thread blocked on the socket wakes up.
    pub(crate) fn abort(&self) {
        let mut st = self.lock();
        if !matches!(st.stage, Stage::Aborted { .. }) {
            st.stage = Stage::Aborted { failure: None };
            self.changed.notify(&mut *st);
        }
        drop(st);
        self.socket.shutdown(Shutdown::Both);
    }

    /// A write failed: records the failure (the first one only) and aborts, so that the
    /// connection thread wakes and reports it to `on_error`. Returns the error for the
    /// writer: a copy of the failure, or `Closed` when the connection was closed by force
    /// before (a stop's shutdown is what made this write fail).
    fn fail(&self, mut st: MutexGuard<'_, State>, err: Error) -> Error {
        if let Some(earlier) = self.aborted(&st) {
            self.changed.notify(&mut *st);
            return earlier;
        }
        let copy = err.echo(self.context());
        st.stage = Stage::Aborted {
            failure: Some(Box::new(err)),
        };
        self.changed.notify(&mut *st);
        drop(st);
        self.socket.shutdown(Shutdown::Both);
        copy
    }

    // ---- the writer thread ----

    /// The writer thread's job channel, starting the thread on first use.
    fn writer(self: &Arc<Self>, st: &mut State) -> Result<Sender<Job>> {
        if let Some(writer) = &st.writer {
            return Ok(writer.jobs.clone());
        }
        let (jobs, inbox) = crossbeam_channel::unbounded();
        let out = Arc::clone(self);
        let handle = thread::Builder::new()
            .name(format!("synctcp-write-{}", self.id))
            .stack_size(self.settings.stack_size)
            .spawn(move || out.writer_loop(&inbox))
            .map_err(|e| Error::io(format!("start writer thread for {}", self.peer), e))?;
        st.writer = Some(Box::new(WriterThread {
            jobs: jobs.clone(),
            handle,
        }));
        Ok(jobs)
    }

    fn writer_loop(&self, inbox: &Receiver<Job>) {
        while let Ok(job) = inbox.recv() {
            match job {
                Job::Data { piece, deadline } => self.send_queued(piece, deadline),
                Job::Finish => {}
                Job::Exit => return,
            }
            let Some(watch) = self.finish_by_writer() else {
                continue;
            };
            // FIN is out. The connection thread ends once the peer answers with its own;
            // if the peer never does, force the close after `watch`. Nothing but `Exit`
            // can come now (a `Finish` sent with the close may still be in the inbox).
            let until = Instant::now() + watch;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                match inbox.recv_timeout(left) {
                    Ok(Job::Exit) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(_) => continue,
                    Err(RecvTimeoutError::Timeout) => {
                        log::debug!(
                            "connection {}: peer did not close within {watch:?} of our FIN; forcing",
                            self.id
                        );
                        self.abort();
                        break;
                    }
                }
            }
        }
    }

    /// Sends one queued piece, once the connection thread's own send (which was first) is
    /// done.
    fn send_queued(&self, piece: Piece, deadline: Deadline) {
        let len = piece.len();
        let mut st = self.lock();
        while st.on_socket == OnSocket::Owner {
            st = self.wait(st, None);
        }
        if matches!(st.stage, Stage::Aborted { .. }) {
            st.queued -= len;
            self.changed.notify(&mut *st);
            return;
        }
        st.on_socket = OnSocket::Writer;
        drop(st);
        let sent = match &piece {
            Piece::Wire(bytes) => self.socket.send_sealed(bytes, deadline.at),
            Piece::Plain(plain) => self.socket.send(plain, deadline.at),
        };
        let mut st = self.lock();
        st.on_socket = OnSocket::Nobody;
        st.queued -= len;
        self.changed.notify(&mut *st);
        if let Err(e) = sent {
            let err = self.send_error(e, deadline);
            log::debug!("connection {}: {err}", self.id);
            let _ = self.fail(st, err);
        }
    }

    /// When the writer thread is the finisher and nothing is left to send: close_notify and
    /// FIN. Returns the watch to keep afterwards, if it did.
    fn finish_by_writer(&self) -> Option<Duration> {
        let st = self.lock();
        let Stage::Closing {
            finisher: Finisher::Writer { watch },
        } = st.stage
        else {
            return None;
        };
        if !st.is_idle() {
            return None;
        }
        self.send_fin(st, OnSocket::Writer, self.deadline(Limit::WriteTimeout));
        Some(watch)
    }

    // ---- deadlines and errors ----

    /// A new write's deadline: its timeout (`limit`) from now, never past the end of
    /// `max_lifetime`.
    fn deadline(&self, limit: Limit) -> Deadline {
        let timeout = match limit {
            Limit::Given(t) => Some(t),
            Limit::WriteTimeout | Limit::Lifetime => self.settings.write_timeout,
        };
        let by_timeout = timeout.map(|t| Instant::now() + t);
        let ends = self
            .settings
            .max_lifetime
            .map(|life| self.socket.born() + life);
        match (by_timeout, ends) {
            (Some(t), Some(e)) if e < t => Deadline {
                at: Some(e),
                by: Limit::Lifetime,
            },
            (None, Some(e)) => Deadline {
                at: Some(e),
                by: Limit::Lifetime,
            },
            (t, _) => Deadline { at: t, by: limit },
        }
    }

    /// Which limit the deadline is: "within the write_timeout of 1s".
    fn deadline_text(&self, deadline: Deadline) -> String {
        match (
            deadline.by,
            self.settings.max_lifetime,
            self.settings.write_timeout,
        ) {
            (Limit::Lifetime, Some(life), _) => {
                format!("before the connection's max_lifetime of {life:?} ended")
            }
            (Limit::Given(t), _, _) => format!("within the write's timeout of {t:?}"),
            (_, _, Some(t)) => format!("within the write_timeout of {t:?}"),
            _ => "in time".to_string(),
        }
    }

    fn timeout(&self, deadline: Deadline, what: &str) -> Error {
        Error::with(
            ErrorKind::Timeout,
            self.context(),
            format!("timed out: {what} {}", self.deadline_text(deadline)),
        )
    }

    fn send_error(&self, e: std::io::Error, deadline: Deadline) -> Error {
        if e.kind() == std::io::ErrorKind::TimedOut {
            if let (false, Some(idle)) = (deadline.passed(), self.settings.idle_timeout) {
                return Error::with(
                    ErrorKind::Timeout,
                    self.context(),
                    format!("timed out: the peer took no bytes for the idle_timeout of {idle:?}"),
                );
            }
            self.timeout(deadline, "the peer did not take the bytes")
        } else {
            Error::io(self.context(), e)
        }
    }

    fn closed(&self) -> Error {
        Error::with(ErrorKind::Closed, self.context(), "connection is closed")
    }

    fn context(&self) -> String {
        format!("write to {}", self.peer)
    }
}
