//! Framing at its edges: one codec value shared by two clients, replies and direct writes
//! of a `Framed` service in the order they were made, and an unterminated last line at
//! the end of the stream.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use synctcp::framing::{Codec, Delimited, FrameService, Framed};
use synctcp::{Caller, Client, ClientConfig, Error, ErrorKind, Listener, Reply};

/// A plain peer the test writes to directly, and the client connected to it.
fn client_and_peer(config: &ClientConfig) -> (Client, TcpStream) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let client = Client::connect_with(("127.0.0.1", port), config).unwrap();
    let (peer, _) = server.accept().unwrap();
    (client, peer)
}

/// Two clients share one `Delimited::lines()` codec. Client 1 receives a long line in two
/// pieces (its read times out in between, leaving the first piece unread in the client);
/// client 2 receives several short lines. Every frame must be exactly one line, without
/// its delimiter, whatever the interleaving.
#[test]
fn a_codec_shared_by_two_clients_never_returns_a_frame_with_delimiters() {
    let short_timeout = ClientConfig::new()
        .timeout(Some(Duration::from_millis(300)))
        .write_timeout(Some(WAIT));
    let (client1, mut peer1) = client_and_peer(&short_timeout);
    let (client2, mut peer2) = client_and_peer(&client_config());
    let lines = Delimited::lines();

    // Client 2 has short lines waiting in its buffer after its first frame.
    peer2.write_all(b"first\nx\ny\nzzz\n").unwrap();
    assert_eq!(client2.read_frame(&lines).unwrap(), b"first");

    // Client 1 gets the first piece of a long line (7 bytes, fewer than client 2 holds)
    // and nothing more for now: its read returns (a timeout) with the piece kept unread
    // in the client.
    let long_line = vec![b'L'; 5000];
    peer1.write_all(&long_line[..7]).unwrap();
    let err = client1.read_frame(&lines).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");

    // Client 2's remaining lines, one frame each.
    for want in ["x", "y", "zzz"] {
        let frame = client2.read_frame(&lines).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&frame),
            want,
            "client 2's next frame, after client 1's partial read with the shared codec"
        );
    }

    // The rest of client 1's line, then more short lines for client 2, interleaved again.
    peer1.write_all(&long_line[7..]).unwrap();
    peer1.write_all(b"\nafter\n").unwrap();
    peer2.write_all(b"a\nb\n").unwrap();
    let frame = client1.read_frame(&lines).unwrap();
    assert!(
        frame == long_line,
        "client 1's long line: {} bytes",
        frame.len()
    );
    assert_eq!(client2.read_frame(&lines).unwrap(), b"a");
    assert_eq!(client1.read_frame(&lines).unwrap(), b"after");
    assert_eq!(client2.read_frame(&lines).unwrap(), b"b");
}

/// The same interleaving, many times over with first pieces of 1 to 16 bytes: each
/// client's frames are exactly its lines, in order.
#[test]
fn a_codec_shared_by_two_clients_over_many_partial_reads() {
    let short_timeout = ClientConfig::new()
        .timeout(Some(Duration::from_millis(100)))
        .write_timeout(Some(WAIT));
    let (client1, mut peer1) = client_and_peer(&short_timeout);
    let (client2, mut peer2) = client_and_peer(&client_config());
    let lines = Delimited::lines();
    for round in 0..16usize {
        // Client 2: a batch of short lines, the first read before client 1's partial.
        let short: Vec<String> = (0..4).map(|i| format!("r{round}-{i}")).collect();
        peer2
            .write_all(format!("{}\n", short.join("\n")).as_bytes())
            .unwrap();
        let frame = client2.read_frame(&lines).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&frame),
            short[0],
            "round {round}, client 2"
        );
        // Client 1: the first 1 to 16 bytes of a long line, then a timeout.
        let long = vec![b'a' + (round % 26) as u8; 200 + round * 97];
        let cut = 1 + round;
        peer1.write_all(&long[..cut]).unwrap();
        let early = client1.read_frame(&lines);
        assert!(
            early.is_err(),
            "round {round}: client 1 got a frame before its line ended"
        );
        for want in &short[1..] {
            let frame = client2.read_frame(&lines).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&frame),
                *want,
                "round {round}: client 2's frame after client 1 read {cut} bytes of its line"
            );
        }
        peer1.write_all(&long[cut..]).unwrap();
        peer1.write_all(b"\n").unwrap();
        let frame = client1.read_frame(&lines).unwrap();
        assert!(
            frame == long,
            "round {round}: client 1's line came back as {} bytes, expected {}",
            frame.len(),
            long.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Framed on the listener side.
// ---------------------------------------------------------------------------------------

/// Frame "1" is answered with a returned reply, frame "2" with a direct Caller write.
struct ReplyThenDirect;

impl FrameService for ReplyThenDirect {
    fn on_frame(&mut self, caller: &Caller, frame: &[u8]) -> Result<Reply, Error> {
        match frame {
            b"1" => Ok(Reply::from(b"reply to 1")),
            b"2" => {
                caller.write_bytes(&Delimited::lines().encoded(b"direct write for 2")?)?;
                Ok(Reply::None)
            }
            b"3" => Ok(Reply::from(b"reply to 3")),
            _ => Ok(Reply::None),
        }
    }
}

#[test]
fn framed_replies_and_direct_writes_leave_in_the_order_they_were_made() {
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(|_| Ok(Framed::new(Delimited::lines(), ReplyThenDirect)))
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    // All three frames in one write: one piece, one on_bytes.
    client.write_bytes(b"1\n2\n3\n").unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(String::from_utf8(client.read_frame(&Delimited::lines()).unwrap()).unwrap());
    }
    assert_eq!(
        got,
        ["reply to 1", "direct write for 2", "reply to 3"],
        "replies and writes must leave in the order they were made"
    );
}

#[derive(Debug, PartialEq)]
enum Seen {
    Frame(String),
    Error(ErrorKind, String),
    Close,
}

struct Lines(mpsc::Sender<Seen>);

impl FrameService for Lines {
    fn on_frame(&mut self, _: &Caller, frame: &[u8]) -> Result<Reply, Error> {
        let _ = self
            .0
            .send(Seen::Frame(String::from_utf8_lossy(frame).into_owned()));
        Ok(Reply::None)
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.0.send(Seen::Error(err.kind(), err.to_string()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.0.send(Seen::Close);
    }
}

/// Until decided: either the unterminated last line reaches on_frame, or on_error gets
/// InvalidData before on_close. Never silence.
#[test]
fn framed_does_not_drop_an_unterminated_last_line_silently() {
    let (tx, seen) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |_| Ok(Framed::new(Delimited::lines(), Lines(tx.clone()))))
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"complete\nunterminated").unwrap();
    client.shutdown_write().unwrap();
    let mut events = Vec::new();
    loop {
        let event = seen
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no on_close within {WAIT:?}; saw {events:?}"));
        let done = event == Seen::Close;
        events.push(event);
        if done {
            break;
        }
    }
    assert_eq!(events[0], Seen::Frame("complete".into()), "{events:?}");
    let told = events[1..].iter().any(|e| match e {
        Seen::Frame(line) => line == "unterminated",
        Seen::Error(kind, _) => *kind == ErrorKind::InvalidData,
        _ => false,
    });
    assert!(
        told,
        "the unterminated last line \"unterminated\" vanished: neither on_frame nor on_error \
         (InvalidData) before on_close; callbacks were {events:?}"
    );
}
