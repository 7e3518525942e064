//! What answers a listener's connections: the service traits (`Service`, one per listener,
//! `on_connect`; `ConnectionService`, one per connection, `on_bytes`, `on_eof`, `on_error`,
//! `on_close`) or a stream handler, and the type-erased forms the listener stores.

use std::sync::Arc;

use crate::connection::{Caller, Stream};
use crate::error::{Error, Result};
use crate::reply::Reply;

/// Answers new connections: Ballerina's `tcp:Service` with its `onConnect`.
///
/// A listener holds one `Service` and calls [`on_connect`](Service::on_connect) on each new
/// connection's own thread; it returns the [`ConnectionService`] that will handle that
/// connection, or an error to refuse it (the connection is then closed, and no other
/// callback runs for it).
///
/// Most services are closures, given to [`Listener::attach`](crate::Listener::attach) or
/// [`Listener::serve`](crate::Listener::serve); implement this trait for a service type of
/// your own, and give it to [`Listener::attach_service`](crate::Listener::attach_service).
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, ConnectionService, Error, Listener, Reply, Service};
///
/// struct Echo;
/// impl ConnectionService for Echo {
///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
///         Ok(Reply::Echo)
///     }
/// }
///
/// // A named service type...
/// struct EchoService;
/// impl Service for EchoService {
///     type Connection = Echo;
///     fn on_connect(&self, caller: &Caller) -> Result<Echo, Error> {
///         println!("client connected from {}", caller.remote_addr());
///         Ok(Echo)
///     }
/// }
///
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach_service(EchoService)?;
/// // ...or a closure.
/// listener.detach()?;
/// listener.attach(|_| Ok(Echo))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
pub trait Service: Send + Sync + 'static {
    /// The per-connection service this service hands out.
    type Connection: ConnectionService;

    /// Called once for each new connection, on that connection's thread, before any of its
    /// bytes are read. Return the connection's service, or an error to close it.
    ///
    /// The caller can already write (a welcome message) and can be stored to write later
    /// from other threads.
    ///
    /// # Errors
    ///
    /// Any error refuses the connection: it is closed and logged at warn level.
    fn on_connect(&self, caller: &Caller) -> Result<Self::Connection>;
}

/// A closure `Fn(&Caller) -> Result<C>` is a `Service`.
impl<F, C> Service for F
where
    F: Fn(&Caller) -> Result<C> + Send + Sync + 'static,
    C: ConnectionService,
{
    type Connection = C;

    fn on_connect(&self, caller: &Caller) -> Result<C> {
        self(caller)
    }
}

/// Handles one connection: Ballerina's `tcp:ConnectionService`.
///
/// Every callback of one connection runs on that connection's own thread, so they never
/// overlap and `on_bytes` sees the bytes in the order they arrived. `on_close` runs exactly
/// once, whatever closed the connection.
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, ConnectionService, Error, Reply};
///
/// /// Counts bytes and answers each piece with the running total.
/// struct Counter { total: usize }
///
/// impl ConnectionService for Counter {
///     fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
///         self.total += data.len();
///         Ok(format!("{}\n", self.total).into())
///     }
///
///     fn on_error(&mut self, caller: &Caller, err: &Error) {
///         eprintln!("connection {}: {err}", caller.id());
///     }
///
///     fn on_close(&mut self, caller: &Caller) {
///         println!("connection {} closed after {} bytes", caller.id(), self.total);
///     }
/// }
/// ```
pub trait ConnectionService: 'static {
    /// Called with each piece of bytes that arrives, in order. How the peer's writes are
    /// split into pieces is up to the network: use the `framing` module for messages.
    ///
    /// What it returns is written back to the peer, as Ballerina's `onBytes` does:
    /// [`Reply::Echo`] the bytes that arrived, `bytes.into()` new bytes,
    /// [`Reply::None`] nothing.
    ///
    /// # Errors
    ///
    /// An error is passed to [`on_error`](ConnectionService::on_error), then the connection
    /// is closed (what was already written is still delivered) and
    /// [`on_close`](ConnectionService::on_close) runs.
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply>;

    /// Called when the peer has finished sending (end of stream) and every byte before it
    /// went to `on_bytes`. The connection is still open for writing: a service whose peer
    /// sends a whole request and then shuts down its sending side answers here. The
    /// connection closes in order when this returns. The default does nothing.
    ///
    /// # Errors
    ///
    /// An error is passed to [`on_error`](ConnectionService::on_error), then the
    /// connection closes.
    fn on_eof(&mut self, caller: &Caller) -> Result<()> {
        let _ = caller;
        Ok(())
    }

    /// Called when the connection fails: a read or write error, a timeout, an error
    /// returned by `on_bytes` or `on_eof`, a panic in a callback. The connection is closed
    /// after it returns.
    ///
    /// The default logs the error at warn level through the `log` crate — or, when no
    /// logger is installed, prints it to standard error, so that an error is never lost
    /// in silence. Install a logger (and filter `synctcp` out), or override this method,
    /// to silence it.
    fn on_error(&mut self, caller: &Caller, err: &Error) {
        report_error(caller, err);
    }

    /// Called once when the connection has closed, for whatever reason. The default does
    /// nothing.
    fn on_close(&mut self, caller: &Caller) {
        let _ = caller;
    }
}

/// What the default `on_error` callbacks do: log at warn level, or print to standard error
/// when no logger is installed (the `log` crate's level stays `Off` until one is).
pub(crate) fn report_error(caller: &Caller, err: &Error) {
    if log::max_level() >= log::LevelFilter::Warn {
        log::warn!(
            "connection {} from {}: {err}",
            caller.id(),
            caller.remote_addr()
        );
    } else {
        eprintln!(
            "synctcp: connection {} from {}: {err}",
            caller.id(),
            caller.remote_addr()
        );
    }
}

/// A stream handler: runs once for each connection, on its own thread, with the
/// connection as a [`Stream`].
pub(crate) type Handler = dyn Fn(&mut Stream) -> Result<()> + Send + Sync + 'static;

/// What answers a listener's connections.
#[derive(Clone)]
pub(crate) enum Serving {
    /// Ballerina's callbacks: `on_connect`, then `on_bytes` for each piece, and so on.
    Callbacks(Arc<dyn DynService>),
    /// A handler that reads and writes in a loop.
    Streams(Arc<Handler>),
}

/// The object-safe form of [`Service`] the listener stores.
pub(crate) trait DynService: Send + Sync + 'static {
    fn on_connect(&self, caller: &Caller) -> Result<Box<dyn ConnectionService>>;
}

impl<S: Service> DynService for S {
    fn on_connect(&self, caller: &Caller) -> Result<Box<dyn ConnectionService>> {
        Service::on_connect(self, caller).map(|c| Box::new(c) as Box<dyn ConnectionService>)
    }
}
