//! Hostile peers during a TLS handshake, both sides: stalls, trickles, a certificate chain
//! too big for the socket that the peer never reads, garbage, resets. Each ends at the
//! handshake timeout (as a whole) or at once with a TLS error, and others are served meanwhile.
#![cfg(feature = "tls")]

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{echo_listener_with, Echo};
use pki::Pki;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, Listener, ListenerConfig,
    ListenerSecureSocket,
};

const WAIT: Duration = Duration::from_secs(30);
const HS: Duration = Duration::from_secs(2);

fn logged() -> &'static Mutex<Vec<String>> {
    static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                LOGGED.lock().unwrap().push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    &LOGGED
}

/// Appends `copies` copies of the CA certificate to the server's chain file.
fn big_chain(pki: &Pki, copies: usize) -> std::path::PathBuf {
    let server = std::fs::read_to_string(pki.path("server.pem")).unwrap();
    let ca = std::fs::read_to_string(pki.path("ca.pem")).unwrap();
    let mut chain = server.clone();
    for _ in 0..copies {
        chain.push_str(&ca);
    }
    let path = pki.dir.join("big-chain.pem");
    std::fs::write(&path, chain).unwrap();
    path
}

/// A started echo listener over TLS.
fn listener(secure: ListenerSecureSocket) -> Listener {
    echo_listener_with(ListenerConfig::new().secure_socket(secure))
}

fn client_tls(pki: &Pki) -> ClientSecureSocket {
    ClientSecureSocket::new(pki.path("ca.pem"))
}

fn port(l: &Listener) -> u16 {
    l.local_addr().port().unwrap()
}

/// A good client does an echo round trip within a few seconds.
fn good_client_works(pki: &Pki, port: u16) -> Duration {
    let t = Instant::now();
    let config = ClientConfig::new()
        .timeout(Some(Duration::from_secs(10)))
        .write_timeout(Some(Duration::from_secs(10)))
        .secure_socket(client_tls(pki));
    let c = Client::connect_with(("localhost", port), &config).expect("good client connects");
    c.write_bytes(b"ping").unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        got.extend(c.read_bytes().unwrap());
    }
    assert_eq!(got, b"ping");
    c.close().unwrap();
    t.elapsed()
}

/// Waits until the listener has counted `n` handshake failures; returns when.
fn wait_failures(l: &Listener, n: u64) -> Instant {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if l.stats().tls_handshake_failures >= n {
            return Instant::now();
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "no handshake failure counted within {WAIT:?}: {:?}",
        l.stats()
    );
}

/// A real ClientHello, from rustls.
fn client_hello(pki: &Pki) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(pki.path("ca.pem")).unwrap();
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.unwrap())
        .collect()
}

fn assert_timeout_logged(what: &str) {
    let logs = logged().lock().unwrap().clone();
    assert!(
        logs.iter().any(|l| l.contains("handshake timeout")),
        "{what}: expected a handshake-timeout warning, log: {logs:#?}"
    );
}

fn assert_near(what: &str, elapsed: Duration, timeout: Duration) {
    assert!(
        elapsed + Duration::from_millis(300) >= timeout
            && elapsed <= timeout + Duration::from_secs(4),
        "{what}: took {elapsed:?}, handshake timeout {timeout:?}"
    );
}

/// The server's flight is ~1 MiB (more than rustls clients accept, so nobody can use this
/// listener, but an attacker can still make it send); the client sends a ClientHello with a
/// tiny receive buffer and never reads. The handshake must end at the handshake timeout
/// (not hang, not early).
#[test]
fn a_client_that_never_reads_a_huge_server_flight_times_out_at_the_handshake_timeout() {
    logged();
    let pki = Pki::new();
    let chain = big_chain(&pki, 2000);
    let size = std::fs::metadata(&chain).unwrap().len();
    assert!(size > 800 * 1024, "chain {size} bytes");
    let l =
        listener(ListenerSecureSocket::new(&chain, pki.path("server.key")).handshake_timeout(HS));
    let p = port(&l);
    let s = never_reader(&pki, p);
    let start = Instant::now();
    let failed = wait_failures(&l, 1);
    assert_near("never-reading client", failed - start, HS);
    assert_timeout_logged("never-reading client");
    drop(s);
    l.immediate_stop().unwrap();
}

fn never_reader(pki: &Pki, p: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(2048).unwrap();
    s.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], p)).into())
        .unwrap();
    let mut s: TcpStream = s.into();
    s.write_all(&client_hello(pki)).unwrap();
    s
}

