//! The client side: the same code drives every server. Blocking threads for up to 100
//! connections; tokio tasks where a thread per connection would measure the client instead
//! (1,000 connections, the connect burst).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

pub(crate) const MESSAGE: usize = 64;

/// How a message from the tokio-task client begins: it asks the server to write the time
/// it answered into the reply's first 8 bytes (see [`crate::servers::stamp`]).
pub(crate) const STAMP_ME: [u8; 8] = *b"stamp me";

/// Round trips per second and latency percentiles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PingPong {
    pub(crate) per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// The p99 from the moment the client writes a message to the moment the server
    /// answers it (the tokio-task client only). The rest of a round trip is the reply
    /// waiting for the client to read it, which is the client's scheduling, not the server.
    pub answered_p99: Option<Duration>,
}

pub(crate) fn percentiles(mut samples: Vec<u32>, count: u64, elapsed: Duration) -> PingPong {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1));
        Duration::from_nanos(u64::from(samples.get(i).copied().unwrap_or(0)))
    };
    PingPong {
        per_second: count as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        answered_p99: None,
    }
}

/// Nanoseconds since the Unix epoch: a clock the server's process reads the same way.
pub(crate) fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as u64
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).unwrap();
    stream
}

/// `conns` connections, each sending 64 bytes and waiting for the echo, for `run`.
pub(crate) fn ping_pong(addr: SocketAddr, conns: usize, run: Duration) -> PingPong {
    if conns > 100 {
        return ping_pong_tasks(addr, conns, run);
    }
    let start = Arc::new(Barrier::new(conns + 1));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let mut stream = connect(addr);
                    let out = [7u8; MESSAGE];
                    let mut back = [0u8; MESSAGE];
                    for _ in 0..50 {
                        stream.write_all(&out).unwrap();
                        stream.read_exact(&mut back).unwrap();
                    }
                    start.wait();
                    let ends = Instant::now() + run;
                    let mut samples = Vec::with_capacity(1 << 16);
                    loop {
                        let t0 = Instant::now();
                        if t0 >= ends {
                            break;
                        }
                        stream.write_all(&out).unwrap();
                        stream.read_exact(&mut back).unwrap();
                        samples.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                    }
                    samples
                })
                .unwrap()
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let elapsed = began.elapsed().max(run);
    let count = all.len() as u64;
    percentiles(all, count, elapsed)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ping_pong_tasks(addr: SocketAddr, conns: usize, run: Duration) -> PingPong {
    ping_pong_tasks_observed(addr, conns, run, || ()).0
}

/// [`ping_pong`] on tokio tasks, calling `observe` halfway through the measurement (to
/// read the server's memory and threads while every connection is open).
pub(crate) fn ping_pong_tasks_observed<T: Send + 'static>(
    addr: SocketAddr,
    conns: usize,
    run: Duration,
    observe: impl FnOnce() -> T,
) -> (PingPong, T) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = runtime();
    let (samples, answered, elapsed, seen) = rt.block_on(async move {
        let start = Arc::new(tokio::sync::Barrier::new(conns + 1));
        // Connections are set up 64 at a time: the scenario measures them talking, not a
        // connect storm. Fewer connects in flight than bare std's backlog of 128 can hold:
        // with 256, a queue that overflowed while std's accept loop lagged had SYN cookies
        // reset a connection now and then, and the run panicked.
        let setting_up = Arc::new(tokio::sync::Semaphore::new(64));
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let start = Arc::clone(&start);
                let setting_up = Arc::clone(&setting_up);
                tokio::spawn(async move {
                    // A connection that fails still meets the others at the start line (or
                    // they would wait for it forever), then reports why.
                    let mut out = [7u8; MESSAGE];
                    out[..STAMP_ME.len()].copy_from_slice(&STAMP_ME);
                    let mut back = [0u8; MESSAGE];
                    let warm_up = async {
                        let _turn = setting_up.acquire().await.unwrap();
                        let mut stream = tokio::net::TcpStream::connect(addr).await?;
                        stream.set_nodelay(true)?;
                        for _ in 0..5 {
                            stream.write_all(&out).await?;
                            stream.read_exact(&mut back).await?;
                        }
                        Ok::<_, std::io::Error>(stream)
                    };
                    let warmed = warm_up.await;
                    start.wait().await;
                    let mut stream = warmed.map_err(|e| format!("warming up: {e}"))?;
                    let ends = Instant::now() + run;
                    let mut samples = Vec::with_capacity(4096);
                    let mut answered = Vec::with_capacity(4096);
                    loop {
                        let t0 = Instant::now();
                        if t0 >= ends {
                            break;
                        }
                        let written_at = wall_clock_ns();
                        stream
                            .write_all(&out)
                            .await
                            .map_err(|e| format!("write: {e}"))?;
                        stream
                            .read_exact(&mut back)
                            .await
                            .map_err(|e| format!("read: {e}"))?;
                        samples.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                        if back[..STAMP_ME.len()] == STAMP_ME {
                            return Err("the server did not stamp its answer".to_string());
                        }
                        let stamp = u64::from_le_bytes(back[..8].try_into().unwrap());
                        let waited = stamp.saturating_sub(written_at);
                        answered.push(waited.min(u64::from(u32::MAX)) as u32);
                    }
                    Ok::<_, String>((samples, answered))
                })
            })
            .collect();
        start.wait().await;
        let began = Instant::now();
        tokio::time::sleep(run / 2).await;
        let seen = observe();
        let mut all = Vec::new();
        let mut all_answered = Vec::new();
        let mut failed = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok((samples, answered)) => {
                    all.extend(samples);
                    all_answered.extend(answered);
                }
                Err(e) => failed.push(e),
            }
        }
        if let Some(first) = failed.first() {
            panic!(
                "{} of {conns} connections to {addr} failed; the first: {first}",
                failed.len()
            );
        }
        (all, all_answered, began.elapsed().max(run), seen)
    });
    let count = samples.len() as u64;
    let answered_p99 = percentiles(answered, count, elapsed).p99;
    let figures = PingPong {
        answered_p99: Some(answered_p99),
        ..percentiles(samples, count, elapsed)
    };
    (figures, seen)
}

