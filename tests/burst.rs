//! A burst of 2,000 simultaneous connects is served in full: none fails. The connects come
//! from tokio tasks, so the client side needs no thread per connection.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONNECTS: usize = 2_000;

#[test]
fn two_thousand_simultaneous_connects_are_all_served() {
    let listener = echo_listener();
    let addr = listener.local_addr().tcp().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (failures, mut times) = runtime.block_on(async move {
        let release = std::sync::Arc::new(tokio::sync::Barrier::new(CONNECTS + 1));
        let tasks: Vec<_> = (0..CONNECTS)
            .map(|i| {
                let release = release.clone();
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let outcome = tokio::time::timeout(WAIT, async {
                        let mut stream = tokio::net::TcpStream::connect(addr).await?;
                        let byte = [i as u8];
                        stream.write_all(&byte).await?;
                        let mut echo = [0u8; 1];
                        stream.read_exact(&mut echo).await?;
                        assert_eq!(echo, byte);
                        Ok::<_, std::io::Error>(stream)
                    })
                    .await;
                    let first_echo = t0.elapsed();
                    // Hold every connection open until all are served.
                    release.wait().await;
                    match outcome {
                        Ok(Ok(_stream)) => Ok(first_echo),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("timed out".to_string()),
                    }
                })
            })
            .collect();
        release.wait().await;
        let mut failures = Vec::new();
        let mut times = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(t) => times.push(t),
                Err(e) => failures.push(e),
            }
        }
        (failures, times)
    });
    times.sort();
    println!(
        "{CONNECTS} connects: {} failed; first echo p50 {:?}, max {:?}; all served in {:?}",
        failures.len(),
        times.get(times.len() / 2),
        times.last(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failed, first: {}",
        failures.len(),
        failures[0]
    );
    wait_until(WAIT, "connections closed", || {
        listener.connection_count() == 0
    });
    listener.graceful_stop(Duration::from_secs(10)).unwrap();
}
