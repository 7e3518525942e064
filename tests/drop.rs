//! Dropping a running listener never blocks and leaves no thread behind. Alone in its own
//! test binary so that the process's thread count is this test's alone.

mod common;

use std::time::{Duration, Instant};

use common::*;
use synctcp::Client;

#[test]
fn dropping_a_running_listener_returns_at_once_and_leaves_no_thread() {
    let before = thread_count();
    let listener = echo_listener();
    let mut clients: Vec<Client> = (0..5).map(|_| connect(&listener)).collect();
    for client in &mut clients {
        client.write_bytes(b"x").unwrap();
        assert_eq!(client.read_bytes_exact(1).unwrap(), b"x");
    }
    // One thread per connection, and two more waiting in accept for the next ones.
    assert_eq!(thread_count(), before + 2 + 5);

    let started = Instant::now();
    drop(listener);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "drop blocked"
    );
    wait_until(WAIT, "every listener thread gone", || {
        thread_count() == before
    });
    for client in &mut clients {
        assert!(client.read_bytes().is_err());
    }
}
