//! The package's load-test server: HTTP/1.1 that answers a POST with its body.
//!
//! Run: `cargo run --example http_echo [PORT]` (default 9090), then
//! `curl --data-binary 'hello' http://localhost:9090/`. The first line on stdout is
//! `listening on HOST:PORT`. `GET /stats` shows the listener's counters. Behind a load
//! balancer that sends the PROXY protocol, run it with `-- --proxy [PORT]`.
//!
//! Requests are found in the byte stream by a codec of its own (`HttpRequests`, a
//! `framing::Codec`): the head up to the blank line, then `Content-Length` bytes of body,
//! however the bytes were split on the way. Connections stay open between requests
//! (keep-alive) unless the client says `Connection: close`. A malformed request gets
//! `400 Bad Request` and the connection closes.

use std::io::Write;

use synctcp::framing::{Codec, Frame, FrameService, Framed};
use synctcp::{Caller, Error, ErrorKind, Listener, ListenerConfig, Reply, Stats, StopHandle};

/// The largest request head (request line and headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The largest body accepted.
const MAX_BODY: usize = 8 * 1024 * 1024;

fn malformed(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidData, message)
}

/// Finds whole HTTP/1.1 requests: a frame is the head and the body together.
#[derive(Debug, Default)]
struct HttpRequests;

impl Codec for HttpRequests {
    fn encode(&self, response: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(response); // responses are written whole by the service
        Ok(())
    }

    /// `progress`: how many bytes were searched for the end of the head without finding
    /// it; once found, a point just past its start, so that the next call (with more of
    /// the body) finds it again at once instead of searching the whole head.
    fn decode(&self, buf: &[u8], progress: &mut usize) -> Result<Option<Frame>, Error> {
        let from = progress.saturating_sub(3);
        let Some(at) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") else {
            *progress = buf.len();
            if buf.len() > MAX_HEAD {
                return Err(malformed(format!(
                    "request head longer than {MAX_HEAD} bytes"
                )));
            }
            return Ok(None);
        };
        let head_end = from + at + 4;
        // The next search starts at head_end - 4, where "\r\n\r\n" begins.
        *progress = head_end - 1;
        let head = parse_head(&buf[..head_end])?;
        let end = head_end + head.content_length;
        Ok((buf.len() >= end).then(|| Frame::new(0..end, end)))
    }
}

/// What the service needs from a request head.
struct Head<'a> {
    method: &'a str,
    target: &'a str,
    content_length: usize,
    content_type: Option<&'a str>,
    close: bool,
}

fn parse_head(head: &[u8]) -> Result<Head<'_>, Error> {
    let head = std::str::from_utf8(head).map_err(|_| malformed("request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(format!("bad request line {request_line:?}")));
    };
    if method.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(malformed(format!("bad request line {request_line:?}")));
    }
    let mut parsed = Head {
        method,
        target,
        content_length: 0,
        content_type: None,
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed(format!("bad header line {line:?}")))?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                parsed.content_length =
                    value
                        .parse()
                        .ok()
                        .filter(|&n| n <= MAX_BODY)
                        .ok_or_else(|| {
                            malformed(format!("bad or too large Content-Length {value:?}"))
                        })?;
            }
            "transfer-encoding" => return Err(malformed("chunked bodies are not supported")),
            "content-type" => parsed.content_type = Some(value),
            "connection" => parsed.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Ok(parsed)
}

fn response(status: &str, content_type: &str, body: &[u8], close: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Echoes POST bodies; `GET /stats` shows the listener's counters.
struct EchoService {
    listener: StopHandle,
}

impl FrameService for EchoService {
    fn on_frame(&mut self, caller: &Caller, request: &[u8]) -> Result<Reply, Error> {
        let head_len = request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(request.len(), |at| at + 4);
        let head = parse_head(&request[..head_len])?;
        let body = &request[head_len..];
        let reply = match head.method {
            "POST" => response(
                "200 OK",
                head.content_type.unwrap_or("application/octet-stream"),
                body,
                head.close,
            ),
            "GET" if head.target == "/stats" => response(
                "200 OK",
                "text/plain",
                stats_page(&self.listener.stats()).as_bytes(),
                head.close,
            ),
            "GET" | "HEAD" => response(
                "200 OK",
                "text/plain",
                b"POST a body and it comes back\n",
                head.close,
            ),
            _ => response("405 Method Not Allowed", "text/plain", b"", head.close),
        };
        if head.close {
            let _ = caller.close(); // after this reply
        }
        Ok(Reply::Bytes(reply))
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        if err.kind() == ErrorKind::InvalidData {
            let body = format!("{err}\n");
            let _ = caller.write_bytes(&response(
                "400 Bad Request",
                "text/plain",
                body.as_bytes(),
                true,
            ));
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let proxy = args.first().is_some_and(|a| a == "--proxy");
    if proxy {
        args.remove(0);
    }
    let port = match args.first() {
        None => 9090,
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("http_echo: {arg:?} is not a port number (0-65535)");
            std::process::exit(2)
        }),
    };
    if let Err(err) = run(port, proxy) {
        eprintln!("http_echo: {err}");
        std::process::exit(1);
    }
}

fn run(port: u16, proxy: bool) -> Result<(), Error> {
    let listener = Listener::bind_with(port, &ListenerConfig::new().proxy_protocol(proxy))?;
    println!("listening on {}", listener.local_addr());
    std::io::stdout().flush()?;
    let handle = listener.stop_handle();
    listener.serve(move |_| {
        let service = EchoService {
            listener: handle.clone(),
        };
        Ok(Framed::new(HttpRequests, service))
    })
}

/// The counters as `name value` lines.
fn stats_page(stats: &Stats) -> String {
    let closed = &stats.closed;
    [
        ("active", stats.active),
        ("accepted", stats.accepted),
        ("refused", stats.refused),
        ("limit_waits", stats.limit_waits),
        ("closed_by_peer", closed.by_peer),
        ("closed_locally", closed.locally),
        ("closed_by_error", closed.by_error),
        ("closed_by_timeout", closed.by_timeout),
        ("closed_by_panic", closed.by_panic),
        ("closed_by_stop", closed.by_stop),
        ("bytes_in", stats.bytes_in),
        ("bytes_out", stats.bytes_out),
        ("tls_handshake_failures", stats.tls_handshake_failures),
        ("accept_backoffs", stats.accept_backoffs),
    ]
    .iter()
    .map(|(name, value)| format!("{name} {value}\n"))
    .collect()
}
