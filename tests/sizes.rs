//! The size matrix: payloads of 0 B to 16 MiB, around the TLS record size (16 KiB) and the
//! write-path chunk and rustls buffer size (64 KiB), over plain TCP and TLS 1.2 / 1.3,
//! through every way bytes can be written, in both directions, every byte compared.
//!
//! One listener per transport serves a small command protocol (the `Lab` service below) and
//! one client per transport is reused from cell to cell (a new one only after a cell
//! failed). Cells run in a loop inside a few tests; a failing cell is named in the
//! assertion message by its size, transport, read buffer and path.
//!
//! Also here: the seed's "big data" case (one 8,000,001-byte reply) and two focused tests
//! for TLS writes over 64 KiB.

mod common;
#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

use std::borrow::Cow;
use std::io::Write;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::framing::{Delimited, LengthPrefixed};
use synctcp::{Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, Reply};

const MIB: usize = 1 << 20;
/// Around every buffer limit: a connection's first reads' room on its stack (512 bytes),
/// its first heap buffer (1 KiB), a TLS record (16 KiB), rustls's plaintext limit and the
/// default largest read (64 KiB), and far past.
const ALL_SIZES: [usize; 16] = [
    0,
    1,
    511,
    512,
    513,
    1_023,
    1_024,
    1_025,
    16_383,
    16_384,
    16_385,
    65_535,
    65_536,
    65_537,
    MIB,
    16 * MIB,
];

/// A cell that stalls fails after this (instead of the 20 s `WAIT`), so a matrix with
/// failing cells stays bounded.
const CELL_TIMEOUT: Duration = Duration::from_secs(10);

/// The bytes every payload is a prefix of: position-dependent and not periodic on any
/// power of two, so a lost, repeated or shifted piece shows.
fn pattern() -> &'static [u8] {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    PATTERN.get_or_init(|| {
        (0..16 * MIB as u32 + 64)
            .map(|i| (i.wrapping_mul(0x9E37_79B1) >> 24) as u8 ^ (i as u8))
            .collect()
    })
}

fn first_difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!(
            "{} bytes, first wrong byte at offset {at} (got {}, expected {})",
            got.len(),
            got[at],
            want[at]
        ),
        None => format!("got {} bytes, expected {}", got.len(), want.len()),
    }
}

// ---------------------------------------------------------------------------------------
// The server side: a command protocol over lines.
//
//   up N\n      then N payload bytes        -> "ok\n" or "bad ...\n"
//   upf N\n     then a LengthPrefixed frame -> "ok\n" or "bad ...\n"
//   down N M\n  N payload bytes sent by M: reply | own (Caller::write_bytes on the
//               connection thread) | thread (Caller::write_bytes from a new thread)
//   ping\n      -> "pong\n"
// ---------------------------------------------------------------------------------------

struct Upload {
    /// The frame header expected before the payload (empty for `up`).
    header: Vec<u8>,
    header_seen: usize,
    len: usize,
    pos: usize,
    bad: Option<String>,
}

impl Upload {
    /// Takes what belongs to this upload from `data`; returns how much it took.
    fn feed(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        if self.header_seen < self.header.len() {
            let n = (self.header.len() - self.header_seen).min(data.len());
            let want = &self.header[self.header_seen..self.header_seen + n];
            if self.bad.is_none() && &data[..n] != want {
                self.bad = Some(format!("frame header {:?}, expected {want:?}", &data[..n]));
            }
            self.header_seen += n;
            used = n;
        }
        let n = (self.len - self.pos).min(data.len() - used);
        let got = &data[used..used + n];
        let want = &pattern()[self.pos..self.pos + n];
        if self.bad.is_none() && got != want {
            let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
            self.bad = Some(format!("payload byte {} wrong", self.pos + at));
        }
        self.pos += n;
        used + n
    }

    fn done(&self) -> bool {
        self.header_seen == self.header.len() && self.pos == self.len
    }

