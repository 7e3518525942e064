//! Stopping a running listener — gracefully or at once — from the `Listener`, from a
//! [`StopHandle`] on any thread, or from inside one of its own callbacks; and waiting for a
//! stop (`serve`). `Control` is the running state the listener and its handles share.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::live::Live;
use crate::addr::Addr;
use crate::error::{Error, ErrorKind, Result};
use crate::sock::ListenSock;
use crate::stats::{Counters, Stats};

/// How long a stop waits, after closing connections by force, for their threads to leave
/// the callbacks they are in and run `on_close`.
const FORCE_GRACE: Duration = Duration::from_secs(2);

/// What a running listener has: its socket, and its connections and worker threads.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) socket: Arc<ListenSock>,
    pub(crate) live: Arc<Live>,
}

#[derive(Debug)]
enum State {
    Stopped,
    Running(Running),
    /// A stop is under way (on some thread), closing these connections; other stops wait
    /// for it (see [`Control::begin_stop`]).
    Stopping(Arc<Live>),
}

/// What [`Control::begin_stop`] found.
enum Begin {
    /// The listener runs: this stop stops it.
    Stop(Running),
    /// Nothing left for this stop to do; it returns this.
    Done(Result<()>),
}

/// The running state of a listener, shared with its stop handles.
#[derive(Debug)]
pub(crate) struct Control {
    addr: Addr,
    drain_timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
    /// The connections of the last stop, kept for `serve`: a stop called from inside a
    /// callback returns before that callback's connection has ended.
    stopped: Mutex<Option<Arc<Live>>>,
    counters: Arc<Counters>,
}

impl Control {
    pub(crate) fn new(addr: Addr, drain_timeout: Duration) -> Control {
        Control {
            addr,
            drain_timeout,
            state: Mutex::new(State::Stopped),
            changed: Condvar::new(),
            stopped: Mutex::default(),
            counters: Arc::default(),
        }
    }

