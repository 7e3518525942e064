//! Stream handlers (`attach_handler`): a connection read and written in a loop on its own
//! thread, with everything the callback shape guarantees — limits, timeouts, TLS, panics,
//! lossless close, stops, and writes from other threads.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::framing::Delimited;
use synctcp::{ErrorKind, Listener, ListenerConfig, Stream};

fn handler_listener(
    config: ListenerConfig,
    handler: impl Fn(&mut Stream) -> synctcp::Result<()> + Send + Sync + 'static,
) -> Listener {
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener.attach_handler(handler).unwrap();
    listener.start().unwrap();
    listener
}

fn tcp(listener: &Listener) -> TcpStream {
    let stream = TcpStream::connect(listener.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

#[test]
fn a_line_echo_loop_serves_line_by_line_and_closes_in_order() {
    let listener = handler_listener(listener_config(), |stream| {
        for line in BufReader::new(&*stream).lines() {
            writeln!(&*stream, "echo: {}", line?)?;
        }
        Ok(())
    });
    let mut peer = tcp(&listener);
    peer.write_all(b"one\ntw").unwrap();
    peer.write_all(b"o\nthree\n").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let mut all = String::new();
    peer.read_to_string(&mut all).unwrap(); // ends with our FIN
    assert_eq!(all, "echo: one\necho: two\necho: three\n");
    let stats = listener.stats();
    assert_eq!(stats.accepted, 1);
}

#[test]
fn a_handler_that_returns_loses_nothing_it_wrote() {
    const LEN: usize = 4 << 20;
    let listener = handler_listener(listener_config(), |stream| {
        let request = stream.read_bytes_exact(4)?;
        assert_eq!(request, b"send");
        stream.write_bytes(&vec![7u8; LEN])
    });
    let mut peer = tcp(&listener);
    peer.write_all(b"send and more input the handler never reads")
        .unwrap();
    let mut all = Vec::new();
    peer.read_to_end(&mut all).unwrap(); // a clean end, not a reset
    assert_eq!(all.len(), LEN);
}

#[test]
fn frames_exact_reads_and_read_timeouts() {
    let (tx, outcome) = mpsc::channel();
    let listener = handler_listener(listener_config(), move |stream| {
        let lines = Delimited::lines();
        let name = stream.read_frame(&lines)?;
        stream.write_frame(&lines, &[&b"hi "[..], &name].concat())?;
        stream.set_read_timeout(Some(Duration::from_millis(300)))?;
        let started = Instant::now();
        let err = stream.read_bytes().unwrap_err();
        let _ = tx.send((err.kind(), started.elapsed()));
        Ok(())
    });
    let mut peer = tcp(&listener);
    peer.write_all(b"ann\n").unwrap();
    let mut reply = [0u8; 7];
    peer.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"hi ann\n");
    let (kind, took) = outcome.recv_timeout(WAIT).unwrap();
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(
        took >= Duration::from_millis(300) && took <= bound(Duration::from_millis(300)),
        "{took:?}"
    );
}

#[test]
fn the_idle_timeout_and_the_lifetime_end_a_blocked_read() {
    for (config, limit, what) in [
        (
            listener_config().idle_timeout(Some(Duration::from_millis(500))),
            Duration::from_millis(500),
            "idle_timeout",
        ),
        (
            listener_config().max_lifetime(Some(Duration::from_millis(700))),
            Duration::from_millis(700),
            "max_lifetime",
        ),
    ] {
        let (tx, outcome) = mpsc::channel();
        let listener = handler_listener(config, move |stream| {
            let err = stream.read_bytes().unwrap_err();
            let _ = tx.send((err.kind(), err.to_string(), Instant::now()));
            Err(err)
        });
        let started = Instant::now();
        let _peer = tcp(&listener); // silent
        let (kind, text, at) = outcome.recv_timeout(WAIT).unwrap();
        let took = at - started;
        assert_eq!(kind, ErrorKind::Timeout, "{text}");
        assert!(text.contains(what), "{text}");
        assert!(took >= limit && took <= bound(limit), "{what}: {took:?}");
    }
}

#[test]
fn the_write_timeout_bounds_a_write_to_a_peer_that_never_reads() {
    let timeout = Duration::from_secs(1);
    let (tx, outcome) = mpsc::channel();
    let listener = handler_listener(
        listener_config().write_timeout(Some(timeout)),
        move |stream| {
            let started = Instant::now();
            let result = stream.write_bytes(&vec![0u8; 64 << 20]);
            let _ = tx.send((result.map_err(|e| e.kind()), started.elapsed()));
            Ok(())
        },
    );
    let _peer = tcp(&listener); // never reads
    let (result, took) = outcome.recv_timeout(WAIT).unwrap();
    assert_eq!(result, Err(ErrorKind::Timeout));
    assert!(took >= timeout && took <= bound(timeout), "{took:?}");
}

#[test]
fn max_connections_holds_for_handlers() {
    let (entered_tx, entered) = mpsc::channel();
    let listener = handler_listener(listener_config().max_connections(1), move |stream| {
        let _ = entered_tx.send(stream.id());
        let _ = stream.read_bytes(); // until the peer closes
        Ok(())
    });
    let first = tcp(&listener);
    entered.recv_timeout(WAIT).unwrap();
    let _second = tcp(&listener); // waits in the backlog
    assert!(
        entered.recv_timeout(Duration::from_millis(300)).is_err(),
        "a second handler ran at max_connections 1"
    );
    drop(first);
    entered
        .recv_timeout(WAIT)
        .expect("the second runs once the first ended");
}

#[test]
fn a_panicking_handler_closes_only_its_connection() {
    let listener = handler_listener(listener_config(), |stream| {
        let input = stream.read_bytes()?;
        if input == b"panic" {
            panic!("asked to panic");
        }
        stream.write_bytes(&input)
    });
    let mut doomed = tcp(&listener);
    doomed.write_all(b"panic").unwrap();
    let mut rest = Vec::new();
    let _ = doomed.read_to_end(&mut rest);
    assert!(rest.is_empty());
    let mut fine = tcp(&listener);
    fine.write_all(b"still here").unwrap();
    let mut reply = [0u8; 10];
    fine.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"still here");
    assert_eq!(listener.stats().closed.by_panic, 1);
}

