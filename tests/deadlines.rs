//! A deadline test for every timeout, each against the peer that does the worst thing for
//! it: never reads, reads one byte a second, reads slowly but steadily, trickles, stalls
//! in the middle of the TLS handshake, never closes after our FIN, or a callback that
//! blocks. Every bound is the timeout plus 50 % plus 300 ms (`common::bound`), and at least
//! the timeout where ending early would be wrong too.
//!
//! No wait stands in for synchronisation: the tests wait for events (a callback, a
//! returned call, a peer's end of stream), each with a deadline; a deadline that is
//! overshot fails the test with how long it took, and the peer is then let go so that
//! nothing hangs.

mod common;
#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, ListenerConfig,
    Reply,
};

const MIB: usize = 1 << 20;

/// How long to wait for an outcome before declaring the deadline missed: well past
/// `bound`, so the failure message can say how far past it things went.
fn give_up(timeout: Duration) -> Duration {
    bound(timeout) + Duration::from_secs(3)
}

fn assert_within(what: &str, elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed >= timeout,
        "{what}: ended after {elapsed:?}, before its timeout of {timeout:?}"
    );
    assert!(
        elapsed <= bound(timeout),
        "{what}: ended after {elapsed:?}; timeout {timeout:?}, bound {:?}",
        bound(timeout)
    );
}

/// 64 MiB of zeros, far more than the socket buffers of a loopback connection hold.
fn huge() -> &'static [u8] {
    static HUGE: OnceLock<Vec<u8>> = OnceLock::new();
    HUGE.get_or_init(|| vec![0u8; 64 * MIB])
}

// ---------------------------------------------------------------------------------------
// A service that reports every callback with the time it happened.
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum What {
    Connect,
    Bytes,
    Error(ErrorKind, String),
    Close,
}

type Stamped = (Instant, What);

/// What the service does with input: returns bytes to write back (written with
/// `Caller::write_bytes`, so that a large static reply is not copied), or nothing.
type Behaviour =
    dyn Fn(&Caller, &[u8]) -> Result<Option<&'static [u8]>, Error> + Send + Sync + 'static;

struct Recorder {
    events: mpsc::Sender<Stamped>,
    behaviour: Arc<Behaviour>,
}

impl ConnectionService for Recorder {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let _ = self.events.send((Instant::now(), What::Bytes));
        if let Some(reply) = (self.behaviour)(caller, data)? {
            caller.write_bytes(reply)?;
        }
        Ok(Reply::None)
    }

    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self
            .events
            .send((Instant::now(), What::Error(err.kind(), err.to_string())));
    }

    fn on_close(&mut self, _: &Caller) {
        let _ = self.events.send((Instant::now(), What::Close));
    }
}

fn recorder(
    config: ListenerConfig,
    behaviour: impl Fn(&Caller, &[u8]) -> Result<Option<&'static [u8]>, Error> + Send + Sync + 'static,
) -> (Listener, mpsc::Receiver<Stamped>) {
    let behaviour: Arc<Behaviour> = Arc::new(behaviour);
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener
        .attach(move |_| {
            let _ = tx.send((Instant::now(), What::Connect));
            Ok(Recorder {
                events: tx.clone(),
                behaviour: Arc::clone(&behaviour),
            })
        })
        .unwrap();
    listener.start().unwrap();
    (listener, rx)
}

/// The first event that matches, within `within`; `None` if none came.
fn wait_for(
    events: &mpsc::Receiver<Stamped>,
    within: Duration,
    what: impl Fn(&What) -> bool,
) -> Option<Stamped> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if what(&event.1) => return Some(event),
            Ok(_) => continue,
            Err(_) => return None,
        }
    }
}

fn is_error(w: &What) -> bool {
    matches!(w, What::Error(..))
}

/// Replies to the first bytes with 64 MiB.
fn reply_huge(_: &Caller, _: &[u8]) -> Result<Option<&'static [u8]>, Error> {
    Ok(Some(huge()))
}

