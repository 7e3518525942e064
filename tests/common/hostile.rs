//! Helpers for the adversarial tests (the `*_hostile.rs` files and `client_exact.rs`): a service whose every callback is
//! a closure and is reported, time-stamped, on a channel; raw peers; honest bounds.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use synctcp::{Caller, ConnectionService, Error, ErrorKind, Listener, ListenerConfig, Reply};

/// Where every test listener binds: IPv4 loopback, a free port.
pub const LOOPBACK: &str = "127.0.0.1:0";

pub const WAIT: Duration = Duration::from_secs(20);
pub const MIB: usize = 1 << 20;

#[path = "timing.rs"]
mod timing;
pub use timing::bound;

pub fn assert_bounded(what: &str, elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed <= bound(timeout),
        "{what}: took {elapsed:?}; timeout {timeout:?}, bound {:?}",
        bound(timeout)
    );
}

/// Position-dependent bytes, not periodic on powers of two.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(0x9E37_79B1) >> 24) as u8 ^ (i as u8))
        .collect()
}

pub fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!(
            "{} bytes (expected {}), first wrong byte at offset {at}",
            got.len(),
            want.len()
        ),
        None => format!("got {} bytes, expected {}", got.len(), want.len()),
    }
}

pub fn huge() -> &'static [u8] {
    static HUGE: OnceLock<Vec<u8>> = OnceLock::new();
    HUGE.get_or_init(|| vec![7u8; 64 * MIB])
}

#[derive(Debug, Clone)]
pub enum Ev {
    Connect(Caller),
    Bytes(u64, Vec<u8>),
    Eof(u64),
    Error(u64, ErrorKind, String),
    Close(u64),
}

impl Ev {
    pub fn id(&self) -> u64 {
        match self {
            Ev::Connect(c) => c.id(),
            Ev::Bytes(id, _) | Ev::Eof(id) | Ev::Error(id, ..) | Ev::Close(id) => *id,
        }
    }
}

pub type Stamped = (Instant, Ev);

type OnConnect = dyn Fn(&Caller) -> Result<(), Error> + Send + Sync;
type OnBytes = dyn Fn(&Caller, &[u8]) -> Result<Option<Vec<u8>>, Error> + Send + Sync;
type OnEof = dyn Fn(&Caller) -> Result<(), Error> + Send + Sync;
type OnError = dyn Fn(&Caller, &Error) + Send + Sync;
type OnClose = dyn Fn(&Caller) + Send + Sync;

/// What each callback does (besides being reported). Defaults: accept, echo, nothing.
#[derive(Clone, Default)]
pub struct Script {
    pub connect: Option<Arc<OnConnect>>,
    pub bytes: Option<Arc<OnBytes>>,
    pub eof: Option<Arc<OnEof>>,
    pub error: Option<Arc<OnError>>,
    pub close: Option<Arc<OnClose>>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }
    pub fn on_connect(
        mut self,
        f: impl Fn(&Caller) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Script {
        self.connect = Some(Arc::new(f));
        self
    }
    pub fn on_bytes(
        mut self,
        f: impl Fn(&Caller, &[u8]) -> Result<Option<Vec<u8>>, Error> + Send + Sync + 'static,
    ) -> Script {
        self.bytes = Some(Arc::new(f));
        self
    }
    pub fn on_eof(
        mut self,
        f: impl Fn(&Caller) -> Result<(), Error> + Send + Sync + 'static,
    ) -> Script {
        self.eof = Some(Arc::new(f));
        self
    }
    pub fn on_error(mut self, f: impl Fn(&Caller, &Error) + Send + Sync + 'static) -> Script {
        self.error = Some(Arc::new(f));
        self
    }
    pub fn on_close(mut self, f: impl Fn(&Caller) + Send + Sync + 'static) -> Script {
        self.close = Some(Arc::new(f));
        self
    }
}

pub struct Scripted {
    script: Script,
    events: mpsc::Sender<Stamped>,
}

impl ConnectionService for Scripted {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let _ = self
            .events
            .send((Instant::now(), Ev::Bytes(caller.id(), data.to_vec())));
        match &self.script.bytes {
            Some(f) => Ok(f(caller, data)?.map_or(Reply::None, Reply::Bytes)),
            None => Ok(Reply::Echo),
        }
    }
    fn on_eof(&mut self, caller: &Caller) -> Result<(), Error> {
        let _ = self.events.send((Instant::now(), Ev::Eof(caller.id())));
        match &self.script.eof {
            Some(f) => f(caller),
            None => Ok(()),
        }
    }
    fn on_error(&mut self, caller: &Caller, err: &Error) {
        let _ = self.events.send((
            Instant::now(),
            Ev::Error(caller.id(), err.kind(), err.to_string()),
        ));
        if let Some(f) = &self.script.error {
            f(caller, err)
        }
    }
    fn on_close(&mut self, caller: &Caller) {
        let _ = self.events.send((Instant::now(), Ev::Close(caller.id())));
        if let Some(f) = &self.script.close {
            f(caller)
        }
    }
}

/// A started listener running `script`, reporting every callback.
pub fn scripted(config: ListenerConfig, script: Script) -> (Listener, mpsc::Receiver<Stamped>) {
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &config).expect("bind");
    listener
        .attach(move |caller| {
            let _ = tx.send((Instant::now(), Ev::Connect(caller.clone())));
            if let Some(f) = &script.connect {
                f(caller)?;
            }
            Ok(Scripted {
                script: script.clone(),
                events: tx.clone(),
            })
        })
        .expect("attach");
    listener.start().expect("start");
    (listener, rx)
}

pub fn listener_config() -> ListenerConfig {
    ListenerConfig::new()
}

/// The first event matching `what` within `within`.
pub fn wait_ev(
    events: &mpsc::Receiver<Stamped>,
    within: Duration,
    what: impl Fn(&Ev) -> bool,
) -> Option<Stamped> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) if what(&e.1) => return Some(e),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

pub fn must_ev(events: &mpsc::Receiver<Stamped>, what: &str, f: impl Fn(&Ev) -> bool) -> Stamped {
    wait_ev(events, WAIT, f).unwrap_or_else(|| panic!("no {what} within {WAIT:?}"))
}

/// Every event that arrives within `within` (for counting after the fact).
pub fn drain_events(events: &mpsc::Receiver<Stamped>, within: Duration) -> Vec<Stamped> {
    let deadline = Instant::now() + within;
    let mut all = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) => all.push(e),
            Err(_) => return all,
        }
    }
}

/// A raw peer with socket timeouts.
pub fn raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("raw connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

/// A raw peer connected to `listener` over 127.0.0.1.
pub fn raw_to(listener: &Listener) -> TcpStream {
    raw(SocketAddr::from((
        [127, 0, 0, 1],
        listener.local_addr().port().unwrap(),
    )))
}

/// Reads until end of stream (Ok) or error; returns what came and how it ended.
pub fn read_all(stream: &mut TcpStream) -> (Vec<u8>, Result<(), std::io::Error>) {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (all, Ok(())),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => return (all, Err(e)),
        }
    }
}

/// Sets SO_LINGER 0 so that dropping the stream sends a reset.
pub fn reset_on_drop(stream: &TcpStream) {
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

pub fn write_all(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).unwrap();
}

pub fn count<F: Fn(&Ev) -> bool>(events: &[Stamped], f: F) -> usize {
    events.iter().filter(|e| f(&e.1)).count()
}
