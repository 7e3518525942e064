//! Adversarial deadline tests: every timeout against the worst peer, over TLS where the
//! existing suite only tried plain TCP, several writers at once, stops against stalled
//! handshakes, long drains and blocked writes. Bound: timeout + 50 % + 300 ms.
#![cfg(feature = "tls")]

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hostile::*;
use pki::Pki;
use synctcp::framing::Delimited;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, Listener, ListenerConfig,
    ListenerSecureSocket,
};

fn server_tls(pki: &Pki) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
}

fn client_tls(pki: &Pki, version: &str) -> ClientSecureSocket {
    ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions([version])
}

fn connect(listener: &Listener, config: &ClientConfig) -> Client {
    Client::connect_with(listener.local_addr(), config).expect("connect")
}

/// A listener whose `on_connect` blocks until the returned sender is dropped: after the
/// handshake nothing is ever read from the peer.
fn never_reading_listener(config: ListenerConfig) -> (Listener, crossbeam_channel::Sender<()>) {
    let (tx, rx) = crossbeam_channel::unbounded::<()>();
    let (listener, _events) = scripted(
        config,
        Script::new().on_connect(move |_| {
            let _ = rx.recv_timeout(WAIT * 3);
            Ok(())
        }),
    );
    (listener, tx)
}

// ------------------------------------------------------------------ client writes

#[test]
fn tls_client_write_timeout_against_a_peer_that_never_reads() {
    let pki = Pki::new();
    for version in ["TLSv1.2", "TLSv1.3"] {
        let (listener, release) =
            never_reading_listener(listener_config().secure_socket(server_tls(&pki)));
        let timeout = Duration::from_secs(1);
        let config = ClientConfig::new()
            .write_timeout(Some(timeout))
            .secure_socket(client_tls(&pki, version));
        let client = connect(&listener, &config);
        let started = Instant::now();
        let err = client.write_bytes(huge()).unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{version}: {err}");
        assert_bounded(&format!("{version} client write_timeout"), elapsed, timeout);
        drop(client);
        drop(release);
        listener.immediate_stop().unwrap();
    }
}

#[test]
fn four_client_writers_at_once_each_get_their_own_deadline() {
    let pki = Pki::new();
    for tls in [false, true] {
        let config = if tls {
            listener_config().secure_socket(server_tls(&pki))
        } else {
            listener_config()
        };
        let (listener, release) = never_reading_listener(config);
        let timeout = Duration::from_secs(1);
        let mut config = ClientConfig::new().write_timeout(Some(timeout));
        if tls {
            config = config.secure_socket(client_tls(&pki, "TLSv1.3"));
        }
        let client = Arc::new(connect(&listener, &config));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let client = Arc::clone(&client);
                thread::spawn(move || {
                    let started = Instant::now();
                    let r = client.write_bytes(&huge()[..16 * MIB]);
                    (started.elapsed(), r.map_err(|e| e.kind()))
                })
            })
            .collect();
        for h in handles {
            let (elapsed, r) = h.join().unwrap();
            assert!(
                r.is_err(),
                "tls {tls}: a 16 MiB write to a non-reader succeeded"
            );
            assert_bounded(
                &format!("tls {tls}: one of four writers ({r:?})"),
                elapsed,
                timeout,
            );
        }
        drop(release);
        listener.immediate_stop().unwrap();
    }
}

// ------------------------------------------------------------------ client reads / handshake

fn rustls_server_config(pki: &Pki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<_> = CertificateDer::pem_file_iter(pki.path("server.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

#[test]
fn tls_client_read_timeout_against_a_record_trickled_a_byte_at_a_time() {
    // A real TLS server that, after the handshake, sends one application-data record a byte
    // every 50 ms: bytes keep arriving, but no plaintext ever does within the timeout.
    let pki = Pki::new();
    let server_config = rustls_server_config(&pki);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let peer = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let (mut sock, _) = server.accept().unwrap();
            sock.set_read_timeout(Some(WAIT)).unwrap();
            let mut conn = rustls::ServerConnection::new(server_config).unwrap();
            while conn.is_handshaking() {
                conn.complete_io(&mut sock).unwrap();
            }
            while conn.wants_write() {
                conn.write_tls(&mut sock).unwrap();
            }
            conn.writer().write_all(&[b'A'; 1000]).unwrap();
            let mut record = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut record).unwrap();
            }
            for b in record {
                if stop.load(Ordering::SeqCst) || sock.write_all(&[b]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(50)); // the peer's pace
            }
        })
    };
    let timeout = Duration::from_secs(1);
    let config = ClientConfig::new()
        .timeout(Some(timeout))
        .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
    let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
    let started = Instant::now();
    let r = client.read_bytes();
    let elapsed = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_bounded("TLS read_bytes against a trickled record", elapsed, timeout);
    drop(client);
    peer.join().unwrap();
}

