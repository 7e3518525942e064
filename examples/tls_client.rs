//! The echo client over TLS: connects, sends a message, prints the reply.
//!
//! Run: `cargo run --features tls --example tls_client -- HOST PORT CERT_FILE MESSAGE`,
//! where CERT_FILE is the certificate to trust (the CA's, or the server's own
//! self-signed one, as `tls_echo_server` prints).

use synctcp::{Client, ClientConfig, ClientSecureSocket, Error};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, cert, message] = args.as_slice() else {
        eprintln!("usage: tls_client HOST PORT CERT_FILE MESSAGE");
        std::process::exit(2);
    };
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("tls_client: {port:?} is not a port number (0-65535)");
        std::process::exit(2);
    };
    if let Err(err) = run(host, port, cert, message) {
        eprintln!("tls_client: {err}");
        std::process::exit(1);
    }
}

fn run(host: &str, port: u16, cert: &str, message: &str) -> Result<(), Error> {
    let config = ClientConfig::new().secure_socket(ClientSecureSocket::new(cert));
    let client = Client::connect_with((host, port), &config)?;
    if let Some(tls) = client.tls() {
        eprintln!(
            "connected with {} and {}",
            tls.protocol_version(),
            tls.cipher_suite()
        );
    }
    client.write_bytes(message.as_bytes())?;
    let reply = client.read_bytes_exact(message.len())?;
    println!("{}", String::from_utf8_lossy(&reply));
    client.close()
}
