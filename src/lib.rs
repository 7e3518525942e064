//! Ballerina's `tcp` package for Rust: a blocking TCP [`Client`], and a thread-per-connection
//! [`Listener`] that calls your [`Service`] and [`ConnectionService`] and hands them a
//! [`Caller`] to write back.
//!
//! It is plain blocking code over `std::net` sockets: no async runtime, a handful of small
//! dependencies, and behaviour you can read off the source. On Unix the same client and
//! listener also speak over Unix domain sockets: give them a path instead of an address
//! (see [`ToAddress`] and [`Addr`]).
//!
//! # A client
//!
//! ```
//! use synctcp::Client;
//! # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
//! # let port = server.local_addr()?.port();
//! # std::thread::spawn(move || { let (mut s, _) = server.accept().unwrap();
//! #     let _ = std::io::copy(&mut s.try_clone().unwrap(), &mut s); });
//!
//! let client = Client::connect(("localhost", port))?; // or "localhost:3000", a SocketAddr
//! client.write_bytes(b"Hello Ballerina")?;
//! let reply = client.read_bytes()?; // what has arrived, at least one byte
//! println!("{}", String::from_utf8_lossy(&reply));
//! client.close()?;
//! # Ok::<(), synctcp::Error>(())
//! ```
//!
//! # A listener
//!
//! ```
//! use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
//!
//! struct EchoService;
//!
//! impl ConnectionService for EchoService {
//!     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
//!         Ok(Reply::Echo) // returned bytes are written back: here, the bytes that came
//!     }
//!     fn on_close(&mut self, caller: &Caller) {
//!         println!("client {} left", caller.remote_addr());
//!     }
//! }
//!
//! let mut listener = Listener::bind("127.0.0.1:0")?; // or a port alone: every interface
//! listener.attach(|caller| {
//!     println!("client connected from {}", caller.remote_addr());
//!     Ok(EchoService)
//! })?;
//! listener.start()?;
//! // ... serve until it is time to stop (from any thread: `listener.stop_handle()`):
//! listener.graceful_stop(std::time::Duration::from_secs(5))?;
//! # Ok::<(), synctcp::Error>(())
//! ```
//!
//! # Ballerina's names and ours
//!
//! | Ballerina | synctcp |
//! |---|---|
//! | `new tcp:Client(host, port, config)` | [`Client::connect`]`((host, port))`, [`Client::connect_with`] + [`ClientConfig`] |
//! | `client->writeBytes`, `readBytes`, `close` | [`Client::write_bytes`], [`Client::read_bytes`], [`Client::close`] |
//! | `new tcp:Listener(port, {localHost})` | [`Listener::bind`]`(port)` or `((local_host, port))`, [`Listener::bind_with`] + [`ListenerConfig`] |
//! | `attach`, `start`, `gracefulStop`, `immediateStop`, `detach` | [`Listener::attach`], [`start`](Listener::start), [`graceful_stop`](Listener::graceful_stop), [`immediate_stop`](Listener::immediate_stop), [`detach`](Listener::detach); from any thread, a [`StopHandle`] |
//! | `tcp:Service.onConnect` | a closure given to `attach`, or [`Service::on_connect`] |
//! | `tcp:ConnectionService.onBytes`, `onError`, `onClose` | [`ConnectionService::on_bytes`] (returning a [`Reply`]), [`on_error`](ConnectionService::on_error), [`on_close`](ConnectionService::on_close); and [`on_eof`](ConnectionService::on_eof) |
//! | `tcp:Caller` (`remoteHost`, `remotePort`, `id`, `writeBytes`, `close`) | [`Caller`] |
//! | `tcp:Error` | [`Error`] with [`ErrorKind`] |
//!
//! # Mistakes the compiler catches
//!
//! A listener stops when it is dropped, and a client closes: both are `#[must_use]`, so a
//! server started and lost is a warning (an error under `deny`), not a silent stop:
//!
//! ```compile_fail
//! #![deny(unused_must_use)]
//! fn start_server() -> synctcp::Result<synctcp::Listener> {
//!     synctcp::Listener::bind("127.0.0.1:0")
//! }
//! fn main() -> synctcp::Result<()> {
//!     start_server()?; // error: unused `Listener` that must be used
//!     Ok(())
//! }
//! ```
//!
//! ```
//! #![deny(unused_must_use)]
//! fn start_server() -> synctcp::Result<synctcp::Listener> {
//!     synctcp::Listener::bind("127.0.0.1:0")
//! }
//! fn main() -> synctcp::Result<()> {
//!     let _server = start_server()?; // kept: it serves until `_server` goes
//!     Ok(())
//! }
//! ```
//!
//! # The threading model
//!
//! The listener accepts on a thread of its own. Each accepted connection gets a dedicated
//! thread that runs all of that connection's callbacks: `on_connect`, then `on_bytes` for
//! each piece of input in the order it arrived, `on_eof` when the peer has finished
//! sending, then `on_error` if something failed, then `on_close`. Everything written to the peer — bytes returned from `on_bytes` and
//! [`Caller::write_bytes`] from any thread — goes through one write path that keeps the
//! order of the writes:
//!
//! ```text
//!   peer ──bytes──► synctcp-conn-7 ── read ─► on_bytes(data) ── reply ──┐
//!                    (one thread,                                        │ queue empty:
//!                     all callbacks)                                     ├─ straight to the socket
//!   any thread ── caller.write_bytes ──► bounded write queue ◄──────────┘ otherwise
//!                                             │ (bytes; full: writer waits ≤ write_timeout)
//!                                             ▼
//!                                     synctcp-write-7 ──► socket ──► peer
//!                                     (started only when something must wait)
//! ```
//!
//! When nothing is queued, a reply goes straight to the socket from the connection's
//! thread, and a write from another thread sends what the socket takes at once: no thread
//! hand-off. Bytes that must wait go to a write queue bounded in bytes
//! ([`ListenerConfig::write_queue_bytes`]), drained by a writer thread that starts on first
//! need, so an idle connection costs one thread. Every write has one deadline,
//! [`ListenerConfig::write_timeout`] after the call (never past
//! [`ListenerConfig::max_lifetime`]), for its wait for room in the queue and for every send
//! of its bytes; past it the write gets an [`ErrorKind::Timeout`] error and the connection
//! closes: slow readers meet backpressure instead of growing memory.
//!
//! ## Guarantees, for one connection
//!
//! - Callbacks never overlap; `on_bytes` calls come in arrival order.
//! - No `on_bytes` before `on_connect` has returned.
//! - `on_close` runs exactly once for every connection `on_connect` accepted, whatever
//!   closed it: the peer, [`Caller::close`], an error, a timeout, a panic, a stop.
//! - An error returned from `on_bytes` goes to `on_error`, then the connection closes.
//! - A panic in a callback closes only that connection (`on_error` gets an
//!   [`ErrorKind::Panic`] error). With `panic = "abort"` in your profile a panic ends the
//!   process instead: there is nothing to catch.
//! - Closing loses nothing: what was written is sent, then FIN, then unread input is
//!   drained for up to [`ListenerConfig::drain_timeout`] before the socket is dropped, so
//!   the peer reads every reply and a clean end of stream rather than a reset.
//!
//! # The life of a listener
//!
//! 1. [`Listener::bind`] binds and listens (port 0 picks a free port); connects wait in the
//!    backlog.
//! 2. [`Listener::attach`] a service, then [`Listener::start`]: a few worker threads wait
//!    in `accept`, each serving the connection it takes on its own (`synctcp-conn-ID`),
//!    and `start` returns. [`Listener::serve`] does both and blocks, for small programs.
//! 3. [`Listener::graceful_stop`] refuses new connects at once, lets open connections send
//!    what is queued (a running callback finishes and its reply goes out), closes them in
//!    order, forces what is left at the deadline, and joins every thread.
//!    [`Listener::immediate_stop`] closes everything now, and so does dropping a running
//!    listener. When a stop returns no callback of that listener starts any more (but the
//!    `on_close` of a connection whose callback was still running 2 s after the forced
//!    close, which runs when that callback returns).
//! 4. [`Listener::detach`], attach another service, start again: same address, same port.
//!
//! # The life of a connection
//!
//! ```text
//!  accept ─► [TLS handshake] ─► on_connect ─► on_bytes … on_bytes ─► [on_eof] ─► [on_error] ─► on_close
//!                                   │ Err: refused, closed, no on_close
//! ```
//!
//! `on_eof` runs when the peer has finished sending (end of stream): the connection can
//! still be written to there, so a service answers a peer that sent a whole request and
//! shut down its sending side.
//!
//! It ends when the peer closes (end of stream), when [`Caller::close`] is called, when a
//! callback returns an error or panics, when a read or write fails or times out
//! ([`ListenerConfig::idle_timeout`], [`ListenerConfig::max_lifetime`],
//! [`ListenerConfig::write_timeout`]), or when the listener stops. Then: `on_error` if it
//! failed, queued bytes are sent, FIN, `on_close`, and the peer's input is drained for up
//! to [`ListenerConfig::drain_timeout`] before the socket is dropped.
//!
//! # Messages, not bytes
//!
//! TCP is a byte stream: `on_bytes` and [`Client::read_bytes`] get whatever pieces the
//! network delivered. The [`framing`] module finds whole messages — length-prefixed,
//! delimited, or your own format — on both sides ([`framing::Framed`],
//! [`Client::read_frame`]), with a maximum frame length that a peer cannot talk past.
//!
//! # Errors and timeouts
//!
//! Every operation returns [`Error`], whose message names the operation and the address
//! (`connect to localhost:3000: connection refused`), whose [`kind`](Error::kind) is for
//! matching, and whose `source()` reaches the `std::io::Error`. A closed, reset or
//! timed-out connection is an error value, never a panic or a hang. Client reads and
//! writes time out after 300 s by default (Ballerina's defaults), see [`ClientConfig`];
//! a listener's writes after 60 s, see [`ListenerConfig`].
//!
//! # Logging
//!
//! The crate logs through the [`log`](https://docs.rs/log) facade. It prints only one thing
//! itself: when no logger is installed, the default
//! [`on_error`](ConnectionService::on_error) prints the error to standard error, so that a
//! beginner's failing service is never silent (install a logger, or override `on_error`,
//! to silence it).
//!
//! | level | what |
//! |---|---|
//! | warn | refused or failed connections, accept errors being backed off, TLS handshake failures, callback panics, errors passed to the default `on_error` |
//! | debug | binds, connects, accepts, closes, stops |
//! | trace | nothing yet; payload bytes never appear above it |
//!
//! # Features
//!
//! - `tls` (off by default): TLS for [`Client`] and [`Listener`] over rustls, Ballerina's
//!   `secureSocket` — `ClientSecureSocket`, `ListenerSecureSocket`, `TlsInfo`, `Trust`
//!   (PEM trust files), `Revocation` (CRLs). Without it the crate depends on
//!   `crossbeam-channel`, `log` and `socket2` only.
//! - `tls-pkcs12`: PKCS#12 key stores and trust stores, `KeyStore` and `TrustStore`
//!   (Ballerina's `crypto:KeyStore`, `crypto:TrustStore`). Needs Rust 1.85.
//! - `tls-encrypted-keys`: password-protected PKCS#8 keys, `key_password` (Ballerina's
//!   `keyPassword`). Needs Rust 1.85.
//! - `tls-system-roots`: `Trust::system_roots`, the platform's trust store.
//! - `tls-webpki-roots`: `Trust::webpki_roots`, Mozilla's roots compiled in.
//!
//! Each of the last four turns on `tls`.
//!
//! - `peer-credentials`: `Caller::peer_credentials` and `Stream::peer_credentials`, a
//!   Unix socket peer's user, group and process (`PeerCredentials`; Linux and Android).
//!   It adds `rustix`, which reads them without unsafe code.
//!
//! A longer walk through for learners, from a first client to a framed chat server, is
//! `docs/GUIDE.md` in the repository.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Doc examples are copied by readers: they must compile without a warning (but for
// functions they define and do not call).
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod addr;
mod address;
mod buffer;
mod client;
mod connection;
mod error;
pub mod framing;
mod keepalive;
mod listener;
mod net;
mod proxy;
mod reply;
mod service;
mod signal;
mod sock;
mod stats;
mod timeout;
#[cfg(feature = "tls")]
mod tls;
mod turn;
#[cfg(unix)]
mod unix;

