//! Helpers shared by the integration tests: loopback listeners, an echo service, a service
//! that reports every callback on a channel, and bounded waits.
#![allow(dead_code, unreachable_pub)]

mod timing;
#[allow(unused_imports)] // not every test binary times a deadline
pub use timing::bound;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, ListenerConfig,
    Reply,
};

/// The bound on every wait in the tests: generous, so a busy machine does not fail them.
pub const WAIT: Duration = Duration::from_secs(20);

/// Where every test listener binds: IPv4 loopback, a free port.
pub const LOOPBACK: &str = "127.0.0.1:0";

/// The listener configuration the tests start from (bound to [`LOOPBACK`]).
pub fn listener_config() -> ListenerConfig {
    ListenerConfig::new()
}

/// A directory of one test's own under the system's temporary directory (socket files,
/// configs, generated files): emptied first, removed when dropped, even by a failing test.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `synctcp-PID-NAME`: the process id keeps concurrent runs of the suite apart, `name`
    /// the tests of one run.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("synctcp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// The file `name` in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes back whatever arrives.
pub struct Echo;

impl ConnectionService for Echo {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Echo)
    }
}

/// A started loopback listener with an echo service.
pub fn echo_listener() -> Listener {
    echo_listener_with(listener_config())
}

pub fn echo_listener_with(config: ListenerConfig) -> Listener {
    let mut listener = Listener::bind_with(LOOPBACK, &config).expect("bind");
    listener.attach(|_| Ok(Echo)).expect("attach");
    listener.start().expect("start");
    listener
}

/// Client timeouts for tests: a read or write that hangs fails the test after [`WAIT`].
pub fn client_config() -> ClientConfig {
    ClientConfig::new()
        .timeout(Some(WAIT))
        .write_timeout(Some(WAIT))
}

/// A started listener that echoes and hands each new connection's caller to the test.
pub fn caller_listener(config: ListenerConfig) -> (Listener, std::sync::mpsc::Receiver<Caller>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &config).expect("bind");
    listener
        .attach(move |caller| {
            let _ = tx.send(caller.clone());
            Ok(Echo)
        })
        .expect("attach");
    listener.start().expect("start");
    (listener, rx)
}

/// A loopback port where nothing listens, kept so while the returned socket lives: bound
/// but not listening, so connects are refused and no other test can take the port.
pub fn refusing_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

/// A loopback port whose listening socket never accepts and whose accept queue is full:
/// Linux drops the SYNs of further connects, which then wait for their connect timeout.
/// Held while the returned sockets live.
pub fn full_backlog() -> (Vec<socket2::Socket>, u16) {
    use socket2::{Domain, SockAddr, Socket, Type};
    let listening = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listening
        .bind(&SockAddr::from(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .unwrap();
    listening.listen(0).unwrap();
    let addr = listening.local_addr().unwrap();
    let port = addr.as_socket().unwrap().port();
    // Fill the accept queue until a connect no longer completes.
    let mut held = vec![listening];
    loop {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match socket.connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(()) => held.push(socket),
            Err(_) => return (held, port),
        }
        assert!(
            held.len() <= 64,
            "the backlog never filled on this system: connect timeouts cannot be tested here"
        );
    }
}

/// A client connected to `listener` over IPv4 loopback.
pub fn connect(listener: &Listener) -> Client {
    connect_port(listener.local_addr().port().unwrap())
}

/// A client connected to 127.0.0.1:`port`.
pub fn connect_port(port: u16) -> Client {
    Client::connect_with(("127.0.0.1", port), &client_config()).expect("connect")
}

/// A client and the server's end of its connection (a plain socket), without Nagle's
/// delay on the server's side: a reset throws away what the peer has not sent yet.
pub fn connected_pair() -> (Client, std::net::TcpStream) {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = connect_port(server.local_addr().unwrap().port());
    let (peer, _) = server.accept().unwrap();
    peer.set_nodelay(true).unwrap();
    (client, peer)
}

/// A peer that resets (linger 0, then close): the RST is on its way when this returns.
pub fn reset_by_peer(peer: std::net::TcpStream) {
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
}

/// One callback, as seen by a [`Probe`].
#[derive(Debug, Clone)]
pub enum Event {
    Connect(Caller),
    Bytes(u64, Vec<u8>),
    Error(u64, ErrorKind, String),
    Close(u64),
}

impl Event {
    pub fn id(&self) -> u64 {
        match self {
            Event::Connect(caller) => caller.id(),
            Event::Bytes(id, _) | Event::Error(id, ..) | Event::Close(id) => *id,
        }
    }
}

/// A connection service that reports every callback on a channel and echoes; the input
/// `fail` makes `on_bytes` return an error and `panic` makes it panic.
pub struct Probe {
    events: Sender<Event>,
}

impl ConnectionService for Probe {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let _ = self.events.send(Event::Bytes(caller.id(), data.to_vec()));
        match data {
            b"fail" => Err(Error::new(ErrorKind::Other, "asked to fail")),
            b"panic" => panic!("asked to panic"),
            _ => Ok(Reply::Echo),
        }
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        let _ = self
            .events
            .send(Event::Error(caller.id(), err.kind(), err.to_string()));
    }

    fn on_close(&mut self, caller: &Caller) {
        let _ = self.events.send(Event::Close(caller.id()));
    }
}

