//! TLS (the `tls` feature): Ballerina's secure-socket scenarios — echo, version and cipher
//! mismatches, `enable = false`, bad certificate and key paths, a plain client against a
//! TLS listener — and what we add: mutual TLS, the handshake timeout, both sides streaming
//! 16 MiB at once, and a truncated stream reported as an error.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use pki::Pki;
use synctcp::{
    Caller, Client, ClientSecureSocket, ConnectionService, Error, ErrorKind, Listener,
    ListenerSecureSocket, Reply,
};

fn server_tls(pki: &Pki) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
}

fn client_tls(pki: &Pki) -> ClientSecureSocket {
    ClientSecureSocket::new(pki.path("ca.pem"))
}

fn tls_echo(secure: ListenerSecureSocket) -> (Listener, mpsc::Receiver<Caller>) {
    caller_listener(listener_config().secure_socket(secure))
}

fn tls_connect(port: u16, secure: ClientSecureSocket) -> synctcp::Result<Client> {
    Client::connect_with(("localhost", port), &client_config().secure_socket(secure))
}

#[test]
fn secure_echo() {
    let pki = Pki::new();
    let (listener, callers) = tls_echo(server_tls(&pki));
    let client = tls_connect(listener.local_addr().port().unwrap(), client_tls(&pki)).unwrap();
    let message = b"Hello Ballerina Echo from a secure client";
    client.write_bytes(message).unwrap();
    assert_eq!(client.read_bytes_exact(message.len()).unwrap(), message);

    let info = client.tls().expect("a TLS connection");
    assert_eq!(info.protocol_version(), "TLSv1.3");
    assert!(info.cipher_suite().starts_with("TLS_"), "{info:?}");
    assert!(info.peer_certificate().is_some());
    let caller = callers.recv_timeout(WAIT).unwrap();
    let server_side = caller.tls().expect("TLS on the caller");
    assert_eq!(server_side.cipher_suite(), info.cipher_suite());
    assert!(
        server_side.peer_certificate().is_none(),
        "no client certificate asked for"
    );

    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

/// A handshake sets the sockets' timeouts to bound itself; after it both sides are back to
/// their own: the listener's write timeout and no receive timeout (not the 10 s that bounds
/// `accept`, which Linux hands to each accepted socket), the client's configured pair.
#[test]
fn after_the_handshake_both_sockets_have_their_configured_timeouts() {
    let pki = Pki::new();
    let config = synctcp::ListenerConfig::new()
        .write_timeout(Some(Duration::from_secs(7)))
        .secure_socket(server_tls(&pki));
    let mut listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let (tx, rx) = mpsc::channel();
    listener
        .attach_handler(move |stream| {
            let socket = socket2::SockRef::from(&*stream);
            tx.send((
                socket.read_timeout().unwrap(),
                socket.write_timeout().unwrap(),
            ))
            .unwrap();
            Ok(())
        })
        .unwrap();
    listener.start().unwrap();
    let client_config = synctcp::ClientConfig::new()
        .timeout(Some(Duration::from_secs(9)))
        .write_timeout(Some(Duration::from_secs(11)))
        .secure_socket(client_tls(&pki));
    let port = listener.local_addr().port().unwrap();
    let client = Client::connect_with(("localhost", port), &client_config).unwrap();
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        (None, Some(Duration::from_secs(7)))
    );
    let socket = socket2::SockRef::from(&client);
    assert_eq!(socket.read_timeout().unwrap(), Some(Duration::from_secs(9)));
    assert_eq!(
        socket.write_timeout().unwrap(),
        Some(Duration::from_secs(11))
    );
    drop(client);
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn a_self_signed_server_certificate_can_be_trusted_directly() {
    let pki = Pki::new();
    let (_listener, _) = tls_echo(ListenerSecureSocket::new(
        pki.path("self.pem"),
        pki.path("self.key"),
    ));
    let port = _listener.local_addr().port().unwrap();
    let client = tls_connect(port, ClientSecureSocket::new(pki.path("self.pem"))).unwrap();
    client.write_bytes(b"ok").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"ok");
    // The CA does not vouch for it.
    let err = tls_connect(port, client_tls(&pki)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[test]
fn tls12_can_be_chosen_and_the_version_is_reported() {
    let pki = Pki::new();
    let (_listener, _) = tls_echo(server_tls(&pki));
    let client = tls_connect(
        _listener.local_addr().port().unwrap(),
        client_tls(&pki).protocol_versions(["TLSv1.2"]),
    )
    .unwrap();
    assert_eq!(client.tls().unwrap().protocol_version(), "TLSv1.2");
}

#[test]
fn a_protocol_version_mismatch_fails_at_connect() {
    let pki = Pki::new();
    let (listener, _) = tls_echo(server_tls(&pki).protocol_versions(["TLSv1.3"]));
    let err = tls_connect(
        listener.local_addr().port().unwrap(),
        client_tls(&pki).protocol_versions(["TLSv1.2"]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("TLS handshake failed"), "{err}");
}

#[test]
fn a_cipher_mismatch_fails_at_connect() {
    let pki = Pki::new();
    let (listener, _) = tls_echo(server_tls(&pki).ciphers(["TLS_AES_256_GCM_SHA384"]));
    let err = tls_connect(
        listener.local_addr().port().unwrap(),
        client_tls(&pki).ciphers(["TLS_CHACHA20_POLY1305_SHA256"]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
}

#[test]
fn no_ciphers_configured_works_and_named_ones_are_used() {
    let pki = Pki::new();
    let (listener, _) = tls_echo(server_tls(&pki).ciphers(["TLS_CHACHA20_POLY1305_SHA256"]));
    let client = tls_connect(listener.local_addr().port().unwrap(), client_tls(&pki)).unwrap();
    assert_eq!(
        client.tls().unwrap().cipher_suite(),
        "TLS_CHACHA20_POLY1305_SHA256"
    );
}

#[test]
fn unsupported_versions_and_ciphers_are_clear_config_errors() {
    let pki = Pki::new();
    for version in ["SSLv3", "TLSv1.1"] {
        let config = listener_config().secure_socket(server_tls(&pki).protocol_versions([version]));
        let err = Listener::bind_with(LOOPBACK, &config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string().contains("supported: TLSv1.2, TLSv1.3"),
            "{err}"
        );
        let err = tls_connect(1, client_tls(&pki).protocol_versions([version])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    }
    let config =
        listener_config().secure_socket(server_tls(&pki).ciphers(["TLS_RSA_WITH_RC4_128_MD5"]));
    let err = Listener::bind_with(LOOPBACK, &config).unwrap_err();
    assert!(
        err.to_string()
            .contains("none of the cipher suites \"TLS_RSA_WITH_RC4_128_MD5\" is supported"),
        "{err}"
    );
    assert!(
        err.to_string().contains("TLS_AES_128_GCM_SHA256"),
        "lists the supported: {err}"
    );
}

#[test]
fn enable_false_talks_plain_tcp() {
    let pki = Pki::new();
    let listener = echo_listener();
    let client = tls_connect(
        listener.local_addr().port().unwrap(),
        client_tls(&pki).enable(false),
    )
    .unwrap();
    assert!(client.tls().is_none());
    client.write_bytes(b"plain").unwrap();
    assert_eq!(client.read_bytes_exact(5).unwrap(), b"plain");
}

#[test]
fn empty_or_invalid_paths_fail_with_clear_messages() {
    let pki = Pki::new();
    let bind = |secure: ListenerSecureSocket| {
        Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure))
            .unwrap_err()
            .to_string()
    };
    let err = bind(ListenerSecureSocket::new("", pki.path("server.key")));
    assert!(
        err.ends_with("certificate file location must be provided for secure connection"),
        "{err}"
    );
    let err = bind(ListenerSecureSocket::new(pki.path("server.pem"), ""));
    assert!(
        err.ends_with("private key file location must be provided for secure connection"),
        "{err}"
    );
    let missing = pki.path("missing.pem");
    let err = bind(ListenerSecureSocket::new(&missing, pki.path("server.key")));
    assert!(
        err.contains(&format!(
            "certificate file {} cannot be read",
            missing.display()
        )),
        "{err}"
    );
    let err = bind(ListenerSecureSocket::new(
        pki.path("server.pem"),
        pki.path("server.pem"),
    ));
    assert!(err.contains("holds no private key"), "{err}");
    let err = bind(server_tls(&pki).client_auth(pki.path("missing-ca.pem"), true));
    assert!(err.contains("trusted certificate file"), "{err}");

    let err = tls_connect(1, ClientSecureSocket::new("")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .ends_with("must be provided for secure connection"),
        "{err}"
    );
    let err = tls_connect(1, ClientSecureSocket::new(&missing)).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    let err = tls_connect(1, ClientSecureSocket::new(pki.path("server.key"))).unwrap_err();
    assert!(
        err.to_string().contains("holds no PEM certificate"),
        "{err}"
    );
}

#[test]
fn a_listener_with_a_key_that_does_not_match_fails_to_start() {
    let pki = Pki::new();
    let secure = ListenerSecureSocket::new(pki.path("server.pem"), pki.path("client.key"));
    let err = Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .contains("cannot be used with certificate file"),
        "{err}"
    );
}

#[test]
fn a_plain_client_fails_cleanly_and_the_listener_goes_on() {
    let pki = Pki::new();
    let (listener, _) = tls_echo(server_tls(&pki));
    let port = listener.local_addr().port().unwrap();
    let plain = connect_port(port);
    plain.write_bytes(b"hello, in plain text\r\n").unwrap();
    let err = plain.read_bytes_exact(22).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Closed | ErrorKind::Reset),
        "{err}"
    );
    let secure = tls_connect(port, client_tls(&pki)).unwrap();
    secure.write_bytes(b"still serving").unwrap();
    assert_eq!(secure.read_bytes_exact(13).unwrap(), b"still serving");
}

#[test]
fn mutual_tls_accepts_known_clients_and_rejects_the_rest() {
    let pki = Pki::new();
    let (listener, callers) = tls_echo(server_tls(&pki).client_auth(pki.path("ca.pem"), true));
    let port = listener.local_addr().port().unwrap();

    let known = client_tls(&pki).client_cert(pki.path("client.pem"), pki.path("client.key"));
    let client = tls_connect(port, known).unwrap();
    client.write_bytes(b"me").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"me");
    let caller = callers.recv_timeout(WAIT).unwrap();
    assert!(caller.tls().unwrap().peer_certificate().is_some());

    // No certificate, or one from another CA: the handshake fails (TLS 1.3 reports it to
    // the client on its first read, after the server's alert).
    for secure in [
        client_tls(&pki),
        client_tls(&pki).client_cert(pki.path("stranger.pem"), pki.path("stranger.key")),
    ] {
        let outcome = tls_connect(port, secure).and_then(|c| {
            c.write_bytes(b"let me in")?;
            c.read_bytes()
        });
        let err = outcome.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::Tls | ErrorKind::Closed | ErrorKind::Reset
            ),
            "{err}"
        );
    }
    assert!(
        callers.try_recv().is_err(),
        "no rejected client reached on_connect"
    );
}