// ---------------------------------------------------------------------------------------
// Peers that misbehave.
// ---------------------------------------------------------------------------------------

/// A plain peer for a client to connect to: accepts, then does `behaviour` with the
/// accepted stream until told to stop (by dropping the returned sender).
fn plain_peer(
    behaviour: impl FnOnce(TcpStream, mpsc::Receiver<()>) + Send + 'static,
) -> (u16, mpsc::Sender<()>) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let (stop_tx, stop_rx) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = server.accept().unwrap();
        behaviour(stream, stop_rx);
    });
    (port, stop_tx)
}

/// Never reads; keeps the connection open until stopped.
fn never_reads(stream: TcpStream, stop: mpsc::Receiver<()>) {
    let _ = stop.recv();
    drop(stream);
}

/// Reads one byte a second until stopped.
fn one_byte_a_second(mut stream: TcpStream, stop: mpsc::Receiver<()>) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut byte = [0u8; 1];
    // The pacing is the peer's behaviour; a stop ends it at once.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_secs(1)) {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
    }
}

/// Reads 256 KiB every 200 ms until stopped: slow but steady progress, about 1.3 MB/s.
fn slow_but_steady(mut stream: TcpStream, stop: mpsc::Receiver<()>) {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(Duration::from_millis(200)) {
        let mut got = 0;
        while got < buf.len() {
            match stream.read(&mut buf[got..]) {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
        }
    }
}

/// The same three behaviours for a synctcp client as the peer: a thread that reads from
/// it that way until stopped.
fn client_reader(client: Arc<Client>, how: &'static str) -> mpsc::Sender<()> {
    let (stop_tx, stop) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (pause, amount) = match how {
            "never" => {
                let _ = stop.recv();
                return;
            }
            "one byte a second" => (Duration::from_secs(1), 1),
            _ => (Duration::from_millis(200), 256 * 1024),
        };
        while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(pause) {
            if client.read_bytes_exact(amount).is_err() {
                return;
            }
        }
    });
    stop_tx
}

// ---------------------------------------------------------------------------------------
// Client timeouts.
// ---------------------------------------------------------------------------------------

#[test]
fn client_read_timeout_against_a_silent_peer() {
    let timeout = Duration::from_secs(1);
    let (port, _stop) = plain_peer(never_reads);
    let config = ClientConfig::new().timeout(Some(timeout));
    let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
    let started = Instant::now();
    let err = client.read_bytes().unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_within("Client read_bytes, timeout 1 s", elapsed, timeout);
    // The timeout is per read and the connection stays usable: a second read times out
    // the same way.
    let started = Instant::now();
    let err = client.read_bytes_exact(10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_within(
        "Client read_bytes_exact, timeout 1 s",
        started.elapsed(),
        timeout,
    );
}

/// Writes 64 MiB from a thread; the outcome and how long the write took.
fn timed_write(client: Arc<Client>) -> mpsc::Receiver<(Result<(), Error>, Duration)> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let outcome = client.write_bytes(huge());
        let _ = tx.send((outcome, started.elapsed()));
    });
    rx
}

fn client_write_timeout_against(
    peer: impl FnOnce(TcpStream, mpsc::Receiver<()>) + Send + 'static,
    peer_name: &str,
) {
    let timeout = Duration::from_secs(1);
    let (port, stop_peer) = plain_peer(peer);
    let config = ClientConfig::new().write_timeout(Some(timeout));
    let client = Arc::new(Client::connect_with(("127.0.0.1", port), &config).unwrap());
    let outcome = timed_write(Arc::clone(&client)).recv_timeout(give_up(timeout));
    drop(stop_peer); // let the peer go whatever happened, so no write stays stuck
    let what =
        format!("Client::write_bytes of 64 MiB, write_timeout 1 s, to a peer that {peer_name}");
    match outcome {
        Err(_) => panic!("{what}: still writing after {:?}", give_up(timeout)),
        Ok((result, elapsed)) => {
            let err = result.expect_err("the write cannot have completed");
            assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
            assert_within(&what, elapsed, timeout);
        }
    }
}