    fn verdict(&self) -> Cow<'static, [u8]> {
        match &self.bad {
            None => Cow::Borrowed(b"ok\n"),
            Some(why) => Cow::Owned(format!("bad: {why}\n").into_bytes()),
        }
    }
}

#[derive(Default)]
struct Lab {
    line: Vec<u8>,
    upload: Option<Upload>,
}

impl Lab {
    fn command(
        &mut self,
        caller: &Caller,
        line: &str,
        replies: &mut Vec<Cow<'static, [u8]>>,
    ) -> Result<(), Error> {
        let words: Vec<&str> = line.split(' ').collect();
        let len = |i: usize| -> Result<usize, Error> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| Error::new(ErrorKind::InvalidData, format!("bad command {line:?}")))
        };
        match words[0] {
            "up" | "upf" => {
                let len = len(1)?;
                let header = if words[0] == "upf" {
                    (len as u32).to_be_bytes().to_vec()
                } else {
                    Vec::new()
                };
                let upload = Upload {
                    header,
                    header_seen: 0,
                    len,
                    pos: 0,
                    bad: None,
                };
                if upload.done() {
                    replies.push(upload.verdict());
                } else {
                    self.upload = Some(upload);
                }
            }
            "down" => {
                let payload = &pattern()[..len(1)?];
                match words.get(2).copied() {
                    Some("reply") => replies.push(Cow::Borrowed(payload)),
                    Some("own") => caller.write_bytes(payload)?,
                    Some("thread") => {
                        let caller = caller.clone();
                        thread::spawn(move || {
                            if caller.write_bytes(payload).is_err() {
                                // Tell the client by closing: it must not wait for bytes
                                // that will never come.
                                let _ = caller.close();
                            }
                        });
                    }
                    _ => return Err(Error::new(ErrorKind::InvalidData, line.to_string())),
                }
            }
            "ping" => replies.push(Cow::Borrowed(b"pong\n")),
            _ => return Err(Error::new(ErrorKind::InvalidData, line.to_string())),
        }
        Ok(())
    }
}

impl ConnectionService for Lab {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let mut replies: Vec<Cow<'static, [u8]>> = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            if let Some(upload) = &mut self.upload {
                let used = upload.feed(rest);
                rest = &rest[used..];
                if upload.done() {
                    replies.push(upload.verdict());
                    self.upload = None;
                }
                continue;
            }
            match rest.iter().position(|&b| b == b'\n') {
                None => {
                    self.line.extend_from_slice(rest);
                    break;
                }
                Some(at) => {
                    self.line.extend_from_slice(&rest[..at]);
                    rest = &rest[at + 1..];
                    let line =
                        String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
                    self.command(caller, &line, &mut replies)?;
                }
            }
        }
        Ok(match replies.len() {
            0 => Reply::None,
            _ => Reply::Bytes(replies.concat()),
        })
    }
}

fn lab_listener(config: synctcp::ListenerConfig) -> Listener {
    let mut listener = Listener::bind_with(LOOPBACK, &config).expect("bind");
    listener.attach(|_| Ok(Lab::default())).expect("attach");
    listener.start().expect("start");
    listener
}

// ---------------------------------------------------------------------------------------
// The client side.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Path {
    ClientWriteBytes,
    ClientIoWrite,
    ClientWriteFrame,
    ReplyFromOnBytes,
    CallerOnConnectionThread,
    CallerFromOtherThread,
}

const ALL_PATHS: [Path; 6] = [
    Path::ClientWriteBytes,
    Path::ClientIoWrite,
    Path::ClientWriteFrame,
    Path::ReplyFromOnBytes,
    Path::CallerOnConnectionThread,
    Path::CallerFromOtherThread,
];

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::ClientWriteBytes => "client->server Client::write_bytes",
            Path::ClientIoWrite => "client->server Client as io::Write (write_all)",
            Path::ClientWriteFrame => "client->server Client::write_frame (LengthPrefixed)",
            Path::ReplyFromOnBytes => "server->client reply returned from on_bytes",
            Path::CallerOnConnectionThread => {
                "server->client Caller::write_bytes on the connection thread"
            }
            Path::CallerFromOtherThread => "server->client Caller::write_bytes from another thread",
        }
    }
}