#[test]
fn other_threads_write_through_the_caller_and_a_caller_close_ends_the_read() {
    let (callers_tx, callers) = mpsc::channel();
    let (ended_tx, ended) = mpsc::channel();
    let listener = handler_listener(listener_config(), move |stream| {
        let _ = callers_tx.send(stream.caller().clone());
        // Reads until the stream ends: a Caller::close from elsewhere ends it.
        let mut input = Vec::new();
        let result = (&*stream).read_to_end(&mut input);
        let _ = ended_tx.send(result.map_err(|e| e.to_string()));
        Ok(())
    });
    let mut peer = tcp(&listener);
    let caller = callers.recv_timeout(WAIT).unwrap();
    let from_elsewhere = thread::spawn(move || {
        for i in 0..100 {
            caller
                .write_bytes(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        caller.close().unwrap();
    });
    from_elsewhere.join().unwrap();
    let mut all = String::new();
    peer.read_to_string(&mut all).unwrap(); // every line, then our FIN
    assert_eq!(all.lines().count(), 100);
    drop(peer); // answer the FIN: the handler's read sees the end of the stream
    assert_eq!(ended.recv_timeout(WAIT).unwrap(), Ok(0));
}

#[test]
fn a_graceful_stop_lets_a_running_handler_finish() {
    let (started_tx, started) = mpsc::channel();
    let listener = handler_listener(listener_config(), move |stream| {
        let request = stream.read_bytes()?;
        let _ = started_tx.send(());
        thread::sleep(Duration::from_millis(300)); // the work the stop must let finish
        stream.write_bytes(&[&b"done: "[..], &request].concat())
    });
    let mut peer = tcp(&listener);
    peer.write_all(b"job").unwrap();
    started.recv_timeout(WAIT).unwrap();
    listener.graceful_stop(Duration::from_secs(10)).unwrap();
    let mut all = Vec::new();
    peer.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"done: job");
}

#[test]
fn stops_wake_a_blocked_read_with_closed() {
    for graceful in [false, true] {
        let (tx, outcome) = mpsc::channel();
        let (blocked_tx, blocked) = mpsc::channel();
        let listener = handler_listener(listener_config(), move |stream| {
            let _ = blocked_tx.send(());
            let err = stream.read_bytes().unwrap_err();
            let _ = tx.send(err.kind());
            Ok(())
        });
        let _peer = tcp(&listener); // silent
        blocked.recv_timeout(WAIT).unwrap();
        let started = Instant::now();
        if graceful {
            // The handler may finish until the deadline; then its read is woken.
            listener.graceful_stop(Duration::from_millis(500)).unwrap();
        } else {
            listener.immediate_stop().unwrap();
        }
        assert_eq!(outcome.recv_timeout(WAIT).unwrap(), ErrorKind::Closed);
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!listener.is_running());
    }
}

#[test]
fn stats_count_what_happened() {
    let listener = handler_listener(listener_config(), |stream| {
        let bytes = stream.read_bytes()?;
        stream.write_bytes(&bytes)
    });
    for _ in 0..3 {
        let mut peer = tcp(&listener);
        peer.write_all(b"12345").unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"12345");
    }
    wait_until(
        WAIT,
        "three connections closed and their threads gone",
        || {
            let stats = listener.stats();
            stats.closed.locally == 3 && stats.active == 0
        },
    );
    let stats = listener.stats();
    assert_eq!(stats.accepted, 3);
    assert_eq!(stats.active, 0);
    assert_eq!((stats.bytes_in, stats.bytes_out), (15, 15));
}
