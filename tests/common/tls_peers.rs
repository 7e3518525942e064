//! Helpers for tests/tls_writes.rs (included there with #[path]; compiled
//! alone it holds no tests). Self-contained: it does not use tests/common/mod.rs.
#![allow(unreachable_pub)]
#![cfg(feature = "tls")]

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use synctcp::{
    Caller, Client, ClientConfig, ClientSecureSocket, ConnectionService, Error, ErrorKind,
    Listener, ListenerConfig, ListenerSecureSocket, Reply,
};
use tokio_rustls::rustls;

#[path = "pki.rs"]
pub mod pki;
pub use pki::Pki;

/// The bound on every wait.
pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V {
    Tls13,
    Tls12,
}

impl V {
    pub fn name(self) -> &'static str {
        match self {
            V::Tls13 => "TLSv1.3",
            V::Tls12 => "TLSv1.2",
        }
    }
}

/// Position-dependent byte: a shifted, swapped or dropped byte never matches.
pub fn pat(i: u64) -> u8 {
    let x = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((x >> 56) as u8) ^ (i as u8) ^ ((i >> 8) as u8)
}

pub fn pattern(start: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|k| pat(start + k)).collect()
}

/// The first position (absolute) in `data` that does not match the pattern from `start`.
pub fn mismatch(start: u64, data: &[u8]) -> Option<u64> {
    data.iter()
        .enumerate()
        .find(|(k, b)| **b != pat(start + *k as u64))
        .map(|(k, _)| start + k as u64)
}

pub fn server_tls(pki: &Pki, v: V) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
        .protocol_versions([v.name()])
}

pub fn client_tls(pki: &Pki, v: V) -> ClientSecureSocket {
    ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions([v.name()])
}

pub fn cconfig(pki: &Pki, v: V) -> ClientConfig {
    ClientConfig::new()
        .timeout(Some(WAIT))
        .write_timeout(Some(WAIT))
        .secure_socket(client_tls(pki, v))
}

pub fn start<F, C>(config: &ListenerConfig, on_connect: F) -> Listener
where
    F: Fn(&Caller) -> Result<C, Error> + Send + Sync + 'static,
    C: ConnectionService,
{
    let mut listener = Listener::bind_with("127.0.0.1:0", config).expect("bind");
    listener.attach(on_connect).expect("attach");
    listener.start().expect("start");
    listener
}

pub fn port(listener: &Listener) -> u16 {
    listener.local_addr().port().unwrap()
}

pub fn connect(listener: &Listener, config: &ClientConfig) -> Client {
    Client::connect_with(("localhost", port(listener)), config).expect("connect")
}

/// What a connection's callbacks saw (an error's fields show in failure messages).
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Ev {
    Connect(Caller),
    Error(ErrorKind, String),
    Eof,
    Close,
    /// A sink's verdict at eof or close: bytes received, first mismatch.
    Sink(u64, Option<u64>),
}

/// Replies to 16-byte requests (start u64 BE, len u64 BE) with pattern(start, len), as a
/// Reply from on_bytes (the connection thread's blocking write path). A request with len
/// u64::MAX asks for a Caller::close. Reports callbacks.
pub struct Server {
    pub ev: Sender<Ev>,
    buf: Vec<u8>,
}

impl Server {
    pub fn new(ev: Sender<Ev>) -> Server {
        Server {
            ev,
            buf: Vec::new(),
        }
    }
}

impl ConnectionService for Server {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= 16 {
            let start = u64::from_be_bytes(self.buf[..8].try_into().unwrap());
            let len = u64::from_be_bytes(self.buf[8..16].try_into().unwrap());
            self.buf.drain(..16);
            if len == u64::MAX {
                caller.close()?;
            } else {
                out.extend_from_slice(&pattern(start, len as usize));
            }
        }
        Ok(if out.is_empty() {
            Reply::None
        } else {
            out.into()
        })
    }
    fn on_eof(&mut self, _: &Caller) -> Result<(), Error> {
        let _ = self.ev.send(Ev::Eof);
        Ok(())
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.ev.send(Ev::Error(err.kind(), err.to_string()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.ev.send(Ev::Close);
    }
}

pub fn request(start: u64, len: u64) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..8].copy_from_slice(&start.to_be_bytes());
    r[8..].copy_from_slice(&len.to_be_bytes());
    r
}

