//! Interleaving stress: eight threads write numbered records through one `Caller` while the
//! connection echoes the client's input (as records of its own) and another thread closes
//! the caller at some point. The client reads to the end of the stream and checks that
//! every record is whole and uncorrupted, each writer's records in order, that exactly the
//! writes that returned `Ok` arrived (none of those refused after the close), that the
//! echo matches what was sent, and that `on_close` ran exactly once.
//!
//! A record: writer id (1 byte; 255 for echo replies), sequence number (4), payload length
//! (4), payload, checksum (4, FNV-1a of all that precedes it in the record).

mod common;
#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, ListenerConfig,
    Reply,
};

const WRITERS: u8 = 8;
const ECHO: u8 = 255;
/// The most records one writer sends, should the close never come.
const MAX_RECORDS: u32 = 400;

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn record(writer: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 13);
    out.push(writer);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    let sum = fnv1a(&out);
    out.extend_from_slice(&sum.to_be_bytes());
    out
}

/// A writer's payload for one sequence number: its length varies from a few bytes to about
/// 100 KiB (and around the 16 KiB and 64 KiB boundaries), its bytes depend on all three.
fn payload(writer: u8, seq: u32) -> Vec<u8> {
    let mut x = (u64::from(writer) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x >> 29;
    let len = match x % 10 {
        0..=4 => 1 + (x >> 8) as usize % 64,
        5..=7 => 64 + (x >> 8) as usize % 20_000,
        8 => [16_383, 16_384, 16_385, 65_535, 65_536, 65_537][(x >> 8) as usize % 6],
        _ => 20_000 + (x >> 8) as usize % 82_000,
    };
    (0..len)
        .map(|j| {
            (j as u8) ^ ((j >> 8) as u8).wrapping_mul(3) ^ writer.wrapping_mul(29) ^ (seq as u8)
        })
        .collect()
}

/// Echoes every piece of input as a record of writer 255.
struct Stress {
    echo_seq: u32,
    events: mpsc::Sender<&'static str>,
}

impl ConnectionService for Stress {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let reply = record(ECHO, self.echo_seq, data);
        self.echo_seq += 1;
        Ok(Reply::Bytes(reply))
    }
    fn on_error(&mut self, _: &Caller, _: &Error) {
        let _ = self.events.send("on_error");
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.events.send("on_close");
    }
}

/// What one writer thread did.
struct Written {
    writer: u8,
    ok: u32,
    /// The error that ended it, and whether the close had been asked for before it.
    ended_by: Option<(ErrorKind, String, bool)>,
}

