//! The client: Ballerina's client scenarios (echo, invalid local interface, read timeout)
//! and what we add (exact reads that survive timeouts, Read/Write, IPv6, clear errors).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use common::*;
use synctcp::framing::{Codec, Delimited, LengthPrefixed};
use synctcp::{Client, ClientConfig, ErrorKind};

#[test]
fn client_echo() {
    // Ballerina: write "Hello Ballerina Echo from client", read it back.
    let listener = echo_listener();
    let client = connect(&listener);
    let message = b"Hello Ballerina Echo from client";
    client.write_bytes(message).unwrap();
    assert_eq!(client.read_bytes_exact(message.len()).unwrap(), message);
    client.close().unwrap();
}

#[test]
fn invalid_local_interface_fails_at_connect() {
    // Ballerina: localHost = "invalid" fails at init.
    let listener = echo_listener();
    let port = listener.local_addr().port().unwrap();
    for local in ["invalid", "203.0.113.1"] {
        let config = ClientConfig::new().local_host(local);
        let err = Client::connect_with(("127.0.0.1", port), &config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{local}: {err}");
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("connect to 127.0.0.1:{port}: ")),
            "{text}"
        );
        assert!(text.contains(local), "{text}");
    }
}

#[test]
fn local_host_is_bound_before_connecting() {
    let listener = echo_listener();
    let config = ClientConfig::new().local_host("127.0.0.1");
    let client = Client::connect_with(
        ("127.0.0.1", listener.local_addr().port().unwrap()),
        &config,
    )
    .unwrap();
    assert_eq!(client.local_addr().ip().unwrap().to_string(), "127.0.0.1");
}