/// Streams `bytes` through one connection (writer and reader threads), checks every byte
/// that comes back, and returns MiB/s.
pub(crate) fn bulk(addr: SocketAddr, bytes: usize) -> f64 {
    let stream = connect(addr);
    let mut reader = stream.try_clone().unwrap();
    let mut writer = stream;
    let began = Instant::now();
    let sending = thread::spawn(move || {
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut sent = 0;
        while sent < bytes {
            let n = chunk.len().min(bytes - sent);
            writer.write_all(&chunk[..n]).unwrap();
            sent += n;
        }
        writer
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0usize;
    while received < bytes {
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended early");
        for (i, &b) in buf[..n].iter().enumerate() {
            // The pattern restarts with every 64 KiB chunk the writer sends.
            let offset = (received + i) % (64 * 1024);
            assert_eq!(
                b,
                (offset % 251) as u8,
                "corrupted at byte {}",
                received + i
            );
        }
        received += n;
    }
    let elapsed = began.elapsed();
    drop(sending.join().unwrap());
    (bytes as f64 / (1 << 20) as f64) / elapsed.as_secs_f64()
}

/// Sends `bytes` through one connection in turns: 256 KiB written, then the 256 KiB echo
/// read back, every byte checked; MiB/s.
pub(crate) fn bulk_lockstep(addr: SocketAddr, bytes: usize) -> f64 {
    const TURN: usize = 256 * 1024;
    let mut stream = connect(addr);
    let chunk: Vec<u8> = (0..TURN).map(|i| (i % 253) as u8).collect();
    let mut back = vec![0u8; TURN];
    let began = Instant::now();
    let mut moved = 0;
    while moved < bytes {
        stream.write_all(&chunk).unwrap();
        stream.read_exact(&mut back).unwrap();
        assert!(back == chunk, "corrupted in the turn at byte {moved}");
        moved += TURN;
    }
    (moved as f64 / (1 << 20) as f64) / began.elapsed().as_secs_f64()
}

/// Connect, echo 16 bytes, close, from `threads` threads for `run`: connections per second.
pub(crate) fn churn(addr: SocketAddr, threads: usize, run: Duration) -> f64 {
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let ends = Instant::now() + run;
                let mut done = 0u64;
                let out = [3u8; 16];
                let mut back = [0u8; 16];
                while Instant::now() < ends {
                    let mut stream = connect(addr);
                    stream.write_all(&out).unwrap();
                    stream.read_exact(&mut back).unwrap();
                    drop(stream);
                    done += 1;
                }
                done
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    total as f64 / began.elapsed().as_secs_f64()
}

/// What a burst of simultaneous connects saw.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Burst {
    pub(crate) failures: usize,
    pub p50: Duration,
    pub(crate) max: Duration,
}

/// `conns` connects at once, each echoing one byte: failures and time to first echo.
pub(crate) fn burst(addr: SocketAddr, conns: usize) -> Burst {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = runtime();
    rt.block_on(async move {
        let began = Instant::now();
        let hold = Arc::new(tokio::sync::Barrier::new(conns + 1));
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let hold = Arc::clone(&hold);
                tokio::spawn(async move {
                    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
                        let mut stream = tokio::net::TcpStream::connect(addr).await?;
                        stream.write_all(&[1]).await?;
                        let mut back = [0u8; 1];
                        stream.read_exact(&mut back).await?;
                        Ok::<_, std::io::Error>(stream)
                    })
                    .await;
                    let took = began.elapsed();
                    hold.wait().await; // every connection stays open until all are served
                    match outcome {
                        Ok(Ok(_)) => Some(took),
                        _ => None,
                    }
                })
            })
            .collect();
        hold.wait().await;
        let mut times = Vec::new();
        let mut failures = 0;
        for t in tasks {
            match t.await.unwrap() {
                Some(took) => times.push(took),
                None => failures += 1,
            }
        }
        times.sort();
        Burst {
            failures,
            p50: times.get(times.len() / 2).copied().unwrap_or_default(),
            max: times.last().copied().unwrap_or_default(),
        }
    })
}

/// Opens `conns` connections and echoes one message on each, so that every server has
/// set each one up; returns them, to be held open.
pub(crate) fn open_idle(addr: SocketAddr, conns: usize) -> Vec<TcpStream> {
    (0..conns)
        .map(|_| {
            let mut stream = connect(addr);
            stream.write_all(b"x").unwrap();
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).unwrap();
            stream
        })
        .collect()
}
