//! A graceful stop serves the input that reached a connection before the connection's
//! close began: input that arrived while `on_connect` or `on_bytes` ran, the rest of a
//! TLS record already read, and the peer's end of stream (so `on_eof` can still answer).
//! A peer that keeps sending cannot hold the close.
//!
//! Each stop here is called from inside a callback, so that it is certain to come while
//! that callback runs. The input is sent over a Unix socket, where a write has reached
//! the peer's socket when it returns, or over TLS, where the rest of a record is in hand
//! once its first byte is.

mod common;
#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::WAIT;
use synctcp::{Caller, ConnectionService, Error, Listener, ListenerConfig, Reply, StopHandle};

/// What the tests watch a connection do.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Bytes(Vec<u8>),
    Eof,
    Error(String),
    Closed,
}

/// How a [`Watched`] service answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Echoes each piece.
    Echo,
    /// Keeps quiet, and answers the end of input with the number of bytes it got.
    AtEof,
    /// Keeps quiet and takes a millisecond over each piece: a slow consumer.
    Slowly,
}

/// Answers as told, and reports what it sees. With `stop_on_bytes`, its first `on_bytes`
/// stops the listener.
struct Watched {
    seen: mpsc::Sender<Seen>,
    answer: Answer,
    stop_on_bytes: Option<StopHandle>,
    got: usize,
}

impl ConnectionService for Watched {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.got += data.len();
        let _ = self.seen.send(Seen::Bytes(data.to_vec()));
        if let Some(stop) = self.stop_on_bytes.take() {
            stop.graceful_stop(WAIT)?;
        }
        Ok(match self.answer {
            Answer::Echo => Reply::Echo,
            Answer::AtEof => Reply::None,
            Answer::Slowly => {
                thread::sleep(Duration::from_millis(1));
                Reply::None
            }
        })
    }

    fn on_eof(&mut self, caller: &Caller) -> Result<(), Error> {
        let _ = self.seen.send(Seen::Eof);
        if self.answer == Answer::AtEof {
            write!(&*caller, "got {}", self.got)?;
        }
        caller.close()
    }

    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.seen.send(Seen::Error(err.to_string()));
    }

    fn on_close(&mut self, _: &Caller) {
        let _ = self.seen.send(Seen::Closed);
    }
}

/// Bytes that tell where in a stream they were.
fn pattern(len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i ^ (i >> 8)) as u8).collect()
}

/// Where the stop is called from.
#[derive(Clone, Copy)]
enum StopIn {
    /// `on_connect`, once the test says its input is sent.
    OnConnect,
    /// The first `on_bytes`.
    OnBytes,
}

/// A started listener whose services are [`Watched`]; `go` releases `on_connect`.
fn watched(
    addr: &str,
    config: ListenerConfig,
    stop_in: StopIn,
    answer: Answer,
) -> (Listener, mpsc::Sender<()>, mpsc::Receiver<Seen>) {
    let (go_tx, go) = mpsc::channel::<()>();
    let go = std::sync::Mutex::new(go);
    let (seen_tx, seen) = mpsc::channel();
    let mut listener = Listener::bind_with(addr, &config).expect("bind");
    let stop = listener.stop_handle();
    listener
        .attach(move |_: &Caller| {
            go.lock().unwrap().recv_timeout(WAIT).expect("released");
            let stop_on_bytes = match stop_in {
                StopIn::OnConnect => {
                    stop.graceful_stop(WAIT)?;
                    None
                }
                StopIn::OnBytes => Some(stop.clone()),
            };
            Ok(Watched {
                seen: seen_tx.clone(),
                answer,
                stop_on_bytes,
                got: 0,
            })
        })
        .expect("attach");
    listener.start().expect("start");
    (listener, go_tx, seen)
}