#[test]
fn read_times_out_against_a_discarding_server() {
    // Ballerina: the server discards input; timeout = 0.1 s; readBytes fails.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let config = ClientConfig::new().timeout(Some(Duration::from_millis(100)));
    let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
    let (mut peer, _) = server.accept().unwrap();
    client.write_bytes(b"discard me").unwrap();
    let mut sink = [0u8; 10];
    peer.read_exact(&mut sink).unwrap();

    let started = Instant::now();
    let err = client.read_bytes().unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        waited >= Duration::from_millis(90),
        "gave up after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "took {waited:?}");
    assert!(
        err.to_string()
            .contains(&format!("read from 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn exact_read_keeps_what_arrived_before_a_timeout() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let config = ClientConfig::new().timeout(Some(Duration::from_millis(100)));
    let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
    let (mut peer, _) = server.accept().unwrap();

    peer.write_all(b"01234").unwrap();
    let err = client.read_bytes_exact(10).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    peer.write_all(b"56789tail").unwrap();
    assert_eq!(client.read_bytes_exact(10).unwrap(), b"0123456789");
    assert_eq!(client.read_bytes_exact(4).unwrap(), b"tail");
}

#[test]
fn exact_read_reports_a_short_stream_as_closed() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = connect_port(server.local_addr().unwrap().port());
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(b"abc").unwrap();
    drop(peer);
    let err = client.read_bytes_exact(8).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert!(err.to_string().contains("after 3 of 8 bytes"), "{err}");
    // Reading again keeps saying so, without blocking.
    assert_eq!(client.read_bytes().unwrap(), b"abc");
    assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Closed);
}

#[test]
fn refused_connection_names_the_address() {
    let (_refusing, port) = refusing_port();
    let err = Client::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert_eq!(
        err.to_string(),
        format!("connect to 127.0.0.1:{port}: connection refused")
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn unknown_host_is_host_not_found() {
    let err = Client::connect(("no-such-host.invalid", 80)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostNotFound, "{err}");
    assert!(err
        .to_string()
        .starts_with("connect to no-such-host.invalid:80: "));
}

#[test]
fn zero_timeouts_are_rejected() {
    let config = ClientConfig::new().timeout(Some(Duration::ZERO));
    let err = Client::connect_with(("127.0.0.1", 9), &config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().contains("timeout must be more than zero"),
        "{err}"
    );
}

#[test]
fn hostnames_ipv4_and_ipv6_connect() {
    // A port alone: every interface, IPv6 and IPv4 (the one test that needs both).
    let mut listener = synctcp::Listener::bind(0).unwrap();
    listener.attach(|_| Ok(Echo)).unwrap();
    listener.start().unwrap();
    let port = listener.local_addr().port().unwrap();
    let mut hosts = vec!["localhost", "127.0.0.1"];
    if TcpListener::bind("[::1]:0").is_ok() {
        hosts.push("::1");
        hosts.push("[::1]");
    }
    for host in hosts {
        let client = Client::connect_with((host, port), &client_config())
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        client.write_bytes(host.as_bytes()).unwrap();
        assert_eq!(
            client.read_bytes_exact(host.len()).unwrap(),
            host.as_bytes()
        );
    }
}

#[test]
fn close_is_idempotent_and_later_calls_fail_closed() {
    let listener = echo_listener();
    let client = connect(&listener);
    client.close().unwrap();
    client.close().unwrap();
    let err = client.write_bytes(b"x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Closed);
}

/// Writes until a write fails (the RST on its way arrives), within [`WAIT`].
fn write_until_error(client: &Client) -> synctcp::Error {
    let deadline = Instant::now() + WAIT;
    loop {
        match client.write_bytes(&[0u8; 1024]) {
            Ok(()) => assert!(Instant::now() < deadline, "writes kept succeeding"),
            Err(err) => return err,
        }
    }
}

#[test]
fn writing_to_a_reset_connection_is_an_error_not_a_panic() {
    let (client, peer) = connected_pair();
    reset_by_peer(peer);
    let err = write_until_error(&client);
    assert!(
        matches!(err.kind(), ErrorKind::Reset | ErrorKind::Closed),
        "{err}"
    );
}

// The socket reports a reset to one system call only, then an end of stream or a broken
// pipe: the client remembers it, so that no later call calls it a close.
#[test]
fn after_a_read_saw_a_reset_every_later_call_reports_it() {
    let (client, peer) = connected_pair();
    reset_by_peer(peer);
    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");

    let err = client.write_bytes(b"after the reset").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("write to 127.0.0.1:"), "{text}");
    assert!(text.contains("reset by peer"), "{text}");
    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    let err = client.read_bytes_exact(4).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    let err = (&client).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
}

// What arrived before a reset is handed out, but a frame the reset cut off never comes out
// as a whole one (as the end of a cleanly closed stream may), however many reads follow.
#[test]
fn a_frame_cut_off_by_a_reset_never_comes_out_whole() {
    let lines = Delimited::lines();
    let prefixed = LengthPrefixed::new();
    let cases: [(&dyn Codec, &[u8], usize); 2] = [
        (&lines, b"line1\nline2\npartial", 2),
        (&prefixed, &[0, 0, 0, 10, b'a', b'b', b'c'], 0),
    ];
    for (codec, sent, whole) in cases {
        let (client, mut peer) = connected_pair();
        peer.write_all(sent).unwrap();
        reset_by_peer(peer);
        for i in 0..whole {
            let frame = client.read_frame(codec).unwrap();
            assert_eq!(frame, format!("line{}", i + 1).as_bytes());
        }
        for i in 0..4 {
            let err = client.read_frame(codec).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Reset,
                "read {i} after the frames: {err}"
            );
        }
    }
}

#[test]
fn a_frame_cut_off_by_a_reset_a_write_saw_never_comes_out_whole() {
    let (client, mut peer) = connected_pair();
    peer.write_all(b"partial").unwrap();
    reset_by_peer(peer);
    let err = write_until_error(&client);
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    for i in 0..4 {
        let err = client.read_frame(&Delimited::lines()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Reset, "read {i}: {err}");
    }
}

// With a read and a write in flight, the socket tells one of them about the reset (the other
// may see a close); both end, and every call after them reports the reset.
#[test]
fn a_reset_ends_a_read_and_a_write_in_flight_and_every_later_call_reports_it() {
    for round in 0..20 {
        let (client, peer) = connected_pair();
        let client = std::sync::Arc::new(client);
        let reader = std::thread::spawn({
            let client = client.clone();
            move || client.read_bytes().map(|_| ()).map_err(|e| e.kind())
        });
        let writer = std::thread::spawn({
            let client = client.clone();
            move || loop {
                // The peer never reads: a write soon waits for room, until the reset.
                if let Err(err) = client.write_bytes(&[9u8; 256 * 1024]) {
                    return err.kind();
                }
            }
        });
        reset_by_peer(peer);
        // Both calls are bounded by the client's timeouts (a Timeout fails below).
        let read = reader.join().unwrap();
        let write = writer.join().unwrap();
        assert!(
            matches!(read, Err(ErrorKind::Reset | ErrorKind::Closed)),
            "round {round}: read {read:?}"
        );
        assert!(
            matches!(write, ErrorKind::Reset | ErrorKind::Closed),
            "round {round}: write {write:?}"
        );
        assert!(
            read == Err(ErrorKind::Reset) || write == ErrorKind::Reset,
            "round {round}: neither call saw the reset: read {read:?}, write {write:?}"
        );
        assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Reset);
        assert_eq!(
            client.write_bytes(b"z").unwrap_err().kind(),
            ErrorKind::Reset
        );
    }
}

#[test]
fn after_a_write_saw_a_reset_every_later_call_reports_it() {
    let (client, peer) = connected_pair();
    reset_by_peer(peer);
    let err = write_until_error(&client);
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");

    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    let text = err.to_string();
    assert!(text.starts_with("read from 127.0.0.1:"), "{text}");
    let err = client
        .read_frame(&synctcp::framing::Delimited::lines())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
    let err = (&client).read(&mut [0u8; 16]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let err = client.write_bytes(b"again").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Reset, "{err}");
}

#[test]
fn read_and_write_traits_compose_with_std() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = connect_port(server.local_addr().unwrap().port());
    let (mut peer, _) = server.accept().unwrap();
    peer.write_all(b"first line\nsecond line\n").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();

    let mut lines = BufReader::new(&mut client).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first line");
    assert_eq!(lines.next().unwrap().unwrap(), "second line");
    assert!(lines.next().is_none());
    drop(lines);

    std::io::copy(&mut &b"copied"[..], &mut client).unwrap();
    client.flush().unwrap();
    let mut got = [0u8; 6];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"copied");
}

