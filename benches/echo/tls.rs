//! TLS (`--features tls`): synctcp's TLS listener against tokio + tokio-rustls, both on the
//! rustls this crate builds with (ring provider), with the same certificate and the same
//! server configuration as far as the two allow: TLS 1.3 only, every ring suite, no client
//! certificates, stateful resumption from a 1,024-entry server session cache (rustls sends
//! two TLS 1.3 tickets per connection; neither server has a ticketer). The one difference
//! left: synctcp's cache is its own (`src/tls/cache.rs`: entries expire after the session
//! timeout), tokio's is rustls' `ServerSessionMemoryCache`.
//!
//! The client is blocking rustls over `std::net::TcpStream`, the same for both.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use crate::load::{self, PingPong, MESSAGE};
use crate::servers::{announce, Echo, BUFFER};

/// Entries in each server's session cache (synctcp's `SESSION_CACHE_ENTRIES`).
const SESSION_CACHE: usize = 1024;

/// The name in the certificate, and the one the client asks for.
const HOST: &str = "localhost";

/// A self-signed certificate for localhost and its key, as PEM files in a directory of
/// their own, made at bench start and removed when dropped.
pub(crate) struct Certificate {
    pub(crate) dir: PathBuf,
}

impl Certificate {
    pub(crate) fn new() -> Certificate {
        let dir = std::env::temp_dir().join(format!("synctcp-bench-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec![HOST.to_string()]).unwrap();
        std::fs::write(dir.join("server.pem"), made.cert.pem()).unwrap();
        std::fs::write(dir.join("server.key"), made.signing_key.serialize_pem()).unwrap();
        Certificate { dir }
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Runs the TLS server `kind` with the certificate in `dir`; false for another kind.
pub(crate) fn serve(kind: &str, dir: &Path) -> bool {
    match kind {
        "synctcp-tls" => serve_synctcp(dir),
        "tokio-tls" => serve_tokio(dir),
        _ => return false,
    }
    true
}

/// The plain synctcp echo server with `ListenerSecureSocket`.
fn serve_synctcp(dir: &Path) {
    use synctcp::{Listener, ListenerConfig, ListenerSecureSocket};
    let tls = ListenerSecureSocket::new(dir.join("server.pem"), dir.join("server.key"))
        .protocol_versions(["TLSv1.3"]);
    let config = ListenerConfig::new()
        .max_connections(50_000)
        .read_buffer_size(BUFFER)
        .nodelay(true)
        .secure_socket(tls);
    let listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    announce(listener.local_addr().port().unwrap());
    listener.serve(|_| Ok(Echo)).unwrap();
}

/// What synctcp builds from the `ListenerSecureSocket` above, with rustls' own cache.
fn tokio_config(dir: &Path) -> ServerConfig {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    config
}

/// The tokio echo server behind a tokio-rustls `TlsAcceptor`: 64 KiB reads, `TCP_NODELAY`.
fn serve_tokio(dir: &Path) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tokio_config(dir)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        announce(listener.local_addr().unwrap().port());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    return;
                };
                let mut buf = vec![0u8; BUFFER];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            // tokio-rustls may keep records that the socket did not take
                            // at once: flush sends them before the next read.
                            if stream.write_all(&buf[..n]).await.is_err()
                                || stream.flush().await.is_err()
                            {
                                return;
                            }
                        }
                    }
                }
                // close_notify back, as synctcp sends it.
                let _ = stream.shutdown().await;
            });
        }
    });
}