/// Everything the service saw, up to and including `on_close`, which must come within
/// the wait.
fn until_closed(seen: &mpsc::Receiver<Seen>) -> Vec<Seen> {
    let deadline = Instant::now() + WAIT;
    let mut all = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = seen.recv_timeout(left).expect("on_close within the wait");
        let last = event == Seen::Closed;
        all.push(event);
        if last {
            return all;
        }
    }
}

/// The bytes `on_bytes` got, and whether the end of input was seen; no error allowed.
fn served(events: &[Seen]) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut eof = false;
    for event in events {
        match event {
            Seen::Bytes(data) => bytes.extend(data),
            Seen::Eof => eof = true,
            Seen::Error(e) => panic!("on_error: {e}"),
            Seen::Closed => {}
        }
    }
    (bytes, eof)
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::path::Path;

    use common::TempDir;

    /// The listener's address for the socket file `path`.
    fn address(path: &Path) -> String {
        format!("unix:{}", path.display())
    }

    fn peer(path: &Path) -> UnixStream {
        let stream = UnixStream::connect(path).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_write_timeout(Some(WAIT)).unwrap();
        stream
    }

    #[test]
    fn input_sent_while_on_connect_ran_is_served_and_answered_before_the_stop_closes() {
        let dir = TempDir::new("stop-in-connect");
        let path = dir.path("listener.sock");
        let (listener, go, seen) = watched(
            &address(&path),
            ListenerConfig::new(),
            StopIn::OnConnect,
            Answer::Echo,
        );
        let mut peer = peer(&path);
        peer.write_all(b"sent before the stop").unwrap();
        go.send(()).unwrap(); // on_connect stops the listener, then returns

        let mut echoed = Vec::new();
        peer.read_to_end(&mut echoed).unwrap();
        assert_eq!(echoed, b"sent before the stop", "the reply, then our FIN");
        let (bytes, eof) = served(&until_closed(&seen));
        assert_eq!(bytes, b"sent before the stop");
        assert!(!eof, "the peer never finished sending");
        assert!(!listener.is_running());
    }

    #[test]
    fn far_more_than_one_read_takes_is_served_piece_by_piece_after_the_stop() {
        // 48 KiB in reads of at most 1 KiB: the stop comes at the first piece, the rest
        // waits on the socket.
        let dir = TempDir::new("stop-in-bytes");
        let path = dir.path("listener.sock");
        let sent = pattern(48 * 1024);
        let config = ListenerConfig::new().read_buffer_size(1024);
        let (_listener, go, seen) = watched(&address(&path), config, StopIn::OnBytes, Answer::Echo);
        let mut peer = peer(&path);
        peer.write_all(&sent).unwrap();
        go.send(()).unwrap();

        let mut echoed = Vec::new();
        peer.read_to_end(&mut echoed).unwrap();
        assert!(
            echoed == sent,
            "echoed {} of {} bytes",
            echoed.len(),
            sent.len()
        );
        let (bytes, _) = served(&until_closed(&seen));
        assert_eq!(bytes.len(), sent.len());
    }

    #[test]
    fn a_peer_that_finished_sending_before_the_stop_still_gets_its_answer() {
        // The file sender of `Client::shutdown_write`'s doc: all of it, then the end of
        // input, both before the stop; `on_eof` answers.
        let dir = TempDir::new("stop-eof");
        let path = dir.path("listener.sock");
        let (_listener, go, seen) = watched(
            &address(&path),
            ListenerConfig::new(),
            StopIn::OnConnect,
            Answer::AtEof,
        );
        let mut peer = peer(&path);
        peer.write_all(&[7u8; 5000]).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        go.send(()).unwrap();

        let mut answer = String::new();
        peer.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "got 5000");
        let (bytes, eof) = served(&until_closed(&seen));
        assert_eq!(bytes.len(), 5000);
        assert!(eof, "on_eof ran");
    }

    #[test]
    fn all_a_unix_peer_with_a_big_send_buffer_had_sent_is_served() {
        // A Unix socket's queue is bounded by the sender's buffer, which any sender may
        // raise far past the receiver's SO_RCVBUF (before the fix, only ~208 KiB of it was
        // served and the rest drained).
        let dir = TempDir::new("stop-big-sndbuf");
        let path = dir.path("listener.sock");
        let (_listener, go, seen) = watched(
            &address(&path),
            ListenerConfig::new(),
            StopIn::OnConnect,
            Answer::AtEof,
        );
        let mut peer = peer(&path);
        socket2::SockRef::from(&peer)
            .set_send_buffer_size(2 << 20)
            .unwrap();
        // Fill the socket until it takes no more: all of it is in the listener's socket.
        peer.set_nonblocking(true).unwrap();
        let chunk = [5u8; 16 * 1024];
        let mut sent = 0;
        loop {
            match peer.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        peer.set_nonblocking(false).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        go.send(()).unwrap();

        let mut answer = String::new();
        peer.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, format!("got {sent}"));
        let (bytes, eof) = served(&until_closed(&seen));
        assert_eq!(bytes.len(), sent);
        assert!(eof);
    }
}

