//! Limits: never more than `max_connections` served at once, the rest served as slots
//! free; a failed thread spawn closes that one connection and the listener goes on.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use synctcp::{Caller, ConnectionService, Error, ErrorKind, Listener, Reply};

/// Echoes, and counts connections served at once (from on_connect to on_close).
struct Counted {
    now: Arc<AtomicUsize>,
}

impl ConnectionService for Counted {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Echo)
    }
    fn on_close(&mut self, _: &Caller) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn never_more_than_max_connections_at_once() {
    const K: usize = 3;
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (connected_tx, connected) = crossbeam_channel::unbounded();
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().max_connections(K)).unwrap();
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    listener
        .attach(move |_| {
            let current = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(current, Ordering::SeqCst);
            let _ = connected_tx.send(());
            Ok(Counted {
                now: Arc::clone(&n),
            })
        })
        .unwrap();
    listener.start().unwrap();

    // K + 5 clients connect at once; the kernel completes every handshake (backlog).
    let mut clients: Vec<_> = (0..K + 5).map(|_| connect(&listener)).collect();
    for client in &mut clients {
        client.write_bytes(b"hi").unwrap();
    }
    for _ in 0..K {
        connected.recv_timeout(WAIT).unwrap();
    }
    // At the limit nobody else is served...
    assert!(connected.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(listener.connection_count(), K);

    // ...and each close lets one more in. The backlog is first in, first out: close the
    // clients in the order they connected.
    for (i, client) in clients.into_iter().enumerate() {
        assert_eq!(client.read_bytes_exact(2).unwrap(), b"hi");
        client.close().unwrap();
        if i + K < K + 5 {
            connected.recv_timeout(WAIT).unwrap();
        }
        assert!(listener.connection_count() <= K);
    }
    assert_eq!(peak.load(Ordering::SeqCst), K);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn a_listener_that_cannot_start_a_thread_says_so_at_start() {
    // No system gives a thread a 16 TiB stack: every spawn fails, as when out of memory.
    let config = listener_config().stack_size(1 << 44);
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener.attach(|_| Ok(Echo)).unwrap();
    let err = listener.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("cannot start a thread"), "{err}");
    assert!(
        err.to_string().contains(&listener.local_addr().to_string()),
        "{err}"
    );
    assert!(!listener.is_running());
    assert_eq!(listener.connection_count(), 0);
}