#[test]
fn client_write_timeout_against_a_peer_that_never_reads() {
    client_write_timeout_against(never_reads, "never reads");
}

#[test]
fn client_write_timeout_against_a_peer_that_reads_one_byte_a_second() {
    client_write_timeout_against(one_byte_a_second, "reads one byte a second");
}

#[test]
fn client_write_timeout_is_one_deadline_per_write_against_a_slow_steady_reader() {
    client_write_timeout_against(slow_but_steady, "reads 256 KiB every 200 ms");
}

/// A connect to a listening socket whose backlog is full and that never accepts: Linux
/// drops the SYN, so the connect waits for SYN retransmits and must end at the connect
/// timeout.
#[test]
fn connect_timeout_against_a_full_backlog() {
    let timeout = Duration::from_secs(1);
    let (_full, port) = full_backlog();
    let config = ClientConfig::new().connect_timeout(Some(timeout));
    let started = Instant::now();
    let err = Client::connect_with(("127.0.0.1", port), &config).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The connect waits in poll(2), which counts whole milliseconds (socket2 rounds what
    // is left down): it may end up to a millisecond early.
    assert_within(
        "connect, connect_timeout 1 s",
        elapsed + Duration::from_millis(1),
        timeout,
    );
}

// ---------------------------------------------------------------------------------------
// Listener timeouts.
// ---------------------------------------------------------------------------------------

#[test]
fn idle_timeout_against_a_silent_peer() {
    let idle = Duration::from_secs(1);
    let (_listener, events) = recorder(listener_config().idle_timeout(Some(idle)), |_, _| Ok(None));
    let started = Instant::now();
    let peer = TcpStream::connect(_listener.local_addr()).unwrap();
    let (at, what) = wait_for(&events, give_up(idle), is_error)
        .unwrap_or_else(|| panic!("idle connection still open after {:?}", give_up(idle)));
    let What::Error(kind, text) = what else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert_within("idle_timeout 1 s", at - started, idle);
    assert!(wait_for(&events, WAIT, |w| matches!(w, What::Close)).is_some());
    drop(peer);
}

#[test]
fn max_lifetime_against_a_peer_trickling_bytes() {
    // A byte every 100 ms: never idle for the 500 ms idle timeout, and reads never time
    // out; the lifetime must still end the connection.
    let lifetime = Duration::from_secs(1);
    let config = listener_config()
        .idle_timeout(Some(Duration::from_millis(500)))
        .max_lifetime(Some(lifetime));
    let (_listener, events) = recorder(config, |_, _| Ok(None));
    let started = Instant::now();
    let mut peer = TcpStream::connect(_listener.local_addr()).unwrap();
    let mut ended = None;
    while started.elapsed() < give_up(lifetime) {
        if peer.write_all(b".").is_err() {
            break;
        }
        if let Some(event) = wait_for(&events, Duration::from_millis(100), is_error) {
            ended = Some(event);
            break;
        }
    }
    let (at, what) = ended.unwrap_or_else(|| {
        panic!(
            "trickling connection: no on_error within {:?} (max_lifetime 1 s)",
            started.elapsed()
        )
    });
    let What::Error(kind, text) = what else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert_within("max_lifetime 1 s, trickling peer", at - started, lifetime);
    assert!(wait_for(&events, WAIT, |w| matches!(w, What::Close)).is_some());
}

#[test]
fn max_lifetime_while_writing_to_a_peer_that_never_reads() {
    // A 16 MiB reply to a peer that stopped reading, with a write timeout far beyond the
    // lifetime: the lifetime ends it.
    let lifetime = Duration::from_secs(1);
    let config = listener_config()
        .max_lifetime(Some(lifetime))
        .write_timeout(Some(Duration::from_secs(10)));
    let (_listener, events) = recorder(config, |_, _| Ok(Some(&huge()[..16 * MIB])));
    let started = Instant::now();
    let client = connect(&_listener);
    client.write_bytes(b"go").unwrap(); // and never read
    let ended = wait_for(&events, give_up(lifetime), is_error);
    let Some((at, What::Error(kind, text))) = ended else {
        drop(client);
        panic!(
            "max_lifetime 1 s: the connection, busy writing a 16 MiB reply to a peer that \
             does not read, is still open after {:?}",
            started.elapsed()
        );
    };
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert_within("max_lifetime 1 s while writing", at - started, lifetime);
    let (closed, _) = wait_for(&events, bound(lifetime), |w| matches!(w, What::Close))
        .expect("on_close after on_error");
    assert!(
        closed - started <= bound(lifetime),
        "on_close only after {:?}",
        closed - started
    );
}

/// A listener whose on_bytes replies with 64 MiB to a client that reads `how`; the time
/// from the reply to on_error.
fn listener_write_timeout_against(how: &'static str) {
    let timeout = Duration::from_secs(1);
    let (_listener, events) = recorder(listener_config().write_timeout(Some(timeout)), reply_huge);
    let client = Arc::new(connect(&_listener));
    client.write_bytes(b"go").unwrap();
    let (replied, _) = wait_for(&events, WAIT, |w| matches!(w, What::Bytes)).unwrap();
    let stop_reader = client_reader(Arc::clone(&client), how);
    let ended = wait_for(&events, give_up(timeout), is_error);
    drop(stop_reader);
    let what = format!("listener reply of 64 MiB, write_timeout 1 s, to a peer that reads {how}");
    let Some((at, What::Error(kind, text))) = ended else {
        client.close().unwrap();
        panic!("{what}: no on_error within {:?}", give_up(timeout));
    };
    assert_eq!(kind, ErrorKind::Timeout, "{what}: {text}");
    assert_within(&what, at - replied, timeout);
    assert!(wait_for(&events, WAIT, |w| matches!(w, What::Close)).is_some());
}

#[test]
fn listener_write_timeout_against_a_peer_that_never_reads() {
    listener_write_timeout_against("never");
}

#[test]
fn listener_write_timeout_against_a_peer_that_reads_one_byte_a_second() {
    listener_write_timeout_against("one byte a second");
}

#[test]
fn listener_write_timeout_is_one_deadline_per_write_against_a_slow_steady_reader() {
    listener_write_timeout_against("256 KiB every 200 ms");
}

#[test]
fn listener_write_timeout_for_a_caller_write_from_another_thread() {
    // Caller::write_bytes of 64 MiB from another thread: the write queue stays full, and
    // the writer gets Timeout one write timeout after it started waiting.
    let timeout = Duration::from_secs(1);
    let (tx, outcome) = mpsc::channel();
    let (_listener, events) = recorder(
        listener_config().write_timeout(Some(timeout)),
        move |caller, _| {
            let caller = caller.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                let started = Instant::now();
                let result = caller.write_bytes(huge());
                let _ = tx.send((result, started.elapsed()));
            });
            Ok(None)
        },
    );
    let client = connect(&_listener);
    client.write_bytes(b"go").unwrap(); // and never read
    let outcome = outcome.recv_timeout(give_up(timeout));
    let what = "Caller::write_bytes of 64 MiB from another thread, write_timeout 1 s";
    let Ok((result, elapsed)) = outcome else {
        drop(client);
        panic!("{what}: still writing after {:?}", give_up(timeout));
    };
    let err = result.expect_err("cannot have been written");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{what}: {err}");
    assert_within(what, elapsed, timeout);
    let (_, what_err) = wait_for(&events, WAIT, is_error).expect("on_error");
    assert!(
        matches!(what_err, What::Error(ErrorKind::Timeout, _)),
        "{what_err:?}"
    );
    assert!(wait_for(&events, WAIT, |w| matches!(w, What::Close)).is_some());
}

