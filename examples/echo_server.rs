//! The seed's echo listener: writes back whatever each client sends.
//!
//! Run: `cargo run --example echo_server [PORT]` (default 3000; 0 picks a free port).
//! The first line on stdout is `listening on HOST:PORT` with the real port, so scripts and
//! load generators can find it. Serves until killed.

use std::io::Write;

use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

struct EchoService;

impl ConnectionService for EchoService {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        // echo back the data to the client
        Ok(Reply::Echo)
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        eprintln!("client {}: an error occurred: {err}", caller.remote_addr());
    }

    fn on_close(&mut self, caller: &Caller) {
        eprintln!("client {} left", caller.remote_addr());
    }
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => 3000,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("echo_server: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("echo_server: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    listener.serve(|caller| {
        eprintln!("client connected to echo server: {}", caller.remote_addr());
        Ok(EchoService)
    })
}
