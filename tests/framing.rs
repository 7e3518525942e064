//! Framing: whatever way the bytes are split, the same frames come out (property tests);
//! oversized frames are refused; frames over real connections, both sides.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use synctcp::framing::{Codec, Decoder, Delimited, FrameService, Framed, LengthPrefixed};
use synctcp::{Caller, Error, ErrorKind, Listener, Reply};

/// Feeds `wire` to a decoder in pieces of the given sizes (cycled), collecting frames.
fn decode_in_pieces<C: Codec>(codec: C, wire: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut decoder = Decoder::new(codec);
    let mut frames = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < wire.len() {
        let size = sizes[i % sizes.len()].max(1).min(wire.len() - at);
        decoder.push(&wire[at..at + size]);
        at += size;
        i += 1;
        while let Some(frame) = decoder.next_frame().unwrap() {
            frames.push(frame.to_vec());
        }
    }
    assert_eq!(decoder.buffered(), 0, "bytes left over");
    frames
}

fn encode_all<C: Codec>(codec: &C, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for frame in frames {
        codec.encode(frame, &mut wire).unwrap();
    }
    wire
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn length_prefixed_frames_survive_any_split(
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        sizes in prop::collection::vec(1usize..64, 1..10),
        short in any::<bool>(),
    ) {
        let codec = if short { LengthPrefixed::u16() } else { LengthPrefixed::u32() };
        let wire = encode_all(&codec, &frames);
        prop_assert_eq!(decode_in_pieces(codec.clone(), &wire, &sizes), frames.clone());
        prop_assert_eq!(decode_in_pieces(codec, &wire, &[1]), frames); // byte by byte
    }

    #[test]
    fn delimited_frames_survive_any_split(
        frames in prop::collection::vec(prop::collection::vec(1u8..=255, 0..300), 0..20),
        sizes in prop::collection::vec(1usize..64, 1..10),
        crlf in any::<bool>(),
    ) {
        // Frames never hold the delimiter: no zero bytes, and `\r\n` split out.
        let delimiter: &[u8] = if crlf { b"\r\n" } else { b"\0" };
        let frames: Vec<Vec<u8>> = frames
            .into_iter()
            .map(|f| f.into_iter().filter(|&b| !crlf || (b != b'\r' && b != b'\n')).collect())
            .collect();
        let codec = Delimited::new(delimiter);
        let wire = encode_all(&codec, &frames);
        prop_assert_eq!(decode_in_pieces(codec.clone(), &wire, &sizes), frames.clone());
        prop_assert_eq!(decode_in_pieces(codec, &wire, &[1]), frames);
    }

    #[test]
    fn announced_lengths_past_the_maximum_are_refused_before_the_body(
        max in 0usize..1000,
        extra in 1usize..100_000,
    ) {
        let codec = LengthPrefixed::new().max_frame_length(max);
        let announced = (max + extra) as u32;
        let mut decoder = Decoder::new(codec);
        decoder.push(&announced.to_be_bytes());
        let err = decoder.next_frame().unwrap_err();
        prop_assert_eq!(err.kind(), ErrorKind::InvalidData);
    }

    #[test]
    fn delimited_frames_past_the_maximum_are_refused(max in 0usize..500, over in 1usize..500) {
        let mut decoder = Decoder::new(Delimited::new("\r\n").max_frame_length(max));
        // The frame grows past the maximum without a delimiter, one byte at a time.
        let mut refused = false;
        for _ in 0..max + over {
            decoder.push(b"x");
            if decoder.next_frame().is_err() {
                refused = true;
                break;
            }
        }
        prop_assert!(refused);
        prop_assert!(decoder.buffered() <= max + 1, "held {} bytes", decoder.buffered());
    }
}

#[test]
fn a_delimiter_split_across_reads_over_a_connection() {
    let listener = echo_listener();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = connect_port(server.local_addr().unwrap().port());
    let (mut peer, _) = server.accept().unwrap();
    use std::io::Write;
    peer.write_all(b"first\r").unwrap();
    peer.flush().unwrap();
    let codec = Delimited::new("\r\n");
    let reader = std::thread::spawn(move || {
        let one = client.read_frame(&codec).unwrap();
        let two = client.read_frame(&codec).unwrap();
        (one, two)
    });
    peer.write_all(b"\nsecond\r\n").unwrap();
    let (one, two) = reader.join().unwrap();
    assert_eq!(
        (one.as_slice(), two.as_slice()),
        (&b"first"[..], &b"second"[..])
    );
    drop(listener);
}