#[test]
fn optional_client_auth_serves_clients_without_a_certificate() {
    let pki = Pki::new();
    let (listener, callers) = tls_echo(server_tls(&pki).client_auth(pki.path("ca.pem"), false));
    let client = tls_connect(listener.local_addr().port().unwrap(), client_tls(&pki)).unwrap();
    client.write_bytes(b"anon").unwrap();
    assert_eq!(client.read_bytes_exact(4).unwrap(), b"anon");
    assert!(callers
        .recv_timeout(WAIT)
        .unwrap()
        .tls()
        .unwrap()
        .peer_certificate()
        .is_none());
}

#[test]
fn a_silent_client_is_closed_at_the_handshake_timeout_while_others_proceed() {
    let pki = Pki::new();
    let timeout = Duration::from_millis(500);
    let (listener, _) = tls_echo(server_tls(&pki).handshake_timeout(timeout));
    let port = listener.local_addr().port().unwrap();
    let started = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
    half.write_all(&[0x16, 0x03, 0x01]).unwrap(); // half a record header
    for stream in [&silent, &half] {
        stream.set_read_timeout(Some(WAIT)).unwrap();
    }

    // A real client completes its handshake meanwhile.
    let client = tls_connect(port, client_tls(&pki)).unwrap();
    client.write_bytes(b"fine").unwrap();
    assert_eq!(client.read_bytes_exact(4).unwrap(), b"fine");

    for stream in [&mut silent, &mut half] {
        let mut sink = [0u8; 64];
        let ended = loop {
            match stream.read(&mut sink) {
                Ok(0) | Err(_) => break started.elapsed(),
                Ok(_) => continue, // an alert
            }
        };
        assert!(ended >= timeout, "closed after {ended:?}");
        assert!(
            ended < timeout + Duration::from_secs(5),
            "closed after {ended:?}"
        );
    }
}

