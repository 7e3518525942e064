//! The listener: [`Listener`], Ballerina's `tcp:Listener` and its lifecycle — bound
//! (`bind.rs`), a service attached, started (accepting on its own thread, `accept.rs`),
//! stopped gracefully or at once from anywhere (`stop.rs`), detached, started again — with
//! its configuration (`config.rs`) and the set of its live connections (`live.rs`).

mod accept;
mod bind;
mod config;
mod live;
mod stop;

pub use config::ListenerConfig;
pub use stop::StopHandle;

use std::sync::Arc;
use std::time::Duration;

use crate::addr::Addr;
use crate::connection::{Caller, Stream};
use crate::error::{Error, ErrorKind, Result};
use crate::service::{ConnectionService, Service, Serving};
use crate::sock::ListenSock;
use crate::stats::Stats;
use accept::Acceptor;
use live::Live;
use stop::{Control, Running};

/// A TCP listener that serves each connection on its own thread with a [`Service`].
///
/// Ballerina's `tcp:Listener`: [`bind`](Listener::bind) an address,
/// [`attach`](Listener::attach) a service, [`start`](Listener::start). Accepting runs on
/// its own thread and `start` returns at once. [`graceful_stop`](Listener::graceful_stop)
/// stops accepting, lets open connections send what is queued and close, and joins every
/// thread; [`immediate_stop`](Listener::immediate_stop) closes everything now; a
/// [`StopHandle`] does either from any thread. After a stop the service can be
/// [`detach`](Listener::detach)ed, another attached, and the listener started again on the
/// same port.
///
/// Dropping a running listener stops it as `immediate_stop` does: when the drop returns,
/// no new callback starts (but the `on_close` of a connection whose callback is still
/// running after the 2 s grace, which runs when it returns).
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, Client, ConnectionService, Error, Listener, Reply};
/// use std::time::Duration;
///
/// struct Echo;
/// impl ConnectionService for Echo {
///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
///         Ok(Reply::Echo)
///     }
/// }
///
/// let mut listener = Listener::bind("127.0.0.1:0")?; // port 0: any free port
/// listener.attach(|_| Ok(Echo))?;
/// listener.start()?;
///
/// let client = Client::connect(listener.local_addr())?;
/// client.write_bytes(b"Hello Ballerina")?;
/// assert_eq!(client.read_bytes_exact(15)?, b"Hello Ballerina");
///
/// client.close()?;
/// listener.graceful_stop(Duration::from_secs(5))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
#[must_use = "a Listener stops when it is dropped: keep it, or call serve"]
pub struct Listener {
    config: ListenerConfig,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
    addr: Addr,
    /// The listening socket. A stop closes it; a start after a stop listens anew.
    socket: Arc<ListenSock>,
    /// `socket` listens and was never started (a stop closes it).
    fresh: bool,
    service: Option<Serving>,
    control: Arc<Control>,
}