#[test]
fn drain_timeout_against_a_peer_that_never_closes_after_our_fin() {
    // The listener closes at once (FIN); the peer never closes and keeps sending a byte
    // every 20 ms. After drain_timeout the socket must be dropped: the peer's writes then
    // meet a reset.
    let drain = Duration::from_secs(1);
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().drain_timeout(drain)).unwrap();
    listener
        .attach(|caller| {
            let _ = caller.close();
            Ok(Echo)
        })
        .unwrap();
    listener.start().unwrap();
    let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(peer.read(&mut [0u8; 16]).unwrap(), 0, "expected our FIN");
    let fin = Instant::now();
    let dropped = loop {
        if peer.write_all(b".").is_err() {
            break fin.elapsed();
        }
        assert!(
            fin.elapsed() < give_up(drain),
            "the socket was not dropped within {:?} of FIN (drain_timeout 1 s)",
            give_up(drain)
        );
        // The peer's pace, not a synchronisation.
        thread::sleep(Duration::from_millis(20));
    };
    // The reset is seen at the peer's next write after the drop: up to two 20 ms steps
    // late, and FIN reached the peer a moment after the drain began.
    assert!(
        dropped >= drain - Duration::from_millis(100),
        "dropped {dropped:?} after FIN, before the drain timeout of {drain:?}"
    );
    assert!(
        dropped <= bound(drain),
        "dropped {dropped:?} after FIN; drain_timeout {drain:?}, bound {:?}",
        bound(drain)
    );
}

