//! Adversarial close and callback tests: Caller::close from other threads and callbacks,
//! the drain after it, panics in every callback, writes from on_error and on_close.

#[path = "common/hostile.rs"]
mod hostile;

use std::io::{Read, Write};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hostile::*;
use synctcp::{ErrorKind, Listener};

/// Caller::close from another thread while the peer stays connected and silent: the peer
/// reads a clean end of stream; on_close runs; the drain ends within drain_timeout.
#[test]
fn close_from_another_thread_with_a_silent_peer_that_stays_open() {
    for drain in [
        Duration::from_secs(2),
        Duration::from_millis(500),
        Duration::from_secs(2),
        Duration::from_millis(1500),
    ] {
        let (listener, events) = scripted(listener_config().drain_timeout(drain), Script::new());
        let mut peer = raw_to(&listener);
        let Ev::Connect(caller) = must_ev(&events, "on_connect", |e| matches!(e, Ev::Connect(_))).1
        else {
            unreachable!()
        };
        let closed = Instant::now();
        let _ = thread::spawn(move || caller.close()).join().unwrap();
        // the peer sees the end of stream...
        let mut buf = [0u8; 16];
        assert_eq!(
            peer.read(&mut buf).unwrap(),
            0,
            "drain {drain:?}: clean end of stream"
        );
        let eof_after = closed.elapsed();
        // ...and stays open, silent. on_close must run, and the drain end, within drain_timeout.
        let close = wait_ev(&events, drain + Duration::from_secs(10), |e| {
            matches!(e, Ev::Close(_))
        });
        let Some((at, _)) = close else {
            panic!(
                "drain {drain:?}: EOF reached the peer after {eof_after:?}, but no on_close within \
                 {:?} of Caller::close; connection_count {}",
                drain + Duration::from_secs(10),
                listener.connection_count()
            );
        };
        eprintln!(
            "drain {drain:?}: on_close {:?} after Caller::close",
            at - closed
        );
        assert_bounded(
            &format!("drain {drain:?}: on_close after Caller::close"),
            at - closed,
            drain,
        );
        wait_until(Duration::from_secs(5), || listener.connection_count() == 0);
        listener.graceful_stop(Duration::from_secs(5)).unwrap();
        drop(peer);
    }
}

