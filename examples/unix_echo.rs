//! A line echo over a Unix domain socket: no port to pick, and the socket file's mode says
//! who may connect (here only this user: 0o600). Each client is greeted with what the
//! system says about it — its user and process.
//!
//! Run: `cargo run --features peer-credentials --example unix_echo [PATH]` (default `$TMPDIR/synctcp-echo.sock`; the
//! first line on stdout is `listening on unix:PATH`), then `nc -U PATH` or
//! `cargo run --example tcpcat -- -U PATH`, and type lines. A file left behind by a killed
//! run is taken over at the next start; a clean stop (Ctrl-D here) removes it.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Duration;

use synctcp::{Error, Listener, ListenerConfig};

fn main() {
    let path = match std::env::args_os().nth(1) {
        Some(path) => PathBuf::from(path),
        None => std::env::temp_dir().join("synctcp-echo.sock"),
    };
    if let Err(err) = run(path) {
        eprintln!("unix_echo: {err}");
        std::process::exit(1);
    }
}

fn run(path: PathBuf) -> Result<(), Error> {
    let config = ListenerConfig::new().unix_mode(0o600);
    let listener = Listener::bind_with(path, &config)?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    // The end of standard input (Ctrl-D) stops the listener, which removes the file.
    let stop = listener.stop_handle();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stop.graceful_stop(Duration::from_secs(5));
    });
    listener.serve_handler(|stream| {
        match stream.peer_credentials() {
            Some(peer) => writeln!(
                &*stream,
                "hello, user {} (process {})",
                peer.uid,
                peer.pid
                    .map_or("unknown".to_string(), |pid| pid.to_string())
            )?,
            None => writeln!(&*stream, "hello")?,
        }
        for line in BufReader::new(&*stream).lines() {
            writeln!(&*stream, "{}", line?)?;
        }
        Ok(())
    })
}
