//! The connection's own time limits — `idle_timeout` and `max_lifetime` — as the deadline
//! of its next read, and the errors that say which one passed. Reads in callbacks and in
//! stream handlers both wait by these.

use std::time::Instant;

use super::Connection;
use crate::error::{Error, ErrorKind};

/// The earliest of the idle deadline (the last traffic plus `idle_timeout`) and the end of
/// `max_lifetime`. Writes are traffic too, so the idle deadline moves while a read waits:
/// a read that times out asks again.
pub(crate) fn read_deadline(conn: &Connection) -> Option<Instant> {
    match (conn.socket().idle_deadline(), lifetime_end(conn)) {
        (Some(idle), Some(end)) => Some(idle.min(end)),
        (idle, end) => idle.or(end),
    }
}

fn lifetime_end(conn: &Connection) -> Option<Instant> {
    conn.settings
        .max_lifetime
        .map(|life| conn.socket().born() + life)
}

/// The error to report if the lifetime is over.
pub(crate) fn lifetime_over(conn: &Connection) -> Option<Error> {
    let life = conn.settings.max_lifetime?;
    if Instant::now() < lifetime_end(conn)? {
        return None;
    }
    Some(Error::with(
        ErrorKind::Timeout,
        format!("read from {}", conn.label()),
        format!("connection reached its max_lifetime of {life:?}"),
    ))
}

/// The error to report if a limit has passed: the lifetime, or the idle timeout.
pub(crate) fn passed(conn: &Connection) -> Option<Error> {
    if let Some(error) = lifetime_over(conn) {
        return Some(error);
    }
    let idle = conn.settings.idle_timeout?;
    if Instant::now() < conn.socket().idle_deadline()? {
        return None;
    }
    Some(Error::with(
        ErrorKind::Timeout,
        format!("read from {}", conn.label()),
        format!("no traffic for the idle_timeout of {idle:?}"),
    ))
}
