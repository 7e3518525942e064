//! The listener and its services: Ballerina's listener scenarios (echo, big data, close in
//! onConnect, onBytes errors) and the guarantees we add (on_connect before on_bytes,
//! on_close exactly once, errors go to on_error and close).

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use synctcp::{Caller, ConnectionService, Error, ErrorKind, Listener, Reply};

const LOREM: &[u8] =
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor inci";

#[test]
fn listener_echoes_the_83_byte_message() {
    assert_eq!(LOREM.len(), 83);
    let listener = echo_listener();
    let client = connect(&listener);
    client.write_bytes(LOREM).unwrap();
    assert_eq!(client.read_bytes_exact(LOREM.len()).unwrap(), LOREM);
}

#[test]
fn port_zero_binds_a_real_port() {
    let listener = echo_listener();
    assert_ne!(listener.local_addr().port().unwrap(), 0);
    assert!(listener.local_addr().ip().unwrap().is_loopback());
}

struct BigReply;

impl ConnectionService for BigReply {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let mut reply = vec![0u8; 8_000_001];
        for (i, byte) in reply.iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        reply[8_000_000] = 97;
        Ok(Reply::Bytes(reply))
    }
}

#[test]
fn one_big_reply_arrives_whole() {
    // Ballerina: one 8,000,001-byte write whose last byte is 97; read until all arrived.
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener.attach(|_| Ok(BigReply)).unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"send it").unwrap();
    let reply = client.read_bytes_exact(8_000_001).unwrap();
    assert_eq!(reply[8_000_000], 97);
    assert!(reply[..8_000_000]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == (i % 251) as u8));
}

#[test]
fn closing_in_on_connect_makes_the_client_read_fail_closed() {
    // Ballerina: onConnect closes the caller; the client's readBytes fails.
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |caller| {
            let _ = caller.close();
            Ok(Recorder(tx.clone()))
        })
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    let err = client.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    // The connection was accepted, so on_close runs, and no bytes were dispatched.
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "close");
}

/// Records on_bytes/on_error/on_close as words, answers every piece with an error.
struct Recorder(mpsc::Sender<String>);

impl ConnectionService for Recorder {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let _ = self
            .0
            .send(format!("bytes {}", String::from_utf8_lossy(data)));
        Err(Error::new(ErrorKind::InvalidData, "no thanks"))
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.0.send(format!("error {:?} {err}", err.kind()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.0.send("close".to_string());
    }
}

#[test]
fn an_error_from_on_bytes_goes_to_on_error_then_closes() {
    // Ballerina only prints it; we report it to on_error and close the connection.
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener.attach(move |_| Ok(Recorder(tx.clone()))).unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"hello").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "bytes hello");
    assert_eq!(
        rx.recv_timeout(WAIT).unwrap(),
        "error InvalidData no thanks"
    );
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "close");
    // The client sees an orderly end of stream; the listener serves on.
    assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Closed);
    let again = connect(&listener);
    again.write_bytes(b"again").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), "bytes again");
}

#[test]
fn an_error_from_on_connect_refuses_the_connection() {
    let (tx, rx) = mpsc::channel::<String>();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |caller| -> Result<Recorder, Error> {
            caller.write_bytes(b"go away\n")?;
            let _ = &tx;
            Err(Error::new(ErrorKind::Other, "not today"))
        })
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    // What on_connect wrote still arrives, then the end of stream.
    assert_eq!(read_to_end(&client).unwrap(), b"go away\n");
    // No connection service existed, so no callback of one ran.
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn no_on_bytes_before_on_connect_returns() {
    let (events_tx, events) = crossbeam_channel::unbounded();
    let (release_tx, release) = crossbeam_channel::bounded::<()>(1);
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |caller| {
            let _ = events_tx.send(Event::Connect(caller.clone()));
            // Hold on_connect until the client's bytes have surely arrived.
            release
                .recv_timeout(WAIT)
                .expect("test released on_connect");
            let _ = events_tx.send(Event::Error(
                caller.id(),
                ErrorKind::Other,
                "connect returns".into(),
            ));
            Ok(Probe2 {
                events: events_tx.clone(),
            })
        })
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"early bytes").unwrap();
    assert!(matches!(next(&events), Event::Connect(_)));
    release_tx.send(()).unwrap();
    assert!(matches!(next(&events), Event::Error(_, _, text) if text == "connect returns"));
    assert!(matches!(next(&events), Event::Bytes(_, data) if data == b"early bytes"));
}

struct Probe2 {
    events: crossbeam_channel::Sender<Event>,
}

impl ConnectionService for Probe2 {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let _ = self.events.send(Event::Bytes(caller.id(), data.to_vec()));
        Ok(Reply::None)
    }
}

#[test]
fn caller_reports_addresses_and_unique_ids() {
    let (listener, rx) = caller_listener(listener_config());
    let a = connect(&listener);
    let b = connect(&listener);
    let ca = rx.recv_timeout(WAIT).unwrap();
    let cb = rx.recv_timeout(WAIT).unwrap();
    assert_ne!(ca.id(), cb.id());
    let mut by_port: HashMap<u16, Caller> = HashMap::new();
    by_port.insert(ca.remote_port().unwrap(), ca);
    by_port.insert(cb.remote_port().unwrap(), cb);
    for client in [&a, &b] {
        let caller = &by_port[&client.local_addr().port().unwrap()];
        assert_eq!(caller.remote_host(), client.local_addr().ip());
        assert_eq!(caller.local_port(), listener.local_addr().port());
        assert_eq!(caller.local_host(), client.peer_addr().ip());
    }
}

#[test]
fn on_close_runs_exactly_once_per_accepted_connection() {
    // Each connection is ended a different way; each must get exactly one on_close.
    // (A short drain: these clients never close, so each drain runs to its end.)
    let (listener, events) =
        probe_listener(listener_config().drain_timeout(Duration::from_millis(200)));
    let mut clients = Vec::new();
    let mut callers = Vec::new();
    for _ in 0..5 {
        clients.push(connect(&listener));
        let Event::Connect(caller) = next(&events) else {
            panic!("expected a connect")
        };
        callers.push(caller);
    }
    // Match callers to clients by port.
    callers.sort_by_key(|c| c.remote_port());
    clients.sort_by_key(|c| c.local_addr().port().unwrap());
    let mut clients = clients.into_iter();

    clients.next().unwrap().close().unwrap(); // 1: the client closes
    let second = clients.next().unwrap(); // 2: the client sends, then drops
    second.write_bytes(b"bye").unwrap();
    drop(second);
    let _third = clients.next().unwrap(); // 3: the service side closes through its caller
    let _ = callers[2].close();
    let fourth = clients.next().unwrap(); // 4: on_bytes returns an error
    fourth.write_bytes(b"fail").unwrap();
    let _fifth = clients.next().unwrap(); // 5: open until the listener stops

    let mut closes: HashMap<u64, usize> = HashMap::new();
    while closes.len() < 4 {
        if let Event::Close(id) = next(&events) {
            *closes.entry(id).or_default() += 1;
        }
    }
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    for event in events.try_iter() {
        if let Event::Close(id) = event {
            *closes.entry(id).or_default() += 1;
        }
    }
    let expected: Vec<u64> = callers.iter().map(|c| c.id()).collect();
    let mut seen: Vec<u64> = closes.keys().copied().collect();
    seen.sort_unstable();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_unstable();
    assert_eq!(seen, expected_sorted, "on_close for every connection");
    assert!(closes.values().all(|&n| n == 1), "exactly once: {closes:?}");
}