/// A started loopback listener whose connections report to the returned channel.
pub fn probe_listener(config: ListenerConfig) -> (Listener, Receiver<Event>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut listener = Listener::bind_with(LOOPBACK, &config).expect("bind");
    listener
        .attach(move |caller| {
            let _ = tx.send(Event::Connect(caller.clone()));
            Ok(Probe { events: tx.clone() })
        })
        .expect("attach");
    listener.start().expect("start");
    (listener, rx)
}

/// The next event, failing the test if none comes within [`WAIT`].
pub fn next(events: &Receiver<Event>) -> Event {
    events
        .recv_timeout(WAIT)
        .expect("no event within the wait bound")
}

/// Skips events until one matches, within [`WAIT`].
pub fn wait_event(events: &Receiver<Event>, what: impl Fn(&Event) -> bool) -> Event {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if what(&event) => return event,
            Ok(_) => continue,
            Err(_) => panic!("the expected event did not come within {WAIT:?}"),
        }
    }
}

/// Polls `condition` until it holds, failing the test after `bound`. For conditions no
/// channel reports (thread and descriptor counts in `/proc`).
pub fn wait_until(bound: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "{what}: not true within {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Reads from `client` until end of stream, returning everything read.
pub fn read_to_end(client: &Client) -> Result<Vec<u8>, Error> {
    let mut all = Vec::new();
    loop {
        match client.read_bytes() {
            Ok(bytes) => all.extend_from_slice(&bytes),
            Err(e) if e.kind() == ErrorKind::Closed => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

/// The path of an example, built first (once per test binary) with the profile of this
/// test binary and every feature: a test never finds it missing, or runs a stale one, even
/// when only its own test target was built (`cargo test --test examples`).
pub fn example(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = BUILT.get_or_init(build_examples);
    let path = dir.join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}

/// Runs `cargo build --examples --all-features` and returns where the examples are.
fn build_examples() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "synctcp-examples",
            "--examples",
            "--all-features",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile.as_str() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let out = build.output().expect("run cargo to build the examples");
    assert!(
        out.status.success(),
        "cargo build --examples failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    profile_dir.join("examples")
}

/// A running child process, killed when dropped. Its stdout stays open (a closed pipe
/// would make its next print fail).
pub struct Running(pub Child, pub BufReader<ChildStdout>);

impl Running {
    /// The next line the process printed.
    pub fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.1.read_line(&mut line).unwrap();
        line
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server example and reads its port from its first line, `listening on HOST:PORT`.
pub fn start_example(mut command: Command) -> (Running, u16) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut running = Running(child, stdout);
    let line = running.next_line();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let port = addr.rsplit(':').next().unwrap().parse().unwrap();
    (running, port)
}