/// A listener of `Server`s reporting to the returned channel.
pub fn server_listener(config: &ListenerConfig) -> (Listener, Receiver<Ev>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let listener = start(config, move |caller| {
        let _ = tx.send(Ev::Connect(caller.clone()));
        Ok(Server::new(tx.clone()))
    });
    (listener, rx)
}

/// Waits for the first event matching `what`, within WAIT; returns it.
pub fn wait_ev(rx: &Receiver<Ev>, what: impl Fn(&Ev) -> bool, name: &str) -> Ev {
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.recv_deadline(deadline) {
            Ok(e) if what(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("{name}: did not come within {WAIT:?}"),
        }
    }
}

pub fn get_caller(rx: &Receiver<Ev>) -> Caller {
    match wait_ev(rx, |e| matches!(e, Ev::Connect(_)), "a connection") {
        Ev::Connect(c) => c,
        _ => unreachable!(),
    }
}

/// Checks every byte it gets against the pattern from 0; optionally holds its first
/// on_bytes until `gate` says go (so the peer's writes fill the sockets). Reports its
/// verdict at eof and at close.
pub struct Sink {
    pub ev: Sender<Ev>,
    pub gate: Option<Receiver<()>>,
    pub got: u64,
    pub bad: Option<u64>,
}

impl ConnectionService for Sink {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv_timeout(WAIT);
        }
        if self.bad.is_none() {
            self.bad = mismatch(self.got, data);
        }
        self.got += data.len() as u64;
        Ok(Reply::None)
    }
    fn on_eof(&mut self, _: &Caller) -> Result<(), Error> {
        let _ = self.ev.send(Ev::Eof);
        let _ = self.ev.send(Ev::Sink(self.got, self.bad));
        Ok(())
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.ev.send(Ev::Error(err.kind(), err.to_string()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.ev.send(Ev::Sink(self.got, self.bad));
        let _ = self.ev.send(Ev::Close);
    }
}

/// A listener of Sinks; each connection's gate is the next receiver sent on `gates`
/// (none when nothing was sent).
pub fn sink_listener(
    config: &ListenerConfig,
    gate: Option<Receiver<()>>,
) -> (Listener, Receiver<Ev>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let gate = std::sync::Mutex::new(gate);
    let listener = start(config, move |caller| {
        let _ = tx.send(Ev::Connect(caller.clone()));
        Ok(Sink {
            ev: tx.clone(),
            gate: gate.lock().unwrap().take(),
            got: 0,
            bad: None,
        })
    });
    (listener, rx)
}

/// Reads from `client` until `total` bytes came, checking them against the pattern from
/// `start`; pauses `pause` after every `every` bytes (a slow reader). Returns the bytes
/// read or the error with what had been read.
pub fn client_read_verify(
    client: &Client,
    start: u64,
    total: u64,
    every: u64,
    pause: Duration,
) -> Result<u64, (u64, String)> {
    let mut got = 0u64;
    let mut since_pause = 0u64;
    while got < total {
        let bytes = client
            .read_bytes()
            .map_err(|e| (got, format!("{:?}: {e}", e.kind())))?;
        if let Some(at) = mismatch(start + got, &bytes) {
            return Err((got, format!("byte {at} does not match the pattern")));
        }
        got += bytes.len() as u64;
        since_pause += bytes.len() as u64;
        if every > 0 && since_pause >= every {
            since_pause = 0;
            std::thread::sleep(pause);
        }
    }
    if got > total {
        return Err((
            got,
            format!("{} bytes more than the {total} written", got - total),
        ));
    }
    Ok(got)
}

/// Reads until the end: Ok((bytes, clean end)) where clean means a Closed read (close_notify
/// seen); an error end gives (bytes, Err(kind: text)).
pub fn client_read_all(client: &Client) -> (Vec<u8>, Result<(), String>) {
    let mut all = Vec::new();
    loop {
        match client.read_bytes() {
            Ok(b) => all.extend_from_slice(&b),
            Err(e) if e.kind() == ErrorKind::Closed => return (all, Ok(())),
            Err(e) => return (all, Err(format!("{:?}: {e}", e.kind()))),
        }
    }
}

// ---- a raw rustls peer, for reads of a few bytes at a time ----

pub struct Raw {
    pub sock: TcpStream,
    pub tls: rustls::ClientConnection,
}

pub fn raw_connect(pki: &Pki, v: V, port: u16, rcvbuf: Option<usize>) -> Raw {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.path("ca.pem")).unwrap())
        .unwrap();
    let version: &'static rustls::SupportedProtocolVersion = match v {
        V::Tls13 => &rustls::version::TLS13,
        V::Tls12 => &rustls::version::TLS12,
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket
        .connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let mut sock: TcpStream = socket.into();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    sock.set_write_timeout(Some(WAIT)).unwrap();
    let mut tls =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    while tls.is_handshaking() {
        tls.complete_io(&mut sock).expect("raw handshake");
    }
    Raw { sock, tls }
}

