//! The connection thread, one per accepted connection. It runs `on_connect`, then reads
//! and calls `on_bytes` for each piece in arrival order, writing replies back; at the end it
//! closes in order — `on_error` if something failed, flush, FIN, `on_close` (exactly once),
//! then drain the peer's input. Every callback is guarded: a panic closes this connection only.

use std::any::Any;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::caller::Caller;
use super::inbound::Inbound;
use super::Connection;
use crate::error::{Error, ErrorKind};
use crate::net;
use crate::reply::Reply;
use crate::service::{ConnectionService, DynService};

/// How a connection's serving ended, which decides how it is closed.
#[derive(Debug)]
enum End {
    /// The peer closed its side (end of stream): send what is queued, then FIN.
    PeerClosed,
    /// A close was asked for on this side. `eof`: the peer's end of stream was seen already.
    Local { eof: bool },
    /// Something failed; `on_error` runs. `usable`: the socket still works, so what is
    /// queued is sent and the close is orderly.
    Failed { error: Error, usable: bool },
    /// Closed by force (a stop, or after a failed write reported already): nothing more
    /// is sent.
    Forced,
}

/// The body of a connection thread.
pub(crate) fn run(conn: &Arc<Connection>, service: &dyn DynService) {
    conn.set_owner();
    log::debug!(
        "connection {} accepted from {} on {}",
        conn.id,
        conn.peer,
        conn.local
    );
    if !handshake(conn) {
        return;
    }
    let caller = Caller::new(conn);
    if conn.out.begin_connect() {
        connected(conn, &caller, service);
    } else {
        // Closed (by a stop) before any callback could run: close without one.
        close_quietly(conn);
    }
    conn.out.stop_writer();
    log::debug!("connection {} from {} closed", conn.id, conn.peer);
}

/// From `on_connect` to `on_close`.
fn connected(conn: &Arc<Connection>, caller: &Caller, service: &dyn DynService) {
    let accepted = guarded(conn, "on_connect", || service.on_connect(caller)).and_then(|r| r);
    let mut handler = match accepted {
        Ok(handler) => handler,
        Err(err) => {
            log::warn!("connection {} from {} refused: {err}", conn.id, conn.peer);
            close_quietly(conn);
            return;
        }
    };
    let end = serve(conn, caller, handler.as_mut());
    if let End::Failed { error, .. } = &end {
        log::debug!("connection {}: {error}", conn.id);
        let _ = guarded(conn, "on_error", || handler.on_error(caller, error))
            .map_err(|e| log::warn!("{e}"));
    }
    let drain = shut(conn, &end);
    let _ = guarded(conn, "on_close", || handler.on_close(caller)).map_err(|e| log::warn!("{e}"));
    if drain {
        drain_input(conn);
    }
}

/// Closes a connection that has no service: FIN after what was written, then the drain.
fn close_quietly(conn: &Connection) {
    if shut(conn, &End::Local { eof: false }) {
        drain_input(conn);
    }
}

/// Runs the TLS handshake, if the listener is secured, before any callback: a client
/// that fails it (or is too slow) is closed without reaching the service.
fn handshake(conn: &Arc<Connection>) -> bool {
    #[cfg(feature = "tls")]
    if let Some(session) = conn.socket().tls() {
        let context = format!("accept TLS connection {} from {}", conn.id, conn.peer);
        let stream = conn.socket().stream();
        match session.handshake(stream, &context) {
            Ok(info) => {
                let _ = conn.tls_info.set(Arc::new(info));
                // Back to the listener's own timeouts.
                let _ = stream.set_read_timeout(None);
                let _ = stream.set_write_timeout(conn.settings.write_timeout);
            }
            Err(err) => {
                log::warn!("{err}");
                return false;
            }
        }
    }
    let _ = conn;
    true
}

/// Reads and dispatches until the connection ends.
fn serve(conn: &Arc<Connection>, caller: &Caller, handler: &mut dyn ConnectionService) -> End {
    let mut inbound = Inbound::new(conn.settings.read_buffer_size);
    let mut timer = ReadTimer::new(conn);
    conn.socket().touch();
    if !conn.out.leave_callback() {
        return stopped(conn); // closed during on_connect
    }
    let mut after_timeout = false;
    loop {
        if let Err(e) = timer.arm(conn, after_timeout) {
            return failed(conn, read_error_of(conn, e), false);
        }
        let data = match inbound.read(conn) {
            Ok(None) => return end_of_input(conn, caller, handler),
            Ok(Some(data)) => data,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if net::is_timeout(&e) && timer.is_armed() => {
                if let Some(error) = timer.expired(conn) {
                    return failed(conn, error, true);
                }
                after_timeout = true;
                continue;
            }
            Err(e) => return read_error(conn, e),
        };
        after_timeout = false;
        conn.socket().touch();
        if let Some(error) = timer.lifetime_over(conn) {
            // A peer that never lets a read time out still meets its lifetime.
            return failed(conn, error, true);
        }
        if !conn.out.enter_callback() {
            // A close began while we waited: these bytes are part of the drain.
            return stopped(conn);
        }
        let outcome = guarded(conn, "on_bytes", || handler.on_bytes(caller, data));
        let written = match outcome {
            Ok(Ok(Reply::None)) => Ok(()),
            Ok(Ok(Reply::Echo)) => conn.reply(data),
            Ok(Ok(Reply::Bytes(bytes))) => conn.reply(&bytes),
            Ok(Err(err)) | Err(err) => return failed(conn, err, true),
        };
        let end = written.err().map(|err| failed(conn, err, false));
        if let Some(end) = end {
            return end;
        }
        if !conn.out.leave_callback() {
            return stopped(conn);
        }
    }
}

