//! Several processes serving one port (`SO_REUSEPORT`, Unix): each copy answers every
//! connection with its process id, and the operating system spreads new connections over
//! the copies. Stopping one (here: ending its standard input) leaves the others serving.
//! (Connects waiting in the stopped copy's backlog at that moment are refused: Linux does
//! not move them to the others.)
//!
//! Run a copy in each of two terminals, on one port, and connect a few times:
//!
//! ```sh
//! cargo run --example reuse_port 4002      # in terminal 1: listening on [::]:4002
//! cargo run --example reuse_port 4002      # in terminal 2
//! for i in 1 2 3 4 5 6; do nc -N localhost 4002 </dev/null; done   # both ids appear
//! ```
//!
//! Ctrl-D in one terminal stops that copy gracefully; the other goes on serving. With port 0
//! the first copy picks a free port and prints it; start the others on it.

use std::io::{self, Write};
use std::time::Duration;

use synctcp::{Error, Listener, ListenerConfig};

fn main() {
    let port = match std::env::args().nth(1) {
        None => 4002,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("reuse_port: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port) {
        eprintln!("reuse_port: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16) -> Result<(), Error> {
    let config = ListenerConfig::new().reuse_port(true);
    let listener = Listener::bind_with(port, &config)?;
    println!("listening on {}", listener.local_addr());
    io::stdout().flush()?;
    // The end of standard input stops this copy gracefully; the others go on.
    let stop = listener.stop_handle();
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
        let _ = stop.graceful_stop(Duration::from_secs(5));
    });
    let id = std::process::id();
    listener.serve_handler(move |stream| {
        writeln!(&*stream, "served by process {id}")?;
        Ok(())
    })?;
    println!("stopped");
    Ok(())
}
