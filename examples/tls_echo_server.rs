//! The echo listener over TLS.
//!
//! Run: `cargo run --features tls --example tls_echo_server -- [--cert FILE --key FILE] [PORT]`
//! (default port 8443). Without `--cert`/`--key` it makes a self-signed certificate for
//! `localhost` in a temporary directory and prints where, so that `tls_client` can trust
//! it. The first line on stdout is `listening on HOST:PORT`; the second names the
//! certificate. Serves until killed.

use std::io::Write;
use std::path::PathBuf;

use synctcp::{
    Caller, ConnectionService, Error, Listener, ListenerConfig, ListenerSecureSocket, Reply,
};

struct EchoService;

impl ConnectionService for EchoService {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Echo)
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut cert, mut key, mut port) = (None, None, 8443u16);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--cert" => cert = args.next().map(PathBuf::from),
            "--key" => key = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("usage: tls_echo_server [--cert FILE --key FILE] [PORT]");
                return;
            }
            other => {
                port = other.parse().unwrap_or_else(|_| {
                    eprintln!("tls_echo_server: {other:?} is not a port number (0-65535)");
                    std::process::exit(2)
                })
            }
        }
    }
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (None, None) => self_signed(),
        _ => {
            eprintln!("tls_echo_server: give both --cert and --key, or neither");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(port, cert, key) {
        eprintln!("tls_echo_server: {err}");
        std::process::exit(1);
    }
}

/// A certificate for localhost, made now, in a directory of its own.
fn self_signed() -> (PathBuf, PathBuf) {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let made = rcgen::generate_simple_self_signed(names).expect("generate a certificate");
    let dir = std::env::temp_dir().join(format!("synctcp-tls-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a directory for the certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write the certificate");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write the key");
    (cert, key)
}

fn run(port: u16, cert: PathBuf, key: PathBuf) -> Result<(), Error> {
    let tls = ListenerSecureSocket::new(&cert, key);
    let listener = Listener::bind_with(port, &ListenerConfig::new().secure_socket(tls))?;
    println!("listening on {}", listener.local_addr());
    println!("certificate {}", cert.display());
    std::io::stdout().flush()?;
    listener.serve(|caller| {
        if let Some(tls) = caller.tls() {
            eprintln!(
                "client {} connected with {} and {}",
                caller.remote_addr(),
                tls.protocol_version(),
                tls.cipher_suite()
            );
        }
        Ok(EchoService)
    })
}