/// Counts what arrives; on connect, starts a thread writing `TOTAL` bytes to the client.
struct Duplex {
    received: usize,
    done: mpsc::Sender<usize>,
}

const TOTAL: usize = 16 << 20;

impl ConnectionService for Duplex {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.received += data.len();
        if self.received == TOTAL {
            let _ = self.done.send(self.received);
        }
        Ok(Reply::None)
    }
}

#[test]
fn both_sides_stream_16_mib_at_each_other_at_once() {
    // rustls issue 2556: with one lock across reads and writes, this deadlocks.
    let pki = Pki::new();
    let (done_tx, done) = mpsc::channel();
    let (wrote_tx, wrote) = mpsc::channel();
    let config = listener_config().secure_socket(server_tls(&pki));
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener
        .attach(move |caller| {
            let caller = caller.clone();
            let wrote = wrote_tx.clone();
            thread::spawn(move || {
                let piece = vec![b's'; 64 * 1024];
                let mut sent = 0;
                while sent < TOTAL {
                    if caller.write_bytes(&piece).is_err() {
                        break;
                    }
                    sent += piece.len();
                }
                let _ = wrote.send(sent);
            });
            Ok(Duplex {
                received: 0,
                done: done_tx.clone(),
            })
        })
        .unwrap();
    listener.start().unwrap();

    // The client streams too: one thread writes while another reads.
    let config = client_config().secure_socket(client_tls(&pki));
    let client = std::sync::Arc::new(
        Client::connect_with(
            ("localhost", listener.local_addr().port().unwrap()),
            &config,
        )
        .unwrap(),
    );
    let sending = {
        let client = std::sync::Arc::clone(&client);
        thread::spawn(move || {
            let piece = vec![b'c'; 64 * 1024];
            for _ in 0..TOTAL / piece.len() {
                client.write_bytes(&piece).unwrap();
            }
        })
    };
    let mut received = 0;
    while received < TOTAL {
        let bytes = client.read_bytes().unwrap();
        assert!(bytes.iter().all(|&b| b == b's'));
        received += bytes.len();
    }
    sending.join().unwrap();
    assert_eq!(received, TOTAL);
    assert_eq!(done.recv_timeout(WAIT).unwrap(), TOTAL);
    assert_eq!(wrote.recv_timeout(WAIT).unwrap(), TOTAL);
    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_stream_cut_without_close_notify_is_an_error() {
    let pki = Pki::new();
    // Server side cut: an immediate stop closes without close_notify.
    let (listener, callers) = tls_echo(server_tls(&pki));
    let client = tls_connect(listener.local_addr().port().unwrap(), client_tls(&pki)).unwrap();
    client.write_bytes(b"x").unwrap();
    assert_eq!(client.read_bytes_exact(1).unwrap(), b"x");
    let _ = callers.recv_timeout(WAIT).unwrap();
    listener.immediate_stop().unwrap();
    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("close_notify"), "{err}");

    // A clean close is not an error: after close_notify, reads end with Closed.
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().secure_socket(server_tls(&pki))).unwrap();
    listener
        .attach(|caller| {
            caller.write_bytes(b"bye")?;
            let _ = caller.close();
            Ok(Echo)
        })
        .unwrap();
    listener.start().unwrap();
    let client = tls_connect(listener.local_addr().port().unwrap(), client_tls(&pki)).unwrap();
    assert_eq!(client.read_bytes_exact(3).unwrap(), b"bye");
    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
}

