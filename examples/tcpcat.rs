//! tcpcat: netcat on synctcp. Standard input to a TCP (or Unix socket) connection and the
//! connection to standard output; or a listener printing what its clients send.
//!
//! Run `cargo run --example tcpcat -- --help` for the options (add `--features tls` for
//! `--tls`).

use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use synctcp::framing::{Codec, Delimited, FrameService, Framed};
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, ListenerConfig,
    Reply,
};

const USAGE: &str = "\
tcpcat: netcat on synctcp

usage:
  tcpcat [options] HOST PORT      connect; send standard input, print what comes back
  tcpcat [options] --listen PORT  accept connections; print each peer on standard error
                                  and what it sends on standard output
  tcpcat -U [options] PATH        the same over the Unix socket at PATH, as nc -U
  tcpcat -U [options] --listen PATH

options:
  -U, --unix       a Unix domain socket's PATH instead of HOST PORT (Unix only)
  --lines          work in whole lines: send and print complete lines only
  --timeout SECS   give up on a connection silent for SECS seconds (client: connect
                   and read timeout, as nc -w; listener: idle timeout)
  --tls            use TLS (built with --features tls)
  --cert FILE      with --tls --listen: the server's certificate chain (PEM)
  --key FILE       with --tls --listen: the server's private key (PEM)
  --ca FILE        with --tls: the certificate to trust (client; without it, the
                   system's trust store, as curl does), or the CA whose client
                   certificates to require (listener)
  -v, --verbose    with --listen: stop when standard input ends (Ctrl-D), and then
                   print the listener's counters on standard error
  -h, --help       print this help

When standard input ends, the client shuts down its sending side and keeps printing
until the peer closes.

exit codes:
  0  the connection ended normally
  1  the connection failed: refused, reset, timed out, host not found
  2  bad usage: unknown option, missing argument, bad port
  3  bad configuration: a missing or unreadable file, an invalid certificate or key
";

/// Everything the command line says.
#[derive(Debug, Default)]
struct Options {
    /// `--listen`'s value: a port, or with `-U` a path.
    listen: Option<String>,
    unix: bool,
    /// What to connect to, or listen on.
    place: Place,
    lines: bool,
    timeout: Option<Duration>,
    tls: bool,
    cert: Option<String>,
    key: Option<String>,
    ca: Option<String>,
    verbose: bool,
}

/// Where to connect or listen.
#[derive(Debug, Default)]
enum Place {
    #[default]
    Nowhere,
    Tcp(String, u16),
    Port(u16),
    Unix(PathBuf),
}

/// A failure and the exit code it maps to.
struct Failure(u8, String);

fn usage(message: impl Into<String>) -> Failure {
    Failure(2, format!("{}\n(see tcpcat --help)", message.into()))
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let code = match err.kind() {
            ErrorKind::InvalidConfig => 3,
            _ => 1,
        };
        Failure(code, err.to_string())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let outcome = parse(&args).and_then(|options| match options.listen {
        Some(_) => listen(&options),
        None => connect(&options),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("tcpcat: {message}");
            ExitCode::from(code)
        }
    }
}

fn port(text: &str) -> Result<u16, Failure> {
    text.parse()
        .map_err(|_| usage(format!("{text:?} is not a port number (0-65535)")))
}

fn parse(args: &[String]) -> Result<Options, Failure> {
    let mut options = Options::default();
    let mut positional = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--listen" | "-l" => options.listen = Some(value("--listen")?),
            "--unix" | "-U" => options.unix = true,
            "--lines" => options.lines = true,
            "--timeout" | "-w" => {
                let text = value("--timeout")?;
                let secs: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or_else(|| usage(format!("{text:?} is not a number of seconds")))?;
                options.timeout = Some(Duration::from_secs_f64(secs));
            }
            "--tls" => options.tls = true,
            "--cert" => options.cert = Some(value("--cert")?),
            "--key" => options.key = Some(value("--key")?),
            "--ca" => options.ca = Some(value("--ca")?),
            "--verbose" | "-v" => options.verbose = true,
            flag if flag.starts_with('-') && flag.len() > 1 => {
                return Err(usage(format!("unknown option {flag}")))
            }
            _ => positional.push(arg.clone()),
        }
    }
    options.place = match (&options.listen, options.unix, positional.as_slice()) {
        (Some(path), true, []) => Place::Unix(PathBuf::from(path)),
        (Some(port_text), false, []) => Place::Port(port(port_text)?),
        (None, true, [path]) => Place::Unix(PathBuf::from(path)),
        (None, false, [host, port_text]) => Place::Tcp(host.clone(), port(port_text)?),
        (Some(_), _, _) => {
            return Err(usage(
                "--listen takes no HOST, PORT or PATH besides its own",
            ))
        }
        (None, true, _) => return Err(usage("give -U PATH, or -U --listen PATH")),
        (None, false, _) => return Err(usage("give HOST and PORT, or --listen PORT")),
    };
    if options.unix && options.tls {
        return Err(usage("--tls works over TCP, not over a Unix socket"));
    }
    if !options.tls && (options.cert.is_some() || options.key.is_some() || options.ca.is_some()) {
        return Err(usage("--cert, --key and --ca go with --tls"));
    }
    Ok(options)
}

