//! The caller handle: writes and closes from other threads, ordering, and what happens
//! after the connection is gone.

mod common;

use std::sync::mpsc;
use std::thread;

use common::*;
use synctcp::{Caller, ErrorKind, Listener};

/// A listener whose on_connect hands each caller to the test, and echoes.
fn handing_out_callers() -> (Listener, mpsc::Receiver<Caller>) {
    caller_listener(listener_config())
}

#[test]
fn a_caller_used_after_its_connection_closed_returns_closed() {
    let (listener, events) = probe_listener(listener_config());
    let client = connect(&listener);
    let Event::Connect(caller) = next(&events) else {
        panic!("expected a connect")
    };
    client.close().unwrap();
    wait_event(&events, |e| matches!(e, Event::Close(_)));

    let from_elsewhere = thread::spawn(move || {
        let err = caller.write_bytes(b"too late").unwrap_err();
        let _ = caller.close(); // does nothing, never panics
        (err.kind(), err.to_string(), caller.is_closed())
    });
    let (kind, text, closed) = from_elsewhere.join().unwrap();
    assert_eq!(kind, ErrorKind::Closed);
    assert!(text.starts_with("write to 127.0.0.1:"), "{text}");
    assert!(closed);
}

#[test]
fn writes_from_another_thread_arrive_in_order() {
    let (listener, callers) = handing_out_callers();
    let client = connect(&listener);
    let caller = callers.recv_timeout(WAIT).unwrap();
    let writer = thread::spawn(move || {
        for i in 0..2000u32 {
            caller.write_bytes(format!("{i:05}\n").as_bytes()).unwrap();
        }
    });
    let all = client.read_bytes_exact(2000 * 6).unwrap();
    writer.join().unwrap();
    let expected: Vec<u8> = (0..2000u32)
        .flat_map(|i| format!("{i:05}\n").into_bytes())
        .collect();
    assert_eq!(all, expected);
}

#[test]
fn writes_from_many_threads_are_never_interleaved() {
    // Each write is 100 KiB, larger than one queue piece: it must still arrive whole.
    const WRITES: usize = 20;
    const SIZE: usize = 100 * 1024;
    let (listener, callers) = handing_out_callers();
    let client = connect(&listener);
    let caller = callers.recv_timeout(WAIT).unwrap();
    let writers: Vec<_> = (0..4u8)
        .map(|t| {
            let caller = caller.clone();
            thread::spawn(move || {
                for _ in 0..WRITES {
                    caller.write_bytes(&vec![b'a' + t; SIZE]).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..4 * WRITES {
        let block = client.read_bytes_exact(SIZE).unwrap();
        assert!(block.iter().all(|&b| b == block[0]), "a write was split");
    }
    for writer in writers {
        writer.join().unwrap();
    }
}

#[test]
fn closing_from_another_thread_ends_the_connection_cleanly() {
    let (listener, events) = probe_listener(listener_config());
    let client = connect(&listener);
    let Event::Connect(caller) = next(&events) else {
        panic!("expected a connect")
    };
    let writes = thread::spawn(move || {
        caller.write_bytes(b"last words").unwrap();
        let _ = caller.close();
        caller.write_bytes(b"after close").unwrap_err().kind()
    });
    assert_eq!(writes.join().unwrap(), ErrorKind::Closed);
    // Everything written before the close arrives, then a clean end of stream. The
    // service's on_close runs once the peer answers our FIN with its own.
    assert_eq!(read_to_end(&client).unwrap(), b"last words");
    client.close().unwrap();
    wait_event(&events, |e| matches!(e, Event::Close(_)));
}

/// Answers each byte received with one block of 'r'.
struct BlockPerByte;

const BLOCK: usize = 100 * 1024;

impl synctcp::ConnectionService for BlockPerByte {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<synctcp::Reply, synctcp::Error> {
        Ok(vec![b'r'; BLOCK * data.len()].into())
    }
}

#[test]
fn replies_never_land_inside_a_write_from_another_thread() {
    // A small queue makes the other threads' writes wait for room piece by piece while
    // the connection thread's replies want the socket.
    const ROUNDS: usize = 150;
    let (tx, callers) = mpsc::channel();
    let config = listener_config().write_queue_bytes(64 * 1024);
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener
        .attach(move |caller| {
            let _ = tx.send(caller.clone());
            Ok(BlockPerByte)
        })
        .unwrap();
    listener.start().unwrap();
    let stream = std::net::TcpStream::connect(listener.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let caller = callers.recv_timeout(WAIT).unwrap();
    let writers: Vec<_> = (0..2u8)
        .map(|t| {
            let caller = caller.clone();
            thread::spawn(move || {
                for _ in 0..ROUNDS {
                    caller.write_bytes(&vec![b'a' + t; BLOCK]).unwrap();
                }
            })
        })
        .collect();
    let mut requests = stream.try_clone().unwrap();
    let asking = thread::spawn(move || {
        for _ in 0..ROUNDS {
            std::io::Write::write_all(&mut requests, b"x").unwrap();
        }
    });
    let mut reader = stream;
    let mut block = vec![0u8; BLOCK];
    for i in 0..3 * ROUNDS {
        std::io::Read::read_exact(&mut reader, &mut block).unwrap();
        let first = block[0];
        assert!(
            block.iter().all(|&b| b == first),
            "block {i}: a write was split by another"
        );
    }
    asking.join().unwrap();
    for writer in writers {
        writer.join().unwrap();
    }
}

// A peer resets while another thread's write waits for room. The socket tells one system
// call about the reset: the write (which then aborts the connection) or the connection's
// read (and the write, after it, finds the pipe broken). Either way on_error names the
// reset, not a close.
#[test]
fn a_reset_during_a_write_from_another_thread_reaches_on_error_as_a_reset() {
    let (listener, events) = probe_listener(listener_config());
    for round in 0..50 {
        let peer = std::net::TcpStream::connect(listener.local_addr()).unwrap();
        peer.set_read_timeout(Some(WAIT)).unwrap();
        let Event::Connect(caller) = wait_event(&events, |e| matches!(e, Event::Connect(_))) else {
            unreachable!()
        };
        let id = caller.id();
        let writer = thread::spawn(move || {
            let chunk = vec![0u8; 256 * 1024];
            // The peer never reads: the writes soon wait for room, until the reset.
            while caller.write_bytes(&chunk).is_ok() {}
        });
        // The first bytes arrive: the writer is writing.
        peer.peek(&mut [0u8; 1]).unwrap();
        reset_by_peer(peer);
        let mut errors = Vec::new();
        loop {
            match next(&events) {
                Event::Error(eid, kind, text) if eid == id => errors.push((kind, text)),
                Event::Close(cid) if cid == id => break,
                _ => {}
            }
        }
        writer.join().unwrap();
        for (kind, text) in &errors {
            assert_eq!(
                *kind,
                ErrorKind::Reset,
                "round {round}: on_error got {text}"
            );
        }
    }
}