/// One transport's listener and its reused client.
struct Rig {
    name: String,
    port: u16,
    config: ClientConfig,
    client: Option<Client>,
}

impl Rig {
    fn new(name: impl Into<String>, listener: &Listener, config: ClientConfig) -> Rig {
        Rig {
            name: name.into(),
            port: listener.local_addr().port().unwrap(),
            config: config
                .timeout(Some(CELL_TIMEOUT))
                .write_timeout(Some(CELL_TIMEOUT)),
            client: None,
        }
    }

    /// Runs one cell; on failure the client is dropped (its stream is no longer in step).
    fn cell(&mut self, size: usize, path: Path) -> Result<(), String> {
        if self.client.is_none() {
            let client = Client::connect_with(("127.0.0.1", self.port), &self.config)
                .map_err(|e| format!("connect: {e}"))?;
            self.client = Some(client);
        }
        let client = self.client.as_ref().unwrap();
        let outcome = run_cell(client, size, path);
        if outcome.is_err() {
            self.client = None;
        }
        outcome
    }

    /// Runs every cell, returning a line for each failed one.
    fn matrix(&mut self, sizes: &[usize], paths: &[Path]) -> Vec<String> {
        let mut failures = Vec::new();
        for &size in sizes {
            for &path in paths {
                let started = Instant::now();
                if let Err(why) = self.cell(size, path) {
                    failures.push(format!(
                        "size {size}, {}, {}: {why} (after {:?})",
                        self.name,
                        path.name(),
                        started.elapsed()
                    ));
                }
            }
        }
        failures
    }
}

fn run_cell(client: &Client, size: usize, path: Path) -> Result<(), String> {
    let payload = &pattern()[..size];
    fn err(what: &'static str) -> impl Fn(Error) -> String {
        move |e: Error| format!("{what}: {:?}: {e}", e.kind())
    }
    match path {
        Path::ClientWriteBytes | Path::ClientIoWrite | Path::ClientWriteFrame => {
            if path == Path::ClientWriteFrame {
                client
                    .write_bytes(format!("upf {size}\n").as_bytes())
                    .map_err(err("write the command"))?;
                let codec = LengthPrefixed::new().max_frame_length(32 * MIB);
                client
                    .write_frame(&codec, payload)
                    .map_err(err("write_frame"))?;
            } else {
                client
                    .write_bytes(format!("up {size}\n").as_bytes())
                    .map_err(err("write the command"))?;
                if path == Path::ClientWriteBytes {
                    client.write_bytes(payload).map_err(err("write_bytes"))?;
                } else {
                    let mut writer: &Client = client;
                    writer
                        .write_all(payload)
                        .map_err(|e| format!("io::Write::write_all: {:?}: {e}", e.kind()))?;
                }
            }
            let verdict = client
                .read_frame(&Delimited::lines())
                .map_err(err("read the server's verdict"))?;
            if verdict != b"ok" {
                return Err(format!("server: {}", String::from_utf8_lossy(&verdict)));
            }
        }
        Path::ReplyFromOnBytes | Path::CallerOnConnectionThread | Path::CallerFromOtherThread => {
            let mode = match path {
                Path::ReplyFromOnBytes => "reply",
                Path::CallerOnConnectionThread => "own",
                _ => "thread",
            };
            client
                .write_bytes(format!("down {size} {mode}\n").as_bytes())
                .map_err(err("write the command"))?;
            let got = client
                .read_bytes_exact(size)
                .map_err(err("read the payload"))?;
            if got != payload {
                return Err(format!(
                    "payload differs: {}",
                    first_difference(&got, payload)
                ));
            }
            // Nothing extra came after the payload.
            client.write_bytes(b"ping\n").map_err(err("write ping"))?;
            let pong = client.read_bytes_exact(5).map_err(err("read pong"))?;
            if pong != b"pong\n" {
                return Err(format!(
                    "bytes after the payload: {pong:?} where pong was expected"
                ));
            }
        }
    }
    Ok(())
}

