//! Sends a file to a server, which answers — once the whole file has arrived — with its
//! size and checksum; the client checks them against its own.
//!
//! Run the server with `cargo run --example sendfile -- --serve [PORT]` (default 4001; the
//! first line on stdout is `listening on HOST:PORT`), then send a file with
//! `cargo run --example sendfile -- localhost:4001 FILE`. The client prints
//! `sent N bytes, checksum C, verified` and exits 0, or says what did not match and exits 1.
//!
//! The end of the file is the end of the client's sending direction (`shutdown_write`):
//! the server learns it in `on_eof`, where the connection is still open for its answer.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};

use synctcp::framing::Delimited;
use synctcp::{Caller, Client, ConnectionService, Error, ErrorKind, Listener, Reply};

/// FNV-1a, 64 bits: a checksum in four lines, enough to catch a lost or changed byte.
#[derive(Debug, Clone, Copy)]
struct Checksum(u64);

impl Checksum {
    fn new() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Counts and checksums what arrives; answers at the end of the stream.
struct Receiver {
    size: u64,
    checksum: Checksum,
}

impl ConnectionService for Receiver {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.size += data.len() as u64;
        self.checksum.update(data);
        Ok(Reply::None)
    }

    fn on_eof(&mut self, caller: &Caller) -> Result<(), Error> {
        // The peer has sent everything; the connection is still writable.
        writeln!(&*caller, "{} {:016x}", self.size, self.checksum.0)?;
        Ok(())
    }
}

fn serve(port: u16) -> Result<(), Error> {
    let listener = Listener::bind(port)?;
    println!("listening on {}", listener.local_addr());
    io::stdout().flush()?;
    listener.serve(|_| {
        Ok(Receiver {
            size: 0,
            checksum: Checksum::new(),
        })
    })
}

/// Streams `path` to `addr`, half-closes, and checks the answer.
fn send(addr: &str, path: &str) -> Result<(), Error> {
    let file = File::open(path)
        .map_err(|e| Error::with_source(ErrorKind::InvalidConfig, format!("open {path}"), e))?;
    let client = Client::connect(addr)?;
    // Copy the file through a reader that checksums what passes.
    let mut counted = Counted {
        inner: BufReader::new(file),
        size: 0,
        checksum: Checksum::new(),
    };
    io::copy(&mut counted, &mut &client)?;
    client.shutdown_write()?; // "that was all": the server answers now
    let answer = String::from_utf8(client.read_frame(&Delimited::lines())?)?;
    let expected = format!("{} {:016x}", counted.size, counted.checksum.0);
    if answer != expected {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("the server counted {answer:?}, the client {expected:?}"),
        ));
    }
    println!(
        "sent {} bytes, checksum {:016x}, verified",
        counted.size, counted.checksum.0
    );
    client.close()
}

/// A reader that keeps a running size and checksum of what it reads.
struct Counted<R> {
    inner: R,
    size: u64,
    checksum: Checksum,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.size += n as u64;
        self.checksum.update(&buf[..n]);
        Ok(n)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.as_slice() {
        [flag] if flag == "--serve" => serve(4001),
        [flag, port] if flag == "--serve" => match port.parse() {
            Ok(port) => serve(port),
            Err(_) => usage(),
        },
        [addr, path] => send(addr, path),
        _ => usage(),
    };
    if let Err(err) = outcome {
        eprintln!("sendfile: {err}");
        std::process::exit(1);
    }
}

fn usage() -> Result<(), Error> {
    eprintln!("usage: sendfile --serve [PORT] | sendfile HOST:PORT FILE");
    std::process::exit(2)
}