#[test]
fn tls_client_handshake_timeout_against_silent_and_trickling_servers() {
    let pki = Pki::new();
    for trickle in [false, true] {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let peer = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let (mut sock, _) = server.accept().unwrap();
                sock.set_read_timeout(Some(Duration::from_millis(50)))
                    .unwrap();
                let mut sink = [0u8; 4096];
                if trickle {
                    // a handshake record announcing 16,000 bytes, then a byte every 50 ms
                    let _ = sock.write_all(&[0x16, 0x03, 0x03, 0x3e, 0x80]);
                }
                while !stop.load(Ordering::SeqCst) {
                    let _ = sock.read(&mut sink);
                    if trickle && sock.write_all(&[2]).is_err() {
                        return;
                    }
                }
            })
        };
        let timeout = Duration::from_secs(1);
        let config = ClientConfig::new()
            .timeout(Some(WAIT))
            .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")).handshake_timeout(timeout));
        let started = Instant::now();
        let r = Client::connect_with(("127.0.0.1", port), &config);
        let elapsed = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let err = r.expect_err("the handshake cannot succeed");
        assert_eq!(err.kind(), ErrorKind::Timeout, "trickle {trickle}: {err}");
        assert_bounded(
            &format!("client handshake_timeout, trickle {trickle}"),
            elapsed,
            timeout,
        );
        peer.join().unwrap();
    }
}

// ------------------------------------------------------------------ listener writes

/// The time of the first on_error and its kind, relative to `from`.
fn error_after(
    events: &mpsc::Receiver<Stamped>,
    from: Instant,
    within: Duration,
) -> (Duration, ErrorKind, String) {
    match wait_ev(events, within, |e| matches!(e, Ev::Error(..))) {
        Some((at, Ev::Error(_, kind, text))) => (at - from, kind, text),
        _ => panic!("no on_error within {within:?}"),
    }
}

#[test]
fn tls_listener_reply_to_a_client_that_never_reads_meets_write_timeout() {
    let pki = Pki::new();
    for version in ["TLSv1.2", "TLSv1.3"] {
        let timeout = Duration::from_secs(1);
        let (listener, events) = scripted(
            listener_config()
                .secure_socket(server_tls(&pki))
                .write_timeout(Some(timeout)),
            Script::new().on_bytes(|caller, _| {
                caller.write_bytes(huge())?; // no 64 MiB copy before the write
                Ok(None)
            }),
        );
        let client = connect(
            &listener,
            &ClientConfig::new().secure_socket(client_tls(&pki, version)),
        );
        client.write_bytes(b"go").unwrap();
        let (at, _) = must_ev(&events, "on_bytes", |e| matches!(e, Ev::Bytes(..)));
        let (elapsed, kind, text) =
            error_after(&events, at, bound(timeout) + Duration::from_secs(5));
        assert_eq!(kind, ErrorKind::Timeout, "{version}: {text}");
        assert_bounded(
            &format!("{version}: listener write_timeout"),
            elapsed,
            timeout,
        );
        must_ev(&events, "on_close", |e| matches!(e, Ev::Close(_)));
        drop(client);
        listener.immediate_stop().unwrap();
    }
}

#[test]
fn tls_max_lifetime_while_writing_to_a_peer_that_never_reads() {
    let pki = Pki::new();
    let lifetime = Duration::from_secs(1);
    let (listener, events) = scripted(
        listener_config()
            .secure_socket(server_tls(&pki))
            .write_timeout(Some(Duration::from_secs(10)))
            .max_lifetime(Some(lifetime)),
        Script::new().on_bytes(|caller, _| {
            caller.write_bytes(huge())?; // no 64 MiB copy before the write
            Ok(None)
        }),
    );
    let client = connect(
        &listener,
        &ClientConfig::new().secure_socket(client_tls(&pki, "TLSv1.3")),
    );
    let (accepted, _) = must_ev(&events, "on_connect", |e| matches!(e, Ev::Connect(_)));
    client.write_bytes(b"go").unwrap();
    let (elapsed, kind, text) = error_after(&events, accepted, Duration::from_secs(8));
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert_bounded("TLS max_lifetime while writing", elapsed, lifetime);
    drop(client);
    listener.immediate_stop().unwrap();
}

