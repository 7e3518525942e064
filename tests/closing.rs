//! Closing loses nothing: a half-closing peer gets every reply, a close with unread input
//! still delivers the reply and a clean end of stream, a graceful stop delivers the replies
//! in flight and forces what is stuck at its deadline.

mod common;

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

fn tcp(listener: &Listener) -> TcpStream {
    let stream = TcpStream::connect(listener.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

#[test]
fn a_half_closing_peer_gets_every_reply_then_end_of_stream() {
    let (listener, events) = probe_listener(listener_config());
    let mut peer = tcp(&listener);
    let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    peer.write_all(&sent).unwrap();
    peer.shutdown(Shutdown::Write).unwrap();

    let mut echoed = Vec::new();
    peer.read_to_end(&mut echoed).unwrap(); // ends with a clean end of stream
    assert_eq!(echoed.len(), sent.len());
    assert!(echoed == sent);

    // The service saw all the bytes, then on_close, and no error.
    let mut seen = Vec::new();
    loop {
        match next(&events) {
            Event::Bytes(_, data) => seen.extend(data),
            Event::Close(_) => break,
            Event::Error(_, kind, text) => panic!("unexpected on_error {kind:?}: {text}"),
            Event::Connect(_) => {}
        }
    }
    assert!(seen == sent);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

/// Larger than the socket buffers, so that part of it is still unsent when the service
/// closes: a reset would destroy that part.
const REPLY: usize = 4 << 20;

/// Replies once, to the first piece, and closes.
struct ReplyOnceAndClose;

impl ConnectionService for ReplyOnceAndClose {
    fn on_bytes(&mut self, caller: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let _ = caller.close();
        Ok(Reply::Bytes(vec![b'R'; REPLY]))
    }
}

#[test]
fn a_close_with_unread_input_still_delivers_the_reply_and_a_clean_end() {
    // The client sends 5 MB; the service replies after the first piece and closes. A
    // plain close would meet the unread input with a reset and destroy the reply.
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener.attach(|_| Ok(ReplyOnceAndClose)).unwrap();
    listener.start().unwrap();
    let peer = tcp(&listener);
    let mut writer = peer.try_clone().unwrap();
    let sending = thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..80 {
            if writer.write_all(&chunk).is_err() {
                return false;
            }
        }
        writer.shutdown(Shutdown::Write).is_ok()
    });
    let mut reader = peer;
    let mut reply = Vec::new();
    let outcome = reader.read_to_end(&mut reply);
    assert!(
        outcome.is_ok(),
        "the reply ended with {outcome:?} after {} bytes",
        reply.len()
    );
    assert_eq!(reply.len(), REPLY);
    assert!(reply.iter().all(|&b| b == b'R'));
    sending.join().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

/// Waits for the test's go-ahead before replying, so replies are in flight during a stop.
struct Slow {
    go: crossbeam_channel::Receiver<()>,
    started: mpsc::Sender<()>,
}

impl ConnectionService for Slow {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let _ = self.started.send(());
        self.go.recv_timeout(WAIT).expect("released");
        Ok(Reply::Echo)
    }
}

#[test]
fn a_graceful_stop_delivers_replies_in_flight() {
    const CLIENTS: usize = 10;
    let (go_tx, go) = crossbeam_channel::unbounded();
    let (started_tx, started) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |_| {
            Ok(Slow {
                go: go.clone(),
                started: started_tx.clone(),
            })
        })
        .unwrap();
    listener.start().unwrap();
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| connect(&listener)).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client
            .write_bytes(format!("request {i}").as_bytes())
            .unwrap();
    }
    for _ in 0..CLIENTS {
        started.recv_timeout(WAIT).unwrap(); // every callback is running
    }

    let stopping = thread::spawn(move || {
        let started = Instant::now();
        let result = listener.graceful_stop(Duration::from_secs(10));
        (result, started.elapsed())
    });
    // Release the callbacks while the stop is under way.
    for _ in 0..CLIENTS {
        go_tx.send(()).unwrap();
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let reply = read_to_end(client).unwrap();
        assert_eq!(reply, format!("request {i}").as_bytes());
        client.close().unwrap();
    }
    let (result, took) = stopping.join().unwrap();
    result.unwrap();
    assert!(took < Duration::from_secs(10 + 2), "stop took {took:?}");
}

/// Answers each piece with 64 MiB, more than any socket buffer holds.
struct Flood;

impl ConnectionService for Flood {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Bytes(vec![0u8; 64 << 20]))
    }
}

#[test]
fn a_graceful_stop_forces_stuck_connections_at_its_deadline() {
    // One peer never reads a big reply (its connection is stuck in a write); another is
    // idle and never answers our FIN. Both are closed by the deadline; nothing hangs.
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().write_timeout(None)).unwrap();
    listener.attach(|_| Ok(Flood)).unwrap();
    listener.start().unwrap();
    let mut stuck = tcp(&listener);
    stuck.write_all(b"go").unwrap();
    let _idle = tcp(&listener);
    wait_until(WAIT, "both connections open", || {
        listener.connection_count() == 2
    });

    let started = Instant::now();
    listener.graceful_stop(Duration::from_secs(1)).unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "returned after {took:?}"
    );
    assert!(took < Duration::from_secs(1 + 2), "took {took:?}");
    assert_eq!(listener.connection_count(), 0);
    // The stuck peer gets part of the reply and then an error or end: never a hang.
    let mut sink = vec![0u8; 1 << 20];
    loop {
        match stuck.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) => {
                assert_ne!(e.kind(), IoKind::WouldBlock, "still open");
                break;
            }
        }
    }
}
