//! One connection's callbacks never overlap and see bytes in arrival order, with many
//! clients at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, ThreadId};

use common::*;
use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

const CLIENTS: usize = 50;
const CHUNKS: usize = 200;

/// Echoes, and checks that its callbacks never overlap and all run on one thread.
struct Checked {
    inside: Arc<AtomicBool>,
    thread: ThreadId,
    violations: Arc<AtomicUsize>,
}

impl Checked {
    fn enter(&self) {
        if self.inside.swap(true, Ordering::SeqCst) || thread::current().id() != self.thread {
            self.violations.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn leave(&self) {
        self.inside.store(false, Ordering::SeqCst);
    }
}

impl ConnectionService for Checked {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        self.enter();
        // Give a second callback time to sneak in, if anything allowed it.
        thread::yield_now();
        self.leave();
        Ok(Reply::Echo)
    }

    fn on_close(&mut self, _: &Caller) {
        self.enter();
        self.leave();
    }
}

#[test]
fn fifty_clients_get_their_own_bytes_back_in_order() {
    let violations = Arc::new(AtomicUsize::new(0));
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    let seen = Arc::clone(&violations);
    listener
        .attach(move |_| {
            Ok(Checked {
                inside: Arc::new(AtomicBool::new(false)),
                thread: thread::current().id(),
                violations: Arc::clone(&seen),
            })
        })
        .unwrap();
    listener.start().unwrap();
    let port = listener.local_addr().port().unwrap();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || {
                let client = connect_port(port);
                let expected: Vec<u8> = (0..CHUNKS)
                    .flat_map(|i| format!("client {c} chunk {i};").into_bytes())
                    .collect();
                // Write in numbered chunks while the echoes come back in other pieces.
                for i in 0..CHUNKS {
                    client
                        .write_bytes(format!("client {c} chunk {i};").as_bytes())
                        .unwrap();
                }
                let echoed = client.read_bytes_exact(expected.len()).unwrap();
                assert_eq!(echoed, expected, "client {c} got bytes out of order");
                client.close().unwrap();
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    listener
        .graceful_stop(std::time::Duration::from_secs(10))
        .unwrap();
    assert_eq!(violations.load(Ordering::SeqCst), 0, "callbacks overlapped");
}
