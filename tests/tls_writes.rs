//! The TLS write path (records sent straight from rustls to the socket, the rest
//! copied out) — sizes around every limit, stalled and trickling peers, several writers.
#![cfg(feature = "tls")]

#[path = "common/tls_peers.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use support::*;
use synctcp::{Caller, Client, ConnectionService, Error, ErrorKind, ListenerConfig, Reply};

const MIB: usize = 1024 * 1024;

const SIZES: &[usize] = &[
    1,
    2,
    100,
    16383,
    16384,
    16385,
    32768,
    65535,
    65536,
    65537,
    131071,
    131072,
    131073,
    MIB - 1,
    MIB,
    MIB + 1,
    20 * MIB + 7,
];

fn total(sizes: &[usize]) -> u64 {
    sizes.iter().map(|&s| s as u64).sum()
}

// ---- Caller writes from another thread, every size, one continuous pattern ----

fn caller_writes_sizes(v: V, config: ListenerConfig) {
    let pki = Pki::new();
    let (listener, ev) = server_listener(&config.secure_socket(server_tls(&pki, v)));
    let client = Arc::new(connect(&listener, &cconfig(&pki, v)));
    assert_eq!(client.tls().unwrap().protocol_version(), v.name());
    let caller = get_caller(&ev);
    let all = total(SIZES);
    let c = Arc::clone(&client);
    // A reader that stops for 150 ms after every 3 MiB: the socket fills meanwhile.
    let reader =
        spawn(move || client_read_verify(&c, 0, all, 3 * MIB as u64, Duration::from_millis(150)));
    let mut pos = 0u64;
    for &size in SIZES {
        let r = caller.write_bytes(&pattern(pos, size));
        assert!(r.is_ok(), "write of {size} bytes at {pos}: {r:?}");
        pos += size as u64;
    }
    let read = reader.recv_timeout(WAIT * 2).expect("reader finished");
    assert_eq!(read, Ok(all), "the reader's verdict");
    // Close: nothing more, a clean end (close_notify).
    caller.close().unwrap();
    let (rest, end) = client_read_all(&client);
    assert!(rest.is_empty(), "{} bytes after the last write", rest.len());
    assert_eq!(end, Ok(()), "the end after Caller::close");
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn caller_writes_every_size_tls13() {
    caller_writes_sizes(V::Tls13, ListenerConfig::new());
}

#[test]
fn caller_writes_every_size_tls12() {
    caller_writes_sizes(V::Tls12, ListenerConfig::new());
}

#[test]
fn caller_writes_every_size_queue_16k_tls13() {
    caller_writes_sizes(V::Tls13, ListenerConfig::new().write_queue_bytes(16384));
}

#[test]
fn caller_writes_every_size_queue_1_byte_tls13() {
    caller_writes_sizes(V::Tls13, ListenerConfig::new().write_queue_bytes(1));
}

#[test]
fn caller_writes_every_size_queue_64k_plus_1_tls12() {
    caller_writes_sizes(V::Tls12, ListenerConfig::new().write_queue_bytes(65537));
}

// ---- Replies from on_bytes (the connection thread's own, blocking write) ----

fn reply_sizes(v: V, config: ListenerConfig, pipelined: bool) {
    let pki = Pki::new();
    let (listener, _ev) = server_listener(&config.secure_socket(server_tls(&pki, v)));
    let client = connect(&listener, &cconfig(&pki, v));
    let mut pos = 0u64;
    if pipelined {
        let mut requests = Vec::new();
        for &size in SIZES {
            requests.extend_from_slice(&request(pos, size as u64));
            pos += size as u64;
        }
        client.write_bytes(&requests).unwrap();
        // Let the replies fill the sockets before reading.
        std::thread::sleep(Duration::from_millis(300));
        let r = client_read_verify(&client, 0, pos, 2 * MIB as u64, Duration::from_millis(100));
        assert_eq!(r, Ok(pos));
    } else {
        for &size in SIZES {
            client.write_bytes(&request(pos, size as u64)).unwrap();
            let r = client_read_verify(
                &client,
                pos,
                size as u64,
                4 * MIB as u64,
                Duration::from_millis(100),
            );
            assert_eq!(r, Ok(size as u64), "reply of {size} bytes at {pos}");
            pos += size as u64;
        }
    }
    // A close asked for inside on_bytes: a clean end.
    client.write_bytes(&request(0, u64::MAX)).unwrap();
    let (rest, end) = client_read_all(&client);
    assert!(rest.is_empty());
    assert_eq!(end, Ok(()));
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn replies_every_size_tls13() {
    reply_sizes(V::Tls13, ListenerConfig::new(), false);
}

#[test]
fn replies_every_size_tls12() {
    reply_sizes(V::Tls12, ListenerConfig::new(), false);
}

#[test]
fn replies_pipelined_every_size_tls13() {
    reply_sizes(V::Tls13, ListenerConfig::new(), true);
}

#[test]
fn replies_pipelined_every_size_queue_16k_tls12() {
    reply_sizes(
        V::Tls12,
        ListenerConfig::new().write_queue_bytes(16384),
        true,
    );
}

// ---- Client writes, every size, to a server that stops reading for a while ----

fn client_writes_sizes(v: V, config: ListenerConfig) {
    let pki = Pki::new();
    let (go, gate) = crossbeam_channel::bounded(1);
    let (listener, ev) = sink_listener(&config.secure_socket(server_tls(&pki, v)), Some(gate));
    let client = Arc::new(connect(&listener, &cconfig(&pki, v)));
    let c = Arc::clone(&client);
    let writer = spawn(move || {
        let mut pos = 0u64;
        for &size in SIZES {
            if let Err(e) = c.write_bytes(&pattern(pos, size)) {
                return Err(format!("write of {size} at {pos}: {:?}: {e}", e.kind()));
            }
            pos += size as u64;
        }
        // and through io::Write
        let tail = pattern(pos, 70_001);
        (&*c).write_all(&tail).map_err(|e| e.to_string())?;
        Ok(pos + tail.len() as u64)
    });
    // The server holds its first on_bytes for a while: the client's writes hit a full socket.
    std::thread::sleep(Duration::from_millis(500));
    go.send(()).unwrap();
    let written = writer.recv_timeout(WAIT * 2).expect("writer done").unwrap();
    client.shutdown_write().unwrap();
    match wait_ev(&ev, |e| matches!(e, Ev::Sink(..)), "the sink's verdict") {
        Ev::Sink(got, bad) => {
            assert_eq!(bad, None, "first mismatch");
            assert_eq!(got, written, "bytes received");
        }
        _ => unreachable!(),
    }
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn client_writes_every_size_tls13() {
    client_writes_sizes(V::Tls13, ListenerConfig::new());
}

#[test]
fn client_writes_every_size_tls12() {
    client_writes_sizes(V::Tls12, ListenerConfig::new());
}

#[test]
fn client_writes_every_size_read_buffer_16k_tls13() {
    client_writes_sizes(V::Tls13, ListenerConfig::new().read_buffer_size(16384));
}

#[test]
fn client_writes_every_size_read_buffer_16k_plus_1_tls12() {
    client_writes_sizes(V::Tls12, ListenerConfig::new().read_buffer_size(16385));
}

// ---- A peer that reads a few bytes of ciphertext at a time ----

fn trickle(v: V, piece: usize) {
    let pki = Pki::new();
    let (listener, ev) = server_listener(&ListenerConfig::new().secure_socket(server_tls(&pki, v)));
    let mut raw = raw_connect(&pki, v, port(&listener), Some(4096));
    let caller = get_caller(&ev);
    let sizes = [1usize, 16385, 65537, MIB + 1, 3 * MIB];
    let all = total(&sizes);
    let c = caller.clone();
    let writer = spawn(move || {
        let mut pos = 0u64;
        for size in sizes {
            c.write_bytes(&pattern(pos, size))?;
            pos += size as u64;
        }
        Ok::<u64, Error>(pos)
    });
    let (got, end) = raw.read_verify(0, all, piece);
    assert_eq!((got, end), (all, None));
    assert_eq!(kind_of(&writer.recv_timeout(WAIT).unwrap()), None);
    // A reply from on_bytes, read as slowly.
    raw.send(&request(all, 200_001));
    let (got, end) = raw.read_verify(all, 200_001, piece);
    assert_eq!((got, end), (200_001, None));
    // Then a close: close_notify, read a piece at a time too.
    caller.close().unwrap();
    let (got, end) = raw.read_verify(0, u64::MAX, piece);
    assert_eq!((got, end), (0, Some(Ok(()))));
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn trickle_reader_tls13() {
    trickle(V::Tls13, 61);
}

#[test]
fn trickle_reader_tls12() {
    trickle(V::Tls12, 97);
}

// ---- Several writers on one connection at once ----

const MAGIC: &[u8; 4] = b"FRM!";
const TRAILER: &[u8; 4] = b"!END";

fn frame_payload(tid: u8, seq: u32, len: usize) -> Vec<u8> {
    pattern(((tid as u64) << 48) | ((seq as u64) << 28), len)
}

fn frame(tid: u8, seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len + 17);
    f.extend_from_slice(MAGIC);
    f.push(tid);
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&(len as u32).to_be_bytes());
    f.extend_from_slice(&frame_payload(tid, seq, len));
    f.extend_from_slice(TRAILER);
    f
}

const REPLY_TID: u8 = 9;
const PINGS: u32 = 40;

/// Answers each byte with one frame (tid 9), as a Reply.
struct Pinged {
    seq: u32,
}

impl ConnectionService for Pinged {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let mut out = Vec::new();
        for _ in data {
            let len = [5usize, 16400, 70_000, 16384][self.seq as usize % 4];
            out.extend_from_slice(&frame(REPLY_TID, self.seq, len));
            self.seq += 1;
        }
        Ok(out.into())
    }
}

/// Each writer's sequence numbers, in the order its frames arrived.
type Seen = BTreeMap<u8, Vec<u32>>;

/// Reads frames until the end; reports the count of reply frames when it reaches PINGS.
fn read_frames(
    client: &Client,
    pinged: crossbeam_channel::Sender<()>,
) -> Result<(Seen, Result<(), String>), String> {
    let mut r = BufReader::with_capacity(64 * 1024, client);
    let mut seen: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
    let mut bytes = 0u64;
    let mut paused = 0u64;
    loop {
        let mut head = [0u8; 13];
        // The first byte tells a clean end from a cut.
        match r.read(&mut head[..1]) {
            Ok(0) => return Ok((seen, Ok(()))),
            Ok(_) => {}
            Err(e) => return Ok((seen, Err(e.to_string()))),
        }
        r.read_exact(&mut head[1..])
            .map_err(|e| format!("header after {bytes} bytes: {e}"))?;
        if &head[..4] != MAGIC {
            return Err(format!("no frame header at byte {bytes}: {:?}", &head));
        }
        let tid = head[4];
        let seq = u32::from_be_bytes(head[5..9].try_into().unwrap());
        let len = u32::from_be_bytes(head[9..13].try_into().unwrap()) as usize;
        let mut body = vec![0u8; len + 4];
        r.read_exact(&mut body)
            .map_err(|e| format!("frame {tid}/{seq} ({len} bytes) cut: {e}"))?;
        if body[..len] != frame_payload(tid, seq, len)[..] || &body[len..] != TRAILER {
            return Err(format!(
                "frame {tid}/{seq} ({len} bytes) at byte {bytes} is not whole: another write cut into it"
            ));
        }
        let list = seen.entry(tid).or_default();
        if let Some(&last) = list.last() {
            if seq <= last {
                return Err(format!(
                    "frame {tid}/{seq} after {tid}/{last}: out of order"
                ));
            }
        }
        list.push(seq);
        if tid == REPLY_TID && list.len() == PINGS as usize {
            let _ = pinged.send(());
        }
        bytes += len as u64 + 17;
        if bytes - paused > 2 * MIB as u64 {
            paused = bytes;
            std::thread::sleep(Duration::from_millis(80));
        }
    }
}

fn concurrent(v: V, config: ListenerConfig) {
    let pki = Pki::new();
    let config = config.secure_socket(server_tls(&pki, v));
    let (tx, rx) = crossbeam_channel::unbounded();
    let listener = start(&config, move |caller| {
        let _ = tx.send(caller.clone());
        Ok(Pinged { seq: 0 })
    });
    let client = Arc::new(connect(&listener, &cconfig(&pki, v)));
    let caller: Caller = rx.recv_timeout(WAIT).unwrap();
    let (pinged_tx, pinged) = crossbeam_channel::bounded(1);
    let c = Arc::clone(&client);
    let reader = spawn(move || read_frames(&c, pinged_tx));

    let sizes = [1usize, 16367, 65536, 200_000, 16385, 1_000_000, 100, 65519];
    let mut writers = Vec::new();
    for tid in 0u8..4 {
        let caller = caller.clone();
        writers.push(spawn(move || -> Result<Vec<u32>, String> {
            let mut sent = Vec::new();
            for seq in 0u32..30 {
                let f = frame(tid, seq, sizes[(seq as usize + tid as usize) % sizes.len()]);
                let r = match tid {
                    0 => caller.write_bytes(&f),
                    1 => caller.try_write_bytes(&f),
                    2 => caller.write_bytes_timeout(&f, WAIT),
                    _ => match (&caller).write(&f) {
                        Ok(n) if n == f.len() => Ok(()),
                        Ok(n) => return Err(format!("io::Write took {n} of {}", f.len())),
                        Err(e) => return Err(format!("io::Write: {e}")),
                    },
                };
                match r {
                    Ok(()) => sent.push(seq),
                    Err(e) if tid == 1 && e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => return Err(format!("writer {tid} frame {seq}: {:?}: {e}", e.kind())),
                }
            }
            Ok(sent)
        }));
    }
    // Pings from the client while the writers write: replies from on_bytes join in.
    for _ in 0..PINGS {
        client.write_bytes(b"p").unwrap();
    }
    let mut sent = BTreeMap::new();
    for (tid, w) in writers.into_iter().enumerate() {
        let r = w.recv_timeout(WAIT * 3).expect("writer finished");
        sent.insert(tid as u8, r.unwrap());
    }
    pinged.recv_timeout(WAIT).expect("every ping answered");
    caller.close().unwrap();
    let (seen, end) = reader
        .recv_timeout(WAIT * 2)
        .expect("reader finished")
        .unwrap();
    assert_eq!(end, Ok(()), "the end of the stream");
    for tid in 0u8..4 {
        assert_eq!(
            seen.get(&tid).cloned().unwrap_or_default(),
            sent[&tid],
            "frames of writer {tid} (writer 1 uses try_write_bytes: exactly its Ok frames)"
        );
    }
    assert_eq!(seen[&REPLY_TID], (0..PINGS).collect::<Vec<_>>());
    eprintln!("try_write_bytes: {} of 30 frames accepted", sent[&1].len());
    listener.graceful_stop(WAIT).unwrap();
}

#[test]
fn concurrent_writers_tls13() {
    concurrent(V::Tls13, ListenerConfig::new());
}

#[test]
fn concurrent_writers_tls12() {
    concurrent(V::Tls12, ListenerConfig::new());
}

#[test]
fn concurrent_writers_queue_300k_tls13() {
    concurrent(V::Tls13, ListenerConfig::new().write_queue_bytes(300_000));
}

#[test]
fn concurrent_writers_queue_300k_tls12() {
    concurrent(V::Tls12, ListenerConfig::new().write_queue_bytes(300_000));
}