impl Listener {
    /// The address the listener is bound to, with the real port when bound to port 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// println!("listening on {}", listener.local_addr());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn local_addr(&self) -> Addr {
        self.addr.clone()
    }

    /// Attaches the service that answers connections: a closure that gets each new
    /// connection's [`Caller`] and returns the [`ConnectionService`] that will handle it
    /// (Ballerina's `onConnect`), or an error to refuse the connection. It runs on the new
    /// connection's own thread, before any of its bytes are read.
    ///
    /// For a service type of your own, implement [`Service`] and use
    /// [`attach_service`](Listener::attach_service).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a service is attached already (detach it first).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
    ///
    /// struct Silent;
    /// impl ConnectionService for Silent {
    ///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
    ///         Ok(Reply::None)
    ///     }
    /// }
    ///
    /// let mut listener = Listener::bind("127.0.0.1:0")?;
    /// listener.attach(|caller| {
    ///     println!("connection {} from {}", caller.id(), caller.remote_addr());
    ///     Ok(Silent)
    /// })?;
    /// assert!(listener.attach(|_| Ok(Silent)).is_err()); // one service at a time
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn attach<F, C>(&mut self, on_connect: F) -> Result<()>
    where
        F: Fn(&Caller) -> Result<C> + Send + Sync + 'static,
        C: ConnectionService,
    {
        self.attach_service(on_connect)
    }

    /// Attaches a [`Service`] of your own type (Ballerina's `tcp:Service`); see
    /// [`attach`](Listener::attach) for a closure.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a service is attached already (detach it first).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Caller, ConnectionService, Error, Listener, Reply, Service};
    ///
    /// struct Silent;
    /// impl ConnectionService for Silent {
    ///     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
    ///         Ok(Reply::None)
    ///     }
    /// }
    ///
    /// struct Gatekeeper { allowed: std::net::IpAddr }
    /// impl Service for Gatekeeper {
    ///     type Connection = Silent;
    ///     fn on_connect(&self, caller: &Caller) -> Result<Silent, Error> {
    ///         if caller.remote_host() != Some(self.allowed) {
    ///             return Err(Error::new(synctcp::ErrorKind::Other, "not on the list"));
    ///         }
    ///         Ok(Silent)
    ///     }
    /// }
    ///
    /// let mut listener = Listener::bind("127.0.0.1:0")?;
    /// listener.attach_service(Gatekeeper { allowed: [127, 0, 0, 1].into() })?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn attach_service<S: Service>(&mut self, service: S) -> Result<()> {
        if self.service.is_some() {
            return Err(self.invalid(
                "attach to",
                "a service is attached already; detach it first",
            ));
        }
        self.service = Some(Serving::Callbacks(Arc::new(service)));
        Ok(())
    }

    /// Attaches a stream handler instead of a service: for each connection, on its own
    /// thread, `handler` gets the connection as a [`Stream`] to read and write in a loop,
    /// as Python's `StreamRequestHandler` and Go's `go handle(conn)` do. When it returns,
    /// the connection closes in order (what it wrote is sent, then FIN); an error it
    /// returns, or a panic, is reported as a service's default `on_error` does, and closes
    /// the connection too.
    ///
    /// Everything a listener guarantees holds: `max_connections`, the idle timeout and the
    /// lifetime (a read waiting past them returns a `Timeout` error), TLS (the handshake is
    /// done before the handler runs), writes from other threads through
    /// [`stream.caller()`](Stream::caller), and stops: a graceful stop lets running
    /// handlers finish until its deadline, then closes their connections (their reads
    /// return `Closed`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a service or handler is attached already.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{BufRead, BufReader, Write};
    /// use synctcp::{Client, Listener};
    ///
    /// let mut listener = Listener::bind("127.0.0.1:0")?;
    /// listener.attach_handler(|stream| {
    ///     let mut lines = BufReader::new(&*stream).lines();
    ///     writeln!(&*stream, "What is your name?")?;
    ///     let name = lines.next().transpose()?.unwrap_or_default();
    ///     writeln!(&*stream, "Hello, {name}!")?;
    ///     Ok(())
    /// })?;
    /// listener.start()?;
    ///
    /// let client = Client::connect(listener.local_addr())?;
    /// client.write_bytes(b"Ballerina\n")?;
    /// let mut all = Vec::new();
    /// while let Ok(bytes) = client.read_bytes() {
    ///     all.extend(bytes);
    /// }
    /// assert_eq!(all, b"What is your name?\nHello, Ballerina!\n");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn attach_handler<F>(&mut self, handler: F) -> Result<()>
    where
        F: Fn(&mut Stream) -> Result<()> + Send + Sync + 'static,
    {
        if self.service.is_some() {
            return Err(self.invalid(
                "attach to",
                "a service is attached already; detach it first",
            ));
        }
        self.service = Some(Serving::Streams(Arc::new(handler)));
        Ok(())
    }

    /// Detaches the service, so another can be attached.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] while the listener is running (stop it first) or when
    /// no service is attached.
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
    /// listener.detach()?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn detach(&mut self) -> Result<()> {
        if self.control.is_busy() {
            return Err(self.invalid("detach from", "the listener is running; stop it first"));
        }
        if self.service.take().is_none() {
            return Err(self.invalid("detach from", "no service is attached"));
        }
        Ok(())
    }

    /// Starts accepting and returns. Worker threads wait in `accept` (at least 2, at most
    /// 8, those beyond 2 leaving after 10 s without work); the one that takes a connection
    /// serves it on its own (named `synctcp-conn-ID` while it does) and starts another
    /// worker first when fewer than 2 are left waiting. Each connection has one thread of
    /// its own for its whole life; no thread is created per connection.
    ///
    /// After a stop, `start` listens again on the same address and port.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] without an attached service or when running already;
    /// [`ErrorKind::AddressInUse`] when, after a stop, another socket took the port.
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
    /// assert!(listener.start().is_err()); // no service yet
    /// listener.attach(|_| Ok(Silent))?;
    /// listener.start()?;
    /// assert!(listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn start(&mut self) -> Result<()> {
        if self.control.is_busy() {
            return Err(self.invalid("start listener on", "it is running already"));
        }
        let Some(serving) = self.service.clone() else {
            return Err(self.invalid("start listener on", "no service is attached"));
        };
        let context = format!("start listener on {}", self.addr);
        if !self.fresh {
            // The last stop closed the socket: listen anew on the same address.
            self.socket = Arc::new(bind::listen_again(&self.addr, &self.config, &context)?);
        }
        let live = Arc::new(Live::new());
        let settings = Arc::new(self.config.settings());
        // Workers beyond the first few leave after a quiet spell in `accept`.
        let _ = self.socket.set_accept_timeout(accept::SPARE_IDLE);
        let inherited = self.socket.set_inherited_options(
            self.config.nodelay,
            self.config.keepalive.as_ref(),
            settings.write_timeout,
        );
        let acceptor = Arc::new(Acceptor {
            socket: Arc::clone(&self.socket),
            addr: self.addr.clone(),
            live: Arc::clone(&live),
            serving,
            settings,
            max_connections: self.config.max_connections,
            nodelay: self.config.nodelay,
            keepalive: self.config.keepalive,
            inherited,
            counters: Arc::clone(self.control.counters()),
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        });
        // Running from here on, before any worker accepts: a stop from another thread (a
        // `StopHandle`) that comes as soon as a first connection is served must find the
        // listener running, or it would do nothing and the listener would run on.
        let running = Running {
            socket: Arc::clone(&self.socket),
            live,
        };
        if self.control.run(running).is_err() {
            // Started meanwhile through a shared handle? Not possible with `&mut self`.
            return Err(self.invalid("start listener on", "it is running already"));
        }
        self.fresh = false;
        if let Err(e) = acceptor.start() {
            // Nothing serves: stop what was registered (the socket with it; a later
            // `start` listens anew). A stop from another thread may have come first.
            let _ = self.control.immediate_stop();
            // (EAGAIN from the system is no timeout.)
            return Err(Error::io(&context, e)
                .kind_set(ErrorKind::Io)
                .message("cannot start a thread to accept connections"));
        }
        Ok(())
    }

    /// Stops gracefully; see [`StopHandle::graceful_stop`]. Called from inside one of the
    /// listener's own callbacks, it does not wait for that callback's connection.
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
    /// listener.graceful_stop(std::time::Duration::from_secs(5))?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn graceful_stop(&self, timeout: Duration) -> Result<()> {
        self.control.graceful_stop(timeout)
    }

    /// Stops now; see [`StopHandle::immediate_stop`]. Ballerina never implemented this;
    /// here it works.
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
    /// listener.immediate_stop()?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn immediate_stop(&self) -> Result<()> {
        self.control.immediate_stop()
    }

    /// A handle that stops this listener from any thread, also once it was given to
    /// [`serve`](Listener::serve).
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// let stop = listener.stop_handle();
    /// let also = stop.clone(); // cheap; Send + Sync
    /// # let _ = also;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            control: Arc::clone(&self.control),
        }
    }

    /// Attaches `on_connect` (as [`attach`](Listener::attach)), starts, and serves until a
    /// [`StopHandle`] stops the listener; then returns. A small program that only serves
    /// calls this last in `main`.
    ///
    /// # Errors
    ///
    /// As [`attach`](Listener::attach) and [`start`](Listener::start).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Caller, ConnectionService, Error, Listener, Reply};
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
    /// // A small server's main would just call `serve`; here it runs beside a client.
    /// std::thread::spawn(move || listener.serve(|_| Ok(Echo)));
    ///
    /// let client = synctcp::Client::connect(addr)?;
    /// client.write_bytes(b"hi")?;
    /// assert_eq!(client.read_bytes_exact(2)?, b"hi");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn serve<F, C>(self, on_connect: F) -> Result<()>
    where
        F: Fn(&Caller) -> Result<C> + Send + Sync + 'static,
        C: ConnectionService,
    {
        self.serve_service(on_connect)
    }

    /// [`serve`](Listener::serve) with a [`Service`] of your own type.
    ///
    /// # Errors
    ///
    /// As [`attach_service`](Listener::attach_service) and [`start`](Listener::start).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use synctcp::{Caller, ConnectionService, Error, Listener, Reply, Service};
    /// # struct Echo;
    /// # impl ConnectionService for Echo {
    /// #     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> { Ok(Reply::Echo) }
    /// # }
    /// struct EchoService;
    /// impl Service for EchoService {
    ///     type Connection = Echo;
    ///     fn on_connect(&self, _: &Caller) -> Result<Echo, Error> {
    ///         Ok(Echo)
    ///     }
    /// }
    ///
    /// fn main() -> Result<(), Error> {
    ///     Listener::bind(3000)?.serve_service(EchoService) // until stopped
    /// }
    /// ```
    pub fn serve_service<S: Service>(mut self, service: S) -> Result<()> {
        self.attach_service(service)?;
        self.start()?;
        self.control.wait_stopped();
        Ok(())
    }

    /// Attaches `handler` (as [`attach_handler`](Listener::attach_handler)), starts, and
    /// serves until a [`StopHandle`] stops the listener; then returns.
    ///
    /// # Errors
    ///
    /// As [`attach_handler`](Listener::attach_handler) and [`start`](Listener::start).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::io::{BufRead, BufReader, Write};
    ///
    /// fn main() -> synctcp::Result<()> {
    ///     synctcp::Listener::bind(3000)?.serve_handler(|stream| {
    ///         for line in BufReader::new(&*stream).lines() {
    ///             writeln!(&*stream, "{}", line?)?;
    ///         }
    ///         Ok(())
    ///     })
    /// }
    /// ```
    pub fn serve_handler<F>(mut self, handler: F) -> Result<()>
    where
        F: Fn(&mut Stream) -> Result<()> + Send + Sync + 'static,
    {
        self.attach_handler(handler)?;
        self.start()?;
        self.control.wait_stopped();
        Ok(())
    }

    /// Whether the listener is accepting connections.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.control.is_running()
    }

    /// How many connections are open now.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert_eq!(listener.connection_count(), 0);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn connection_count(&self) -> usize {
        self.control.connection_count()
    }

    /// The listener's counters now: connections open, accepted, refused and closed by
    /// cause, bytes in and out, TLS handshake failures, accept back-offs. Reading them
    /// costs a lock; keeping them costs relaxed atomic additions.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind("127.0.0.1:0")?;
    /// assert_eq!(listener.stats(), synctcp::Stats::default());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn stats(&self) -> Stats {
        self.control.stats()
    }

    fn invalid(&self, operation: &str, message: &str) -> Error {
        Error::with(
            ErrorKind::InvalidConfig,
            format!("{operation} listener on {}", self.addr),
            message,
        )
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .field("service_attached", &self.service.is_some())
            .field("running", &self.is_running())
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

impl Drop for Listener {
    /// As [`immediate_stop`](Listener::immediate_stop): no callback of this listener
    /// starts after the drop, but for `on_close` of a connection whose callback was still
    /// running 2 s after the forced close.
    fn drop(&mut self) {
        if let Err(err) = self.control.immediate_stop() {
            log::warn!("{err}");
        }
    }
}

/// The listening socket's descriptor (after a stop, a closed socket's).
#[cfg(unix)]
impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Listener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsFd;
        self.socket.as_fd().as_raw_fd()
    }
}

/// The listening socket's handle (after a stop, a closed socket's).
#[cfg(windows)]
impl std::os::windows::io::AsSocket for Listener {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.socket.as_socket()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsRawSocket for Listener {
    fn as_raw_socket(&self) -> std::os::windows::io::RawSocket {
        use std::os::windows::io::AsSocket;
        self.socket.as_socket().as_raw_socket()
    }
}