fn assert_no_failures(failures: &[String], cells: usize) {
    assert!(
        failures.is_empty(),
        "{} of {cells} cells failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------
// Plain TCP.
// ---------------------------------------------------------------------------------------

#[test]
fn size_matrix_plain_tcp() {
    let listener = lab_listener(listener_config());
    let mut rig = Rig::new("plain TCP", &listener, ClientConfig::new());
    let failures = rig.matrix(&ALL_SIZES, &ALL_PATHS);
    assert_no_failures(&failures, ALL_SIZES.len() * ALL_PATHS.len());
}

/// Sizes for a 1-byte read buffer: each byte is one read, so the largest are left out.
const TINY_SIZES: [usize; 6] = [0, 1, 16_383, 16_385, 65_536, 65_537];
/// Sizes for a 100-byte read buffer.
const SMALL_SIZES: [usize; 9] = [0, 1, 16_383, 16_384, 16_385, 65_535, 65_536, 65_537, MIB];

#[test]
fn size_matrix_plain_tcp_with_tiny_and_huge_read_buffers() {
    let mut failures = Vec::new();
    let mut cells = 0;
    for (read_buffer, sizes) in [
        (1, &TINY_SIZES[..]),
        (100, &SMALL_SIZES[..]),
        (4 * MIB, &ALL_SIZES[..]),
    ] {
        let listener = lab_listener(listener_config().read_buffer_size(read_buffer));
        let name = format!("plain TCP, read_buffer_size {read_buffer}");
        let mut rig = Rig::new(name, &listener, ClientConfig::new());
        failures.extend(rig.matrix(sizes, &ALL_PATHS));
        cells += sizes.len() * ALL_PATHS.len();
    }
    assert_no_failures(&failures, cells);
}

/// The seed's big-data case: one reply of 8,000,001 bytes whose last byte is 97, read by
/// the client until all of it arrived.
fn big_data(listener_config: synctcp::ListenerConfig, client_config: ClientConfig) {
    const LEN: usize = 8_000_001;
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config).unwrap();
    listener.attach(|_| Ok(BigData)).unwrap();
    listener.start().unwrap();
    let client = Client::connect_with(
        listener.local_addr(),
        &client_config.timeout(Some(CELL_TIMEOUT)),
    )
    .unwrap();
    client.write_bytes(b"send me big data").unwrap();
    let mut all = Vec::with_capacity(LEN);
    while all.len() < LEN {
        match client.read_bytes() {
            Ok(bytes) => all.extend_from_slice(&bytes),
            Err(e) => panic!(
                "the 8,000,001-byte reply broke off after {} bytes: {:?}: {e}",
                all.len(),
                e.kind()
            ),
        }
    }
    assert_eq!(all.len(), LEN, "more bytes than the reply");
    assert_eq!(all[LEN - 1], 97);
    assert!(
        all[..LEN - 1] == pattern()[..LEN - 1],
        "{}",
        first_difference(&all[..LEN - 1], &pattern()[..LEN - 1])
    );
    client.close().unwrap();
}

struct BigData;

impl ConnectionService for BigData {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let mut reply = pattern()[..8_000_000].to_vec();
        reply.push(97);
        Ok(Reply::Bytes(reply))
    }
}

#[test]
fn big_data_reply_of_8_000_001_bytes_plain() {
    big_data(listener_config(), ClientConfig::new());
}

