//! The connection thread, one per accepted connection. It runs `on_connect`, then reads
//! and calls `on_bytes` for each piece in arrival order, writing replies back; at the end it
//! closes in order — `on_error` if something failed, flush, FIN, `on_close` (exactly once),
//! then drain the peer's input. Every callback is guarded: a panic closes this connection only.

use std::any::Any;
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use super::caller::Caller;
use super::inbound::Inbound;
use super::limits;
use super::outbound::Next;
use super::stream::Stream;
use super::{CloseBy, Connection};
use crate::error::{Error, ErrorKind};
use crate::net;
use crate::reply::Reply;
use crate::service::{report_error, ConnectionService, DynService, Handler, Serving};
use crate::stats::Cause;

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
pub(crate) fn run(conn: &Arc<Connection>, serving: &Serving) {
    conn.set_owner();
    log::debug!(
        "connection {} accepted from {} on {}",
        conn.id,
        conn.label(),
        conn.local
    );
    if !proxy_header(conn) || !handshake(conn) {
        return;
    }
    let caller = Caller::new(conn);
    let began = match serving {
        Serving::Callbacks(service) => conn.out.begin_connect().then(|| {
            connected(conn, &caller, &**service);
        }),
        Serving::Streams(handler) => conn.out.begin_stream().then(|| {
            streamed(conn, &caller, &**handler);
        }),
    };
    if began.is_none() {
        // Closed (by a stop) before any callback could run: close without one.
        conn.counters().refused();
        close_quietly(conn);
    }
    conn.out.stop_writer();
    log::debug!("connection {} from {} closed", conn.id, conn.label());
}

/// From `on_connect` to `on_close`.
fn connected(conn: &Arc<Connection>, caller: &Caller, service: &dyn DynService) {
    let accepted = guarded(conn, "on_connect", || service.on_connect(caller)).and_then(|r| r);
    let mut handler = match accepted {
        Ok(handler) => handler,
        Err(err) => {
            log::warn!(
                "connection {} from {} refused: {err}",
                conn.id,
                conn.label()
            );
            conn.counters().refused();
            close_quietly(conn);
            return;
        }
    };
    let end = serve(conn, caller, handler.as_mut());
    close(conn, caller, handler.as_mut(), end);
}

