//! The seed's client: connects, sends a message, prints the reply, closes.
//!
//! Run: `cargo run --example echo_client HOST PORT MESSAGE`, for example against
//! `cargo run --example echo_server`: `cargo run --example echo_client localhost 3000 hello`.

use synctcp::{Client, Error};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, message] = args.as_slice() else {
        eprintln!("usage: echo_client HOST PORT MESSAGE");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("echo_client: {port:?} is not a port number (0-65535)");
        std::process::exit(2);
    };
    if let Err(err) = run(host, port, message) {
        eprintln!("echo_client: {err}");
        std::process::exit(1);
    }
}

fn run(host: &str, port: u16, message: &str) -> Result<(), Error> {
    let client = Client::connect((host, port))?;
    client.write_bytes(message.as_bytes())?;
    // An echo server sends the same number of bytes back, possibly in several pieces.
    let reply = client.read_bytes_exact(message.len())?;
    println!("{}", String::from_utf8_lossy(&reply));
    client.close()
}
