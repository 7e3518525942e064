//! The chat server again, written as loops: each connection's handler reads its client's
//! lines and sends each one, numbered, to everyone, through the callers of the others.
//! Compare `chat_server.rs`, the same server as Ballerina's callbacks.
//!
//! Run: `cargo run --example chat_loops [PORT]` (default 3003; the first line on stdout is
//! `listening on HOST:PORT`), then `nc localhost 3003` from a few terminals.

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use synctcp::{Caller, Error, Listener, Stream};

/// Everyone connected, and the number of the last message.
#[derive(Default)]
struct Room {
    members: Vec<Caller>,
    messages: u64,
}

fn chat(stream: &mut Stream, room: &Mutex<Room>) -> Result<(), Error> {
    for line in BufReader::new(&*stream).lines() {
        let line = line?;
        let text = line.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        // Broadcast under the lock, so everyone sees the messages in the same order.
        let mut room = room.lock().unwrap();
        room.messages += 1;
        let message = format!("Message #{}: {text}\n", room.messages);
        for member in &room.members {
            let _ = member.write_bytes(message.as_bytes()); // one who just left errors
        }
    }
    Ok(())
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => 3003,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("chat_loops: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("chat_loops: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    let room = Arc::new(Mutex::new(Room::default()));
    listener.serve_handler(move |stream| {
        {
            // Welcome and join under the room's lock: no message comes between the two.
            let mut locked = room.lock().unwrap();
            writeln!(&*stream, "Welcome! You are client {}.", stream.id())?;
            locked.members.push(stream.caller().clone());
        }
        let chatted = chat(stream, &room);
        room.lock()
            .unwrap()
            .members
            .retain(|m| m.id() != stream.id());
        chatted
    })
}