#[test]
fn one_thread_reads_while_another_writes() {
    // Writing 8 MiB to an echo server without reading would fill both directions' buffers
    // and stall; with a reader on another thread it streams.
    const TOTAL: usize = 8 << 20;
    let listener = echo_listener();
    let client = std::sync::Arc::new(connect(&listener));
    let writer = {
        let client = std::sync::Arc::clone(&client);
        std::thread::spawn(move || {
            let piece = vec![b'w'; 64 * 1024];
            for _ in 0..TOTAL / piece.len() {
                client.write_bytes(&piece).unwrap();
            }
        })
    };
    let mut received = 0;
    while received < TOTAL {
        let data = client.read_bytes().unwrap();
        assert!(data.iter().all(|&b| b == b'w'));
        received += data.len();
    }
    writer.join().unwrap();
    assert_eq!(received, TOTAL);
}

#[test]
fn close_on_another_thread_ends_a_waiting_read() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::sync::Arc::new(connect_port(server.local_addr().unwrap().port()));
    let _peer = server.accept().unwrap();
    let reader = {
        let client = std::sync::Arc::clone(&client);
        std::thread::spawn(move || client.read_bytes().unwrap_err())
    };
    // Whether the read has started waiting or not, close must end it.
    std::thread::yield_now();
    client.close().unwrap();
    let err = reader.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(err.to_string().contains("client is closed"), "{err}");
}