impl Raw {
    /// Writes plaintext and flushes the records.
    pub fn send(&mut self, data: &[u8]) {
        self.tls.writer().write_all(data).unwrap();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.sock).unwrap();
        }
    }

    /// Reads plaintext, taking at most `piece` bytes of ciphertext from the socket per
    /// read, until `total` bytes (checked against the pattern from `start`) or the end.
    /// Returns (bytes read, how it ended: None = got total, Some(Ok) = close_notify,
    /// Some(Err) = error).
    pub fn read_verify(
        &mut self,
        start: u64,
        total: u64,
        piece: usize,
    ) -> (u64, Option<Result<(), String>>) {
        let mut got = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut small = vec![0u8; piece];
        loop {
            loop {
                match self.tls.reader().read(&mut buf) {
                    Ok(0) => return (got, Some(Ok(()))),
                    Ok(n) => {
                        if let Some(at) = mismatch(start + got, &buf[..n]) {
                            return (got, Some(Err(format!("byte {at} does not match"))));
                        }
                        got += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return (got, Some(Err(format!("plaintext read: {e}")))),
                }
            }
            if got >= total {
                return (got, None);
            }
            let n = match self.sock.read(&mut small) {
                Ok(n) => n,
                Err(e) => return (got, Some(Err(format!("socket read: {e}")))),
            };
            let mut input = &small[..n];
            loop {
                if let Err(e) = self.tls.read_tls(&mut input) {
                    return (got, Some(Err(format!("read_tls: {e}"))));
                }
                if let Err(e) = self.tls.process_new_packets() {
                    return (got, Some(Err(format!("TLS: {e}"))));
                }
                if input.is_empty() {
                    break;
                }
                // rustls' buffer is full: take plaintext out first.
                if let Ok(n) = self.tls.reader().read(&mut buf) {
                    if let Some(at) = mismatch(start + got, &buf[..n]) {
                        return (got, Some(Err(format!("byte {at} does not match"))));
                    }
                    got += n as u64;
                }
            }
            if n == 0 {
                // end of stream seen by read_tls; the plaintext read above reports it
                match self.tls.reader().read(&mut buf) {
                    Ok(0) => return (got, Some(Ok(()))),
                    Ok(_) => continue,
                    Err(e) => return (got, Some(Err(format!("end: {e}")))),
                }
            }
        }
    }
}

/// Runs `f` on a thread; the result arrives on the returned channel.
pub fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

pub fn kind_of<T>(r: &Result<T, Error>) -> Option<ErrorKind> {
    r.as_ref().err().map(|e| e.kind())
}