pub use addr::Addr;
#[cfg(feature = "peer-credentials")]
pub use addr::PeerCredentials;
pub use address::ToAddress;
pub use client::{Client, ClientConfig};
pub use connection::{Caller, Stream};
pub use error::{Error, ErrorKind, Result};
pub use keepalive::Keepalive;
pub use listener::{Listener, ListenerConfig, StopHandle};
pub use reply::Reply;
pub use service::{ConnectionService, Service};
pub use stats::{Closed, Stats};
#[cfg(feature = "tls")]
pub use tls::{ClientSecureSocket, ListenerSecureSocket, Revocation, TlsInfo, Trust};
#[cfg(feature = "tls-pkcs12")]
pub use tls::{KeyStore, TrustStore};

// The guide's examples run as doctests, so that every step of it keeps working.
#[cfg(doctest)]
#[doc = include_str!("../docs/GUIDE.md")]
struct GuideExamples;

/// The main types can move between and be shared by threads.
#[allow(dead_code)]
fn assert_thread_safe() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Client>();
    send_sync::<Listener>();
    send_sync::<Caller>();
    send_sync::<Error>();
    send_sync::<ClientConfig>();
    send_sync::<ListenerConfig>();
    send_sync::<StopHandle>();
    send_sync::<Reply>();
}
