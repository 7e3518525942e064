//! The package's chat server: each client gets a welcome message; input is buffered until a
//! newline, and each complete non-empty line becomes `Message #N: text`, sent to every
//! connected client. Clients are removed when they close.
//!
//! Run: `cargo run --example chat_server [PORT]` (default 3000), then connect a few
//! terminals with `nc localhost 3000`. The first line on stdout is `listening on HOST:PORT`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use synctcp::{Caller, ConnectionService, Error, Listener, Reply};

/// Everyone connected, and the number of the last message.
#[derive(Default)]
struct Room {
    members: BTreeMap<u64, Caller>,
    messages: u64,
}

struct ChatService {
    room: Arc<Mutex<Room>>,
    /// Bytes of a line that has not ended yet.
    partial: Vec<u8>,
}

impl ConnectionService for ChatService {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.partial.extend_from_slice(data);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            if text.trim().is_empty() {
                continue;
            }
            let mut room = self.room.lock().unwrap();
            room.messages += 1;
            let message = format!("Message #{}: {text}\n", room.messages);
            // Broadcast under the lock, so everyone sees the messages in the same order.
            // Writes to other connections never wait on their sockets, only (briefly) on
            // a full write queue.
            for member in room.members.values() {
                if let Err(err) = member.write_bytes(message.as_bytes()) {
                    eprintln!("could not send to client {}: {err}", member.id());
                }
            }
        }
        Ok(Reply::None)
    }

    fn on_close(&mut self, caller: &Caller) {
        self.room.lock().unwrap().members.remove(&caller.id());
        eprintln!("client {} left", caller.id());
    }
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => 3000,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("chat_server: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("chat_server: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    let room = Arc::new(Mutex::new(Room::default()));
    listener.serve(move |caller| {
        // Welcome and join under the room's lock: no broadcast can come between the two,
        // so the welcome is a client's first line and every message after it reaches it.
        let mut locked = room.lock().unwrap();
        let welcome = format!(
            "Welcome to the chat server! You are client {}.\n",
            caller.id()
        );
        caller.write_bytes(welcome.as_bytes())?;
        locked.members.insert(caller.id(), caller.clone());
        drop(locked);
        eprintln!(
            "client {} joined from {}",
            caller.id(),
            caller.remote_addr()
        );
        Ok(ChatService {
            room: Arc::clone(&room),
            partial: Vec::new(),
        })
    })
}