/// Client mode: standard input to the connection (on its own thread), the connection to
/// standard output.
fn connect(options: &Options) -> Result<(), Failure> {
    let mut config = ClientConfig::new().timeout(options.timeout);
    if options.timeout.is_some() {
        config = config.connect_timeout(options.timeout);
    }
    if options.tls {
        config = client_tls(config, options)?;
    }
    let client = Arc::new(match &options.place {
        Place::Tcp(host, port) => Client::connect_with((host, *port), &config)?,
        Place::Unix(path) => Client::connect_with(path, &config)?,
        Place::Port(_) | Place::Nowhere => unreachable!("parsed as a client"),
    });
    let sender = Arc::clone(&client);
    let lines = options.lines;
    let sending = std::thread::spawn(move || send_stdin(&sender, lines));
    let mut stdout = io::stdout().lock();
    let codec = Delimited::lines();
    let outcome = loop {
        let received = if lines {
            client.read_frame(&codec).map(|mut line| {
                line.push(b'\n');
                line
            })
        } else {
            client.read_bytes()
        };
        match received {
            Ok(bytes) => {
                if stdout
                    .write_all(&bytes)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break Ok(()); // nobody reads our output any more
                }
            }
            Err(err) if err.kind() == ErrorKind::Closed => break Ok(()),
            Err(err) => break Err(Failure::from(err)),
        }
    };
    drop(sending); // a thread blocked on standard input ends with the process
    outcome
}

/// Sends standard input, then shuts down the sending side.
fn send_stdin(client: &Client, lines: bool) {
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let sent = if lines {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = line.strip_suffix(b"\n").unwrap_or(&line);
                    client.write_frame(&Delimited::lines(), line)
                }
            }
        } else {
            match input.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => client.write_bytes(&buf[..n]),
            }
        };
        if sent.is_err() {
            return; // the reading side reports why
        }
    }
    let _ = client.shutdown_write();
}

/// Listener mode: serves until killed (or with -v, until standard input ends).
fn listen(options: &Options) -> Result<(), Failure> {
    let mut config = ListenerConfig::new().idle_timeout(options.timeout);
    if options.tls {
        config = listener_tls(config, options)?;
    }
    let listener = match &options.place {
        Place::Port(port) => Listener::bind_with(*port, &config)?,
        Place::Unix(path) => Listener::bind_with(path, &config)?,
        Place::Tcp(..) | Place::Nowhere => unreachable!("parsed as a listener"),
    };
    eprintln!("listening on {}", listener.local_addr());
    let stop = listener.stop_handle();
    if options.verbose {
        // Standard input ending (Ctrl-D) stops the listener.
        let stop = stop.clone();
        std::thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            let _ = stop.graceful_stop(Duration::from_secs(5));
        });
    }
    let lines = options.lines;
    listener.serve(move |caller| {
        eprintln!("connection from {}", caller.remote_addr());
        Ok(if lines {
            Printer::Lines(Framed::new(Delimited::lines(), Lines))
        } else {
            Printer::Bytes
        })
    })?;
    if options.verbose {
        let stats = stop.stats();
        let closed = stats.closed;
        eprintln!(
            "stopped: {} accepted, {} refused, closed {} by peer, {} locally, {} by error, \
             {} by timeout, {} by stop; {} bytes in, {} bytes out",
            stats.accepted,
            stats.refused,
            closed.by_peer,
            closed.locally,
            closed.by_error,
            closed.by_timeout,
            closed.by_stop,
            stats.bytes_in,
            stats.bytes_out
        );
    }
    Ok(())
}

/// Prints what a client sends: as it comes, or line by line.
enum Printer {
    Bytes,
    Lines(Framed<Delimited, Lines>),
}

struct Lines;

fn print(bytes: &[u8]) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
}

impl FrameService for Lines {
    fn on_frame(&mut self, _: &Caller, line: &[u8]) -> Result<Reply, Error> {
        let mut out = Vec::with_capacity(line.len() + 1);
        Delimited::lines().encode(line, &mut out)?;
        print(&out);
        Ok(Reply::None)
    }
}

impl ConnectionService for Printer {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        match self {
            Printer::Bytes => {
                print(data);
                Ok(Reply::None)
            }
            Printer::Lines(framed) => framed.on_bytes(caller, data),
        }
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        eprintln!("{}: {err}", caller.remote_addr());
    }

    fn on_close(&mut self, caller: &Caller) {
        eprintln!("{} closed", caller.remote_addr());
    }
}

#[cfg(feature = "tls")]
fn client_tls(config: ClientConfig, options: &Options) -> Result<ClientConfig, Failure> {
    // Without --ca, the platform's trust store: public servers work out of the box.
    let trust = match &options.ca {
        Some(ca) => synctcp::Trust::cert_file(ca),
        None => synctcp::Trust::system_roots(),
    };
    let mut tls = synctcp::ClientSecureSocket::new(trust);
    if let (Some(cert), Some(key)) = (&options.cert, &options.key) {
        tls = tls.client_cert(cert, key);
    }
    Ok(config.secure_socket(tls))
}

#[cfg(feature = "tls")]
fn listener_tls(config: ListenerConfig, options: &Options) -> Result<ListenerConfig, Failure> {
    let (Some(cert), Some(key)) = (&options.cert, &options.key) else {
        return Err(usage("--tls --listen needs --cert FILE and --key FILE"));
    };
    let mut tls = synctcp::ListenerSecureSocket::new(cert, key);
    if let Some(ca) = &options.ca {
        tls = tls.client_auth(ca, true);
    }
    Ok(config.secure_socket(tls))
}

#[cfg(not(feature = "tls"))]
fn client_tls(_: ClientConfig, _: &Options) -> Result<ClientConfig, Failure> {
    Err(usage(
        "this tcpcat was built without TLS: add --features tls",
    ))
}

#[cfg(not(feature = "tls"))]
fn listener_tls(_: ListenerConfig, _: &Options) -> Result<ListenerConfig, Failure> {
    Err(usage(
        "this tcpcat was built without TLS: add --features tls",
    ))
}
