//! A peer that stops reading meets backpressure: the service's writer blocks on the bounded
//! write queue, fails with Timeout after the write timeout, and memory stays bounded while
//! other clients are served.

mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

const GIB: usize = 1 << 30;
const PIECE: usize = 1 << 20;

/// `flood` starts a thread that writes 1 GiB through the caller; anything else is echoed.
struct Flooder {
    events: mpsc::Sender<String>,
}

impl ConnectionService for Flooder {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        if data != b"flood" {
            return Ok(Reply::Echo);
        }
        let caller = caller.clone();
        let events = self.events.clone();
        thread::spawn(move || {
            let piece = vec![b'z'; PIECE];
            let mut written = 0;
            let mut last_progress = Instant::now();
            let outcome = loop {
                if written == GIB {
                    break "wrote it all".to_string();
                }
                match caller.write_bytes(&piece) {
                    Ok(()) => {
                        written += PIECE;
                        last_progress = Instant::now();
                    }
                    Err(err) => {
                        break format!(
                            "writer {:?} after {} MiB, {} ms after its last progress",
                            err.kind(),
                            written >> 20,
                            last_progress.elapsed().as_millis()
                        )
                    }
                }
            };
            let _ = events.send(outcome);
        });
        Ok(Reply::None)
    }

    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.events.send(format!("on_error {:?}", err.kind()));
    }

    fn on_close(&mut self, _: &Caller) {
        let _ = self.events.send("on_close".to_string());
    }
}

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
fn a_peer_that_never_reads_meets_backpressure_not_unbounded_memory() {
    let write_timeout = Duration::from_secs(1);
    let config = listener_config().write_timeout(Some(write_timeout));
    let (tx, events) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener
        .attach(move |_| Ok(Flooder { events: tx.clone() }))
        .unwrap();
    listener.start().unwrap();

    let rss_before = rss_bytes();
    let started = Instant::now();
    let never_reads = connect(&listener);
    never_reads.write_bytes(b"flood").unwrap();

    // Another client is served while the flood is stuck.
    let other = connect(&listener);
    for i in 0..50 {
        let msg = format!("still served {i}");
        other.write_bytes(msg.as_bytes()).unwrap();
        assert_eq!(other.read_bytes_exact(msg.len()).unwrap(), msg.as_bytes());
    }

    let mut seen = Vec::new();
    let mut peak = 0;
    while seen.len() < 3 {
        peak = peak.max(rss_bytes());
        if let Ok(event) = events.recv_timeout(Duration::from_millis(50)) {
            seen.push(event);
        }
        assert!(started.elapsed() < WAIT, "seen so far: {seen:?}");
    }
    let growth = peak.saturating_sub(rss_before);
    println!(
        "flood outcome: {seen:?}; peak RSS growth {} MiB; took {:?}",
        growth >> 20,
        started.elapsed()
    );

    // The writer failed with Timeout about one write timeout after it stopped progressing.
    let writer = seen
        .iter()
        .find(|e| e.starts_with("writer"))
        .expect("writer outcome");
    assert!(writer.starts_with("writer Timeout"), "{writer}");
    let stalled_ms: u128 = writer
        .rsplit(", ")
        .next()
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((900..5_000).contains(&stalled_ms), "{writer}");
    // on_error (Timeout) then on_close, once each.
    let service_side: Vec<&String> = seen.iter().filter(|e| !e.starts_with("writer")).collect();
    assert_eq!(service_side, ["on_error Timeout", "on_close"]);
    assert!(
        events.recv_timeout(Duration::from_millis(200)).is_err(),
        "more callbacks"
    );
    assert!(growth < 100 << 20, "memory grew by {} MiB", growth >> 20);

    drop(never_reads);
    other.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}
