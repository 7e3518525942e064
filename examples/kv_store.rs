//! A key-value store over a line protocol, and its client. Each request is one line:
//!
//! ```text
//! SET key value   -> OK
//! GET key         -> VALUE value      (or NOT_FOUND)
//! DEL key         -> DELETED          (or NOT_FOUND)
//! SHUTDOWN        -> BYE, and the server stops gracefully
//! anything else   -> ERR what was wrong (the connection stays open)
//! ```
//!
//! Run the server with `cargo run --example kv_store [PORT]` (default 4000; the first line on
//! stdout is `listening on HOST:PORT`) and talk to it with `nc localhost 4000`, or with this
//! program's client: `cargo run --example kv_store -- --client localhost:4000 "SET a 1" "GET a"`.
//!
//! It shows what a small real server needs: state shared by every connection, whole lines
//! from `framing`, `?` on parse errors, and a server stopped from inside one of its own
//! connections through a `StopHandle`. A conversation of requests and answers reads best as
//! a loop (`serve_handler`).

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synctcp::framing::Delimited;
use synctcp::{Client, Error, ErrorKind, Listener, StopHandle, Stream};

type Store = Arc<Mutex<HashMap<String, String>>>;

/// One connection: requests in, answers out, until the client leaves or says SHUTDOWN.
fn session(stream: &mut Stream, store: &Store, stop: &StopHandle) -> Result<(), Error> {
    let lines = Delimited::lines();
    loop {
        let line = match stream.read_frame(&lines) {
            Ok(line) => line,
            Err(err) if err.kind() == ErrorKind::Closed => return Ok(()), // the client left
            Err(err) => return Err(err),
        };
        // Not UTF-8 is an InvalidData error: reported, and this connection closes.
        let line = std::str::from_utf8(&line)?.trim_end_matches('\r');
        let mut words = line.splitn(3, ' ');
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("SET"), Some(key), Some(value)) => {
                store.lock().unwrap().insert(key.into(), value.into());
                "OK".to_string()
            }
            (Some("GET"), Some(key), None) => match store.lock().unwrap().get(key) {
                Some(value) => format!("VALUE {value}"),
                None => "NOT_FOUND".to_string(),
            },
            (Some("DEL"), Some(key), None) => match store.lock().unwrap().remove(key) {
                Some(_) => "DELETED".to_string(),
                None => "NOT_FOUND".to_string(),
            },
            (Some("SHUTDOWN"), None, None) => {
                stream.write_frame(&lines, b"BYE")?;
                // From inside a connection: the stop waits for the others, not for this
                // one (it could not end while we wait here); it ends when we return.
                return stop.graceful_stop(Duration::from_secs(5));
            }
            _ => format!("ERR unknown request {line:?}"),
        };
        stream.write_frame(&lines, answer.as_bytes())?;
    }
}

/// Sends one request and returns the server's one-line answer.
fn request(client: &Client, lines: &Delimited, line: &str) -> Result<String, Error> {
    client.write_frame(lines, line.as_bytes())?;
    let answer = client.read_frame(lines)?;
    String::from_utf8(answer).map_err(Error::from)
}

fn serve(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    let store = Store::default();
    let stop = listener.stop_handle();
    listener.serve_handler(move |stream| session(stream, &store, &stop))?;
    println!("stopped");
    Ok(())
}

fn client(addr: &str, requests: &[String]) -> Result<(), Error> {
    let client = Client::connect(addr)?;
    let lines = Delimited::lines();
    for line in requests {
        println!("{}", request(&client, &lines, line)?);
    }
    client.close()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("--client") if args.len() >= 2 => client(&args[1], &args[2..]),
        Some("--client") => usage(),
        None => serve(4000),
        Some(port) => match port.parse() {
            Ok(port) => serve(port),
            Err(_) => usage(),
        },
    };
    if let Err(err) = outcome {
        eprintln!("kv_store: {err}");
        let code = if err.kind() == ErrorKind::InvalidConfig {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}

fn usage() -> Result<(), Error> {
    eprintln!("usage: kv_store [PORT] | kv_store --client HOST:PORT REQUEST...");
    std::process::exit(2)
}