#[test]
fn max_lifetime_bounds_a_caller_write_waiting_for_room() {
    let pki = Pki::new();
    for tls in [false, true] {
        let lifetime = Duration::from_secs(1);
        let (result_tx, result_rx) = mpsc::channel();
        let result_tx = Mutex::new(result_tx);
        let mut config = listener_config()
            .write_timeout(Some(Duration::from_secs(30)))
            .write_queue_bytes(64 * 1024)
            .max_lifetime(Some(lifetime));
        if tls {
            config = config.secure_socket(server_tls(&pki));
        }
        let (listener, events) = scripted(
            config,
            Script::new().on_connect(move |caller| {
                let caller = caller.clone();
                let tx = result_tx.lock().unwrap().clone();
                thread::spawn(move || {
                    let started = Instant::now();
                    let r = caller.write_bytes(huge());
                    let _ = tx.send((started, Instant::now(), r.map_err(|e| e.kind())));
                });
                Ok(())
            }),
        );
        let mut cc = ClientConfig::new();
        if tls {
            cc = cc.secure_socket(client_tls(&pki, "TLSv1.3"));
        }
        let client = connect(&listener, &cc); // never reads
        let (accepted, _) = must_ev(&events, "on_connect", |e| matches!(e, Ev::Connect(_)));
        let (_, ended, r) = result_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                panic!("tls {tls}: the caller write did not end within 10 s (max_lifetime 1 s)")
            });
        assert!(r.is_err(), "tls {tls}: 64 MiB went to a non-reader");
        assert_bounded(
            &format!("tls {tls}: caller write under max_lifetime ({r:?})"),
            ended - accepted,
            lifetime,
        );
        let (closed, _) = must_ev(&events, "on_close", |e| matches!(e, Ev::Close(_)));
        assert_bounded(
            &format!("tls {tls}: on_close under max_lifetime"),
            closed - accepted,
            lifetime,
        );
        drop(client);
        listener.immediate_stop().unwrap();
    }
}

#[test]
fn a_caller_write_behind_a_blocked_connection_thread_write_is_bounded() {
    let pki = Pki::new();
    for tls in [false, true] {
        let timeout = Duration::from_millis(1500);
        let (result_tx, result_rx) = mpsc::channel();
        let result_tx = Mutex::new(result_tx);
        let mut config = listener_config().write_timeout(Some(timeout));
        if tls {
            config = config.secure_socket(server_tls(&pki));
        }
        let (listener, events) = scripted(
            config,
            Script::new().on_bytes(move |caller, _| {
                let caller2 = caller.clone();
                let tx = result_tx.lock().unwrap().clone();
                let (ready_tx, ready_rx) = mpsc::channel();
                thread::spawn(move || {
                    let _ = ready_tx.send(());
                    let started = Instant::now();
                    let r = caller2.write_bytes(b"small");
                    let _ = tx.send((started.elapsed(), r.map_err(|e| e.kind())));
                });
                let _ = ready_rx.recv_timeout(WAIT);
                // the connection thread's own blocking write
                let _ = caller.write_bytes(huge());
                Ok(None)
            }),
        );
        let mut cc = ClientConfig::new();
        if tls {
            cc = cc.secure_socket(client_tls(&pki, "TLSv1.3"));
        }
        let client = connect(&listener, &cc);
        client.write_bytes(b"go").unwrap(); // then never reads
        let (elapsed, r) = result_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("tls {tls}: the small write from another thread hung"));
        assert_bounded(
            &format!("tls {tls}: small write from another thread ({r:?})"),
            elapsed,
            timeout,
        );
        must_ev(&events, "on_close", |e| matches!(e, Ev::Close(_)));
        drop(client);
        listener.immediate_stop().unwrap();
    }
}

