//! A fault inside one connection stays inside it: a panicking callback.

mod common;

use std::thread;
use std::time::Duration;

use common::*;
use synctcp::ErrorKind;

#[test]
fn a_panic_in_on_bytes_closes_only_its_connection() {
    let (listener, events) = probe_listener(listener_config());
    let mut others: Vec<_> = (0..3).map(|_| connect(&listener)).collect();
    let victim = connect(&listener);
    let port = victim.local_addr().port().unwrap();
    let mut victim_id = None;
    for _ in 0..4 {
        let Event::Connect(caller) = next(&events) else {
            panic!("expected connects")
        };
        if caller.remote_port() == Some(port) {
            victim_id = Some(caller.id());
        }
    }
    let victim_id = victim_id.unwrap();

    // Others keep echoing from their own threads while one connection panics.
    let echoing: Vec<_> = others
        .drain(..)
        .map(|client| {
            thread::spawn(move || {
                for i in 0..200u32 {
                    let msg = format!("msg {i};");
                    client.write_bytes(msg.as_bytes()).unwrap();
                    assert_eq!(client.read_bytes_exact(msg.len()).unwrap(), msg.as_bytes());
                }
                client
            })
        })
        .collect();
    victim.write_bytes(b"panic").unwrap();

    let error = wait_event(
        &events,
        |e| matches!(e, Event::Error(id, ..) if *id == victim_id),
    );
    let Event::Error(_, kind, text) = error else {
        unreachable!()
    };
    assert_eq!(kind, ErrorKind::Panic);
    assert!(text.contains("asked to panic"), "{text}");
    wait_event(
        &events,
        |e| matches!(e, Event::Close(id) if *id == victim_id),
    );
    assert_eq!(victim.read_bytes().unwrap_err().kind(), ErrorKind::Closed);

    let mut survivors: Vec<_> = echoing.into_iter().map(|t| t.join().unwrap()).collect();
    for client in &mut survivors {
        client.write_bytes(b"still there").unwrap();
        assert_eq!(client.read_bytes_exact(11).unwrap(), b"still there");
        client.close().unwrap();
    }
    victim.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}