#[test]
fn a_client_that_cuts_the_stream_gets_on_error() {
    let pki = Pki::new();
    let (listener, events) = probe_listener(listener_config().secure_socket(server_tls(&pki)));
    // A raw rustls client that drops its socket without close_notify.
    let tls_config = rustls_client_config(&pki);
    let mut sock = TcpStream::connect(listener.local_addr()).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(tls_config, name).unwrap();
    conn.writer().write_all(b"cut").unwrap();
    // Read the echo (and the session tickets before it): dropping a socket with unread
    // input would send a reset instead of the plain FIN this test needs.
    let mut echo = Vec::new();
    while echo.len() < 3 {
        conn.complete_io(&mut sock).unwrap();
        let mut buf = [0u8; 16];
        match conn.reader().read(&mut buf) {
            Ok(n) => echo.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(echo, b"cut");
    drop(sock); // FIN, without close_notify
    let Event::Error(_, kind, text) = wait_event(&events, |e| matches!(e, Event::Error(..))) else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::Tls, "{text}");
    assert!(text.contains("close_notify"), "{text}");
    wait_event(&events, |e| matches!(e, Event::Close(_)));
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

fn rustls_client_config(pki: &Pki) -> std::sync::Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn sessions_resume_with_a_shared_configuration_and_expire() {
    let pki = Pki::new();
    let resumed = |listener: &Listener, secure: &ClientSecureSocket| -> Vec<bool> {
        let config = client_config().secure_socket(secure.clone());
        (0..3)
            .map(|_| {
                let client = Client::connect_with(
                    ("localhost", listener.local_addr().port().unwrap()),
                    &config,
                )
                .unwrap();
                client.write_bytes(b"r").unwrap();
                // Reading the echo also reads the session tickets sent before it.
                assert_eq!(client.read_bytes_exact(1).unwrap(), b"r");
                let resumed = client.tls().unwrap().session_resumed();
                client.close().unwrap();
                resumed
            })
            .collect()
    };
    let (listener, _) = tls_echo(server_tls(&pki));
    assert_eq!(resumed(&listener, &client_tls(&pki)), [false, true, true]);
    assert_eq!(
        resumed(&listener, &client_tls(&pki).session_resumption(false)),
        [false, false, false]
    );
    // A session timeout that has always passed: nothing resumes.
    let (expiring, _) = tls_echo(server_tls(&pki).session_timeout(Duration::ZERO));
    assert_eq!(resumed(&expiring, &client_tls(&pki)), [false, false, false]);
}

#[test]
fn the_tls_examples_talk_to_each_other() {
    let mut server = std::process::Command::new(example("tls_echo_server"));
    server.arg("0");
    let (mut running, port) = start_example(server);
    // The second line names the certificate the server made.
    let line = running.next_line();
    let cert = line
        .trim()
        .strip_prefix("certificate ")
        .unwrap()
        .to_string();
    let out = std::process::Command::new(example("tls_client"))
        .args(["localhost", &port.to_string(), &cert, "over TLS"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "over TLS\n");
    drop(running);
    let _ = std::fs::remove_dir_all(std::path::Path::new(&cert).parent().unwrap());
}
