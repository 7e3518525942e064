//! The classic first server: read a line, write it back — as a loop, on each connection's
//! own thread (`Listener::serve_handler`), the way socket programming is taught.
//!
//! Run: `cargo run --example line_echo [PORT]` (default 3000; the first line on stdout is
//! `listening on HOST:PORT`), then `nc localhost 3000` and type lines.

use std::io::{BufRead, BufReader, Write};

use synctcp::{Error, Listener};

fn main() {
    let port = match std::env::args().nth(1) {
        None => 3000,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("line_echo: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("line_echo: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    listener.serve_handler(|stream| {
        eprintln!(
            "client {} connected from {}",
            stream.id(),
            stream.peer_addr()
        );
        for line in BufReader::new(&*stream).lines() {
            writeln!(&*stream, "{}", line?)?;
        }
        eprintln!("client {} left", stream.id());
        Ok(())
    })
}
