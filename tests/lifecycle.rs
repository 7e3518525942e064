//! The listener's lifecycle: attach, start, graceful and immediate stop, detach, start
//! again on the same port, and drop.

mod common;

use std::time::{Duration, Instant};

use common::*;
use synctcp::{Caller, Client, ConnectionService, Error, ErrorKind, Listener, Reply};

/// Answers every piece with a fixed greeting and the caller's id.
struct Greeter(&'static str);

impl ConnectionService for Greeter {
    fn on_bytes(&mut self, caller: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Bytes(
            format!("{} {}", self.0, caller.id()).into_bytes(),
        ))
    }
}

/// An address of its own on loopback for the tests that free a port and rely on it staying
/// free: the other tests of this file bind 127.0.0.1 and so can never take it meanwhile.
const OWN_ADDRESS: &str = "127.0.0.2";

fn ask(port: u16) -> String {
    let client = Client::connect_with((OWN_ADDRESS, port), &client_config()).unwrap();
    client.write_bytes(b"?").unwrap();
    let reply = String::from_utf8(client.read_bytes().unwrap()).unwrap();
    client.close().unwrap();
    reply
}

#[test]
fn stop_detach_attach_and_start_again_on_the_same_port() {
    // Ballerina: gracefulStop, detach the "Hello" service, attach a "Hi" service, start
    // again on the same port: the reply changes; the caller id is set.
    let mut listener = Listener::bind_with((OWN_ADDRESS, 0), &listener_config()).unwrap();
    let port = listener.local_addr().port().unwrap();
    listener.attach(|_| Ok(Greeter("Hello"))).unwrap();
    listener.start().unwrap();
    let first = ask(port);
    assert!(first.starts_with("Hello "), "{first}");

    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    assert!(!listener.is_running());
    listener.detach().unwrap();
    listener.attach(|_| Ok(Greeter("Hi"))).unwrap();
    listener.start().unwrap();
    assert_eq!(listener.local_addr().port().unwrap(), port);
    let second = ask(port);
    let (greeting, id) = second.split_once(' ').unwrap();
    assert_eq!(greeting, "Hi");
    let id: u64 = id.parse().unwrap();
    assert!(id > 0);
    assert_ne!(first, second);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn lifecycle_misuse_is_a_clear_error() {
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    let err = listener.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("no service is attached"), "{err}");
    assert_eq!(
        listener.detach().unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );

    listener.attach(|_| Ok(Echo)).unwrap();
    let err = listener.attach(|_| Ok(Echo)).unwrap_err();
    assert!(err.to_string().contains("attached already"), "{err}");
    listener.start().unwrap();
    assert!(listener
        .start()
        .unwrap_err()
        .to_string()
        .contains("running already"));
    assert!(listener
        .detach()
        .unwrap_err()
        .to_string()
        .contains("stop it first"));
    listener.immediate_stop().unwrap();
    listener.immediate_stop().unwrap(); // stopping a stopped listener does nothing
    listener.detach().unwrap();
}

#[test]
fn binding_a_taken_port_is_address_in_use() {
    let listener = echo_listener();
    let port = listener.local_addr().port().unwrap();
    let err = Listener::bind_with(("127.0.0.1", port), &listener_config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddressInUse);
    assert_eq!(
        err.to_string(),
        format!("bind 127.0.0.1:{port}: address already in use")
    );
}

#[test]
fn graceful_stop_refuses_new_connects_at_once() {
    let mut listener = Listener::bind("127.0.0.3:0").unwrap();
    listener.attach(|_| Ok(Echo)).unwrap();
    listener.start().unwrap();
    let port = listener.local_addr().port().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    let err = Client::connect(("127.0.0.3", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn immediate_stop_closes_open_connections_and_runs_on_close() {
    let (listener, events) = probe_listener(listener_config());
    let mut clients: Vec<Client> = (0..3).map(|_| connect(&listener)).collect();
    for _ in 0..3 {
        wait_event(&events, |e| matches!(e, Event::Connect(_)));
    }
    let started = Instant::now();
    listener.immediate_stop().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let closes = events
        .try_iter()
        .filter(|e| matches!(e, Event::Close(_)))
        .count();
    assert_eq!(closes, 3, "on_close ran before immediate_stop returned");
    for client in &mut clients {
        let err = client.read_bytes().unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Closed | ErrorKind::Reset),
            "{err}"
        );
    }
}
