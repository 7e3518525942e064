//! The whole job end to end: start a listener on a free port with an echo service, connect
//! a client, send "Hello Ballerina", print what came back, stop gracefully.
//!
//! Run: `cargo run --example quickstart`

use std::time::Duration;

use synctcp::{Caller, Client, ConnectionService, Error, Listener, Reply};

/// Ballerina's `EchoService`: writes back whatever arrives.
struct EchoService;

impl ConnectionService for EchoService {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Echo)
    }

    fn on_close(&mut self, caller: &Caller) {
        println!("server: client {} left", caller.remote_addr());
    }
}

fn main() -> Result<(), Error> {
    let mut listener = Listener::bind(0)?;
    listener.attach(|caller| {
        println!("server: client connected from {}", caller.remote_addr());
        Ok(EchoService)
    })?;
    listener.start()?;
    let port = listener
        .local_addr()
        .port()
        .expect("a TCP listener has a port");
    println!("server: listening on port {port}");

    let client = Client::connect(("localhost", port))?;
    client.write_bytes(b"Hello Ballerina")?;
    let reply = client.read_bytes_exact("Hello Ballerina".len())?;
    println!("client: received {:?}", String::from_utf8_lossy(&reply));
    client.close()?;

    listener.graceful_stop(Duration::from_secs(5))?;
    println!("server: stopped");
    Ok(())
}