    /// The counters every connection of this listener adds to.
    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub(crate) fn stats(&self) -> Stats {
        self.counters.snapshot(self.connection_count())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `start`: the listener runs from now on. `false` if it is running (or stopping)
    /// already.
    pub(crate) fn run(&self, running: Running) -> std::result::Result<(), Running> {
        let mut state = self.lock();
        match *state {
            State::Stopped => {
                *state = State::Running(running);
                Ok(())
            }
            _ => Err(running),
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(*self.lock(), State::Running(_))
    }

    /// Whether the listener is running or on its way to stopping.
    pub(crate) fn is_busy(&self) -> bool {
        !matches!(*self.lock(), State::Stopped)
    }

    pub(crate) fn connection_count(&self) -> usize {
        match &*self.lock() {
            State::Running(running) => running.live.count(),
            _ => 0,
        }
    }

    /// `serve`: blocks until a stop has finished, and until the connections it did not
    /// wait for (its own, when called from a callback) have ended too — for at most the
    /// drain timeout and the forced close's grace.
    pub(crate) fn wait_stopped(&self) {
        let mut state = self.lock();
        while !matches!(*state, State::Stopped) {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        drop(state);
        let live = self
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(live) = live {
            live.wait_idle(Instant::now() + self.drain_timeout + FORCE_GRACE);
            live.join_finished();
        }
    }

    /// Takes the running state for a stop, or says what the stop returns without one. A
    /// stop under way on another thread is waited for, so that the listener has stopped
    /// when this returns — with two exceptions. An immediate stop (`now`) closes every
    /// connection of the stop under way by force and waits for them (not for that stop)
    /// as it would for its own. And a stop called from inside one of the listener's own
    /// callbacks returns at once: the stop under way cannot end before that callback has
    /// returned, and it closes the callback's connection then.
    fn begin_stop(&self, now: bool) -> Begin {
        let mut state = self.lock();
        loop {
            let live = match &*state {
                State::Stopped => return Begin::Done(Ok(())),
                State::Running(running) => {
                    let stopping = State::Stopping(Arc::clone(&running.live));
                    let State::Running(running) = std::mem::replace(&mut *state, stopping) else {
                        unreachable!("matched as running");
                    };
                    return Begin::Stop(running);
                }
                State::Stopping(live) => Arc::clone(live),
            };
            let in_callback = live.own_connection().is_some();
            if now || in_callback {
                drop(state);
                if now {
                    live.force_all();
                }
                if in_callback {
                    return Begin::Done(Ok(()));
                }
                let left = live.wait_idle(Instant::now() + FORCE_GRACE);
                return Begin::Done(self.outcome(left, "immediate stop of"));
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn end_stop(&self) {
        *self.lock() = State::Stopped;
        self.changed.notify_all();
    }

    /// See [`StopHandle::graceful_stop`].
    pub(crate) fn graceful_stop(&self, timeout: Duration) -> Result<()> {
        let running = match self.begin_stop(false) {
            Begin::Stop(running) => running,
            Begin::Done(outcome) => return outcome,
        };
        let deadline = Instant::now() + timeout;
        let live = stop_accepting(running);
        // Idle connections got FIN at once; give their peers the drain timeout to answer
        // with theirs (and those with input waiting as long to serve it). Busy ones finish
        // their callback, flush and drain on their own.
        let draining = live.close_all();
        let drained = Instant::now() + self.drain_timeout;
        if !draining.is_empty() && live.wait_idle(drained.min(deadline)) > 0 {
            live.force(&draining);
        }
        drop(draining);
        if live.wait_idle(deadline) > 0 {
            live.force_all();
        }
        self.finish_stop(&live, "graceful stop of")
    }

    /// See [`StopHandle::immediate_stop`].
    pub(crate) fn immediate_stop(&self) -> Result<()> {
        let running = match self.begin_stop(true) {
            Begin::Stop(running) => running,
            Begin::Done(outcome) => return outcome,
        };
        let live = stop_accepting(running);
        live.force_all();
        self.finish_stop(&live, "immediate stop of")
    }

    fn finish_stop(&self, live: &Arc<Live>, operation: &str) -> Result<()> {
        let left = live.wait_idle(Instant::now() + FORCE_GRACE);
        live.join_finished();
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(live));
        self.end_stop();
        self.outcome(left, operation)
    }

    /// What a stop returns when `left` connection threads are still inside callbacks after
    /// the forced close.
    fn outcome(&self, left: usize, operation: &str) -> Result<()> {
        if left > 0 {
            return Err(Error::with(
                ErrorKind::Timeout,
                format!("{operation} listener on {}", self.addr),
                format!("{left} connection threads still inside callbacks after the forced close"),
            ));
        }
        log::debug!("listener on {} stopped", self.addr);
        Ok(())
    }
}

/// Stops accepting: new connects are refused from here on, and the listening socket is
/// closed (its port is free for the next `start`). Workers waiting in `accept` or in a
/// back-off pause leave; the stop's waits join them.
pub(crate) fn stop_accepting(running: Running) -> Arc<Live> {
    let waiting = running.live.stop();
    running.socket.stop(waiting);
    running.live
}

/// Stops a listener from any thread: a cheap, cloneable, `Send + Sync` handle, for a
/// listener given to [`serve`](crate::Listener::serve) or watched by another thread (a
/// "shutdown" command, a signal handler thread).
///
/// Stopping a listener that is not running does nothing; a stop already under way on
/// another thread is waited for, and an `immediate_stop` first closes its connections by
/// force (a second Ctrl-C hurries the first). A stop called from inside one of the
/// listener's own callbacks does not wait for that callback's connection (which could not
/// end while it waits): that connection closes when its callback returns, its reply sent
/// first; and with another stop under way, it returns at once, leaving the rest to that
/// stop.
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, Client, ConnectionService, Error, Listener, Reply};
///
/// struct Echo;
/// impl ConnectionService for Echo {
///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
///         Ok(Reply::Echo)
///     }
/// }
///
/// let listener = Listener::bind("127.0.0.1:0")?;
/// let addr = listener.local_addr();
/// let stop = listener.stop_handle();
/// let server = std::thread::spawn(move || listener.serve(|_| Ok(Echo)));
///
/// let client = Client::connect(addr)?;
/// client.write_bytes(b"hi")?;
/// assert_eq!(client.read_bytes_exact(2)?, b"hi");
///
/// stop.graceful_stop(std::time::Duration::from_secs(5))?; // from this thread
/// server.join().unwrap()?; // serve has returned
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct StopHandle {
    pub(crate) control: Arc<Control>,
}

impl StopHandle {
    /// Stops gracefully: new connects are refused at once; every open connection sends
    /// what is queued (a callback already running finishes and its reply is sent), then
    /// closes in order and runs `on_close`; every thread is joined. Connections still open
    /// at `timeout` are closed by force.
    ///
    /// Input that has reached a connection when its close begins (when the stop comes, or
    /// when the callback running then returns) is still served: `on_bytes` gets it and its
    /// replies are sent, and a peer that had finished sending gets `on_eof`. At most what
    /// can be waiting in the socket (its receive buffer; for a Unix socket, what a sender's
    /// buffer holds), for at most the drain timeout, so that a peer that keeps sending
    /// cannot hold the stop; what arrives after that is drained. (A narrow race remains:
    /// when the stop finds a connection waiting for input, input its thread has read in
    /// that very instant, not yet given to `on_bytes`, is drained.)
    ///
    /// Returns within `timeout` plus at most 2 s; when it returns, no callback of the
    /// listener starts any more, but the `on_close` of a connection whose callback is still
    /// running then (it runs when that callback returns).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when some connection threads were still inside a callback
    /// 2 s after the forced close; they are left to finish on their own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> { Ok(Reply::None) }
    /// # }
    /// let mut listener = Listener::bind("127.0.0.1:0")?;
    /// listener.attach(|_| Ok(Silent))?;
    /// listener.start()?;
    /// let stop = listener.stop_handle();
    /// std::thread::spawn(move || stop.graceful_stop(std::time::Duration::from_secs(5)))
    ///     .join()
    ///     .unwrap()?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn graceful_stop(&self, timeout: Duration) -> Result<()> {
        self.control.graceful_stop(timeout)
    }

    /// Stops now: new connects are refused, every open connection is closed at once
    /// (what is queued is dropped), each runs `on_close`, and every thread is joined.
    /// Called from inside a callback, it closes that callback's own connection when the
    /// callback returns, its reply sent first, as described above.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when some connection threads were still inside a callback
    /// 2 s later; they are left to finish on their own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> { Ok(Reply::None) }
    /// # }
    /// let mut listener = Listener::bind("127.0.0.1:0")?;
    /// listener.attach(|_| Ok(Silent))?;
    /// listener.start()?;
    /// listener.stop_handle().immediate_stop()?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn immediate_stop(&self) -> Result<()> {
        self.control.immediate_stop()
    }

    /// Whether the listener is accepting connections.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert!(!listener.stop_handle().is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.control.is_running()
    }

    /// The listener's counters now, as [`Listener::stats`](crate::Listener::stats) gives
    /// them: for a server given to `serve` that reports on itself (a `/stats` page).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert_eq!(listener.stop_handle().stats().accepted, 0);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.control.stats()
    }
}
