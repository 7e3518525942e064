//! Integrity under load: 200 concurrent clients each stream 2 MiB in random chunk sizes
//! (1 byte to 64 KiB) through an echo service and get every byte back in order; afterwards
//! the process's threads and open descriptors are back to where they started. Alone in its
//! binary so that those counts are this test's alone.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const CLIENTS: usize = 200;
const BYTES: usize = 2 << 20;
const MAX_CHUNK: usize = 64 * 1024;

/// xorshift64*: a small deterministic generator, so a failure can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// FNV-1a over a stream, fed in pieces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// Sends `BYTES` random bytes in random chunk sizes; returns the hash of what was sent.
fn send(mut stream: TcpStream, seed: u64) -> Fnv {
    let mut rng = Rng(seed);
    let mut hash = Fnv::new();
    let mut chunk = vec![0u8; MAX_CHUNK];
    let mut sent = 0;
    while sent < BYTES {
        let len = (1 + rng.next() as usize % MAX_CHUNK).min(BYTES - sent);
        for word in chunk[..len].chunks_mut(8) {
            let bytes = rng.next().to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        stream.write_all(&chunk[..len]).unwrap();
        hash.feed(&chunk[..len]);
        sent += len;
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    hash
}

/// Reads until end of stream; returns the hash and length of what came back.
fn receive(mut stream: TcpStream) -> (Fnv, usize) {
    let mut hash = Fnv::new();
    let mut buf = vec![0u8; MAX_CHUNK];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            return (hash, total);
        }
        hash.feed(&buf[..n]);
        total += n;
    }
}

#[test]
fn two_hundred_clients_get_every_byte_back_and_nothing_leaks() {
    let threads_before = thread_count();
    let fds_before = fd_count();
    let started = Instant::now();
    let listener = echo_listener();
    let addr = listener.local_addr().tcp().unwrap();

    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|c| {
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_read_timeout(Some(WAIT)).unwrap();
                    stream.set_write_timeout(Some(WAIT)).unwrap();
                    let reader = stream.try_clone().unwrap();
                    let seed = 0x5eed_0000 + c;
                    let receiving = thread::Builder::new()
                        .stack_size(128 * 1024)
                        .spawn(move || receive(reader))
                        .unwrap();
                    let sent = send(stream, seed);
                    let (received, len) = receiving.join().unwrap();
                    assert_eq!(len, BYTES, "client {c} (seed {seed:#x}) got {len} bytes");
                    assert_eq!(sent, received, "client {c} (seed {seed:#x}): bytes differ");
                })
                .unwrap()
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    listener.graceful_stop(Duration::from_secs(10)).unwrap();
    println!(
        "{CLIENTS} clients x {} MiB echoed in {:?}",
        BYTES >> 20,
        started.elapsed()
    );
    drop(listener);
    wait_until(WAIT, "threads back to the start", || {
        thread_count() == threads_before
    });
    wait_until(WAIT, "descriptors back to the start", || {
        fd_count() == fds_before
    });
}
