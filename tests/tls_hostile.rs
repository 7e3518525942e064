//! Adversarial TLS tests: configuration mistakes that must be InvalidConfig at bind or
//! before connecting, garbage and churn instead of handshakes, resets mid-write, closes
//! and refusals that must end with close_notify, shared client configurations.
#![cfg(feature = "tls")]

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use hostile::*;
use pki::Pki;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, Listener, ListenerConfig,
    ListenerSecureSocket,
};

fn server_tls(pki: &Pki) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
}

fn bind(secure: ListenerSecureSocket) -> Result<Listener, synctcp::Error> {
    Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure))
}

/// A loopback port that refuses connects (bound, not listening).
fn refusing_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

#[test]
fn listener_configuration_mistakes_are_invalid_config_at_bind() {
    let pki = Pki::new();
    let cases: Vec<(&str, ListenerSecureSocket)> = vec![
        (
            "TLSv1.2 only with only a TLS 1.3 suite",
            server_tls(&pki)
                .protocol_versions(["TLSv1.2"])
                .ciphers(["TLS_AES_128_GCM_SHA256"]),
        ),
        (
            "TLSv1.3 only with only a TLS 1.2 suite",
            server_tls(&pki)
                .protocol_versions(["TLSv1.3"])
                .ciphers(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]),
        ),
        (
            "TLSv1.2 only, ECDSA key, the only 1.2 suite is RSA",
            server_tls(&pki).protocol_versions(["TLSv1.2"]).ciphers([
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_AES_128_GCM_SHA256",
            ]),
        ),
        (
            "client_auth with an empty CA path",
            server_tls(&pki).client_auth("", true),
        ),
        (
            "client_auth with a missing CA file",
            server_tls(&pki).client_auth(pki.path("missing.pem"), true),
        ),
        (
            "client_auth with a key file as the CA",
            server_tls(&pki).client_auth(pki.path("server.key"), true),
        ),
        (
            "a key file as the certificate chain",
            ListenerSecureSocket::new(pki.path("server.key"), pki.path("server.key")),
        ),
        (
            "a certificate as the key",
            ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.pem")),
        ),
        (
            "handshake_timeout zero",
            server_tls(&pki).handshake_timeout(Duration::ZERO),
        ),
    ];
    let mut failures = Vec::new();
    for (name, secure) in cases {
        match bind(secure) {
            Err(e) if e.kind() == ErrorKind::InvalidConfig => {}
            Err(e) => failures.push(format!("{name}: {:?} {e}", e.kind())),
            Ok(listener) => failures.push(format!(
                "{name}: bound at {} (a configuration mistake must be InvalidConfig at bind)",
                listener.local_addr()
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn an_empty_version_list_is_refused_or_means_the_default() {
    let pki = Pki::new();
    match bind(server_tls(&pki).protocol_versions(Vec::<String>::new())) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}"),
        Ok(mut listener) => {
            listener.attach(|_: &synctcp::Caller| Ok(Nop)).unwrap();
            listener.start().unwrap();
            let config = ClientConfig::new()
                .timeout(Some(WAIT))
                .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
            let r = Client::connect_with(
                ("127.0.0.1", listener.local_addr().port().unwrap()),
                &config,
            );
            assert!(
                r.is_ok(),
                "bound with no versions, then every handshake fails: {:?}",
                r.err()
            );
        }
    }
}

struct Nop;
impl synctcp::ConnectionService for Nop {
    fn on_bytes(
        &mut self,
        _: &synctcp::Caller,
        _: &[u8],
    ) -> Result<synctcp::Reply, synctcp::Error> {
        Ok(synctcp::Reply::Echo)
    }
}

#[test]
fn client_configuration_mistakes_are_invalid_config_before_connecting() {
    let pki = Pki::new();
    let (_hold, port) = refusing_port();
    let ca = || ClientSecureSocket::new(pki.path("ca.pem"));
    let cases: Vec<(&str, ClientSecureSocket)> = vec![
        (
            "TLSv1.2 only with only a TLS 1.3 suite",
            ca().protocol_versions(["TLSv1.2"])
                .ciphers(["TLS_AES_128_GCM_SHA256"]),
        ),
        (
            "TLSv1.3 only with only a TLS 1.2 suite",
            ca().protocol_versions(["TLSv1.3"])
                .ciphers(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]),
        ),
        ("TLSv1.1", ca().protocol_versions(["TLSv1.1"])),
        (
            "client certificate with a key that does not match",
            ca().client_cert(pki.path("client.pem"), pki.path("server.key")),
        ),
        (
            "client certificate with an empty path",
            ca().client_cert("", pki.path("client.key")),
        ),
        (
            "client key with an empty path",
            ca().client_cert(pki.path("client.pem"), ""),
        ),
        (
            "handshake_timeout zero",
            ca().handshake_timeout(Duration::ZERO),
        ),
        ("an empty server name", ca().server_name("")),
        (
            "a server name that is no name",
            ca().server_name("not a host name!"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, secure) in cases {
        let config = ClientConfig::new().secure_socket(secure);
        match Client::connect_with(("127.0.0.1", port), &config) {
            Err(e) if e.kind() == ErrorKind::InvalidConfig => {}
            Err(e) => failures.push(format!("{name}: {:?}: {e}", e.kind())),
            Ok(_) => failures.push(format!("{name}: connected to a refusing port?")),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ------------------------------------------------------------------ hostile peers

#[test]
fn garbage_instead_of_tls_is_closed_at_once() {
    let pki = Pki::new();
    let (listener, events) = scripted(
        listener_config()
            .secure_socket(server_tls(&pki).handshake_timeout(Duration::from_secs(20))),
        Script::new(),
    );
    let garbage: Vec<Vec<u8>> = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        pattern(20_000),
        vec![0u8; 5],
        vec![0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5], // a handshake record of nonsense
    ];
    for g in garbage {
        let mut peer = raw_to(&listener);
        let started = Instant::now();
        let _ = peer.write_all(&g);
        let (_, _) = read_all(&mut peer);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "garbage {:?}…: closed after {took:?} (handshake_timeout 20 s)",
            &g[..g.len().min(8)]
        );
    }
    let all = drain_events(&events, Duration::from_millis(200));
    assert!(all.is_empty(), "callbacks for failed handshakes: {all:?}");
    listener.graceful_stop(Duration::from_secs(2)).unwrap();
}

#[test]
fn connect_and_vanish_churn_leaves_nothing_behind() {
    let pki = Pki::new();
    let (listener, events) = scripted(
        listener_config().secure_socket(server_tls(&pki)),
        Script::new(),
    );
    for i in 0..200 {
        let peer = raw_to(&listener);
        if i % 2 == 0 {
            reset_on_drop(&peer);
        }
        drop(peer);
    }
    let config = ClientConfig::new()
        .timeout(Some(WAIT))
        .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
    let client = Client::connect_with(
        ("127.0.0.1", listener.local_addr().port().unwrap()),
        &config,
    )
    .unwrap();
    client.write_bytes(b"still here").unwrap();
    assert_eq!(client.read_bytes_exact(10).unwrap(), b"still here");
    drop(client);
    let deadline = Instant::now() + WAIT;
    while listener.connection_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} connections left",
            listener.connection_count()
        );
        thread::sleep(Duration::from_millis(10));
    }
    let all = drain_events(&events, Duration::from_millis(200));
    assert_eq!(count(&all, |e| matches!(e, Ev::Connect(_))), 1, "{all:?}");
    assert_eq!(count(&all, |e| matches!(e, Ev::Close(_))), 1, "{all:?}");
    listener.graceful_stop(Duration::from_secs(2)).unwrap();
}

fn rustls_client(pki: &Pki) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[test]
fn a_reset_in_the_middle_of_a_big_tls_reply() {
    let pki = Pki::new();
    for via_thread in [false, true] {
        let (listener, events) = scripted(
            listener_config()
                .secure_socket(server_tls(&pki))
                .drain_timeout(Duration::from_millis(200)),
            Script::new().on_bytes(move |c, _| {
                if via_thread {
                    let c = c.clone();
                    thread::spawn(move || {
                        let _ = c.write_bytes(&huge()[..16 * MIB]);
                    });
                    Ok(None)
                } else {
                    Ok(Some(huge()[..16 * MIB].to_vec()))
                }
            }),
        );
        let sock = raw_to(&listener);
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(rustls_client(&pki), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(b"go").unwrap();
        let mut got = 0;
        let mut buf = [0u8; 16 * 1024];
        while got < 200_000 {
            got += tls.read(&mut buf).unwrap();
        }
        reset_on_drop(&tls.sock);
        let reset_at = Instant::now();
        drop(tls);
        let all = {
            let first = wait_ev(&events, Duration::from_secs(5), |e| {
                matches!(e, Ev::Close(_))
            });
            let Some((closed, _)) = first else {
                panic!("thread {via_thread}: no on_close within 5 s of the reset");
            };
            assert!(
                closed - reset_at < Duration::from_secs(2),
                "thread {via_thread}: on_close {:?} after the reset",
                closed - reset_at
            );
            drain_events(&events, Duration::from_millis(300))
        };
        assert_eq!(
            count(&all, |e| matches!(e, Ev::Close(_))),
            0,
            "a second on_close: {all:?}"
        );
        listener.graceful_stop(Duration::from_secs(2)).unwrap();
    }
}

#[test]
fn refusal_and_close_in_on_connect_end_with_close_notify() {
    // "Closing sends close_notify": a connection refused by on_connect or closed there is
    // closed, so the client sees Closed, not a Tls error for a cut stream.
    let pki = Pki::new();
    for refuse in [true, false] {
        let (listener, _events) = scripted(
            listener_config().secure_socket(server_tls(&pki)),
            Script::new().on_connect(move |c| {
                if refuse {
                    Err(synctcp::Error::new(ErrorKind::Other, "go away"))
                } else {
                    c.write_bytes(b"bye")?;
                    let _ = c.close();
                    Ok(())
                }
            }),
        );
        for version in ["TLSv1.2", "TLSv1.3"] {
            let config = ClientConfig::new().timeout(Some(WAIT)).secure_socket(
                ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions([version]),
            );
            let client = match Client::connect_with(
                ("127.0.0.1", listener.local_addr().port().unwrap()),
                &config,
            ) {
                Ok(c) => c,
                Err(e) => {
                    // refused before the handshake completed on the client side: acceptable
                    assert!(refuse, "{version}: {e}");
                    continue;
                }
            };
            let mut got = Vec::new();
            let end = loop {
                match client.read_bytes() {
                    Ok(b) => got.extend(b),
                    Err(e) => break e,
                }
            };
            if !refuse {
                assert_eq!(got, b"bye", "{version}");
            }
            assert_eq!(
                end.kind(),
                ErrorKind::Closed,
                "{version}, refuse {refuse}: the client saw {:?}: {end}",
                end.kind()
            );
        }
        listener.graceful_stop(Duration::from_secs(2)).unwrap();
    }
}

#[test]
fn one_client_configuration_shared_by_many_threads() {
    let pki = Pki::new();
    let (listener, _events) = scripted(
        listener_config().secure_socket(server_tls(&pki)),
        Script::new(),
    );
    let port = listener.local_addr().port().unwrap();
    let secure = ClientSecureSocket::new(pki.path("ca.pem"));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let config = ClientConfig::new()
                .timeout(Some(WAIT))
                .secure_socket(secure.clone());
            thread::spawn(move || {
                for i in 0..5 {
                    let c = Client::connect_with(("127.0.0.1", port), &config)
                        .unwrap_or_else(|e| panic!("thread {t} connect {i}: {e}"));
                    let msg = format!("{t}/{i}");
                    c.write_bytes(msg.as_bytes()).unwrap();
                    assert_eq!(c.read_bytes_exact(msg.len()).unwrap(), msg.as_bytes());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    listener.graceful_stop(Duration::from_secs(2)).unwrap();
    let _ = ListenerConfig::new();
}

#[test]
fn a_bad_server_name_against_a_live_listener() {
    let pki = Pki::new();
    let (listener, events) = scripted(
        listener_config().secure_socket(server_tls(&pki)),
        Script::new(),
    );
    let mut seen = Vec::new();
    for name in ["", "not a host name!"] {
        let config = ClientConfig::new()
            .timeout(Some(WAIT))
            .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")).server_name(name));
        match Client::connect_with(
            ("127.0.0.1", listener.local_addr().port().unwrap()),
            &config,
        ) {
            Ok(_) => seen.push(format!("{name:?}: connected")),
            Err(e) => seen.push(format!("{name:?}: {:?}: {e}", e.kind())),
        }
    }
    let callbacks = drain_events(&events, Duration::from_millis(200));
    assert!(
        seen.iter().all(|s| s.contains("InvalidConfig")) && callbacks.is_empty(),
        "{seen:#?}\nlistener callbacks: {}",
        callbacks.len()
    );
}

/// A raw rustls client over a TcpStream, handshake done.
fn raw_tls(
    pki: &Pki,
    listener: &Listener,
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let sock = raw_to(listener);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(rustls_client(pki), name).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

#[test]
fn data_right_behind_the_client_finished_is_not_lost() {
    let pki = Pki::new();
    let (listener, _events) = scripted(
        listener_config().secure_socket(server_tls(&pki)),
        Script::new(),
    );
    for _ in 0..20 {
        let mut tls = raw_tls(&pki, &listener);
        // queued before the handshake: rustls sends it in the flight with Finished (1.3)
        tls.conn.writer().write_all(b"early bird").unwrap();
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        while tls.conn.wants_write() {
            tls.conn.write_tls(&mut tls.sock).unwrap();
        }
        let mut got = [0u8; 10];
        tls.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"early bird");
    }
    listener.graceful_stop(Duration::from_secs(2)).unwrap();
}

#[test]
fn key_updates_mid_stream_while_both_sides_stream() {
    let pki = Pki::new();
    let (listener, events) = scripted(
        listener_config().secure_socket(server_tls(&pki)),
        Script::new(),
    );
    let mut tls = raw_tls(&pki, &listener);
    tls.sock.set_nonblocking(false).unwrap();
    let data = pattern(3 * MIB);
    let mut got = Vec::with_capacity(data.len());
    let mut sent = 0;
    let mut buf = vec![0u8; 64 * 1024];
    // Alternate: write a piece, ask for a key update every 256 KiB, read what echoes back.
    tls.sock
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while got.len() < data.len() {
        assert!(
            Instant::now() < deadline,
            "stalled at {} sent, {} echoed",
            sent,
            got.len()
        );
        if sent < data.len() && sent - got.len() < 512 * 1024 {
            let end = (sent + 32 * 1024).min(data.len());
            tls.write_all(&data[sent..end]).unwrap();
            sent = end;
            if sent % (256 * 1024) == 0 {
                tls.conn.refresh_traffic_keys().unwrap();
                tls.flush().unwrap();
            }
        }
        match tls.read(&mut buf) {
            Ok(0) => panic!("end of stream after {} echoed", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!(
                "after {} echoed: {e}; events {:?}",
                got.len(),
                drain_events(&events, Duration::from_millis(50))
            ),
        }
    }
    assert!(got == data, "{}", first_difference(&got, &data));
    let errors: Vec<_> = drain_events(&events, Duration::from_millis(100))
        .into_iter()
        .filter(|e| matches!(e.1, Ev::Error(..)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    listener.graceful_stop(Duration::from_secs(2)).unwrap();
}
