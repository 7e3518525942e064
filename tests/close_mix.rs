//! 5,000 connections ended by a random mix of causes — the client closes, the client
//! resets, the service closes, on_bytes fails, on_bytes panics, the connection idles out —
//! and on_close runs exactly once for each.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use synctcp::{Caller, ConnectionService, Error, ErrorKind, Listener, Reply};

const CONNECTIONS: u64 = 5_000;
const CLIENT_THREADS: u64 = 8;

#[derive(Default)]
struct Tally {
    connects: u64,
    closes: HashMap<u64, u32>,
}

struct Mixed {
    tally: Arc<Mutex<Tally>>,
}

impl ConnectionService for Mixed {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        match data {
            b"fail" => Err(Error::new(ErrorKind::Other, "asked to fail")),
            b"panic" => panic!("asked to panic"),
            b"close" => {
                let _ = caller.close();
                Ok(Reply::from(b"bye"))
            }
            _ => Ok(Reply::Echo),
        }
    }

    fn on_error(&mut self, _: &Caller, _: &Error) {}

    fn on_close(&mut self, caller: &Caller) {
        *self
            .tally
            .lock()
            .unwrap()
            .closes
            .entry(caller.id())
            .or_default() += 1;
    }
}

fn open(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

/// Reads until the server ends the stream (cleanly or not).
fn until_end(stream: &mut TcpStream) {
    let mut buf = [0u8; 64];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
}

#[test]
fn on_close_runs_exactly_once_for_five_thousand_connections() {
    // The panics are on purpose: keep them out of the test output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.to_string().contains("asked to panic") {
            default_hook(info);
        }
    }));

    let tally = Arc::new(Mutex::new(Tally::default()));
    let config = listener_config()
        .idle_timeout(Some(Duration::from_millis(300)))
        .drain_timeout(Duration::from_millis(100));
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    let service_tally = Arc::clone(&tally);
    listener
        .attach(move |_| {
            service_tally.lock().unwrap().connects += 1;
            Ok(Mixed {
                tally: Arc::clone(&service_tally),
            })
        })
        .unwrap();
    listener.start().unwrap();
    let port = listener.local_addr().port().unwrap();

    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|w| {
            thread::spawn(move || {
                let mut idle = Vec::new();
                let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ w;
                for _ in 0..CONNECTIONS / CLIENT_THREADS {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let mut stream = open(port);
                    match rng % 6 {
                        0 => {
                            stream.write_all(b"hello").unwrap();
                            let mut echo = [0u8; 5];
                            stream.read_exact(&mut echo).unwrap();
                        }
                        1 => {
                            stream.write_all(b"soon reset").unwrap();
                            socket2::SockRef::from(&stream)
                                .set_linger(Some(Duration::ZERO))
                                .unwrap();
                        }
                        2 => {
                            stream.write_all(b"close").unwrap();
                            until_end(&mut stream);
                        }
                        3 => {
                            stream.write_all(b"fail").unwrap();
                            until_end(&mut stream);
                        }
                        4 => {
                            stream.write_all(b"panic").unwrap();
                            until_end(&mut stream);
                        }
                        _ => idle.push(stream), // the idle timeout ends it
                    }
                }
                for mut stream in idle {
                    until_end(&mut stream);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    wait_until(WAIT, "every connection ended", || {
        tally.lock().unwrap().closes.len() as u64 == CONNECTIONS
    });
    listener.graceful_stop(Duration::from_secs(10)).unwrap();

    let tally = tally.lock().unwrap();
    assert_eq!(tally.connects, CONNECTIONS);
    assert_eq!(tally.closes.len() as u64, CONNECTIONS);
    let twice: Vec<_> = tally.closes.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        twice.is_empty(),
        "on_close ran more than once for {twice:?}"
    );
}