fn wait_until(bound: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "condition not met within {bound:?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// As above, after the other thread's close follows writes that had to be queued.
#[test]
fn close_after_queued_writes_from_another_thread_runs_on_close() {
    let drain = Duration::from_millis(500);
    let mut failures = Vec::new();
    for queue in [1usize, 100, 16_383, 1 << 20] {
        for size in [1usize, 65_537, 4 * MIB] {
            let name = format!("queue {queue}, write {size}");
            let (tx, rx) = mpsc::channel();
            let tx = Mutex::new(tx);
            let (listener, events) = scripted(
                listener_config()
                    .drain_timeout(drain)
                    .write_queue_bytes(queue),
                Script::new().on_connect(move |c| {
                    let c = c.clone();
                    let tx = tx.lock().unwrap().clone();
                    thread::spawn(move || {
                        let r = c.write_bytes(&vec![b'q'; size]);
                        let _ = c.close();
                        let _ = tx.send((Instant::now(), r.map_err(|e| e.kind())));
                    });
                    Ok(())
                }),
            );
            let mut peer = raw_to(&listener);
            let (got, end) = read_all(&mut peer);
            // The drain starts at our FIN, which the peer has just read as its end of
            // stream: on_close is due drain_timeout after that.
            let eof = Instant::now();
            let (closed, r) = rx.recv_timeout(WAIT).unwrap();
            let eof_after = eof.saturating_duration_since(closed);
            if end.is_err() || got.len() != size || r.is_err() {
                failures.push(format!(
                    "{name}: got {} bytes, end {end:?}, write {r:?}",
                    got.len()
                ));
            }
            match wait_ev(&events, drain + Duration::from_secs(5), |e| matches!(e, Ev::Close(_))) {
                None => failures.push(format!(
                    "{name}: no on_close within {:?} of the close (peer saw EOF {eof_after:?} after it; connection_count {})",
                    drain + Duration::from_secs(5),
                    listener.connection_count()
                )),
                Some((at, _)) if at.saturating_duration_since(eof) > bound(drain) => failures.push(format!(
                    "{name}: on_close {:?} after the peer read our FIN; drain {drain:?}",
                    at.saturating_duration_since(eof)
                )),
                Some(_) => {}
            }
            drop(peer);
            let _ = listener.immediate_stop();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Deterministic form of the failure above: the peer reads nothing until `Caller::close`
/// has returned, so bytes are still queued when the close is asked for.
#[test]
fn close_with_bytes_still_queued_then_a_silent_open_peer() {
    let drain = Duration::from_millis(500);
    let mut failures = Vec::new();
    for tls_like_size in [100_000usize, 4 * MIB] {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let (listener, events) = scripted(
            listener_config().drain_timeout(drain),
            Script::new().on_connect(move |c| {
                let c = c.clone();
                let tx = tx.lock().unwrap().clone();
                thread::spawn(move || {
                    let r = c.write_bytes(&vec![b'q'; tls_like_size]);
                    let _ = c.close();
                    let _ = tx.send((Instant::now(), r.map_err(|e| e.kind())));
                });
                Ok(())
            }),
        );
        let mut peer = raw_to(&listener);
        let (_closed, r) = rx.recv_timeout(WAIT).unwrap(); // before reading a byte
        let (got, end) = read_all(&mut peer);
        // The drain starts at our FIN, which the peer has just read as its end of stream.
        let eof = Instant::now();
        let name = format!("{tls_like_size} bytes queued");
        if end.is_err() || got.len() != tls_like_size || r.is_err() {
            failures.push(format!(
                "{name}: got {} bytes, end {end:?}, write {r:?}",
                got.len()
            ));
        }
        // the peer has read the end of stream and stays open, silent
        let within = drain + Duration::from_secs(5);
        match wait_ev(&events, within, |e| matches!(e, Ev::Close(_))) {
            None => failures.push(format!(
                "{name}: no on_close within {within:?} of Caller::close (drain_timeout {drain:?}); \
                 connection_count {}",
                listener.connection_count()
            )),
            Some((at, _)) if at.saturating_duration_since(eof) > bound(drain) => {
                failures.push(format!(
                    "{name}: on_close {:?} after the peer read our FIN",
                    at.saturating_duration_since(eof)
                ))
            }
            Some(_) => {}
        }
        drop(peer);
        let _ = listener.immediate_stop();
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn threads() -> String {
    let mut out = String::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let p = t.path();
        let name = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if name.starts_with("synctcp") {
            let wchan = std::fs::read_to_string(p.join("wchan")).unwrap_or_default();
            let sc = std::fs::read_to_string(p.join("syscall")).unwrap_or_default();
            out += &format!(
                "{} wchan={} syscall={}\n",
                name.trim(),
                wchan,
                sc.split(' ').next().unwrap_or("")
            );
        }
    }
    out
}

/// Diagnostic for the failure above: where the connection's threads wait, and whether the
/// peer's own close releases them.
#[test]
#[ignore]
fn diagnose_stuck_close() {
    let drain = Duration::from_millis(500);
    for attempt in 0..20 {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let (listener, events) = scripted(
            listener_config().drain_timeout(drain),
            Script::new().on_connect(move |c| {
                let c = c.clone();
                let tx = tx.lock().unwrap().clone();
                thread::spawn(move || {
                    let r = c.write_bytes(&vec![b'q'; 4 * MIB]);
                    let _ = c.close();
                    let _ = tx.send((Instant::now(), r.map_err(|e| e.kind())));
                });
                Ok(())
            }),
        );
        let mut peer = raw_to(&listener);
        let (got, end) = read_all(&mut peer);
        let (closed, r) = rx.recv_timeout(WAIT).unwrap();
        if wait_ev(&events, Duration::from_secs(3), |e| {
            matches!(e, Ev::Close(_))
        })
        .is_some()
        {
            let _ = listener.immediate_stop();
            continue;
        }
        eprintln!(
            "attempt {attempt}: got {} {end:?} write {r:?}; stuck {:?} after close",
            got.len(),
            closed.elapsed()
        );
        eprintln!("{}", threads());
        peer.write_all(b"anything").unwrap();
        let e = wait_ev(&events, Duration::from_secs(3), |e| {
            matches!(e, Ev::Close(_))
        });
        eprintln!(
            "after the peer wrote: on_close {:?}",
            e.map(|e| e.0 - closed)
        );
        eprintln!("{}", threads());
        drop(peer);
        let e = wait_ev(&events, Duration::from_secs(3), |e| {
            matches!(e, Ev::Close(_))
        });
        eprintln!(
            "after the peer closed: on_close {:?}",
            e.map(|e| e.0 - closed)
        );
        let started = Instant::now();
        let s = listener.immediate_stop();
        eprintln!("immediate_stop {s:?} in {:?}", started.elapsed());
        panic!("reproduced");
    }
}

// ------------------------------------------------------------------ panics and errors in callbacks

fn events_until_close(events: &mpsc::Receiver<Stamped>, what: &str) -> Vec<Stamped> {
    let mut all = Vec::new();
    let first = must_ev(events, &format!("{what}: on_close"), |_| true);
    let mut done = matches!(first.1, Ev::Close(_));
    all.push(first);
    while !done {
        let e = must_ev(events, &format!("{what}: on_close"), |_| true);
        done = matches!(e.1, Ev::Close(_));
        all.push(e);
    }
    // anything more that comes soon after (a second on_close would)
    all.extend(drain_events(events, Duration::from_millis(300)));
    all
}

fn kinds(all: &[Stamped]) -> Vec<String> {
    all.iter()
        .map(|e| match &e.1 {
            Ev::Connect(_) => "connect".to_string(),
            Ev::Bytes(..) => "bytes".to_string(),
            Ev::Eof(_) => "eof".to_string(),
            Ev::Error(_, k, _) => format!("error {k:?}"),
            Ev::Close(_) => "close".to_string(),
        })
        .collect()
}

/// A listener that still serves: a new connection reaches on_connect and on_bytes.
fn still_serves(listener: &Listener, events: &mpsc::Receiver<Stamped>) {
    let mut peer = raw_to(listener);
    must_ev(events, "on_connect of a later connection", |e| {
        matches!(e, Ev::Connect(_))
    });
    peer.write_all(b"ping").unwrap();
    must_ev(events, "on_bytes of a later connection", |e| {
        matches!(e, Ev::Bytes(..))
    });
}

#[test]
fn panics_and_errors_in_every_later_callback() {
    type Case = (
        &'static str,
        Script,
        &'static [u8],
        bool,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "panic in on_error",
            Script::new()
                .on_bytes(|_, _| Err(synctcp::Error::new(ErrorKind::Other, "boom")))
                .on_error(|_, _| panic!("panic in on_error")),
            b"x",
            false,
            &["connect", "bytes", "error Other", "close"],
        ),
        (
            "panic in on_close",
            Script::new().on_close(|_| panic!("panic in on_close")),
            b"",
            true,
            &["connect", "eof", "close"],
        ),
        (
            "panic in on_eof",
            Script::new().on_eof(|_| panic!("panic in on_eof")),
            b"",
            true,
            &["connect", "eof", "error Panic", "close"],
        ),
        (
            "error from on_eof",
            Script::new().on_eof(|_| Err(synctcp::Error::new(ErrorKind::Other, "eof err"))),
            b"",
            true,
            &["connect", "eof", "error Other", "close"],
        ),
    ];
    for (name, script, send, half_close, want) in cases {
        let (listener, events) = scripted(
            listener_config().drain_timeout(Duration::from_millis(200)),
            script,
        );
        let mut peer = raw_to(&listener);
        if !send.is_empty() {
            peer.write_all(send).unwrap();
        }
        if half_close {
            peer.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let (_, end) = read_all(&mut peer);
        let all = events_until_close(&events, name);
        assert_eq!(kinds(&all), want, "{name} (peer saw {end:?})");
        drop(peer);
        still_serves(&listener, &events);
        let started = Instant::now();
        listener.graceful_stop(Duration::from_secs(2)).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{name}: stop took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn writes_from_on_error_and_on_close_return_promptly() {
    let (tx, rx) = mpsc::channel::<(String, Duration, Result<(), ErrorKind>)>();
    let (tx1, tx2) = (Mutex::new(tx.clone()), Mutex::new(tx));
    let (listener, events) = scripted(
        listener_config()
            .write_timeout(Some(Duration::from_secs(1)))
            .drain_timeout(Duration::from_millis(200)),
        Script::new()
            .on_bytes(|caller, _| {
                caller.write_bytes(huge())?; // no 64 MiB copy before the write
                Ok(None)
            })
            .on_error(move |c, _| {
                let started = Instant::now();
                let r = c.write_bytes(&vec![1u8; 4 * MIB]);
                let _ = tx1.lock().unwrap().send((
                    "on_error".into(),
                    started.elapsed(),
                    r.map_err(|e| e.kind()),
                ));
            })
            .on_close(move |c| {
                let started = Instant::now();
                let r = c.write_bytes(b"in on_close");
                let _ = tx2.lock().unwrap().send((
                    "on_close".into(),
                    started.elapsed(),
                    r.map_err(|e| e.kind()),
                ));
            }),
    );
    let mut peer = raw_to(&listener);
    peer.write_all(b"go").unwrap(); // never reads: the reply meets write_timeout
    for _ in 0..2 {
        let (what, took, r) = rx
            .recv_timeout(WAIT)
            .expect("a write in on_error/on_close hung");
        assert!(
            r.is_err(),
            "{what}: a write after a write timeout succeeded"
        );
        assert!(
            took < Duration::from_millis(500),
            "{what}: the write took {took:?} ({r:?})"
        );
    }
    must_ev(&events, "on_close", |e| matches!(e, Ev::Close(_)));
    drop(peer);
    listener.immediate_stop().unwrap();
}

#[test]
fn on_close_exactly_once_under_a_storm_of_closes_writes_and_resets() {
    // 200 connections; for each: 8 threads write, one closes, and the peer resets, all at once.
    let (listener, events) = scripted(
        listener_config()
            .drain_timeout(Duration::from_millis(100))
            .write_queue_bytes(4096),
        Script::new(),
    );
    let n = 200;
    let mut ids = Vec::new();
    let mut closes = std::collections::HashMap::new();
    let note = |e: &Ev, closes: &mut std::collections::HashMap<u64, usize>| {
        if let Ev::Close(id) = e {
            *closes.entry(*id).or_insert(0) += 1;
        }
    };
    for i in 0..n {
        let peer = raw_to(&listener);
        let caller = loop {
            let (_, e) = events.recv_timeout(WAIT).expect("on_connect");
            note(&e, &mut closes);
            if let Ev::Connect(c) = e {
                break c;
            }
        };
        ids.push(caller.id());
        let mut hs = Vec::new();
        for w in 0..8 {
            let c = caller.clone();
            hs.push(thread::spawn(move || {
                for _ in 0..5 {
                    if c.write_bytes(&[w as u8; 3000]).is_err() {
                        break;
                    }
                }
            }));
        }
        let c = caller.clone();
        hs.push(thread::spawn(move || {
            let _ = c.close();
        }));
        if i % 2 == 0 {
            reset_on_drop(&peer);
        }
        drop(peer);
        for h in hs {
            h.join().unwrap();
        }
    }
    let deadline = Instant::now() + WAIT;
    while ids.iter().any(|id| !closes.contains_key(id)) && Instant::now() < deadline {
        if let Ok((_, e)) = events.recv_timeout(Duration::from_millis(100)) {
            note(&e, &mut closes);
        }
    }
    for (_, e) in drain_events(&events, Duration::from_millis(500)) {
        note(&e, &mut closes);
    }
    let missing: Vec<_> = ids.iter().filter(|id| !closes.contains_key(id)).collect();
    let twice: Vec<_> = closes.iter().filter(|(_, c)| **c != 1).collect();
    assert!(
        missing.is_empty() && twice.is_empty(),
        "missing on_close {missing:?}, more than once {twice:?}"
    );
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn stored_callers_after_every_kind_of_stop() {
    for how in 0..3 {
        let (listener, events) = scripted(listener_config(), Script::new());
        let peer = raw_to(&listener);
        let Ev::Connect(caller) = must_ev(&events, "on_connect", |e| matches!(e, Ev::Connect(_))).1
        else {
            unreachable!()
        };
        match how {
            0 => listener.graceful_stop(Duration::from_millis(500)).unwrap(),
            1 => listener.immediate_stop().unwrap(),
            _ => drop(listener),
        }
        let started = Instant::now();
        let r = caller.write_bytes(b"late");
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Closed, "stop {how}");
        assert!(caller.is_closed(), "stop {how}");
        assert!(started.elapsed() < Duration::from_millis(200));
        let _ = caller.close();
        drop(peer);
    }
}

/// A graceful stop while another thread's write is still queued, with a peer that reads
/// everything and then stays open: the stop should take about the drain, not its whole
/// timeout.
#[test]
fn graceful_stop_with_bytes_still_queued_and_a_peer_that_stays_open() {
    let drain = Duration::from_millis(300);
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let (listener, events) = scripted(
        listener_config().drain_timeout(drain),
        Script::new().on_connect(move |c| {
            let c = c.clone();
            let tx = tx.lock().unwrap().clone();
            thread::spawn(move || {
                let _ = tx.send(c.write_bytes(&vec![b'q'; 4 * MIB]).map_err(|e| e.kind()));
            });
            Ok(())
        }),
    );
    let mut peer = raw_to(&listener);
    rx.recv_timeout(WAIT).unwrap().unwrap(); // all queued or sent, nothing read yet
    let reader = thread::spawn(move || {
        let (got, end) = read_all(&mut peer);
        (got.len(), end.map_err(|e| e.kind()), peer)
    });
    let started = Instant::now();
    listener.graceful_stop(Duration::from_secs(8)).unwrap();
    let took = started.elapsed();
    let (n, end, peer) = reader.join().unwrap();
    assert_eq!(
        (n, end),
        (4 * MIB, Ok(())),
        "every queued byte, then a clean end"
    );
    let all = drain_events(&events, Duration::from_millis(100));
    assert_eq!(count(&all, |e| matches!(e, Ev::Close(_))), 1);
    assert!(
        took < Duration::from_secs(3),
        "graceful_stop(8 s) took {took:?} for a connection whose peer read everything \
         (drain_timeout {drain:?})"
    );
    drop(peer);
}
