//! A peer that resets mid-transfer: `on_error` and `on_close` once each, and every thread
//! ends. Alone in its binary: it checks the process's thread count.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use synctcp::ErrorKind;

#[test]
fn a_reset_mid_transfer_reports_once_and_leaks_nothing() {
    let threads_before = thread_count();
    let (listener, events) = probe_listener(listener_config());
    let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
    let Event::Connect(caller) = next(&events) else {
        panic!("expected a connect")
    };
    let id = caller.id();
    drop(caller);
    // Mid-transfer: the echo is flowing when the peer resets.
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..16 {
        peer.write_all(&chunk).unwrap();
    }
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer); // unread echoes in our receive buffer + linger 0: RST

    let mut errors = 0;
    let mut closes = 0;
    loop {
        match next(&events) {
            Event::Error(eid, kind, text) if eid == id => {
                errors += 1;
                assert!(
                    matches!(kind, ErrorKind::Reset | ErrorKind::Closed),
                    "{kind:?}: {text}"
                );
            }
            Event::Close(cid) if cid == id => {
                closes += 1;
                break;
            }
            _ => {}
        }
    }
    assert_eq!((errors, closes), (1, 1));
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    assert!(events
        .try_iter()
        .all(|e| !matches!(e, Event::Error(..) | Event::Close(_))));
    wait_until(WAIT, "threads back to the start", || {
        thread_count() == threads_before
    });
}
