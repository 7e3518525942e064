//! A number guessing game, in both of the listener's shapes, to show when each fits.
//!
//! Each client plays its own game: the server thinks of a number from 1 to 100 and answers
//! every guess with `higher`, `lower` or `right! N guesses` (and then a new game begins).
//!
//! - `cargo run --example guessing_game [PORT]` serves it as a loop (`serve_handler`): the
//!   conversation reads top to bottom, and the game's state is local variables.
//! - `cargo run --example guessing_game -- --callbacks [PORT]` serves the same game as
//!   Ballerina's callbacks (`serve`): each piece of input arrives in `on_bytes`, so the
//!   service keeps the state between calls and puts lines back together itself.
//!
//! A conversation with turns fits a loop; a server that mostly reacts to whatever arrives
//! — a chat, a broadcaster, a proxy — fits callbacks. Default port 3002; the first line on
//! stdout is `listening on HOST:PORT`; play with `nc localhost 3002`.

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use synctcp::{Caller, ConnectionService, Error, Listener, Reply, Stream};

/// A secret from 1 to 100, different for each game (a tiny generator: no dependency).
fn secret() -> u32 {
    static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let x = SEED.fetch_add(u64::from(nanos) | 1, Ordering::Relaxed);
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (x % 100) as u32 + 1
}

/// What the game says to a guess: the answer, and whether the game is over.
fn judge(secret: u32, guess: &str, tries: u32) -> (String, bool) {
    match guess.trim().parse::<u32>() {
        Err(_) => ("a number from 1 to 100, please".to_string(), false),
        Ok(n) if n < secret => ("higher".to_string(), false),
        Ok(n) if n > secret => ("lower".to_string(), false),
        Ok(_) => (format!("right! {tries} guesses"), true),
    }
}

/// The game as a loop: it reads like the rules.
fn play(stream: &mut Stream) -> Result<(), Error> {
    let mut lines = BufReader::new(&*stream).lines();
    loop {
        let secret = secret();
        writeln!(&*stream, "I am thinking of a number from 1 to 100.")?;
        for tries in 1.. {
            let Some(guess) = lines.next().transpose()? else {
                return Ok(()); // the player left
            };
            let (answer, won) = judge(secret, &guess, tries);
            writeln!(&*stream, "{answer}")?;
            if won {
                break;
            }
        }
    }
}

/// The game as callbacks: the same rules, but the state lives between calls, and lines
/// have to be put back together from whatever pieces arrive.
struct Game {
    secret: u32,
    tries: u32,
    partial: Vec<u8>,
}

impl ConnectionService for Game {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.partial.extend_from_slice(data);
        let mut answers = String::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.tries += 1;
            let (answer, won) = judge(self.secret, &String::from_utf8_lossy(&line), self.tries);
            answers.push_str(&answer);
            answers.push('\n');
            if won {
                self.secret = secret();
                self.tries = 0;
                answers.push_str("I am thinking of a number from 1 to 100.\n");
            }
        }
        Ok(answers.into())
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let callbacks = args.first().is_some_and(|a| a == "--callbacks");
    if callbacks {
        args.remove(0);
    }
    let port = match args.first() {
        None => 3002,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("guessing_game: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port, callbacks) {
        eprintln!("guessing_game: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16, callbacks: bool) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    if callbacks {
        listener.serve(|caller| {
            writeln!(&*caller, "I am thinking of a number from 1 to 100.")?;
            Ok(Game {
                secret: secret(),
                tries: 0,
                partial: Vec::new(),
            })
        })
    } else {
        listener.serve_handler(play)
    }
}