#[test]
fn idle_timeout_closes_a_connection_whose_write_is_stalled() {
    // "Closes a connection that has had no traffic in either direction for this long": a
    // reply stalled on a peer that never reads is no traffic.
    let idle = Duration::from_secs(1);
    let (listener, events) = scripted(
        listener_config()
            .idle_timeout(Some(idle))
            .write_timeout(Some(Duration::from_secs(15))),
        Script::new().on_bytes(|caller, _| {
            caller.write_bytes(huge())?; // no 64 MiB copy before the write
            Ok(None)
        }),
    );
    let mut peer = raw_to(&listener);
    peer.write_all(b"go").unwrap(); // and never reads
    let (at, _) = must_ev(&events, "on_bytes", |e| matches!(e, Ev::Bytes(..)));
    // the stall begins once the socket buffers are full, a few ms after on_bytes
    let (elapsed, kind, text) = error_after(&events, at, Duration::from_secs(20));
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert!(
        text.contains("idle_timeout"),
        "closed by another limit: {text}"
    );
    // Bytes the operating system takes count as traffic: on loopback the peer's receive
    // buffer keeps growing for a second or two after it stopped reading. The idle
    // timeout, not the 15 s write timeout, must close it, a few seconds after the stall.
    assert!(
        elapsed >= idle && elapsed < Duration::from_secs(8),
        "idle_timeout 1 s with a stalled write: closed after {elapsed:?} ({text})"
    );
    drop(peer);
    listener.immediate_stop().unwrap();
}

// ------------------------------------------------------------------ stops

fn half_hello() -> Vec<u8> {
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
    hello.truncate(hello.len() / 2);
    hello
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Graceful,
    Immediate,
    Drop,
}

fn stop(listener: Listener, how: Stop) -> Duration {
    let listener = listener;
    let started = Instant::now();
    match how {
        Stop::Graceful => {
            let _ = listener.graceful_stop(Duration::from_millis(500));
        }
        Stop::Immediate => {
            let _ = listener.immediate_stop();
        }
        Stop::Drop => drop(listener),
    }
    started.elapsed()
}

/// What each stop may take at most: graceful 0.5 s + 2 s; immediate and drop 2 s (the
/// documented grace for callbacks; a handshake or a drain is not a callback).
fn stop_limit(how: Stop) -> Duration {
    match how {
        Stop::Graceful => Duration::from_millis(2500),
        _ => Duration::from_secs(2),
    }
}

#[test]
fn stops_do_not_wait_for_a_stalled_tls_handshake() {
    let pki = Pki::new();
    let hello = half_hello();
    for how in [Stop::Graceful, Stop::Immediate, Stop::Drop] {
        let (listener, events) = scripted(
            listener_config()
                .secure_socket(server_tls(&pki).handshake_timeout(Duration::from_secs(30))),
            Script::new(),
        );
        let mut peer = raw_to(&listener);
        peer.write_all(&hello).unwrap(); // and stall
                                         // a healthy connection proves the listener accepted (and reached the stalled one first)
        let ok = connect(
            &listener,
            &ClientConfig::new()
                .timeout(Some(WAIT))
                .secure_socket(client_tls(&pki, "TLSv1.3")),
        );
        ok.write_bytes(b"x").unwrap();
        assert_eq!(ok.read_bytes_exact(1).unwrap(), b"x");
        let elapsed = stop(listener, how);
        assert_bounded(
            &format!("{how:?} with a handshake stalled"),
            elapsed,
            stop_limit(how),
        );
        let _ = events;
        drop(peer);
    }
}

#[test]
fn stops_do_not_wait_out_a_long_drain() {
    for how in [Stop::Graceful, Stop::Immediate, Stop::Drop] {
        let (listener, events) = scripted(
            listener_config().drain_timeout(Duration::from_secs(10)),
            Script::new(),
        );
        let mut peer = raw_to(&listener); // connected, never closes
        peer.write_all(b"hi").unwrap();
        let mut two = [0u8; 2];
        peer.read_exact(&mut two).unwrap();
        let elapsed = stop(listener, how);
        assert_bounded(
            &format!("{how:?} with a peer that never closes (drain 10 s)"),
            elapsed,
            stop_limit(how),
        );
        let all = drain_events(&events, Duration::from_millis(100));
        assert_eq!(
            count(&all, |e| matches!(e, Ev::Close(_))),
            1,
            "{how:?}: on_close ran before the stop returned: {all:?}"
        );
        drop(peer);
    }
}

#[test]
fn stops_cut_a_reply_blocked_on_a_peer_that_never_reads() {
    for how in [Stop::Graceful, Stop::Immediate, Stop::Drop] {
        let (listener, events) = scripted(
            listener_config()
                .write_timeout(Some(Duration::from_secs(60)))
                .drain_timeout(Duration::from_secs(10)),
            Script::new().on_bytes(|caller, _| {
                caller.write_bytes(huge())?; // no 64 MiB copy before the write
                Ok(None)
            }),
        );
        let mut peer = raw_to(&listener);
        peer.write_all(b"go").unwrap(); // never reads
        must_ev(&events, "on_bytes", |e| matches!(e, Ev::Bytes(..)));
        let elapsed = stop(listener, how);
        assert_bounded(
            &format!("{how:?} with a reply blocked"),
            elapsed,
            stop_limit(how),
        );
        let all = drain_events(&events, Duration::from_millis(100));
        assert_eq!(
            count(&all, |e| matches!(e, Ev::Close(_))),
            1,
            "{how:?}: on_close ran once before the stop returned: {all:?}"
        );
        drop(peer);
    }
}

