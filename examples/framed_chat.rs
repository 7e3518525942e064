//! The chat server of the guide's last step: clients send lines, everyone gets every line,
//! numbered. The same as `chat_server`, with the line splitting left to `framing`.
//!
//! Run: `cargo run --example framed_chat [PORT]` (default 3000), then `nc localhost 3000`
//! from a few terminals. The first line on stdout is `listening on HOST:PORT`. Lines longer
//! than 4 KiB close their connection.

use std::io::Write;
use std::sync::{Arc, Mutex};

use synctcp::framing::{Codec, Delimited, FrameService, Framed};
use synctcp::{Caller, Error, Listener, Reply};

/// Everyone connected, and how many messages there have been.
#[derive(Default)]
struct Room {
    members: Vec<Caller>,
    count: u64,
}

struct Chat(Arc<Mutex<Room>>);

fn lines() -> Delimited {
    Delimited::lines().max_frame_length(4096)
}

impl FrameService for Chat {
    fn on_frame(&mut self, _: &Caller, line: &[u8]) -> Result<Reply, Error> {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return Ok(Reply::None);
        }
        let mut room = self.0.lock().unwrap();
        room.count += 1;
        let message = lines().encoded(format!("Message #{}: {text}", room.count).as_bytes())?;
        // Under the lock, so everyone sees the messages in one order.
        for member in &room.members {
            let _ = member.write_bytes(&message); // a member that just left errors; fine
        }
        Ok(Reply::None)
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        eprintln!("client {}: {err}", caller.id());
    }

    fn on_close(&mut self, caller: &Caller) {
        self.0
            .lock()
            .unwrap()
            .members
            .retain(|m| m.id() != caller.id());
        eprintln!("client {} left", caller.id());
    }
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => 3000,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("framed_chat: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("framed_chat: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    let room = Arc::new(Mutex::new(Room::default()));
    listener.serve(move |caller| {
        // Welcome and join under the room's lock: no message can come between the two,
        // so the welcome is a client's first line and every message after it reaches it.
        let mut locked = room.lock().unwrap();
        let welcome = format!("Welcome! You are client {}.", caller.id());
        caller.write_bytes(&lines().encoded(welcome.as_bytes())?)?;
        locked.members.push(caller.clone());
        drop(locked);
        Ok(Framed::new(lines(), Chat(Arc::clone(&room))))
    })
}