/// A close from elsewhere stopped the serving: an orderly one, or by force.
fn stopped(conn: &Connection) -> End {
    match conn.out.take_failure() {
        Some(first) => End::Failed {
            error: first,
            usable: false,
        },
        None if conn.out.is_aborted() => End::Forced,
        None => End::Local { eof: false },
    }
}

/// A failure, preferring the first write failure recorded on the connection (it says
/// why the connection was aborted). A close by a stop is not a failure.
fn failed(conn: &Connection, error: Error, usable: bool) -> End {
    match conn.out.take_failure() {
        Some(first) => End::Failed {
            error: first,
            usable: false,
        },
        None if conn.out.is_aborted() => End::Forced,
        None => End::Failed { error, usable },
    }
}

/// The peer finished sending: `on_eof` (unless a close began), then the close.
fn end_of_input(
    conn: &Arc<Connection>,
    caller: &Caller,
    handler: &mut dyn ConnectionService,
) -> End {
    if !conn.out.enter_callback() {
        return end_of_stream(conn);
    }
    let outcome = guarded(conn, "on_eof", || handler.on_eof(caller));
    conn.out.leave_callback();
    match outcome {
        Ok(Ok(())) => end_of_stream(conn),
        Ok(Err(err)) | Err(err) => failed(conn, err, true),
    }
}

fn end_of_stream(conn: &Connection) -> End {
    match stopped(conn) {
        End::Local { .. } if conn.out.is_closing() => End::Local { eof: true },
        End::Local { .. } => End::PeerClosed,
        other => other,
    }
}

fn read_error(conn: &Connection, e: io::Error) -> End {
    if conn.out.is_closing() && !conn.out.is_aborted() {
        // The peer reset while we were closing (a failed write would have aborted the
        // connection): nothing left to report or send.
        return End::Local { eof: true };
    }
    failed(conn, read_error_of(conn, e), false)
}

fn read_error_of(conn: &Connection, e: io::Error) -> Error {
    Error::io(format!("read from {}", conn.peer), e)
}

/// Closes our side as `end` requires: what is queued is sent, then FIN. Returns whether the
/// input should then be drained (read and discarded for up to the drain timeout), so that
/// dropping the socket never answers unread input with a reset.
fn shut(conn: &Connection, end: &End) -> bool {
    let (flush, drain) = match end {
        End::PeerClosed => (true, false),
        End::Local { eof } => (true, !eof),
        End::Failed { usable, .. } => (*usable, *usable),
        End::Forced => (false, false),
    };
    if !flush {
        conn.abort();
        return false;
    }
    if let Err(err) = conn.out.finish() {
        log::warn!("connection {}: {err}; closing at once", conn.id);
        conn.abort();
        return false;
    }
    drain && !conn.out.is_aborted()
}

fn drain_input(conn: &Connection) {
    let deadline = Instant::now() + conn.settings.drain_timeout;
    let mut stream = conn.socket().stream();
    let mut scratch = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

/// Keeps the socket's read timeout at what the idle timeout and the lifetime allow.
struct ReadTimer {
    idle: Option<Duration>,
    ends: Option<Instant>,
    /// What `SO_RCVTIMEO` is set to now, to avoid a system call per read.
    current: Option<Duration>,
}

impl ReadTimer {
    fn new(conn: &Connection) -> ReadTimer {
        ReadTimer {
            idle: conn.settings.idle_timeout,
            ends: conn.settings.max_lifetime.map(|t| conn.socket().born() + t),
            current: None,
        }
    }

    fn is_armed(&self) -> bool {
        self.current.is_some()
    }

    /// Sets the read timeout for the next read. Right after a timeout that was not yet
    /// the idle limit (writes kept the connection busy), only the rest of it is waited.
    fn arm(&mut self, conn: &Connection, after_timeout: bool) -> io::Result<()> {
        let mut wanted = self.idle.map(|idle| {
            if after_timeout {
                idle.saturating_sub(conn.socket().idle_for())
            } else {
                idle
            }
        });
        if let Some(ends) = self.ends {
            let left = ends.saturating_duration_since(Instant::now());
            wanted = Some(wanted.map_or(left, |w| w.min(left)));
        }
        // A zero timeout means "block forever" to the OS; never ask for it.
        let wanted = wanted.map(|w| w.max(Duration::from_millis(1)));
        if wanted != self.current {
            conn.socket().stream().set_read_timeout(wanted)?;
            self.current = wanted;
        }
        Ok(())
    }

    /// The error to report if the lifetime is over.
    fn lifetime_over(&self, conn: &Connection) -> Option<Error> {
        let ends = self.ends?;
        if Instant::now() < ends {
            return None;
        }
        let message = format!(
            "connection reached its max_lifetime of {:?}",
            ends - conn.socket().born()
        );
        Some(Error::with(
            ErrorKind::Timeout,
            format!("read from {}", conn.peer),
            message,
        ))
    }

    /// The error to report if a limit has been reached.
    fn expired(&self, conn: &Connection) -> Option<Error> {
        if let Some(error) = self.lifetime_over(conn) {
            return Some(error);
        }
        let context = format!("read from {}", conn.peer);
        match self.idle {
            Some(idle) if conn.socket().idle_for() >= idle => Some(Error::with(
                ErrorKind::Timeout,
                context,
                format!("no traffic for the idle_timeout of {idle:?}"),
            )),
            _ => None,
        }
    }
}

/// Runs a callback, turning a panic into an error of kind `Panic`.
fn guarded<T>(conn: &Connection, callback: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        Error::with(
            ErrorKind::Panic,
            format!("{callback} for connection {} from {}", conn.id, conn.peer),
            format!("panicked: {}", panic_message(payload.as_ref())),
        )
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a non-string payload".to_string()
    }
}
