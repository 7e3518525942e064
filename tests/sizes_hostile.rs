//! Adversarial size tests: write queues smaller than one write (down to 1 byte) and than
//! one TLS record, read buffers of 1 byte, writes from `on_connect` and `on_eof`, eight
//! writers and a close through one `Caller`, tiny `io::Read` buffers, empty writes.
#![cfg(feature = "tls")]

#[path = "common/hostile.rs"]
mod hostile;
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hostile::*;
use pki::Pki;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, Listener, ListenerConfig,
    ListenerSecureSocket,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum T {
    Plain,
    Tls12,
    Tls13,
}
const TRANSPORTS: [T; 3] = [T::Plain, T::Tls12, T::Tls13];

fn lcfg(pki: &Pki, t: T) -> ListenerConfig {
    match t {
        T::Plain => listener_config(),
        _ => listener_config().secure_socket(ListenerSecureSocket::new(
            pki.path("server.pem"),
            pki.path("server.key"),
        )),
    }
}

fn ccfg(pki: &Pki, t: T) -> ClientConfig {
    let c = ClientConfig::new()
        .timeout(Some(WAIT))
        .write_timeout(Some(WAIT));
    match t {
        T::Plain => c,
        T::Tls12 => c.secure_socket(
            ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions(["TLSv1.2"]),
        ),
        T::Tls13 => c.secure_socket(
            ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions(["TLSv1.3"]),
        ),
    }
}

fn connect(listener: &Listener, config: &ClientConfig) -> Client {
    Client::connect_with(listener.local_addr(), config).expect("connect")
}

/// Reads with `Read::read` in `chunk`-byte pieces until end of stream (Closed).
fn read_in_chunks(client: &Client, chunk: usize) -> Result<Vec<u8>, synctcp::Error> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; chunk];
    loop {
        match (&*client).read(&mut buf) {
            Ok(0) => return Ok(all),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => {
                return match e
                    .into_inner()
                    .and_then(|i| i.downcast::<synctcp::Error>().ok())
                {
                    Some(err) if err.kind() == ErrorKind::Closed => Ok(all),
                    Some(err) => Err(*err),
                    None => Err(synctcp::Error::new(ErrorKind::Io, "read failed")),
                }
            }
        }
    }
}

fn read_to_closed(client: &Client) -> Result<Vec<u8>, synctcp::Error> {
    let mut all = Vec::new();
    loop {
        match client.read_bytes() {
            Ok(b) => all.extend_from_slice(&b),
            Err(e) if e.kind() == ErrorKind::Closed => return Ok(all),
            Err(e) => return Err(e),
        }
    }
}

// ------------------------------------------------------------------ tiny write queues

#[test]
fn write_queues_smaller_than_one_write_and_one_record() {
    let pki = Pki::new();
    let sizes = [0usize, 1, 16_385, 65_537, 4 * MIB + 3];
    let total: usize = sizes.iter().sum();
    let want: Vec<u8> = {
        let mut w = Vec::new();
        for (i, s) in sizes.iter().enumerate() {
            w.extend(pattern(*s).iter().map(|b| b ^ i as u8));
        }
        w
    };
    let want = Arc::new(want);
    for t in TRANSPORTS {
        for queue in [1usize, 100, 16_383, 16_385] {
            let (done_tx, done_rx) = mpsc::channel();
            let done_tx = Mutex::new(done_tx);
            let (listener, events) = scripted(
                lcfg(&pki, t)
                    .write_queue_bytes(queue)
                    .drain_timeout(Duration::from_millis(300)),
                Script::new().on_connect(move |caller| {
                    let caller = caller.clone();
                    let tx = done_tx.lock().unwrap().clone();
                    thread::spawn(move || {
                        let started = Instant::now();
                        let mut result = Ok(());
                        for (i, s) in sizes.iter().enumerate() {
                            let data: Vec<u8> = pattern(*s).iter().map(|b| b ^ i as u8).collect();
                            if let Err(e) = caller.write_bytes(&data) {
                                result = Err(format!("write {i} ({s} bytes): {e}"));
                                break;
                            }
                        }
                        let _ = caller.close();
                        let _ = tx.send((result, started.elapsed()));
                    });
                    Ok(())
                }),
            );
            let client = connect(&listener, &ccfg(&pki, t));
            let got = read_in_chunks(&client, 4096);
            let (result, took) = done_rx
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("{t:?} queue {queue}: the writer thread hung"));
            let got = got.unwrap_or_else(|e| panic!("{t:?} queue {queue}: client read: {e}"));
            result.unwrap_or_else(|e| panic!("{t:?} queue {queue}: {e}"));
            assert!(
                got == *want,
                "{t:?} queue {queue}: {}",
                first_difference(&got, &want)
            );
            assert!(
                took < Duration::from_secs(10),
                "{t:?} queue {queue}: {total} bytes took {took:?}"
            );
            assert!(
                wait_ev(&events, Duration::from_secs(5), |e| matches!(
                    e,
                    Ev::Close(_)
                ))
                .is_some(),
                "{t:?} queue {queue}: no on_close within 5 s of the client reading the end of \
                 stream (drain_timeout 300 ms); connection_count {}",
                listener.connection_count()
            );
            listener.graceful_stop(Duration::from_secs(5)).unwrap();
        }
    }
}