// ---------------------------------------------------------------------------------------
// TLS.
// ---------------------------------------------------------------------------------------

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use pki::Pki;
    use synctcp::{ClientSecureSocket, ListenerSecureSocket};

    fn server_tls(pki: &Pki) -> ListenerSecureSocket {
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
    }

    fn client_config(pki: &Pki, version: &str) -> ClientConfig {
        ClientConfig::new()
            .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions([version]))
    }

    fn tls_matrix(version: &str) {
        let pki = Pki::new();
        let listener = lab_listener(listener_config().secure_socket(server_tls(&pki)));
        let mut rig = Rig::new(version, &listener, client_config(&pki, version));
        let failures = rig.matrix(&ALL_SIZES, &ALL_PATHS);
        assert_no_failures(&failures, ALL_SIZES.len() * ALL_PATHS.len());
    }

    #[test]
    fn size_matrix_tls12() {
        tls_matrix("TLSv1.2");
    }

    #[test]
    fn size_matrix_tls13() {
        tls_matrix("TLSv1.3");
    }

    #[test]
    fn size_matrix_tls_with_tiny_and_huge_read_buffers() {
        let pki = Pki::new();
        let mut failures = Vec::new();
        let mut cells = 0;
        for (read_buffer, sizes) in [
            (1, &TINY_SIZES[..]),
            (100, &SMALL_SIZES[..]),
            (4 * MIB, &ALL_SIZES[..]),
        ] {
            let config = listener_config()
                .read_buffer_size(read_buffer)
                .secure_socket(server_tls(&pki));
            let listener = lab_listener(config);
            let name = format!("TLSv1.3, read_buffer_size {read_buffer}");
            let mut rig = Rig::new(name, &listener, client_config(&pki, "TLSv1.3"));
            failures.extend(rig.matrix(sizes, &ALL_PATHS));
            cells += sizes.len() * ALL_PATHS.len();
        }
        assert_no_failures(&failures, cells);
    }

    #[test]
    fn big_data_reply_of_8_000_001_bytes_tls() {
        let pki = Pki::new();
        big_data(
            listener_config().secure_socket(server_tls(&pki)),
            client_config(&pki, "TLSv1.3"),
        );
    }

    /// Defect 1, client side: a TLS write of 65,537 bytes must go through whole.
    #[test]
    fn tls_client_write_bytes_of_65_537_bytes() {
        let pki = Pki::new();
        let (listener, events) = probe_listener(listener_config().secure_socket(server_tls(&pki)));
        let client = Client::connect_with(
            ("localhost", listener.local_addr().port().unwrap()),
            &client_config(&pki, "TLSv1.3").timeout(Some(CELL_TIMEOUT)),
        )
        .unwrap();
        let data = pattern()[..65_537].to_vec();
        if let Err(e) = client.write_bytes(&data) {
            panic!(
                "Client::write_bytes of 65,537 bytes over TLS: {:?}: {e}",
                e.kind()
            );
        }
        // The probe echoes: everything comes back.
        let echo = client.read_bytes_exact(data.len()).unwrap();
        assert!(echo == data, "{}", first_difference(&echo, &data));
        let mut received = 0;
        while received < data.len() {
            if let Event::Bytes(_, bytes) = wait_event(&events, |e| matches!(e, Event::Bytes(..))) {
                received += bytes.len();
            }
        }
        assert_eq!(received, data.len());
    }

    /// Defect 1, server side: a 100,000-byte reply from on_bytes and a 100,000-byte
    /// Caller::write_bytes (from the connection thread and from another) over TLS.
    #[test]
    fn tls_server_writes_of_100_000_bytes() {
        let pki = Pki::new();
        let listener = lab_listener(listener_config().secure_socket(server_tls(&pki)));
        let mut rig = Rig::new("TLSv1.3", &listener, client_config(&pki, "TLSv1.3"));
        let failures = rig.matrix(
            &[100_000],
            &[
                Path::ReplyFromOnBytes,
                Path::CallerOnConnectionThread,
                Path::CallerFromOtherThread,
            ],
        );
        assert_no_failures(&failures, 3);
    }
}

#[test]
fn the_pattern_is_not_periodic_on_record_or_chunk_sizes() {
    let p = pattern();
    for shift in [251, 256, 16_384, 65_536, 64_256] {
        assert_ne!(p[..4096], p[shift..shift + 4096], "period {shift}");
    }
}
