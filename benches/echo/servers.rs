//! The three echo servers, each run in a process of its own (`echo --serve KIND`) so that
//! its memory and threads can be read from `/proc`. They do the same work: 64 KiB reads,
//! `TCP_NODELAY` on, loopback only, write back what was read (with the time they answer
//! written into a message that asks for it: see [`stamp`]).

use std::io::{Read, Write};
use std::net::TcpListener;

use synctcp::{Caller, ConnectionService, Error, Listener, ListenerConfig, Reply};

use crate::load::{wall_clock_ns, MESSAGE, STAMP_ME};

pub(crate) const BUFFER: usize = 64 * 1024;

/// Whether `piece` is a whole message from the tokio-task client asking for the time the
/// server answered it.
pub(crate) fn wants_stamp(piece: &[u8]) -> bool {
    piece.len() == MESSAGE && piece.starts_with(&STAMP_ME)
}

/// Writes the time the server answers into the first 8 bytes of a message that asks for
/// it ([`wants_stamp`]), as nanoseconds since the Unix epoch; anything else is echoed as
/// it came. Every server calls this on what it read, just before writing it back.
pub(crate) fn stamp(piece: &mut [u8]) {
    if wants_stamp(piece) {
        piece[..8].copy_from_slice(&wall_clock_ns().to_le_bytes());
    }
}

/// Runs the server `kind` and prints its port on the first line of stdout.
pub(crate) fn serve(kind: &str) {
    match kind {
        "std" => serve_std(),
        "synctcp" => serve_synctcp(),
        "tokio" => serve_tokio(),
        other => panic!("unknown server {other}"),
    }
}

pub(crate) fn announce(port: u16) {
    println!("{port}");
    std::io::stdout().flush().unwrap();
}

/// What a user writes by hand with `std::net`: a thread per connection, read, write back.
fn serve_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    announce(listener.local_addr().unwrap().port());
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; BUFFER];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        stamp(&mut buf[..n]);
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
}

/// Echoes every piece of input (the plain and the TLS synctcp servers), stamped if it asks.
pub(crate) struct Echo;

impl ConnectionService for Echo {
    fn on_bytes(&mut self, _: &Caller, piece: &[u8]) -> Result<Reply, Error> {
        if wants_stamp(piece) {
            let mut answer = piece.to_vec();
            stamp(&mut answer);
            return Ok(Reply::Bytes(answer));
        }
        Ok(Reply::Echo)
    }
}

fn serve_synctcp() {
    let config = ListenerConfig::new()
        .max_connections(50_000)
        .read_buffer_size(BUFFER)
        .nodelay(true);
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    announce(listener.local_addr().port().unwrap());
    listener.serve(|_| Ok(Echo)).unwrap();
}

fn serve_tokio() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        announce(listener.local_addr().unwrap().port());
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; BUFFER];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            stamp(&mut buf[..n]);
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
}
