//! The service traits a listener calls: `Service` (one per listener, `on_connect`) and
//! `ConnectionService` (one per connection, `on_bytes`, `on_error`, `on_close`), and the
//! type-erased form the listener stores.

use std::borrow::Cow;

use crate::connection::Caller;
use crate::error::{Error, Result};

/// Answers new connections: Ballerina's `tcp:Service` with its `onConnect`.
///
/// A listener holds one `Service` and calls [`on_connect`](Service::on_connect) on each new
/// connection's own thread; it returns the [`ConnectionService`] that will handle that
/// connection, or an error to refuse it (the connection is then closed, and no other
/// callback runs for it).
///
/// A closure `Fn(&Caller) -> Result<C>` is a `Service`, which covers the common case.
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, ConnectionService, Error, Listener, Service};
/// use std::borrow::Cow;
///
/// struct Echo;
/// impl ConnectionService for Echo {
///     fn on_bytes<'a>(&mut self, _: &Caller, data: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
///         Ok(Some(Cow::Borrowed(data)))
///     }
/// }
///
/// // A named service type...
/// struct EchoService;
/// impl Service for EchoService {
///     type Connection = Echo;
///     fn on_connect(&self, caller: &Caller) -> Result<Echo, Error> {
///         println!("client connected from port {}", caller.remote_port());
///         Ok(Echo)
///     }
/// }
///
/// let mut listener = Listener::bind(0)?;
/// listener.attach(EchoService)?;
/// // ...or a closure.
/// listener.detach()?;
/// listener.attach(|_: &Caller| Ok(Echo))?;
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
/// use synctcp::{Caller, ConnectionService, Error};
/// use std::borrow::Cow;
///
/// /// Counts bytes and answers each piece with the running total.
/// struct Counter { total: usize }
///
/// impl ConnectionService for Counter {
///     fn on_bytes<'a>(&mut self, _: &Caller, data: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
///         self.total += data.len();
///         Ok(Some(Cow::Owned(format!("{}\n", self.total).into_bytes())))
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
    /// Return `Ok(Some(bytes))` to write `bytes` back to the peer (borrow `data` to echo
    /// without a copy), `Ok(None)` to write nothing.
    ///
    /// # Errors
    ///
    /// An error is passed to [`on_error`](ConnectionService::on_error), then the connection
    /// is closed (what was already written is still delivered) and
    /// [`on_close`](ConnectionService::on_close) runs.
    fn on_bytes<'a>(&mut self, caller: &Caller, data: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>>;

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
    /// returned by `on_bytes`, a panic in a callback. The connection is closed after it
    /// returns. The default logs the error at warn level.
    fn on_error(&mut self, caller: &Caller, err: &Error) {
        log_error(caller, err);
    }

    /// Called once when the connection has closed, for whatever reason. The default does
    /// nothing.
    fn on_close(&mut self, caller: &Caller) {
        let _ = caller;
    }
}

/// What the default `on_error` callbacks do: log at warn level.
pub(crate) fn log_error(caller: &Caller, err: &Error) {
    log::warn!(
        "connection {} from {}: {err}",
        caller.id(),
        caller.remote_addr()
    );
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
