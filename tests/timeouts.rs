//! Idle connections and trickling peers are closed within their bounds.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use synctcp::ErrorKind;

const SLACK: Duration = Duration::from_secs(3);

#[test]
fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let idle = Duration::from_millis(400);
    let (listener, events) = probe_listener(listener_config().idle_timeout(Some(idle)));
    let started = Instant::now();
    let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let Event::Error(_, kind, text) = wait_event(&events, |e| matches!(e, Event::Error(..))) else {
        unreachable!()
    };
    let took = started.elapsed();
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(text.contains("idle_timeout"), "{text}");
    assert!(took >= idle, "closed after {took:?}");
    assert!(took < idle + SLACK, "closed after {took:?}");
    wait_event(&events, |e| matches!(e, Event::Close(_)));
    // The peer sees an orderly end of stream.
    assert_eq!(peer.read(&mut [0u8; 8]).unwrap(), 0);
    drop(peer);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn traffic_in_either_direction_keeps_a_connection_alive() {
    let idle = Duration::from_millis(1000);
    let (listener, events) = probe_listener(listener_config().idle_timeout(Some(idle)));
    let client = connect(&listener);
    let Event::Connect(caller) = next(&events) else {
        panic!("expected a connect")
    };
    // For three idle periods: the server writes (through the caller) but the client is
    // silent. Writes are traffic too, so the connection stays open.
    let until = Instant::now() + idle * 3;
    while Instant::now() < until {
        caller.write_bytes(b"ping").unwrap();
        assert_eq!(client.read_bytes_exact(4).unwrap(), b"ping");
        // Writes come every idle/5: a busy machine has 4/5 of the idle time of slack.
        assert!(
            events.recv_timeout(idle / 5).is_err(),
            "closed despite traffic"
        );
    }
    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_trickling_peer_is_bounded_by_max_lifetime() {
    // The peer sends a byte well before each idle deadline: never idle, yet it must not
    // hold its connection forever. (A byte every tenth of the idle timeout: a test thread
    // held up by a busy machine still keeps the connection from being idle.)
    let idle = Duration::from_millis(2000);
    let lifetime = Duration::from_millis(1000);
    let config = listener_config()
        .idle_timeout(Some(idle))
        .max_lifetime(Some(lifetime));
    let (listener, events) = probe_listener(config);
    let started = Instant::now();
    let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
    let every = idle / 10;
    let mut next_byte = Instant::now();
    let closed = loop {
        let now = Instant::now();
        if now >= next_byte {
            let _ = peer.write_all(b".");
            next_byte += every;
            continue;
        }
        if let Ok(Event::Error(_, kind, text)) = events.recv_timeout(next_byte - now) {
            break (kind, text);
        }
        assert!(started.elapsed() < lifetime + SLACK, "still open");
    };
    let took = started.elapsed();
    assert_eq!(closed.0, ErrorKind::Timeout);
    assert!(closed.1.contains("max_lifetime"), "{}", closed.1);
    assert!(took >= lifetime, "closed after {took:?}");
    wait_event(&events, |e| matches!(e, Event::Close(_)));
    drop(peer);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_flooding_peer_is_bounded_by_max_lifetime_too() {
    // Reads that never time out must not escape the lifetime check.
    let lifetime = Duration::from_millis(800);
    let (listener, events) = probe_listener(listener_config().max_lifetime(Some(lifetime)));
    let started = Instant::now();
    let client = connect(&listener);
    let Event::Connect(_) = next(&events) else {
        panic!("expected a connect")
    };
    let closed = loop {
        if client.write_bytes(b"flood").is_err() || client.read_bytes().is_err() {
            break started.elapsed();
        }
        assert!(started.elapsed() < lifetime + SLACK, "still open");
    };
    assert!(closed >= lifetime, "closed after {closed:?}");
    let Event::Error(_, kind, text) = wait_event(&events, |e| matches!(e, Event::Error(..))) else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::Timeout, "{text}");
    drop(client);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}