/// The client's configuration: TLS 1.3, the bench certificate as the only root, and
/// resumption from a session store shared by every connection made with it, or none.
pub(crate) fn client_config(dir: &Path, resume: bool) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = if resume {
        Resumption::in_memory_sessions(256)
    } else {
        Resumption::disabled()
    };
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the handshake; whether the session was resumed.
fn handshake(addr: SocketAddr, config: &Arc<ClientConfig>) -> (Tls, bool) {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_nodelay(true).unwrap();
    let name = ServerName::try_from(HOST).unwrap();
    let mut conn = ClientConnection::new(Arc::clone(config), name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    let resumed = conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
    (StreamOwned::new(conn, sock), resumed)
}

/// Sends close_notify; the socket closes when `tls` drops.
fn close(mut tls: Tls) {
    tls.conn.send_close_notify();
    let _ = tls.conn.complete_io(&mut tls.sock);
}

/// One connection's life in the handshake scenarios: connect, handshake, echo 16 bytes,
/// close. Whether it was resumed.
fn one_connection(addr: SocketAddr, config: &Arc<ClientConfig>) -> bool {
    let (mut tls, resumed) = handshake(addr, config);
    let out = [3u8; 16];
    let mut back = [0u8; 16];
    tls.write_all(&out).unwrap();
    tls.read_exact(&mut back).unwrap();
    assert_eq!(back, out, "echo differs");
    close(tls);
    resumed
}

/// What a handshake scenario measured.
pub(crate) struct Handshakes {
    pub(crate) per_second: f64,
    /// The share of connections that resumed a session.
    pub(crate) resumed: f64,
    /// The server's CPU time (user and system) per connection.
    pub(crate) server_cpu: Duration,
}

/// Handshakes per second from `threads` threads, each looping over [`one_connection`] for
/// `run`; `server_cpu` reads the server's CPU time, before and after. Each thread makes one
/// connection first (which fills a resuming config's session store).
pub(crate) fn handshakes(
    addr: SocketAddr,
    config: &Arc<ClientConfig>,
    threads: usize,
    run: Duration,
    server_cpu: impl Fn() -> Duration,
) -> Handshakes {
    let start = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            let config = Arc::clone(config);
            thread::spawn(move || {
                one_connection(addr, &config);
                start.wait();
                let ends = Instant::now() + run;
                let (mut done, mut resumed) = (0u64, 0u64);
                while Instant::now() < ends {
                    resumed += u64::from(one_connection(addr, &config));
                    done += 1;
                }
                (done, resumed)
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let cpu_before = server_cpu();
    let (mut done, mut resumed) = (0, 0);
    for w in workers {
        let (d, r) = w.join().unwrap();
        done += d;
        resumed += r;
    }
    let elapsed = began.elapsed();
    // The server's last connections end a moment after the clients' close.
    thread::sleep(Duration::from_millis(50));
    let cpu = server_cpu().saturating_sub(cpu_before);
    Handshakes {
        per_second: done as f64 / elapsed.as_secs_f64(),
        resumed: resumed as f64 / done.max(1) as f64,
        server_cpu: cpu / done.max(1) as u32,
    }
}

/// One connection sending 64 bytes and waiting for the echo, for `run`.
pub(crate) fn ping_pong(addr: SocketAddr, config: &Arc<ClientConfig>, run: Duration) -> PingPong {
    let (mut tls, _) = handshake(addr, config);
    let out = [7u8; MESSAGE];
    let mut back = [0u8; MESSAGE];
    for _ in 0..50 {
        tls.write_all(&out).unwrap();
        tls.read_exact(&mut back).unwrap();
    }
    let began = Instant::now();
    let ends = began + run;
    let mut samples = Vec::with_capacity(1 << 16);
    loop {
        let t0 = Instant::now();
        if t0 >= ends {
            break;
        }
        tls.write_all(&out).unwrap();
        tls.read_exact(&mut back).unwrap();
        samples.push(t0.elapsed().as_nanos().min(u32::MAX as u128) as u32);
    }
    let elapsed = began.elapsed();
    close(tls);
    let count = samples.len() as u64;
    load::percentiles(samples, count, elapsed)
}

/// Streams `bytes` through one TLS connection — a writer thread and a reader thread
/// sharing the session, which neither holds across socket I/O — checks every byte that
/// comes back, and returns MiB/s.
pub(crate) fn bulk(addr: SocketAddr, config: &Arc<ClientConfig>, bytes: usize) -> f64 {
    const PIECE: usize = 64 * 1024;
    let (tls, _) = handshake(addr, config);
    let StreamOwned { conn, sock } = tls;
    let conn = Arc::new(Mutex::new(conn));
    let mut reader = sock.try_clone().unwrap();
    let mut writer = sock;
    let began = Instant::now();
    let sending = {
        let conn = Arc::clone(&conn);
        thread::spawn(move || {
            let chunk: Vec<u8> = (0..PIECE).map(|i| (i % 251) as u8).collect();
            let mut records = Vec::with_capacity(PIECE + 4096);
            let mut sent = 0;
            while sent < bytes {
                let n = chunk.len().min(bytes - sent);
                let mut piece = &chunk[..n];
                while !piece.is_empty() {
                    {
                        let mut conn = conn.lock().unwrap();
                        let took = conn.writer().write(piece).unwrap();
                        piece = &piece[took..];
                        while conn.wants_write() {
                            conn.write_tls(&mut records).unwrap();
                        }
                    }
                    writer.write_all(&records).unwrap();
                    records.clear();
                }
                sent += n;
            }
            writer
        })
    };
    let mut ciphertext = vec![0u8; PIECE];
    let mut plain = vec![0u8; PIECE];
    let mut received = 0usize;
    while received < bytes {
        let n = reader.read(&mut ciphertext).unwrap();
        assert!(n > 0, "stream ended early");
        let mut conn = conn.lock().unwrap();
        let mut input = &ciphertext[..n];
        while !input.is_empty() {
            conn.read_tls(&mut input).unwrap();
            conn.process_new_packets().unwrap();
            loop {
                let got = match conn.reader().read(&mut plain) {
                    Ok(0) => panic!("close_notify before the end"),
                    Ok(got) => got,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("reading plaintext: {e}"),
                };
                for (i, &b) in plain[..got].iter().enumerate() {
                    // The pattern restarts with every 64 KiB piece the writer sends.
                    let offset = (received + i) % PIECE;
                    assert_eq!(
                        b,
                        (offset % 251) as u8,
                        "corrupted at byte {}",
                        received + i
                    );
                }
                received += got;
            }
        }
    }
    let elapsed = began.elapsed();
    let sock = sending.join().unwrap();
    let conn = Arc::try_unwrap(conn)
        .unwrap_or_else(|_| unreachable!("the writer has ended"))
        .into_inner()
        .unwrap();
    close(StreamOwned::new(conn, sock));
    (bytes as f64 / (1 << 20) as f64) / elapsed.as_secs_f64()
}