// ------------------------------------------------------------------ 8 writers and a close

const WRITERS: usize = 8;

fn record(writer: usize, seq: u32) -> Vec<u8> {
    let len = 1 + ((seq as usize * 7919 + writer * 104_729) % 40_000);
    let mut r = Vec::with_capacity(len + 9);
    r.push(writer as u8);
    r.extend_from_slice(&seq.to_be_bytes());
    r.extend_from_slice(&(len as u32).to_be_bytes());
    r.extend((0..len).map(|i| (i as u8) ^ (seq as u8) ^ (writer as u8).wrapping_mul(31)));
    r
}

/// Parses the stream into (writer, seq) records, failing on a torn or foreign record.
fn parse(stream: &[u8]) -> Result<Vec<(usize, u32)>, String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < stream.len() {
        if stream.len() - at < 9 {
            return Err(format!("torn header at {at} after {} records", out.len()));
        }
        let w = stream[at] as usize;
        let seq = u32::from_be_bytes(stream[at + 1..at + 5].try_into().unwrap());
        let len = u32::from_be_bytes(stream[at + 5..at + 9].try_into().unwrap()) as usize;
        if w >= WRITERS || len > 40_000 {
            return Err(format!(
                "garbage header at {at} after {} records: w {w} len {len}",
                out.len()
            ));
        }
        let want = record(w, seq);
        if stream.len() - at < want.len() || stream[at..at + want.len()] != want[..] {
            return Err(format!(
                "record {w}/{seq} at {at} torn or interleaved (after {} records)",
                out.len()
            ));
        }
        at += want.len();
        out.push((w, seq));
    }
    Ok(out)
}

#[test]
fn eight_writers_one_caller_a_close_and_a_tiny_queue() {
    let pki = Pki::new();
    for t in TRANSPORTS {
        for queue in [1usize, 20_000] {
            for round in 0..3 {
                run_writers_round(&pki, t, queue, round);
            }
        }
    }
}

fn run_writers_round(pki: &Pki, t: T, queue: usize, round: usize) {
    let name = format!("{t:?} queue {queue} round {round}");
    let (caller_tx, caller_rx) = mpsc::channel();
    let caller_tx = Mutex::new(caller_tx);
    let (listener, events) = scripted(
        lcfg(pki, t)
            .write_queue_bytes(queue)
            .drain_timeout(Duration::from_millis(300)),
        Script::new()
            .on_connect(move |c| {
                let _ = caller_tx.lock().unwrap().send(c.clone());
                Ok(())
            })
            .on_bytes(|_, _| Ok(None)),
    );
    let client = Arc::new(connect(&listener, &ccfg(pki, t)));
    let caller = caller_rx.recv_timeout(WAIT).unwrap();
    let reader = {
        let client = Arc::clone(&client);
        thread::spawn(move || read_in_chunks(&client, 16 * 1024))
    };
    let written = Arc::new(AtomicUsize::new(0));
    let closed_at = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let caller = caller.clone();
            let written = Arc::clone(&written);
            let closed_at = Arc::clone(&closed_at);
            thread::spawn(move || {
                let mut oks = Vec::new();
                let mut after_close = Vec::new();
                for seq in 0..60u32 {
                    let started_after_close = closed_at.load(Ordering::SeqCst);
                    match caller.write_bytes(&record(w, seq)) {
                        Ok(()) => {
                            oks.push(seq);
                            if started_after_close {
                                after_close.push(seq);
                            }
                            written.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Closed, "writer {w}: {e}");
                            // every later write fails too
                            return (oks, after_close, seq);
                        }
                    }
                }
                (oks, after_close, 60)
            })
        })
        .collect();
    // close once a third of the records went out
    let deadline = Instant::now() + WAIT;
    while written.load(Ordering::SeqCst) < WRITERS * 20 {
        assert!(
            Instant::now() < deadline,
            "{name}: writers made no progress"
        );
        thread::yield_now();
    }
    let _ = caller.close();
    closed_at.store(true, Ordering::SeqCst);
    let after = caller.write_bytes(b"AFTER-CLOSE");
    assert_eq!(after.unwrap_err().kind(), ErrorKind::Closed, "{name}");
    let mut results = Vec::new();
    for w in writers {
        results.push(w.join().unwrap());
    }
    let got = reader
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("{name}: reader: {e}"));
    let recs = parse(&got).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (w, (oks, after_close, _)) in results.iter().enumerate() {
        assert!(
            after_close.is_empty(),
            "{name}: writer {w} wrote {after_close:?} after close() returned"
        );
        let arrived: Vec<u32> = recs.iter().filter(|r| r.0 == w).map(|r| r.1).collect();
        assert_eq!(&arrived, oks, "{name}: writer {w}: arrived vs returned Ok");
    }
    let mut all = Vec::new();
    if let Some(e) = wait_ev(&events, Duration::from_secs(5), |e| {
        matches!(e, Ev::Close(_))
    }) {
        all.push(e);
    }
    all.extend(drain_events(&events, Duration::from_millis(100)));
    let closes = count(&all, |e| matches!(e, Ev::Close(_)));
    let errors: Vec<_> = all
        .iter()
        .filter(|e| matches!(e.1, Ev::Error(..)))
        .collect();
    assert_eq!(closes, 1, "{name}: on_close count; events {all:?}");
    assert!(
        errors.is_empty(),
        "{name}: close is not an error: {errors:?}"
    );
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