/// A listener whose accepted sockets have a small, locked send buffer (set on the std
/// listener: Linux copies it at accept), with a ~50 KiB chain a rustls client accepts.
fn small_sndbuf_listener(pki: &Pki, hs: Duration, write_timeout: Option<Duration>) -> Listener {
    let chain = big_chain(pki, 90);
    let size = std::fs::metadata(&chain).unwrap().len();
    assert!(size > 40 * 1024 && size < 64 * 1024, "chain {size}");
    let std_l = TcpListener::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&std_l)
        .set_send_buffer_size(4096)
        .unwrap();
    let config = ListenerConfig::new()
        .write_timeout(write_timeout)
        .secure_socket(
            ListenerSecureSocket::new(&chain, pki.path("server.key")).handshake_timeout(hs),
        );
    Listener::from_std_with(std_l, &config).unwrap()
}

#[test]
fn a_never_reader_of_a_flight_that_does_not_fit_times_out_while_others_are_served() {
    logged();
    let pki = Pki::new();
    let mut l = small_sndbuf_listener(&pki, HS, Some(Duration::from_secs(60)));
    l.attach(|_| Ok(Echo)).unwrap();
    l.start().unwrap();
    let p = port(&l);
    let s = never_reader(&pki, p);
    let s2 = never_reader(&pki, p);
    let start = Instant::now();
    thread::sleep(Duration::from_millis(300));
    let took = good_client_works(&pki, p);
    assert!(took < Duration::from_secs(5), "good client took {took:?}");
    assert_eq!(
        l.stats().tls_handshake_failures,
        0,
        "failed early: {:?}",
        l.stats()
    );
    let failed = wait_failures(&l, 2);
    assert_near("never-reading client (small sndbuf)", failed - start, HS);
    assert_timeout_logged("never-reading client (small sndbuf)");
    drop((s, s2));
    l.immediate_stop().unwrap();
}

#[test]
fn silence_and_half_a_client_hello_time_out_at_the_handshake_timeout() {
    logged();
    let pki = Pki::new();
    let l = listener(
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
            .handshake_timeout(HS),
    );
    let p = port(&l);
    let start = Instant::now();
    let silent = TcpStream::connect(("127.0.0.1", p)).unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", p)).unwrap();
    let hello = client_hello(&pki);
    half.write_all(&hello[..hello.len() / 2]).unwrap();
    thread::sleep(Duration::from_millis(500));
    good_client_works(&pki, p);
    wait_failures(&l, 2);
    assert_near("silent + half hello", start.elapsed(), HS);
    // Both peers see the connection end.
    for mut s in [silent, half] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let r = s.read(&mut buf);
        assert!(
            matches!(r, Ok(0)) || r.is_err() || matches!(r, Ok(n) if n > 0),
            "{r:?}"
        );
    }
    l.immediate_stop().unwrap();
}

/// One byte of a ClientHello every 100 ms: ~30 s for all of it. The handshake timeout holds
/// for the whole, not per read.
#[test]
fn a_trickled_client_hello_is_cut_at_the_handshake_timeout() {
    logged();
    let pki = Pki::new();
    let l = listener(
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
            .handshake_timeout(HS),
    );
    let p = port(&l);
    let hello = client_hello(&pki);
    let mut s = TcpStream::connect(("127.0.0.1", p)).unwrap();
    s.set_nodelay(true).unwrap();
    let start = Instant::now();
    let end = start + Duration::from_secs(10);
    let mut cut_at = None;
    for b in &hello {
        if Instant::now() > end {
            break;
        }
        if l.stats().tls_handshake_failures >= 1 {
            cut_at = Some(start.elapsed());
            break;
        }
        if s.write_all(&[*b]).is_err() {
            cut_at = Some(start.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let cut_at = cut_at.unwrap_or_else(|| wait_failures(&l, 1) - start);
    assert_near("trickle", cut_at, HS);
    assert_timeout_logged("trickle");
    l.immediate_stop().unwrap();
}

#[test]
fn garbage_and_a_reset_fail_fast_as_tls_errors_not_timeouts() {
    logged();
    let pki = Pki::new();
    let hs = Duration::from_secs(5);
    let l = listener(
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
            .handshake_timeout(hs),
    );
    let p = port(&l);
    let start = Instant::now();
    let mut g = TcpStream::connect(("127.0.0.1", p)).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    wait_failures(&l, 1);
    let t1 = start.elapsed();
    assert!(t1 < Duration::from_secs(2), "garbage took {t1:?}");
    // Reset after half a ClientHello.
    let r = socket2::Socket::from(TcpStream::connect(("127.0.0.1", p)).unwrap());
    let hello = client_hello(&pki);
    (&r).write_all(&hello[..hello.len() / 2]).unwrap();
    thread::sleep(Duration::from_millis(100));
    r.set_linger(Some(Duration::ZERO)).unwrap();
    let start = Instant::now();
    drop(r);
    wait_failures(&l, 2);
    let t2 = start.elapsed();
    assert!(t2 < Duration::from_secs(2), "reset took {t2:?}");
    let logs = logged().lock().unwrap().clone();
    let tls_fail: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("TLS handshake failed"))
        .collect();
    assert!(
        tls_fail.len() >= 2,
        "expected two Tls handshake failures, log: {logs:#?}"
    );
    good_client_works(&pki, p);
    l.immediate_stop().unwrap();
}

// ---- client side against a scripted server ----

fn raw_server(script: impl FnOnce(TcpStream) + Send + 'static) -> (u16, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        script(s);
    });
    (p, h)
}