#[test]
fn stops_release_a_caller_write_blocked_on_a_full_queue() {
    for how in [Stop::Graceful, Stop::Immediate, Stop::Drop] {
        let (result_tx, result_rx) = mpsc::channel();
        let result_tx = Mutex::new(result_tx);
        let (listener, events) = scripted(
            listener_config()
                .write_timeout(Some(Duration::from_secs(60)))
                .write_queue_bytes(1024),
            Script::new().on_connect(move |caller| {
                let caller = caller.clone();
                let tx = result_tx.lock().unwrap().clone();
                thread::spawn(move || {
                    let r = caller.write_bytes(huge());
                    let _ = tx.send((Instant::now(), r.map_err(|e| e.kind())));
                });
                Ok(())
            }),
        );
        let peer = raw_to(&listener); // never reads
        must_ev(&events, "on_connect", |e| matches!(e, Ev::Connect(_)));
        let started = Instant::now();
        let elapsed = stop(listener, how);
        assert_bounded(
            &format!("{how:?} with a caller write blocked"),
            elapsed,
            stop_limit(how),
        );
        let (ended, r) = result_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{how:?}: the blocked caller write never returned"));
        assert!(r.is_err(), "{how:?}: {r:?}");
        assert_bounded(
            &format!("{how:?}: blocked caller write released"),
            ended - started,
            stop_limit(how),
        );
        drop(peer);
    }
}

#[test]
fn client_close_wakes_read_frame_and_read_bytes_exact() {
    let (listener, _events) = scripted(listener_config(), Script::new().on_bytes(|_, _| Ok(None)));
    for which in 0..2 {
        let client = Arc::new(connect(&listener, &ClientConfig::new().timeout(Some(WAIT))));
        client.write_bytes(b"partial line without end").unwrap();
        let reader = {
            let client = Arc::clone(&client);
            thread::spawn(move || {
                let r = if which == 0 {
                    client.read_frame(&Delimited::lines()).map(|_| ())
                } else {
                    client.read_bytes_exact(10).map(|_| ())
                };
                (Instant::now(), r.map_err(|e| e.kind()))
            })
        };
        // let the reader block: closing before it reads is fine too (it must then fail Closed)
        let closed = Instant::now();
        client.close().unwrap();
        let (ended, r) = reader.join().unwrap();
        assert_eq!(r, Err(ErrorKind::Closed), "reader {which}");
        assert!(
            ended - closed < Duration::from_secs(1),
            "reader {which}: {:?}",
            ended - closed
        );
    }
    listener.immediate_stop().unwrap();
}

#[test]
fn tls_listener_write_timeout_against_a_peer_reading_a_byte_every_100_ms() {
    use rustls::pki_types::pem::PemObject;
    let pki = Pki::new();
    let timeout = Duration::from_secs(1);
    let (listener, events) = scripted(
        listener_config()
            .secure_socket(server_tls(&pki))
            .write_timeout(Some(timeout)),
        Script::new().on_bytes(|caller, _| {
            caller.write_bytes(huge())?; // no 64 MiB copy before the write
            Ok(None)
        }),
    );
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, raw_to(&listener));
    tls.write_all(b"go").unwrap();
    tls.flush().unwrap();
    let (at, _) = must_ev(&events, "on_bytes", |e| matches!(e, Ev::Bytes(..)));
    let stop = Arc::new(AtomicBool::new(false));
    let slow = {
        let stop = Arc::clone(&stop);
        let mut sock = tls.sock.try_clone().unwrap();
        thread::spawn(move || {
            let mut one = [0u8; 1];
            while !stop.load(Ordering::SeqCst) {
                match sock.read(&mut one) {
                    Ok(1) => thread::sleep(Duration::from_millis(100)), // the peer's pace
                    _ => return,
                }
            }
        })
    };
    let (elapsed, kind, text) = error_after(&events, at, Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    assert_bounded(
        "TLS listener write_timeout, a byte every 100 ms",
        elapsed,
        timeout,
    );
    drop(tls);
    let _ = slow.join();
    listener.immediate_stop().unwrap();
}