#[test]
fn graceful_stop_timeout_with_a_callback_blocked_in_a_write() {
    // on_bytes writes 64 MiB through its caller to a peer that never reads (write timeout
    // 60 s, the default): the stop must force it at its own timeout.
    let timeout = Duration::from_secs(1);
    let (listener, events) = recorder(listener_config(), |caller, _| {
        caller.write_bytes(huge())?;
        Ok(None)
    });
    let client = connect(&listener);
    client.write_bytes(b"go").unwrap(); // and never read
    wait_for(&events, WAIT, |w| matches!(w, What::Bytes)).unwrap();
    let started = Instant::now();
    let (tx, stopped) = mpsc::channel();
    thread::spawn(move || {
        let outcome = listener.graceful_stop(timeout);
        let _ = tx.send((outcome, started.elapsed()));
    });
    let outcome = stopped.recv_timeout(give_up(timeout));
    drop(client);
    let (result, elapsed) = outcome.unwrap_or_else(|_| {
        panic!(
            "graceful_stop(1 s) still running after {:?}",
            give_up(timeout)
        )
    });
    assert_within(
        "graceful_stop(1 s), callback blocked in a write",
        elapsed,
        timeout,
    );
    result.unwrap();
    let close = wait_for(&events, Duration::ZERO, |w| matches!(w, What::Close));
    assert!(
        close.is_some(),
        "on_close ran before graceful_stop returned"
    );
}

#[test]
fn graceful_stop_timeout_with_a_callback_that_blocks_for_good() {
    // A callback blocked on something the listener cannot interrupt. The documented bound:
    // the stop returns within its timeout plus 2 s, with a Timeout error.
    let timeout = Duration::from_secs(1);
    let grace = Duration::from_secs(2);
    let (release_tx, release) = mpsc::channel::<()>();
    let release = Arc::new(std::sync::Mutex::new(release));
    let (listener, events) = recorder(listener_config(), move |_, _| {
        let _ = release.lock().unwrap().recv_timeout(WAIT);
        Ok(None)
    });
    let client = connect(&listener);
    client.write_bytes(b"go").unwrap();
    wait_for(&events, WAIT, |w| matches!(w, What::Bytes)).unwrap();
    let started = Instant::now();
    let (tx, stopped) = mpsc::channel();
    thread::spawn(move || {
        let outcome = listener.graceful_stop(timeout);
        let _ = tx.send((outcome, started.elapsed()));
    });
    let outcome = stopped.recv_timeout(give_up(timeout + grace));
    drop(release_tx);
    let (result, elapsed) = outcome.unwrap_or_else(|_| {
        panic!(
            "graceful_stop(1 s) still running after {:?}",
            give_up(timeout + grace)
        )
    });
    assert!(elapsed >= timeout, "returned after {elapsed:?}");
    assert!(
        elapsed <= bound(timeout + grace),
        "graceful_stop(1 s) with a stuck callback returned after {elapsed:?}; documented: \
         within the timeout plus 2 s (bound {:?})",
        bound(timeout + grace)
    );
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Timeout);
}

