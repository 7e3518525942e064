//! The listener: [`Listener`], Ballerina's `tcp:Listener` and its lifecycle — bind,
//! attach a service, start (accepting on its own thread), graceful or immediate stop,
//! detach, start again — with its configuration (`config.rs`), its accept loop
//! (`accept.rs`) and the set of its live connections (`live.rs`).

mod accept;
mod config;
mod live;

pub use config::ListenerConfig;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::net;
use crate::service::{DynService, Service};
use accept::AcceptLoop;
use live::Live;

/// How long a stop waits, after closing connections by force, for their threads to leave
/// the callbacks they are in and run `on_close`.
const FORCE_GRACE: Duration = Duration::from_secs(2);

/// A TCP listener that serves each connection on its own thread with a [`Service`].
///
/// Ballerina's `tcp:Listener`: [`bind`](Listener::bind) a port, [`attach`](Listener::attach)
/// a service, [`start`](Listener::start). Accepting runs on its own thread and `start`
/// returns at once. [`graceful_stop`](Listener::graceful_stop) stops accepting, lets open
/// connections send what is queued and close, and joins every thread;
/// [`immediate_stop`](Listener::immediate_stop) closes everything now. After a stop the
/// service can be [`detach`](Listener::detach)ed, another attached, and the listener
/// started again on the same port.
///
/// Dropping a running listener stops it as [`immediate_stop`](Listener::immediate_stop)
/// does: when the drop returns, no new callback starts (but the `on_close` of a connection
/// whose callback is still running after the 2 s grace, which runs when it returns).
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, Client, ConnectionService, Error, Listener};
/// use std::borrow::Cow;
/// use std::time::Duration;
///
/// struct Echo;
/// impl ConnectionService for Echo {
///     fn on_bytes<'a>(&mut self, _: &Caller, data: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
///         Ok(Some(Cow::Borrowed(data)))
///     }
/// }
///
/// let mut listener = Listener::bind(0)?; // port 0: any free port
/// listener.attach(|_: &Caller| Ok(Echo))?;
/// listener.start()?;
///
/// let mut client = Client::connect("localhost", listener.local_addr().port())?;
/// client.write_bytes(b"Hello Ballerina")?;
/// assert_eq!(client.read_bytes_exact(15)?, b"Hello Ballerina");
///
/// client.close()?;
/// listener.graceful_stop(Duration::from_secs(5))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
pub struct Listener {
    config: ListenerConfig,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
    addr: SocketAddr,
    /// The listening socket while not running (bound at `bind`, consumed by `start`).
    socket: Option<TcpListener>,
    service: Option<Arc<dyn DynService>>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    socket: Arc<TcpListener>,
    live: Arc<Live>,
    accept: JoinHandle<()>,
}

