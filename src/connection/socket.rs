//! `Socket`: the stream socket (TCP or Unix) of one accepted connection, with its TLS session when the
//! listener is secured, and the clock of its last traffic (for the idle timeout).
//!
//! Everything here is a single socket operation with a deadline; who may call what, and
//! when, is decided by the write/close state machine (`outbound.rs`) and the read side
//! (`inbound.rs`).

use std::io;
use std::net::Shutdown;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::net;
use crate::sock::Sock;
use crate::stats::Counters;
use crate::timeout::AtomicTimeout;
use std::sync::Arc;

#[derive(Debug)]
pub(crate) struct Socket {
    stream: Sock,
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::ServerSession>>,
    /// The socket's send timeout as the last send left it (sends take turns, so only one
    /// thread at a time reads and changes it).
    send_timeout: AtomicTimeout,
    born: Instant,
    /// The listener's `idle_timeout`: a send that moves no byte for this long gives up.
    idle_timeout: Option<Duration>,
    /// Milliseconds after `born` of the last byte read or written; kept only with an idle
    /// timeout (it costs a clock read).
    last_activity: Option<AtomicU64>,
    counters: Arc<Counters>,
}

impl Socket {
    pub(crate) fn new(
        stream: Sock,
        #[cfg(feature = "tls")] tls: Option<Box<crate::tls::ServerSession>>,
        write_timeout: Option<Duration>,
        idle_timeout: Option<Duration>,
        counters: Arc<Counters>,
    ) -> Socket {
        Socket {
            stream,
            #[cfg(feature = "tls")]
            tls,
            send_timeout: AtomicTimeout::new(write_timeout),
            born: Instant::now(),
            idle_timeout,
            last_activity: idle_timeout.map(|_| AtomicU64::new(0)),
            counters,
        }
    }

    pub(crate) fn stream(&self) -> &Sock {
        &self.stream
    }

    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The TLS session, on a secured connection.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(&self) -> Option<&crate::tls::ServerSession> {
        self.tls.as_deref()
    }

    pub(crate) fn born(&self) -> Instant {
        self.born
    }

    /// Records traffic, for the idle timeout.
    pub(crate) fn touch(&self) {
        if let Some(last) = &self.last_activity {
            last.store(self.age_ms(), Relaxed);
        }
    }

    /// When the connection will have been idle for the idle timeout, if it has one.
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        let last = self.last_activity.as_ref()?.load(Relaxed);
        Some(self.born + Duration::from_millis(last) + self.idle_timeout?)
    }

    fn age_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends all of `data` (plaintext; with TLS sealed on the way, a bounded amount at a
    /// time), blocking until the socket has taken it or `deadline` passes. An empty `data`
    /// sends only the records the TLS session has waiting.
    pub(crate) fn send(&self, data: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut rest = data;
            let mut records = Vec::new();
            loop {
                records.clear();
                let sealed = tls.seal_send(rest, &self.stream, &mut records)?;
                self.sent_now(sealed.sent);
                self.send_sealed(&records, deadline)?;
                rest = &rest[sealed.taken..];
                if rest.is_empty() {
                    return Ok(());
                }
            }
        }
        self.send_sealed(data, deadline)
    }

    /// Counts `sent` bytes that a send without waiting moved.
    fn sent_now(&self, sent: usize) {
        if sent > 0 {
            self.touch();
            self.counters.bytes_out(sent);
        }
    }

    /// Sends bytes as they are (plain data, or records already sealed), blocking until the
    /// socket has taken them, `deadline` passes, or (with an idle timeout) the peer has
    /// taken nothing for the idle timeout: each byte taken is traffic.
    pub(crate) fn send_sealed(&self, bytes: &[u8], deadline: Option<Instant>) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let until = || match (deadline, self.idle_deadline()) {
            (Some(d), Some(idle)) => Some(d.min(idle)),
            (d, idle) => d.or(idle),
        };
        let mut timeout = self.send_timeout.get();
        let sent = net::send_all_until(&self.stream, bytes, &until, &|| self.touch(), &mut timeout);
        self.send_timeout.set(timeout);
        // What a failed send moved is lost to the count; the connection fails anyway.
        if sent.is_ok() {
            self.counters.bytes_out(bytes.len());
        }
        sent
    }

    /// Sends what the socket takes at once, without blocking. Returns how much of `data`
    /// is gone and, with TLS, the records sealed but not taken (they must go next).
    pub(crate) fn send_now(&self, data: &[u8]) -> io::Result<(usize, Vec<u8>)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut used = 0;
            let mut records = Vec::new();
            loop {
                let sealed = tls.seal_send(&data[used..], &self.stream, &mut records)?;
                used += sealed.taken;
                self.sent_now(sealed.sent);
                if !records.is_empty() || used == data.len() {
                    return Ok((used, records));
                }
            }
        }
        let sent = net::send_now(&self.stream, data)?;
        self.sent_now(sent);
        Ok((sent, Vec::new()))
    }

    /// Whether the TLS session has records of its own to send (an alert, a key update).
    pub(crate) fn has_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.has_pending();
        }
        false
    }

    /// Whether input waits to be read: bytes, the peer's end of stream, or an error.
    pub(crate) fn has_input(&self) -> bool {
        net::has_input(&self.stream)
    }

    /// What to send last, before FIN: TLS's close_notify alert, nothing for plain TCP.
    pub(crate) fn close_notify(&self) -> Vec<u8> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.close_notify();
        }
        Vec::new()
    }

    pub(crate) fn shutdown(&self, how: Shutdown) {
        let _ = self.stream.shutdown(how);
    }
}