// ---------------------------------------------------------------------------------------
// TLS.
// ---------------------------------------------------------------------------------------

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use pki::Pki;
    use std::sync::atomic::{AtomicBool, Ordering};
    use synctcp::{ClientSecureSocket, ListenerSecureSocket};

    fn server_tls(pki: &Pki) -> ListenerSecureSocket {
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
    }

    /// The first flight of a real TLS client: a ClientHello.
    fn client_hello() -> Vec<u8> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut hello = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut hello).unwrap();
        }
        assert!(hello.len() > 100, "a ClientHello of {} bytes", hello.len());
        hello
    }

    /// How long after `started` the listener closed `peer` (end of stream or reset).
    fn closed_after(peer: &mut TcpStream, started: Instant) -> Duration {
        peer.set_read_timeout(Some(WAIT)).unwrap();
        let mut sink = [0u8; 256];
        loop {
            match peer.read(&mut sink) {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => continue, // an alert
            }
        }
    }

    #[test]
    fn handshake_timeout_against_half_a_client_hello() {
        let timeout = Duration::from_secs(1);
        let pki = Pki::new();
        let config = listener_config().secure_socket(server_tls(&pki).handshake_timeout(timeout));
        let (listener, events) = recorder(config, |_, _| Ok(None));
        let hello = client_hello();
        let started = Instant::now();
        let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
        peer.write_all(&hello[..hello.len() / 2]).unwrap(); // then stall
        let elapsed = closed_after(&mut peer, started);
        assert_within(
            "handshake_timeout 1 s, half a ClientHello",
            elapsed,
            timeout,
        );
        assert!(
            events.try_recv().is_err(),
            "no callback for a failed handshake"
        );
    }

    #[test]
    fn handshake_timeout_against_a_client_hello_trickled_a_byte_at_a_time() {
        // A byte every 20 ms: the ClientHello would take seconds; the timeout bounds the
        // handshake as a whole.
        let timeout = Duration::from_secs(1);
        let pki = Pki::new();
        let config = listener_config().secure_socket(server_tls(&pki).handshake_timeout(timeout));
        let (listener, _events) = recorder(config, |_, _| Ok(None));
        let hello = client_hello();
        let started = Instant::now();
        let peer = TcpStream::connect(listener.local_addr()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let trickler = {
            let mut peer = peer.try_clone().unwrap();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                for byte in hello {
                    if stop.load(Ordering::SeqCst) || peer.write_all(&[byte]).is_err() {
                        return;
                    }
                    thread::sleep(Duration::from_millis(20)); // the peer's pace
                }
            })
        };
        let mut reader = peer;
        let elapsed = closed_after(&mut reader, started);
        stop.store(true, Ordering::SeqCst);
        let _ = trickler.join();
        assert_within(
            "handshake_timeout 1 s, trickled ClientHello",
            elapsed,
            timeout,
        );
    }

    #[test]
    fn tls_client_read_timeout_against_a_silent_listener() {
        let timeout = Duration::from_secs(1);
        let pki = Pki::new();
        let (listener, _events) =
            recorder(listener_config().secure_socket(server_tls(&pki)), |_, _| {
                Ok(None)
            });
        let config = ClientConfig::new()
            .timeout(Some(timeout))
            .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
        let client = Client::connect_with(
            ("127.0.0.1", listener.local_addr().port().unwrap()),
            &config,
        )
        .unwrap();
        let started = Instant::now();
        let err = client.read_bytes().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert_within(
            "TLS Client read_bytes, timeout 1 s",
            started.elapsed(),
            timeout,
        );
    }
}
