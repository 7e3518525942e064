//! A stopped listener starts nothing: once `drop(listener)`, `immediate_stop` or
//! `graceful_stop` has returned, no `on_connect` (nor `on_bytes`) of that listener may
//! start, even with clients connecting from other threads as fast as they can while it
//! stops.
//!
//! Each iteration: a fresh listener, three threads connecting in a loop, the stop as soon
//! as the first `on_connect` ran (accepts in flight at that moment are what the race is
//! about), then a flag set. The service's captured state is dropped only when the last of
//! the listener's threads let go of the service: that drop is the event that says every
//! thread of the listener has ended, so the check needs no guessing how long to wait.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use common::*;
use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

/// Shared by the service and the test.
#[derive(Default)]
struct Watch {
    stopped: AtomicBool,
    late_connects: AtomicUsize,
    late_bytes: AtomicUsize,
}

struct Quiet(Arc<Watch>);

impl ConnectionService for Quiet {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        if self.0.stopped.load(SeqCst) {
            self.0.late_bytes.fetch_add(1, SeqCst);
        }
        Ok(Reply::None)
    }
}

/// Sends when dropped: held by the service, so it fires once no thread holds the service.
struct Gone(mpsc::Sender<()>);

impl Drop for Gone {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Connects to `addr` in a loop (at most `max` times) until told to stop or refused.
fn connector(addr: SocketAddr, stop: Arc<AtomicBool>, max: usize) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for _ in 0..max {
            if stop.load(SeqCst) {
                return;
            }
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Ok(stream) => drop(stream),
                Err(_) => return, // refused: the listener has stopped
            }
        }
    })
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Drop,
    Immediate,
    Graceful,
}

/// Runs `iterations` races; returns a line per iteration where a callback started late.
fn race(how: Stop, iterations: usize) -> Vec<String> {
    let mut late = Vec::new();
    for iteration in 0..iterations {
        let watch = Arc::new(Watch::default());
        let (gone_tx, gone) = mpsc::channel();
        let (first_tx, first) = mpsc::channel();
        let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
        {
            let watch = Arc::clone(&watch);
            let gone = Gone(gone_tx);
            listener
                .attach(move |_| {
                    let _ = &gone;
                    if watch.stopped.load(SeqCst) {
                        watch.late_connects.fetch_add(1, SeqCst);
                    }
                    let _ = first_tx.send(());
                    Ok(Quiet(Arc::clone(&watch)))
                })
                .unwrap();
        }
        listener.start().unwrap();
        let addr = listener.local_addr().tcp().unwrap();
        let stop_clients = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..3)
            .map(|_| connector(addr, Arc::clone(&stop_clients), 40))
            .collect();
        // Stop while connects are arriving: after the first (or, now and then, a later)
        // on_connect.
        for _ in 0..1 + iteration % 3 {
            if first.recv_timeout(WAIT).is_err() {
                break;
            }
        }
        match how {
            Stop::Drop => drop(listener),
            Stop::Immediate => {
                listener.immediate_stop().unwrap();
                drop_after_flag(listener, &watch);
            }
            Stop::Graceful => {
                listener.graceful_stop(Duration::from_secs(2)).unwrap();
                drop_after_flag(listener, &watch);
            }
        }
        watch.stopped.store(true, SeqCst);
        stop_clients.store(true, SeqCst);
        for client in clients {
            client.join().unwrap();
        }
        gone.recv_timeout(WAIT).unwrap_or_else(|_| {
            panic!("{how:?}: the listener's threads still hold its service after {WAIT:?}")
        });
        let connects = watch.late_connects.load(SeqCst);
        let bytes = watch.late_bytes.load(SeqCst);
        if connects + bytes > 0 {
            late.push(format!(
                "iteration {iteration}: {connects} on_connect and {bytes} on_bytes started after {how:?} returned"
            ));
        }
    }
    late
}

/// For the stop methods, the listener value itself is dropped after the flag is set, so
/// that only what the stop call did is tested.
fn drop_after_flag(listener: Listener, watch: &Watch) {
    watch.stopped.store(true, SeqCst);
    drop(listener);
}

fn assert_none_late(late: &[String], iterations: usize, how: &str) {
    assert!(
        late.is_empty(),
        "{} of {iterations} iterations had callbacks starting after {how} returned; the first:\n{}",
        late.len(),
        late.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn no_callback_starts_after_dropping_a_running_listener() {
    assert_none_late(&race(Stop::Drop, 300), 300, "drop(listener)");
}

#[test]
fn no_callback_starts_after_immediate_stop_returned() {
    assert_none_late(&race(Stop::Immediate, 100), 100, "immediate_stop");
}

#[test]
fn no_callback_starts_after_graceful_stop_returned() {
    assert_none_late(&race(Stop::Graceful, 100), 100, "graceful_stop");
}

/// A stop through a `StopHandle`, from another thread, as soon as `serve` has served its
/// first connection (the guide's pattern): it must stop that listener, never find it "not
/// running yet" and do nothing while `serve` runs on. (Found by flakehunt as a guide
/// doctest hanging in `join`: `start` used to let workers accept before it recorded the
/// listener as running. The window is microseconds; a loaded machine widens it.)
#[test]
fn a_stop_right_after_the_first_connection_of_serve_stops_it() {
    for i in 0..300 {
        let listener = Listener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr();
        let stop = listener.stop_handle();
        let (done, served) = mpsc::channel();
        thread::spawn(move || {
            let result = listener.serve_handler(|stream| {
                stream.write_bytes(b"hi")?;
                Ok(())
            });
            let _ = done.send(result);
        });
        let client = synctcp::Client::connect_with(&addr, &client_config()).unwrap();
        assert_eq!(client.read_bytes_exact(2).unwrap(), b"hi");
        drop(client);
        stop.graceful_stop(Duration::from_secs(5)).unwrap();
        let result = served
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("iteration {i}: serve still running after the stop"));
        result.unwrap();
    }
}