// ------------------------------------------------------------------ read buffer sizes

#[test]
fn read_buffer_size_bounds_every_piece_over_every_transport() {
    let pki = Pki::new();
    let mut failures = Vec::new();
    for t in TRANSPORTS {
        for rbs in [1usize, 3, 4095, 4097, 16_385, 200_000] {
            let max_seen = Arc::new(AtomicUsize::new(0));
            let seen = Arc::clone(&max_seen);
            let (listener, _events) = scripted(
                lcfg(&pki, t).read_buffer_size(rbs),
                Script::new().on_bytes(move |_, data| {
                    seen.fetch_max(data.len(), Ordering::SeqCst);
                    Ok(Some(data.to_vec()))
                }),
            );
            let len = match rbs {
                0..=99 => 2_000,
                100..=19_999 => 40_000,
                _ => 300_000,
            };
            let data = pattern(len);
            let client = Arc::new(connect(&listener, &ccfg(&pki, t)));
            let writer = {
                let client = Arc::clone(&client);
                let data = data.clone();
                thread::spawn(move || client.write_bytes(&data))
            };
            let got = client.read_bytes_exact(len).unwrap();
            writer.join().unwrap().unwrap();
            assert!(
                got == data,
                "{t:?} rbs {rbs}: {}",
                first_difference(&got, &data)
            );
            let max = max_seen.load(Ordering::SeqCst);
            if max > rbs {
                failures.push(format!(
                    "{t:?} read_buffer_size {rbs}: on_bytes got {max} bytes"
                ));
            }
            listener.graceful_stop(Duration::from_secs(5)).unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn degenerate_sizes_are_refused_or_work() {
    // read_buffer_size 0, write_queue_bytes 0, max_connections 0: either InvalidConfig at
    // bind, or a listener that serves. Never a listener that binds and then hangs.
    let cases: Vec<(&str, ListenerConfig)> = vec![
        ("read_buffer_size(0)", listener_config().read_buffer_size(0)),
        (
            "write_queue_bytes(0)",
            listener_config().write_queue_bytes(0),
        ),
        ("max_connections(0)", listener_config().max_connections(0)),
    ];
    for (name, config) in cases {
        let mut listener = match Listener::bind_with(LOOPBACK, &config) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{name}: {e}");
                continue;
            }
            Ok(l) => l,
        };
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        listener
            .attach(move |c: &synctcp::Caller| {
                let c = c.clone();
                let tx = tx.lock().unwrap().clone();
                thread::spawn(move || {
                    let _ = tx.send(c.write_bytes(&pattern(300_000)).map_err(|e| e.kind()));
                });
                Ok(Echo)
            })
            .unwrap();
        listener.start().unwrap();
        let cfg = ClientConfig::new()
            .timeout(Some(Duration::from_secs(5)))
            .write_timeout(Some(Duration::from_secs(5)));
        let client =
            Client::connect_with(("127.0.0.1", listener.local_addr().port().unwrap()), &cfg)
                .unwrap();
        let r = client.read_bytes_exact(300_000);
        assert!(
            r.is_ok(),
            "{name} was accepted at bind but does not serve: {:?}",
            r.err()
        );
        client.write_bytes(b"ping").unwrap();
        assert_eq!(client.read_bytes_exact(4).unwrap(), b"ping", "{name}");
        let _ = rx.recv_timeout(WAIT);
        listener.immediate_stop().unwrap();
    }
}

struct Echo;
impl synctcp::ConnectionService for Echo {
    fn on_bytes(
        &mut self,
        _: &synctcp::Caller,
        _: &[u8],
    ) -> Result<synctcp::Reply, synctcp::Error> {
        Ok(synctcp::Reply::Echo)
    }
}

// ------------------------------------------------------------------ on_connect / on_eof

#[test]
fn big_writes_from_on_connect_and_on_eof() {
    let pki = Pki::new();
    for t in TRANSPORTS {
        let greeting = pattern(MIB + 1);
        let answer: Vec<u8> = pattern(3 * MIB + 5).iter().map(|b| !b).collect();
        let (g, a) = (greeting.clone(), answer.clone());
        let (listener, events) = scripted(
            lcfg(&pki, t),
            Script::new()
                .on_connect(move |c| c.write_bytes(&g))
                .on_bytes(|_, _| Ok(None))
                .on_eof(move |c| {
                    c.write_bytes(&a)?;
                    let c2 = c.clone();
                    thread::spawn(move || c2.write_bytes(b"from another thread"))
                        .join()
                        .unwrap()?;
                    Ok(())
                }),
        );
        let client = connect(&listener, &ccfg(&pki, t));
        let got = client.read_bytes_exact(greeting.len()).unwrap();
        assert!(
            got == greeting,
            "{t:?} greeting: {}",
            first_difference(&got, &greeting)
        );
        client.write_bytes(b"request").unwrap();
        client.shutdown_write().unwrap();
        let got = read_to_closed(&client).unwrap_or_else(|e| panic!("{t:?}: {e}"));
        let mut want = answer.clone();
        want.extend_from_slice(b"from another thread");
        assert!(
            got == want,
            "{t:?} answer from on_eof: {}",
            first_difference(&got, &want)
        );
        let all = drain_events(&events, Duration::from_millis(300));
        assert!(
            !all.iter().any(|e| matches!(e.1, Ev::Error(..))),
            "{t:?}: {:?}",
            all.iter()
                .filter(|e| matches!(e.1, Ev::Error(..)))
                .collect::<Vec<_>>()
        );
        listener.graceful_stop(Duration::from_secs(5)).unwrap();
    }
}

// ------------------------------------------------------------------ client side

#[test]
fn tiny_read_buffers_lose_nothing() {
    let pki = Pki::new();
    for t in TRANSPORTS {
        let (listener, _e) = scripted(lcfg(&pki, t), Script::new());
        let client = Arc::new(connect(&listener, &ccfg(&pki, t)));
        let data = pattern(100_003);
        let w = {
            let client = Arc::clone(&client);
            let data = data.clone();
            thread::spawn(move || {
                client.write_bytes(&data).unwrap();
                client.shutdown_write().unwrap();
            })
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 7];
        let mut toggle = false;
        while got.len() < data.len() {
            toggle = !toggle;
            let want = if toggle { 1 } else { 7 };
            let n = (&*client).read(&mut buf[..want]).unwrap();
            assert!(n > 0, "{t:?}: early end of stream after {}", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        w.join().unwrap();
        assert!(got == data, "{t:?}: {}", first_difference(&got, &data));
        listener.graceful_stop(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn empty_writes_everywhere() {
    let pki = Pki::new();
    for t in TRANSPORTS {
        let (listener, events) = scripted(
            lcfg(&pki, t),
            Script::new()
                .on_connect(|c| {
                    c.write_bytes(b"")?;
                    let c2 = c.clone();
                    thread::spawn(move || c2.write_bytes(b"")).join().unwrap()
                })
                .on_bytes(|_, d| Ok(Some(d.iter().copied().filter(|b| *b != b'e').collect()))),
        );
        let client = connect(&listener, &ccfg(&pki, t));
        client.write_bytes(b"").unwrap();
        assert_eq!((&client).write(b"").unwrap(), 0);
        client
            .write_frame(&synctcp::framing::LengthPrefixed::new(), b"")
            .unwrap();
        let mut header = client.read_bytes_exact(4).unwrap();
        assert_eq!(header, [0, 0, 0, 0], "{t:?}");
        client.write_bytes(b"e").unwrap();
        client.write_bytes(b"x").unwrap();
        header = client.read_bytes_exact(1).unwrap();
        assert_eq!(header, b"x", "{t:?}");
        let all = drain_events(&events, Duration::from_millis(100));
        assert!(
            !all.iter()
                .any(|e| matches!(e.1, Ev::Error(..) | Ev::Close(_))),
            "{t:?}: {all:?}"
        );
        drop(client); // the stop need not wait out the drain
        listener.graceful_stop(Duration::from_secs(5)).unwrap();
    }
}