#[test]
fn a_peer_that_keeps_sending_does_not_hold_the_close() {
    // The stop serves what had arrived, not all the peer will ever send: the close
    // begins while the peer is still writing to a consumer slower than itself. (The
    // drain timeout, which also bounds how long that lasts, is out of the way here.) Over
    // TCP, whose window keeps the receiving socket full while the peer has more to send.
    let config = ListenerConfig::new()
        .read_buffer_size(1024)
        .drain_timeout(WAIT * 3);
    let (listener, go, seen) = watched("127.0.0.1:0", config, StopIn::OnConnect, Answer::Slowly);
    let mut peer = std::net::TcpStream::connect(listener.local_addr().to_string()).unwrap();
    peer.set_write_timeout(Some(WAIT)).unwrap();
    let (done_tx, done) = mpsc::channel::<()>();
    let (begun_tx, begun) = mpsc::channel::<()>();
    let flood = thread::spawn(move || {
        let chunk = [1u8; 16 * 1024];
        while done.try_recv().is_err() {
            if peer.write(&chunk).is_err() {
                break; // our side closed
            }
            let _ = begun_tx.send(());
        }
    });
    begun.recv_timeout(WAIT).expect("the flood began");
    go.send(()).unwrap();

    let events = until_closed(&seen); // fails (after the wait) if the flood holds the close
    let _ = done_tx.send(());
    flood.join().unwrap();
    assert!(
        !served(&events).0.is_empty(),
        "some of what had arrived was served"
    );
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use synctcp::{Client, ClientConfig, ClientSecureSocket, ListenerSecureSocket};

    #[test]
    fn the_rest_of_a_tls_record_already_read_is_served_after_the_stop() {
        // One 12 KiB record, handed out in reads of 1 KiB: the stop comes at the first
        // piece, when the whole record has been read and decrypted.
        let pki = pki::Pki::new();
        let config =
            ListenerConfig::new()
                .read_buffer_size(1024)
                .secure_socket(ListenerSecureSocket::new(
                    pki.path("server.pem"),
                    pki.path("server.key"),
                ));
        let (listener, go, seen) = watched("127.0.0.1:0", config, StopIn::OnBytes, Answer::Echo);
        let port = listener.local_addr().port().unwrap();
        let client_config = ClientConfig::new()
            .timeout(Some(WAIT))
            .write_timeout(Some(WAIT))
            .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
        let client = Client::connect_with(("localhost", port), &client_config).unwrap();
        go.send(()).unwrap();
        let sent = pattern(12 * 1024);
        client.write_bytes(&sent).unwrap();

        let echoed = common::read_to_end(&client).unwrap();
        assert!(
            echoed == sent,
            "echoed {} of {} bytes",
            echoed.len(),
            sent.len()
        );
        let (bytes, _) = served(&until_closed(&seen));
        assert_eq!(bytes.len(), sent.len());
    }
}