impl Listener {
    /// Binds `port` on all interfaces with the default [`ListenerConfig`]. Port 0 picks a
    /// free port; [`local_addr`](Listener::local_addr) tells which.
    ///
    /// The socket listens from now on: connects wait in the backlog until
    /// [`start`](Listener::start).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AddressInUse`] when the port is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind(0)?;
    /// assert_ne!(listener.local_addr().port(), 0);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn bind(port: u16) -> Result<Listener> {
        Listener::bind_with(port, &ListenerConfig::default())
    }

    /// Binds `port` with the given configuration: interface, limits, timeouts, TLS.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AddressInUse`] when the port is taken, [`ErrorKind::InvalidConfig`]
    /// when `local_host` is not an interface of this machine or a value is out of range.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Listener, ListenerConfig};
    ///
    /// let config = ListenerConfig::new().local_host("::1");
    /// # if std::net::TcpListener::bind("[::1]:0").is_ok() {
    /// let listener = Listener::bind_with(0, &config)?;
    /// assert_eq!(listener.local_addr().ip().to_string(), "::1");
    /// # }
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn bind_with(port: u16, config: &ListenerConfig) -> Result<Listener> {
        let shown = net::host_port(config.local_host.as_deref().unwrap_or("*"), port);
        let context = format!("bind {shown}");
        config.validate(&context)?;
        #[cfg(feature = "tls")]
        let tls = match &config.secure_socket {
            Some(secure_socket) => Some(secure_socket.build(&context)?),
            None => None,
        };
        let socket = match &config.local_host {
            Some(host) => {
                let addrs = net::resolve(host, port).map_err(|e| {
                    Error::io(&context, e)
                        .kind_set(ErrorKind::InvalidConfig)
                        .message(format!("local_host {host:?} does not resolve"))
                })?;
                first_listening(&addrs, config.backlog, &context)?
            }
            None => {
                // Dual stack where the system has IPv6, IPv4 only where it does not.
                let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
                let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
                match net::listen(any6, config.backlog) {
                    Ok(socket) => socket,
                    Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                        return Err(Error::io(&context, e))
                    }
                    Err(_) => first_listening(&[any4], config.backlog, &context)?,
                }
            }
        };
        let addr = socket.local_addr().map_err(|e| Error::io(&context, e))?;
        log::debug!("listener bound to {addr}");
        Ok(Listener {
            config: config.clone(),
            #[cfg(feature = "tls")]
            tls,
            addr,
            socket: Some(socket),
            service: None,
            running: None,
        })
    }

    /// The address the listener is bound to, with the real port when bound to port 0.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind(0)?;
    /// println!("listening on {}", listener.local_addr());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Attaches the service that will answer connections.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidConfig`] when a service is attached already (detach it first).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Caller, ConnectionService, Error, Listener};
    /// use std::borrow::Cow;
    ///
    /// struct Silent;
    /// impl ConnectionService for Silent {
    ///     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
    ///         Ok(None)
    ///     }
    /// }
    ///
    /// let mut listener = Listener::bind(0)?;
    /// listener.attach(|_: &Caller| Ok(Silent))?;
    /// assert!(listener.attach(|_: &Caller| Ok(Silent)).is_err());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn attach<S: Service>(&mut self, service: S) -> Result<()> {
        if self.service.is_some() {
            return Err(self.invalid(
                "attach to",
                "a service is attached already; detach it first",
            ));
        }
        self.service = Some(Arc::new(service));
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
    /// # use synctcp::{Caller, ConnectionService, Error, Listener};
    /// # use std::borrow::Cow;
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> { Ok(None) }
    /// # }
    /// let mut listener = Listener::bind(0)?;
    /// listener.attach(|_: &Caller| Ok(Silent))?;
    /// listener.detach()?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn detach(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Err(self.invalid("detach from", "the listener is running; stop it first"));
        }
        if self.service.take().is_none() {
            return Err(self.invalid("detach from", "no service is attached"));
        }
        Ok(())
    }

    /// Starts accepting on a thread of its own (`synctcp-accept-PORT`) and returns. Each
    /// connection is then served on its own thread (`synctcp-conn-ID`).
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
    /// # use synctcp::{Caller, ConnectionService, Error, Listener};
    /// # use std::borrow::Cow;
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> { Ok(None) }
    /// # }
    /// let mut listener = Listener::bind(0)?;
    /// assert!(listener.start().is_err()); // no service yet
    /// listener.attach(|_: &Caller| Ok(Silent))?;
    /// listener.start()?;
    /// assert!(listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn start(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Err(self.invalid("start listener on", "it is running already"));
        }
        let Some(service) = self.service.clone() else {
            return Err(self.invalid("start listener on", "no service is attached"));
        };
        let context = format!("start listener on {}", self.addr);
        let socket = match self.socket.take() {
            Some(socket) => socket,
            None => {
                net::listen(self.addr, self.config.backlog).map_err(|e| Error::io(&context, e))?
            }
        };
        let socket = Arc::new(socket);
        let live = Arc::new(Live::new());
        let accept = AcceptLoop {
            socket: Arc::clone(&socket),
            addr: self.addr,
            live: Arc::clone(&live),
            service,
            settings: self.config.settings(),
            max_connections: self.config.max_connections,
            nodelay: self.config.nodelay,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        };
        let accept = thread::Builder::new()
            .name(format!("synctcp-accept-{}", self.addr.port()))
            .spawn(move || accept.run())
            .map_err(|e| Error::io(&context, e))?;
        self.running = Some(Running {
            socket,
            live,
            accept,
        });
        Ok(())
    }

    /// Stops gracefully: new connects are refused at once; every open connection sends
    /// what is queued (a callback already running finishes and its reply is sent), then
    /// closes in order and runs `on_close`; every thread is joined. Connections still open
    /// at `timeout` are closed by force.
    ///
    /// Returns within `timeout` plus at most 2 s. Stopping a listener that is not running
    /// does nothing.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when some connection threads were still inside a callback
    /// 2 s after the forced close; they are left to finish on their own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::{Caller, ConnectionService, Error, Listener};
    /// # use std::borrow::Cow;
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> { Ok(None) }
    /// # }
    /// let mut listener = Listener::bind(0)?;
    /// listener.attach(|_: &Caller| Ok(Silent))?;
    /// listener.start()?;
    /// listener.graceful_stop(std::time::Duration::from_secs(5))?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn graceful_stop(&mut self, timeout: Duration) -> Result<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let live = stop_accepting(running);
        // Idle connections got FIN at once; give their peers the drain timeout to answer
        // with theirs. Busy ones finish their callback, flush and drain on their own.
        let draining = live.close_all();
        let drained = Instant::now() + self.config.drain_timeout;
        if !draining.is_empty() && live.wait_idle(drained.min(deadline)) > 0 {
            draining.iter().for_each(|conn| conn.abort());
        }
        drop(draining);
        if live.wait_idle(deadline) > 0 {
            live.force_all();
        }
        self.finish_stop(&live, "graceful stop of")
    }

    /// Stops now: new connects are refused, every open connection is closed at once
    /// (what is queued is dropped), each runs `on_close`, and every thread is joined.
    /// Ballerina never implemented this; here it works.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when some connection threads were still inside a callback
    /// 2 s later; they are left to finish on their own.
    ///
    /// # Examples
    ///
    /// ```
    /// # use synctcp::{Caller, ConnectionService, Error, Listener};
    /// # use std::borrow::Cow;
    /// # struct Silent;
    /// # impl ConnectionService for Silent {
    /// #     fn on_bytes<'a>(&mut self, _: &Caller, _: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> { Ok(None) }
    /// # }
    /// let mut listener = Listener::bind(0)?;
    /// listener.attach(|_: &Caller| Ok(Silent))?;
    /// listener.start()?;
    /// listener.immediate_stop()?;
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn immediate_stop(&mut self) -> Result<()> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        let live = stop_accepting(running);
        live.force_all();
        self.finish_stop(&live, "immediate stop of")
    }

    fn finish_stop(&self, live: &Live, operation: &str) -> Result<()> {
        let left = live.wait_idle(Instant::now() + FORCE_GRACE);
        if left > 0 {
            return Err(Error::with(
                ErrorKind::Timeout,
                format!("{operation} listener on {}", self.addr),
                format!("{left} connection threads still inside callbacks after the forced close"),
            ));
        }
        live.join_finished();
        log::debug!("listener on {} stopped", self.addr);
        Ok(())
    }

    /// Attaches `service`, starts, and serves on until the process ends. For small
    /// programs that have nothing else to do.
    ///
    /// # Errors
    ///
    /// As [`attach`](Listener::attach) and [`start`](Listener::start); it returns only when
    /// it cannot start.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Caller, ConnectionService, Error, Listener};
    /// use std::borrow::Cow;
    ///
    /// struct Echo;
    /// impl ConnectionService for Echo {
    ///     fn on_bytes<'a>(&mut self, _: &Caller, data: &'a [u8]) -> Result<Option<Cow<'a, [u8]>>, Error> {
    ///         Ok(Some(Cow::Borrowed(data)))
    ///     }
    /// }
    ///
    /// let listener = Listener::bind(0)?;
    /// let port = listener.local_addr().port();
    /// // A small server's main would just call `serve`; here it runs beside a client.
    /// std::thread::spawn(move || listener.serve(|_: &Caller| Ok(Echo)));
    ///
    /// let client = synctcp::Client::connect("127.0.0.1", port)?;
    /// client.write_bytes(b"hi")?;
    /// assert_eq!(client.read_bytes_exact(2)?, b"hi");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn serve<S: Service>(mut self, service: S) -> Result<()> {
        self.attach(service)?;
        self.start()?;
        if let Some(running) = self.running.take() {
            let _ = running.accept.join();
        }
        Ok(())
    }

    /// Whether the listener is accepting connections.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind(0)?;
    /// assert!(!listener.is_running());
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// How many connections are open now.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = synctcp::Listener::bind(0)?;
    /// assert_eq!(listener.connection_count(), 0);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn connection_count(&self) -> usize {
        self.running.as_ref().map_or(0, |r| r.live.count())
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
            .field("running", &self.running.is_some())
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