/// One round: returns the problems found (empty when all is well).
fn round(
    listener_config: ListenerConfig,
    client_config: ClientConfig,
    close_after: usize,
) -> Vec<String> {
    let (callers_tx, callers) = mpsc::channel();
    let (events_tx, events) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config).unwrap();
    listener
        .attach(move |caller| {
            let _ = callers_tx.send(caller.clone());
            Ok(Stress {
                echo_seq: 0,
                events: events_tx.clone(),
            })
        })
        .unwrap();
    listener.start().unwrap();
    let client = Arc::new(
        Client::connect_with(
            ("127.0.0.1", listener.local_addr().port().unwrap()),
            &client_config,
        )
        .unwrap(),
    );
    let caller = callers.recv_timeout(WAIT).unwrap();

    // The client's input, echoed back by on_bytes: small messages, paced by the client.
    let (stop_input_tx, stop_input) = mpsc::channel::<()>();
    let input = {
        let client = Arc::clone(&client);
        thread::spawn(move || {
            let mut sent = Vec::new();
            let mut n = 0u32;
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                stop_input.recv_timeout(Duration::from_millis(1))
            {
                let message: Vec<u8> = (0..1 + (n * 37) % 3000).map(|i| (i ^ n) as u8).collect();
                if client.write_bytes(&message).is_err() {
                    break;
                }
                sent.extend_from_slice(&message);
                n += 1;
            }
            sent
        })
    };

    // The writers, and the closer that waits for the close_after-th successful write.
    let total_ok = Arc::new(AtomicUsize::new(0));
    let closing = Arc::new(AtomicBool::new(false));
    let (close_now_tx, close_now) = mpsc::channel::<()>();
    let (written_tx, written) = mpsc::channel();
    for writer in 0..WRITERS {
        let caller = caller.clone();
        let total_ok = Arc::clone(&total_ok);
        let closing = Arc::clone(&closing);
        let close_now_tx = close_now_tx.clone();
        let written_tx = written_tx.clone();
        thread::spawn(move || {
            let mut done = Written {
                writer,
                ok: 0,
                ended_by: None,
            };
            for seq in 0..MAX_RECORDS {
                let rec = record(writer, seq, &payload(writer, seq));
                let asked = closing.load(SeqCst);
                match caller.write_bytes(&rec) {
                    Ok(()) => {
                        done.ok += 1;
                        if total_ok.fetch_add(1, SeqCst) + 1 == close_after {
                            let _ = close_now_tx.send(());
                        }
                    }
                    Err(e) => {
                        done.ended_by =
                            Some((e.kind(), e.to_string(), asked || closing.load(SeqCst)));
                        break;
                    }
                }
            }
            let _ = written_tx.send(done);
        });
    }
    drop(close_now_tx);
    {
        let caller = caller.clone();
        let closing = Arc::clone(&closing);
        thread::spawn(move || {
            // Every writer may finish first (then the channel disconnects): close anyway.
            let _ = close_now.recv_timeout(WAIT);
            closing.store(true, SeqCst);
            let _ = caller.close();
        });
    }

    let mut problems = Vec::new();
    let started = Instant::now();
    let all = match read_to_end(&client) {
        Ok(all) => all,
        Err(e) => {
            problems.push(format!(
                "reading to the end of the stream: {:?}: {e}",
                e.kind()
            ));
            Vec::new()
        }
    };
    let read_took = started.elapsed();
    if let Ok(more) = client.read_bytes() {
        problems.push(format!("{} bytes after the end of stream", more.len()));
    }
    drop(stop_input_tx);
    let sent_input = input.join().unwrap();

    let mut done: Vec<Written> = Vec::new();
    for _ in 0..WRITERS {
        match written.recv_timeout(WAIT) {
            Ok(w) => done.push(w),
            Err(_) => {
                problems.push("a writer thread never finished".into());
                break;
            }
        }
    }

    // Parse what arrived.
    let mut next_seq = [0u32; 256];
    let mut echoed = Vec::new();
    let mut at = 0;
    while at < all.len() {
        if all.len() - at < 9 {
            problems.push(format!(
                "a truncated record header at byte {at} (stream of {} bytes)",
                all.len()
            ));
            break;
        }
        let writer = all[at];
        let seq = u32::from_be_bytes(all[at + 1..at + 5].try_into().unwrap());
        let len = u32::from_be_bytes(all[at + 5..at + 9].try_into().unwrap()) as usize;
        let end = at + 9 + len + 4;
        if end > all.len() {
            problems.push(format!(
                "record {writer}/{seq} of {len} bytes truncated at the end of the stream (byte {at})"
            ));
            break;
        }
        let sum = u32::from_be_bytes(all[end - 4..end].try_into().unwrap());
        if sum != fnv1a(&all[at..end - 4]) {
            problems.push(format!("record {writer}/{seq} at byte {at}: bad checksum"));
            break; // the stream cannot be followed any further
        }
        if writer != ECHO && writer >= WRITERS {
            problems.push(format!("unknown writer {writer} at byte {at}"));
            break;
        }
        if seq != next_seq[writer as usize] {
            problems.push(format!(
                "writer {writer}: record {seq} where {} was expected (byte {at})",
                next_seq[writer as usize]
            ));
        }
        next_seq[writer as usize] = seq + 1;
        let body = &all[at + 9..end - 4];
        if writer == ECHO {
            echoed.extend_from_slice(body);
        } else if body != payload(writer, seq) {
            problems.push(format!("record {writer}/{seq}: payload differs"));
        }
        at = end;
    }
    if !sent_input.starts_with(&echoed) {
        problems.push(format!(
            "the echo ({} bytes) is not what the client sent ({} bytes)",
            echoed.len(),
            sent_input.len()
        ));
    }
    for w in &done {
        if next_seq[w.writer as usize] != w.ok {
            problems.push(format!(
                "writer {}: {} writes returned Ok, {} records arrived",
                w.writer, w.ok, next_seq[w.writer as usize]
            ));
        }
        match &w.ended_by {
            None => {}
            Some((ErrorKind::Closed, _, true)) => {}
            Some((kind, text, asked)) => problems.push(format!(
                "writer {}: ended by {kind:?} ({text}){}",
                w.writer,
                if *asked {
                    ""
                } else {
                    " before the close was asked for"
                }
            )),
        }
    }

    // on_close exactly once (and no on_error: nothing failed). The client closes first:
    // a connection closed from another thread while its thread waits in read runs on_close
    // once the peer's end of stream (or the drain timeout) ends that read.
    client.close().unwrap();
    let mut seen = Vec::new();
    match events.recv_timeout(WAIT) {
        Ok(event) => seen.push(event),
        Err(_) => problems.push("no on_close".into()),
    }
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    seen.extend(events.try_iter());
    if seen != ["on_close"] {
        problems.push(format!("callbacks at the end: {seen:?}"));
    }
    let summary = format!(
        "close after {close_after} records: {} bytes read in {read_took:?}, {} writes Ok, {} bytes echoed",
        all.len(),
        done.iter().map(|w| w.ok).sum::<u32>(),
        echoed.len()
    );
    println!("{summary}");
    if !problems.is_empty() {
        problems.insert(0, summary);
    }
    problems
}

fn patient() -> ClientConfig {
    ClientConfig::new()
        .timeout(Some(WAIT))
        .write_timeout(Some(WAIT))
}

#[test]
fn eight_writers_one_caller_echo_and_a_close_plain() {
    let mut problems = Vec::new();
    for close_after in [1, 60, 400, 1200] {
        problems.extend(round(listener_config(), patient(), close_after));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn eight_writers_one_caller_echo_and_a_close_small_write_queue() {
    // A 64 KiB write queue: writers wait for room often, and records are bigger than it.
    let mut problems = Vec::new();
    for close_after in [100, 800] {
        problems.extend(round(
            listener_config().write_queue_bytes(64 * 1024),
            patient(),
            close_after,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[cfg(feature = "tls")]
#[test]
fn eight_writers_one_caller_echo_and_a_close_tls() {
    use synctcp::{ClientSecureSocket, ListenerSecureSocket};
    let pki = pki::Pki::new();
    let server = ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"));
    let client = patient().secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
    let mut problems = Vec::new();
    for close_after in [60, 800] {
        problems.extend(round(
            listener_config().secure_socket(server.clone()),
            client.clone(),
            close_after,
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