fn tls_client_config(pki: &Pki, hs: Duration) -> ClientConfig {
    ClientConfig::new()
        .timeout(Some(Duration::from_secs(60)))
        .write_timeout(Some(Duration::from_secs(60)))
        .secure_socket(client_tls(pki).handshake_timeout(hs))
}

#[test]
fn client_against_a_silent_server_times_out_at_the_handshake_timeout() {
    let pki = Pki::new();
    let (p, h) = raw_server(|mut s| {
        let mut buf = [0u8; 4096];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
        thread::sleep(Duration::from_secs(4));
    });
    let start = Instant::now();
    let err = Client::connect_with(("localhost", p), &tls_client_config(&pki, HS)).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_near("client vs silent server", took, HS);
    h.join().unwrap();
}

#[test]
fn client_against_a_trickling_server_times_out_at_the_handshake_timeout() {
    let pki = Pki::new();
    let (p, h) = raw_server(|mut s| {
        let mut buf = [0u8; 4096];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
        // A handshake record header announcing 16 KiB, then a byte every 100 ms.
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
        let end = Instant::now() + Duration::from_secs(6);
        while Instant::now() < end {
            if s.write_all(&[0x02]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let start = Instant::now();
    let err = Client::connect_with(("localhost", p), &tls_client_config(&pki, HS)).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_near("client vs trickling server", took, HS);
    h.join().unwrap();
}

#[test]
fn client_against_a_garbage_server_is_a_tls_error_at_once() {
    let pki = Pki::new();
    let (p, h) = raw_server(|mut s| {
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.0\r\n");
        thread::sleep(Duration::from_secs(3));
    });
    let start = Instant::now();
    let err = Client::connect_with(
        ("localhost", p),
        &tls_client_config(&pki, Duration::from_secs(5)),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    h.join().unwrap();
}

#[test]
fn client_against_a_server_that_resets_mid_handshake() {
    let pki = Pki::new();
    let (p, h) = raw_server(|mut s| {
        let mut buf = [0u8; 4096];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
        let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00, 0x02]);
        let s = socket2::Socket::from(s);
        s.set_linger(Some(Duration::ZERO)).unwrap();
        drop(s);
    });
    let start = Instant::now();
    let err = Client::connect_with(
        ("localhost", p),
        &tls_client_config(&pki, Duration::from_secs(5)),
    )
    .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    h.join().unwrap();
}

/// A server whose flight does not fit its (small) send buffer and a client that reads
/// it: the server's handshake has to block on sends (so the send timeout is changed); after
/// it the server socket has no receive timeout and its write_timeout, the client its
/// configured pair.
#[test]
fn a_handshake_that_blocked_on_sends_restores_timeouts() {
    let pki = Pki::new();
    for write_timeout in [Some(Duration::from_secs(7)), None] {
        let mut l = small_sndbuf_listener(&pki, Duration::from_secs(20), write_timeout);
        let (tx, rx) = std::sync::mpsc::channel();
        l.attach_handler(move |stream| {
            let s = socket2::SockRef::from(&*stream);
            tx.send((s.read_timeout().unwrap(), s.write_timeout().unwrap()))
                .unwrap();
            Ok(())
        })
        .unwrap();
        l.start().unwrap();
        let cc = ClientConfig::new()
            .timeout(Some(Duration::from_secs(9)))
            .write_timeout(Some(Duration::from_secs(11)))
            .secure_socket(client_tls(&pki));
        let c = Client::connect_with(("localhost", port(&l)), &cc).unwrap();
        assert_eq!(rx.recv_timeout(WAIT).unwrap(), (None, write_timeout));
        let s = socket2::SockRef::from(&c);
        assert_eq!(s.read_timeout().unwrap(), Some(Duration::from_secs(9)));
        assert_eq!(s.write_timeout().unwrap(), Some(Duration::from_secs(11)));
        drop(c);
        l.immediate_stop().unwrap();
    }
}

/// Client side: a scripted rustls server asks for a client certificate, sends its flight,
/// then never reads; the client's certificate chain is ~1 MiB, so the client's flight
/// cannot fit the socket buffers (~8 MiB: Linux's send buffer grows to 4 MiB). The client's connect must end with Timeout at its
/// handshake timeout.
#[test]
fn client_with_a_huge_certificate_flight_against_a_server_that_stops_reading() {
    let pki = Pki::new();
    // The client chain: client.pem then 20000 CA copies (~8 MiB of DER).
    let client = std::fs::read_to_string(pki.path("client.pem")).unwrap();
    let ca = std::fs::read_to_string(pki.path("ca.pem")).unwrap();
    let mut chain = client;
    for _ in 0..20000 {
        chain.push_str(&ca);
    }
    let chain_path = pki.dir.join("client-big.pem");
    std::fs::write(&chain_path, chain).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pemfile_certs(&std::fs::read(pki.path("ca.pem")).unwrap()) {
        roots.add(c).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let certs = rustls_pemfile_certs(&std::fs::read(pki.path("server.pem")).unwrap());
    use rustls_pki_types::pem::PemObject;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let server_config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&l)
        .set_recv_buffer_size(2048)
        .unwrap();
    let p = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut conn = rustls::ServerConnection::new(server_config).unwrap();
        // Read until the ClientHello is processed and our flight is ready.
        while !conn.wants_write() {
            if conn.read_tls(&mut s).unwrap() == 0 {
                return;
            }
            conn.process_new_packets().unwrap();
        }
        while conn.wants_write() {
            conn.write_tls(&mut s).unwrap();
        }
        // Never read again; hold the socket.
        thread::sleep(Duration::from_secs(5));
    });
    let config = ClientConfig::new()
        .timeout(Some(Duration::from_secs(60)))
        .write_timeout(Some(Duration::from_secs(60)))
        .secure_socket(
            client_tls(&pki)
                .client_cert(&chain_path, pki.path("client.key"))
                .handshake_timeout(HS),
        );
    // Build the client's TLS configuration (8 MiB of PEM to parse) before the timed
    // connect: a peer that closes at once fails the handshake, and the configuration is
    // kept for the next connect. Only the handshake is timed.
    let closer = TcpListener::bind("127.0.0.1:0").unwrap();
    let closer_port = closer.local_addr().unwrap().port();
    let closing = thread::spawn(move || drop(closer.accept()));
    assert!(Client::connect_with(("localhost", closer_port), &config).is_err());
    closing.join().unwrap();
    let start = Instant::now();
    let r = Client::connect_with(("localhost", p), &config);
    let took = start.elapsed();
    let err = r.expect_err("connect must fail: the server never reads the client's flight");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_near("client huge flight", took, HS);
    h.join().unwrap();
}

/// A handshake timeout longer than the 10 s receive timeout accepted sockets inherit from
/// the listener (accept's): a silent client is cut at the handshake timeout, not at 10 s.
#[test]
fn a_handshake_timeout_longer_than_accepts_ten_seconds_is_honoured() {
    logged();
    let pki = Pki::new();
    let hs = Duration::from_secs(13);
    let l = listener(
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
            .handshake_timeout(hs),
    );
    let p = port(&l);
    let start = Instant::now();
    let mut half = TcpStream::connect(("127.0.0.1", p)).unwrap();
    let hello = client_hello(&pki);
    half.write_all(&hello[..10]).unwrap();
    let failed = wait_failures(&l, 1);
    assert_near("13 s handshake timeout", failed - start, hs);
    l.immediate_stop().unwrap();
}