fn first_listening(addrs: &[SocketAddr], backlog: u32, context: &str) -> Result<TcpListener> {
    let mut last = None;
    for addr in addrs {
        match net::listen(*addr, backlog) {
            Ok(socket) => return Ok(socket),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                last = Some(
                    Error::io(context, e)
                        .kind_set(ErrorKind::InvalidConfig)
                        .message(format!("{} is not an address of this machine", addr.ip())),
                );
            }
            Err(e) => last = Some(Error::io(context, e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::with(ErrorKind::InvalidConfig, context, "no address")))
}

/// Stops the accept loop and joins its thread; new connects are refused from here on, and
/// the listening socket is closed (its port is free for the next `start`).
fn stop_accepting(running: Running) -> Arc<Live> {
    running.live.stop();
    net::stop_listening(&running.socket);
    // The accept thread waits only in accept, for a slot, or in a back-off pause: the
    // shutdown and the stop flag end all three.
    let _ = running.accept.join();
    running.live
}

impl Drop for Listener {
    /// As [`immediate_stop`](Listener::immediate_stop): no callback of this listener
    /// starts after the drop, but for `on_close` of a connection whose callback was still
    /// running 2 s after the forced close.
    fn drop(&mut self) {
        if let Err(err) = self.immediate_stop() {
            log::warn!("{err}");
        }
    }
}