/// Answers each frame with the frame reversed; `quit` makes it fail.
struct Reverse {
    events: crossbeam_channel::Sender<String>,
}

impl FrameService for Reverse {
    fn on_frame(&mut self, _: &Caller, frame: &[u8]) -> Result<Reply, Error> {
        if frame == b"quit" {
            return Err(Error::new(ErrorKind::Other, "asked to quit"));
        }
        Ok(Reply::Bytes(frame.iter().rev().copied().collect()))
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.events.send(format!("error {:?}: {err}", err.kind()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.events.send("close".into());
    }
}

fn framed_listener<C: Codec + Clone + Send + Sync + 'static>(
    codec: C,
) -> (Listener, crossbeam_channel::Receiver<String>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |_| Ok(Framed::new(codec.clone(), Reverse { events: tx.clone() })))
        .unwrap();
    listener.start().unwrap();
    (listener, rx)
}

#[test]
fn a_framed_service_gets_whole_frames_however_they_arrive() {
    let (listener, _events) = framed_listener(LengthPrefixed::new());
    let client = connect(&listener);
    let codec = LengthPrefixed::new();
    // Two frames in one write, then one frame a byte at a time.
    let mut wire = codec.encoded(b"abc").unwrap();
    wire.extend(codec.encoded(b"hello").unwrap());
    client.write_bytes(&wire).unwrap();
    for byte in codec.encoded(b"slowly").unwrap() {
        client.write_bytes(&[byte]).unwrap();
    }
    let reader = codec.clone();
    assert_eq!(client.read_frame(&reader).unwrap(), b"cba");
    assert_eq!(client.read_frame(&reader).unwrap(), b"olleh");
    assert_eq!(client.read_frame(&reader).unwrap(), b"ylwols");
    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn an_oversized_frame_goes_to_on_error_and_closes_the_connection() {
    let (listener, events) = framed_listener(LengthPrefixed::new().max_frame_length(1024));
    let client = connect(&listener);
    // Announce 4 GB: refused at once, nothing allocated for it.
    client.write_bytes(&u32::MAX.to_be_bytes()).unwrap();
    let error = events.recv_timeout(WAIT).unwrap();
    assert!(error.starts_with("error InvalidData"), "{error}");
    assert!(error.contains("maximum frame length of 1024"), "{error}");
    assert_eq!(events.recv_timeout(WAIT).unwrap(), "close");
    let err = client.read_frame(&LengthPrefixed::new()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Closed | ErrorKind::Reset),
        "{err}"
    );
    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn the_client_refuses_oversized_frames_too_and_loses_nothing() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = connect_port(server.local_addr().unwrap().port());
    let (mut peer, _) = server.accept().unwrap();
    use std::io::Write;
    peer.write_all(b"a line far too long for the limit\nshort\n")
        .unwrap();
    let err = client
        .read_frame(&Delimited::lines().max_frame_length(8))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(
        err.to_string().starts_with("read a frame from 127.0.0.1:"),
        "{err}"
    );
    // The bytes are still there for a reader that accepts them.
    assert_eq!(
        client.read_frame(&Delimited::lines()).unwrap(),
        b"a line far too long for the limit"
    );
    let err = client
        .write_frame(&Delimited::lines(), b"two\nlines")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
}

#[test]
fn an_error_from_on_frame_closes_after_the_replies_before_it() {
    let (listener, events) = framed_listener(Delimited::lines());
    let client = connect(&listener);
    client.write_bytes(b"one\nquit\n").unwrap();
    let lines = Delimited::lines();
    assert_eq!(client.read_frame(&lines).unwrap(), b"eno");
    assert_eq!(
        client.read_frame(&lines).unwrap_err().kind(),
        ErrorKind::Closed
    );
    let error = events.recv_timeout(WAIT).unwrap();
    assert!(error.contains("asked to quit"), "{error}");
    assert_eq!(events.recv_timeout(WAIT).unwrap(), "close");
    client.close().unwrap();
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}