/// From the end of serving to `on_close`. Not inlined, as `handshake`.
#[inline(never)]
fn close(conn: &Arc<Connection>, caller: &Caller, handler: &mut dyn ConnectionService, end: End) {
    conn.counters().closed(cause(conn, &end));
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

/// A stream handler's whole run: the handler, then the close (what it wrote is sent, FIN,
/// the peer's input drained).
#[inline(never)] // a callback connection's stack does not hold its frame
fn streamed(conn: &Arc<Connection>, caller: &Caller, handler: &Handler) {
    let mut stream = Stream::new(conn, caller);
    let outcome = guarded(conn, "the stream handler", || handler(&mut stream));
    let end = match outcome {
        Ok(Ok(())) if conn.out.is_aborted() => stopped(conn),
        Ok(Ok(())) => End::Local {
            eof: stream.saw_eof(),
        },
        Ok(Err(err)) | Err(err) => failed(conn, err, true),
    };
    conn.counters().closed(cause(conn, &end));
    if let End::Failed { error, .. } = &end {
        // What the default on_error does: a trace a beginner sees.
        report_error(caller, error);
    }
    if shut(conn, &end) {
        drain_input(conn);
    }
}

/// What closed the connection, for the listener's stats.
fn cause(conn: &Connection, end: &End) -> Cause {
    let by_stop = conn.out.asked_by().is_some_and(CloseBy::is_stop);
    match end {
        End::PeerClosed => Cause::Peer,
        End::Local { .. } | End::Forced if by_stop => Cause::Stop,
        End::Local { .. } => Cause::Local,
        End::Forced => Cause::Stop,
        End::Failed { error, .. } => match error.kind() {
            ErrorKind::Timeout => Cause::Timeout,
            ErrorKind::Panic => Cause::Panic,
            _ => Cause::Error,
        },
    }
}

/// Closes a connection that has no service: FIN after what was written, then the drain.
fn close_quietly(conn: &Connection) {
    if shut(conn, &End::Local { eof: false }) {
        drain_input(conn);
    }
}

/// Reads the PROXY header, if the listener reads them, before anything else: a connection
/// without a valid one is refused (closed, and counted).
#[inline(never)] // as `handshake`
fn proxy_header(conn: &Connection) -> bool {
    let Some(timeout) = conn.settings.proxy_header_timeout else {
        return true;
    };
    match super::proxy_header::read(conn, timeout) {
        Ok(Some(client)) => {
            let _ = conn.client.set(Box::new(client));
            true
        }
        Ok(None) => true,
        Err(err) => {
            log::warn!("{err}; connection refused");
            conn.counters().refused();
            false
        }
    }
}

/// Runs the TLS handshake, if the listener is secured, before any callback: a client
/// that fails it (or is too slow) is closed without reaching the service. Not inlined:
/// its frame is given back before the connection is served, so that an idle
/// connection's stack stays small.
#[inline(never)]
fn handshake(conn: &Arc<Connection>) -> bool {
    #[cfg(feature = "tls")]
    if let Some(session) = conn.socket().tls() {
        let context = format!("accept TLS connection {} from {}", conn.id, conn.label());
        let stream = conn.socket().stream();
        match session.handshake(stream, conn.settings.write_timeout, &context) {
            Ok(info) => {
                let _ = conn.tls_info.set(Arc::new(info));
            }
            Err(err) => {
                log::warn!("{err}");
                conn.counters().tls_handshake_failed();
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
    conn.socket().touch();
    if let Err(e) = inbound.prime(conn) {
        return read_error(conn, e);
    }
    // Set once a graceful stop came: what is left of the input that had arrived by then.
    let mut last: Option<LastInput> = None;
    let mut next = conn.out.leave_callback(inbound.buffered());
    loop {
        match next {
            Next::Serve => {}
            Next::Close => return stopped(conn),
            Next::LastInput => {
                let pass = last.get_or_insert_with(|| LastInput::new(conn));
                if !pass.more(conn, &inbound) {
                    conn.out.end_last_input();
                    return stopped(conn);
                }
            }
        }
        let deadline = match &last {
            Some(pass) => Some(pass.until),
            None => limits::read_deadline(conn),
        };
        let data = match inbound.read(conn, deadline) {
            Ok(None) => return end_of_input(conn, caller, handler),
            Ok(Some(data)) => data,
            Err(e) if net::is_timeout(&e) && last.is_some() => {
                // The drain timeout is over: a slow service, or the rest of a TLS record
                // that had begun to arrive never came.
                conn.out.end_last_input();
                return stopped(conn);
            }
            Err(e) if net::is_timeout(&e) => match limits::passed(conn) {
                Some(error) => return failed(conn, error, true),
                None => continue, // traffic moved the deadline on
            },
            Err(e) => return read_error(conn, e),
        };
        conn.socket().touch();
        if let Some(error) = limits::lifetime_over(conn) {
            // A peer that never lets a read time out still meets its lifetime.
            return failed(conn, error, true);
        }
        if let Some(pass) = &mut last {
            pass.taken += data.len();
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
        if let Err(err) = written {
            return failed(conn, err, false);
        }
        next = conn.out.leave_callback(inbound.buffered());
    }
}

/// The last input of a connection a graceful stop closes: what had arrived when its close
/// began (when the stop came, or when the callback running then returned) is still served,
/// its replies sent. Bounded by what could be waiting in the socket then, so that a peer
/// that keeps sending cannot hold the close, and by the drain timeout (a slow service, a
/// TLS record whose rest never comes).
#[derive(Debug)]
struct LastInput {
    /// Input read in this pass.
    taken: usize,
    /// The most it reads.
    most: usize,
    /// The deadline of its reads.
    until: Instant,
}

impl LastInput {
    fn new(conn: &Connection) -> LastInput {
        LastInput {
            taken: 0,
            most: net::most_waiting(conn.socket().stream()),
            until: Instant::now() + conn.settings.drain_timeout,
        }
    }

    /// Whether there is more of it to serve: input read already and not handed out, or
    /// input waiting on the socket.
    fn more(&self, conn: &Connection, inbound: &Inbound) -> bool {
        inbound.buffered() || (self.taken < self.most && conn.socket().has_input())
    }
}

/// A close from elsewhere stopped the serving: an orderly one, or by force.
#[cold]
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
/// why the connection was aborted), unless that write found the pipe broken because the
/// peer reset the connection and this read is the one the socket told: then the reset
/// says why. A close by a stop is not a failure.
#[cold]
fn failed(conn: &Connection, error: Error, usable: bool) -> End {
    match conn.out.take_failure() {
        Some(first) if first.kind() == ErrorKind::Closed && error.kind() == ErrorKind::Reset => {
            End::Failed {
                error,
                usable: false,
            }
        }
        Some(first) => End::Failed {
            error: first,
            usable: false,
        },
        None if conn.out.is_aborted() => End::Forced,
        None => End::Failed { error, usable },
    }
}

/// The peer finished sending: `on_eof` (unless a close began), then the close.
#[cold]
fn end_of_input(
    conn: &Arc<Connection>,
    caller: &Caller,
    handler: &mut dyn ConnectionService,
) -> End {
    if !conn.out.enter_callback() {
        return end_of_stream(conn);
    }
    let outcome = guarded(conn, "on_eof", || handler.on_eof(caller));
    conn.out.leave_callback(false);
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

#[cold]
fn read_error(conn: &Connection, e: io::Error) -> End {
    if conn.out.is_closing() && !conn.out.is_aborted() {
        // The peer reset while we were closing (a failed write would have aborted the
        // connection): nothing left to report or send.
        return End::Local { eof: true };
    }
    failed(conn, read_error_of(conn, e), false)
}

fn read_error_of(conn: &Connection, e: io::Error) -> Error {
    Error::io(format!("read from {}", conn.label()), e)
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

#[inline(never)] // its scratch buffer stays off `run`'s frame
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

/// Runs a callback, turning a panic into an error of kind `Panic`.
fn guarded<T>(conn: &Connection, callback: &str, f: impl FnOnce() -> T) -> Result<T, Error> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        Error::with(
            ErrorKind::Panic,
            format!(
                "{callback} for connection {} from {}",
                conn.id,
                conn.label()
            ),
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
