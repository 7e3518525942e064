//! Adversarial framing tests: limits, delimiters split and overlapping, end of stream for
//! each codec, shared codecs across threads and connections, `Framed` with a close inside
//! `on_frame`, and what `read_frame` leaves for the next read.

#[path = "common/hostile.rs"]
mod hostile;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use hostile::*;
use synctcp::framing::{Codec, Decoder, Delimited, FrameService, Framed, LengthPrefixed};
use synctcp::{Caller, Client, ClientConfig, Error, ErrorKind, Listener, Reply};

fn cfg() -> ClientConfig {
    ClientConfig::new()
        .timeout(Some(WAIT))
        .write_timeout(Some(WAIT))
}

/// A plain TCP server that runs `peer` on its one accepted connection; returns a client
/// connected to it.
fn client_and_peer(
    config: ClientConfig,
    peer: impl FnOnce(TcpStream) + Send + 'static,
) -> (Client, thread::JoinHandle<()>) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (s, _) = server.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        peer(s)
    });
    let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
    (client, handle)
}

// ------------------------------------------------------------------ codec limits

#[test]
fn u16_prefix_with_a_larger_max_never_wraps_the_length() {
    // The doc: "65,535 with a 2-byte prefix, which cannot say more". A max set above that
    // must not let a 65,536-byte frame be encoded with a wrapped (0) length.
    let codec = LengthPrefixed::u16().max_frame_length(100_000);
    let ok = codec.encoded(&vec![1u8; 65_535]).unwrap();
    assert_eq!(&ok[..2], &[0xff, 0xff]);
    match codec.encoded(&vec![1u8; 65_536]) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}"),
        Ok(wire) => panic!(
            "a 65,536-byte frame was encoded with a 2-byte prefix {:?} ({} bytes)",
            &wire[..2],
            wire.len()
        ),
    }
}

#[test]
fn frames_of_exactly_the_maximum_and_one_past_both_codecs() {
    for max in [0usize, 1, 5, 4096] {
        let lp = LengthPrefixed::new().max_frame_length(max);
        let body = vec![b'x'; max];
        let wire = lp.encoded(&body).expect("a frame of exactly max encodes");
        let mut d = Decoder::new(&lp);
        d.push(&wire);
        assert_eq!(d.next_frame().unwrap(), Some(&body[..]), "LP max {max}");
        assert_eq!(
            lp.encoded(&vec![b'x'; max + 1]).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let mut d = Decoder::new(&lp);
        d.push(&((max + 1) as u32).to_be_bytes());
        assert_eq!(
            d.next_frame().unwrap_err().kind(),
            ErrorKind::InvalidData,
            "LP max {max}: header announcing max+1 refused at once"
        );

        for delim in ["\n", "\r\n", "--END--"] {
            for strip in [true, false] {
                let dl = Delimited::new(delim)
                    .max_frame_length(max)
                    .strip_delimiter(strip);
                let wire = dl.encoded(&body).expect("exactly max encodes");
                let expect: Vec<u8> = if strip { body.clone() } else { wire.clone() };
                // In one piece, and a byte at a time.
                let mut d = Decoder::new(&dl);
                d.push(&wire);
                assert_eq!(
                    d.next_frame().unwrap(),
                    Some(&expect[..]),
                    "Delimited {delim:?} strip {strip} max {max}, one piece"
                );
                let mut d = Decoder::new(&dl);
                let mut got = None;
                for (i, b) in wire.iter().enumerate() {
                    d.push(&[*b]);
                    match d.next_frame() {
                        Ok(Some(f)) => {
                            got = Some(f.to_vec());
                            assert_eq!(i, wire.len() - 1);
                        }
                        Ok(None) => {}
                        Err(e) => panic!(
                            "Delimited {delim:?} strip {strip} max {max}: a frame of exactly \
                             max refused after {} of {} bytes: {e}",
                            i + 1,
                            wire.len()
                        ),
                    }
                }
                assert_eq!(got.as_deref(), Some(&expect[..]));
                // One past: refused.
                let mut d = Decoder::new(&dl);
                d.push(&vec![b'x'; max + 1]);
                d.push(delim.as_bytes());
                assert!(
                    d.next_frame().is_err(),
                    "{delim:?} max {max}: max+1 accepted"
                );
            }
        }
    }
}

#[test]
fn overlapping_delimiters_found_at_every_split() {
    // Delimiters whose prefix repeats inside them: a resumed search must not skip a match.
    /// A delimiter, an input, and the frames it must give.
    type Case<'a> = (&'a str, &'a [u8], &'a [&'a [u8]]);
    let cases: [Case; 4] = [
        ("aab", b"aaabxaab", &[b"a", b"x"]),
        ("\r\n\r\n", b"x\r\n\r\r\n\r\ny\r\n\r\n", &[b"x\r\n\r", b"y"]),
        ("abab", b"ababab", &[b""]),
        ("aaa", b"aaaaaaa", &[b"", b""]),
    ];
    for (delim, input, want) in cases {
        let codec = Delimited::new(delim);
        // every way of cutting the input into two pieces, and byte by byte
        let mut splits: Vec<Vec<&[u8]>> = (0..=input.len())
            .map(|k| vec![&input[..k], &input[k..]])
            .collect();
        splits.push(input.chunks(1).collect());
        for pieces in splits {
            let mut d = Decoder::new(&codec);
            let mut got: Vec<Vec<u8>> = Vec::new();
            for p in &pieces {
                d.push(p);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.to_vec());
                }
            }
            let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
            assert_eq!(got, want, "delimiter {delim:?}, pieces {pieces:?}");
        }
    }
}

// ------------------------------------------------------------------ read_frame and EOF

#[test]
fn read_frame_at_a_frame_boundary_eof_is_closed_and_empty_frames_are_frames() {
    let (client, peer) = client_and_peer(cfg(), |mut s| {
        s.write_all(b"a\n\n\nb\n").unwrap();
    });
    let lines = Delimited::lines();
    assert_eq!(client.read_frame(&lines).unwrap(), b"a");
    assert_eq!(client.read_frame(&lines).unwrap(), b"");
    assert_eq!(client.read_frame(&lines).unwrap(), b"");
    assert_eq!(client.read_frame(&lines).unwrap(), b"b");
    let err = client.read_frame(&lines).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    let err = client.read_frame(&lines).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "again: {err}");
    peer.join().unwrap();
}

#[test]
fn read_frame_eof_mid_frame_for_each_codec() {
    // Delimited: the unterminated tail is a last frame, then Closed.
    let (client, peer) = client_and_peer(cfg(), |mut s| s.write_all(b"one\ntail").unwrap());
    let lines = Delimited::lines();
    assert_eq!(client.read_frame(&lines).unwrap(), b"one");
    assert_eq!(client.read_frame(&lines).unwrap(), b"tail");
    assert_eq!(
        client.read_frame(&lines).unwrap_err().kind(),
        ErrorKind::Closed
    );
    peer.join().unwrap();

    // LengthPrefixed: half a header, and half a body: InvalidData.
    for cut in [&[0u8, 0][..], &[0, 0, 0, 9, b'x', b'y'][..]] {
        let cut = cut.to_vec();
        let (client, peer) = client_and_peer(cfg(), move |mut s| {
            let lp = LengthPrefixed::new();
            s.write_all(&lp.encoded(b"whole").unwrap()).unwrap();
            s.write_all(&cut).unwrap();
        });
        let lp = LengthPrefixed::new();
        assert_eq!(client.read_frame(&lp).unwrap(), b"whole");
        let err = client.read_frame(&lp).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData, "cut mid-frame: {err}");
        peer.join().unwrap();
    }

    // u16 prefix cut after one header byte.
    let (client, peer) = client_and_peer(cfg(), |mut s| s.write_all(&[0]).unwrap());
    let err = client.read_frame(&LengthPrefixed::u16()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    peer.join().unwrap();
}

#[test]
fn an_announced_oversize_is_refused_before_the_body_arrives() {
    // The peer sends only a header announcing max+1 and keeps the connection open: the
    // refusal must come at once, not after the read timeout.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let config = cfg().timeout(Some(Duration::from_secs(10)));
    let (client, peer) = client_and_peer(config, move |mut s| {
        s.write_all(&(1025u32).to_be_bytes()).unwrap();
        let _ = done_rx.recv_timeout(WAIT);
    });
    let started = Instant::now();
    let err = client
        .read_frame(&LengthPrefixed::new().max_frame_length(1024))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    // Delimited: a line growing past max with no delimiter, connection kept open.
    let _ = done_tx.send(());
    peer.join().unwrap();

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let (client, peer) = client_and_peer(config_10s(), move |mut s| {
        s.write_all(&[b'z'; 2000]).unwrap();
        let _ = done_rx.recv_timeout(WAIT);
    });
    let started = Instant::now();
    let err = client
        .read_frame(&Delimited::lines().max_frame_length(1024))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let _ = done_tx.send(());
    peer.join().unwrap();
}

fn config_10s() -> ClientConfig {
    cfg().timeout(Some(Duration::from_secs(10)))
}

#[test]
fn read_frame_timeout_mid_frame_keeps_the_partial_frame() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let config = cfg().timeout(Some(Duration::from_millis(300)));
    let (client, peer) = client_and_peer(config, move |mut s| {
        let wire = LengthPrefixed::new().encoded(b"hello world").unwrap();
        s.write_all(&wire[..7]).unwrap();
        go_rx.recv_timeout(WAIT).unwrap();
        s.write_all(&wire[7..]).unwrap();
        s.write_all(b"partial li").unwrap();
        go_rx.recv_timeout(WAIT).unwrap();
        s.write_all(b"ne\n").unwrap();
    });
    let lp = LengthPrefixed::new();
    let err = client.read_frame(&lp).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    go_tx.send(()).unwrap();
    assert_eq!(client.read_frame(&lp).unwrap(), b"hello world");
    let lines = Delimited::lines();
    let err = client.read_frame(&lines).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    go_tx.send(()).unwrap();
    assert_eq!(client.read_frame(&lines).unwrap(), b"partial line");
    peer.join().unwrap();
}

#[test]
fn read_frame_one_deadline_against_a_trickling_peer() {
    let timeout = Duration::from_secs(1);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let config = cfg().timeout(Some(timeout));
    let (client, peer) = client_and_peer(config, move |mut s| {
        // a byte of an endless line every 50 ms
        while stop_rx.recv_timeout(Duration::from_millis(50)).is_err() {
            if s.write_all(b"x").is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let err = client.read_frame(&Delimited::lines()).unwrap_err();
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_bounded("read_frame against a trickle", elapsed, timeout);
    peer.join().unwrap();
}

#[test]
fn what_read_frame_leaves_goes_to_every_other_read() {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (client, peer) = client_and_peer(cfg(), move |mut s| {
        s.write_all(b"line1\nREST-OF-IT").unwrap();
        go_rx.recv_timeout(WAIT).unwrap();
        s.write_all(b"line2\nABCDEFGH").unwrap();
        s.write_all(&LengthPrefixed::new().encoded(b"lp").unwrap())
            .unwrap();
        s.write_all(b"tail").unwrap();
    });
    let lines = Delimited::lines();
    assert_eq!(client.read_frame(&lines).unwrap(), b"line1");
    // read_bytes: what was kept after the frame comes first.
    let mut rest = client.read_bytes().unwrap();
    assert!(
        b"REST-OF-IT".starts_with(&rest),
        "read_bytes after read_frame gave {rest:?}"
    );
    rest.extend(client.read_bytes_exact(10 - rest.len()).unwrap());
    assert_eq!(rest, b"REST-OF-IT");
    go_tx.send(()).unwrap();
    assert_eq!(client.read_frame(&lines).unwrap(), b"line2");
    let mut buf = [0u8; 3];
    (&client).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ABC", "io::Read after read_frame");
    assert_eq!(client.read_bytes_exact(5).unwrap(), b"DEFGH");
    assert_eq!(client.read_frame(&LengthPrefixed::new()).unwrap(), b"lp");
    assert_eq!(client.read_bytes_exact(4).unwrap(), b"tail");
    peer.join().unwrap();
}

// ------------------------------------------------------------------ shared codecs

#[test]
fn one_codec_shared_by_many_clients_and_threads() {
    static LINES: std::sync::OnceLock<Delimited> = std::sync::OnceLock::new();
    static LP: std::sync::OnceLock<LengthPrefixed> = std::sync::OnceLock::new();
    let lines: &'static Delimited = LINES.get_or_init(|| Delimited::new("\r\n"));
    let lp: &'static LengthPrefixed = LP.get_or_init(LengthPrefixed::new);

    let mut handles = Vec::new();
    for t in 0..8u32 {
        handles.push(thread::spawn(move || {
            // each peer writes frames in pieces of an odd size, different per thread
            let frames: Vec<Vec<u8>> = (0..60u32)
                .map(|i| format!("t{t}-f{i}-{}", "y".repeat((i * 37 % 300) as usize)).into_bytes())
                .collect();
            let mut wire = Vec::new();
            for (i, f) in frames.iter().enumerate() {
                if i % 2 == 0 {
                    lines.encode(f, &mut wire).unwrap();
                } else {
                    lp.encode(f, &mut wire).unwrap();
                }
            }
            let piece = 1 + (t as usize * 7) % 13;
            let (client, peer) = client_and_peer(cfg(), move |mut s| {
                s.set_nodelay(true).unwrap();
                for chunk in wire.chunks(piece) {
                    if s.write_all(chunk).is_err() {
                        return;
                    }
                }
            });
            for (i, f) in frames.iter().enumerate() {
                let got = if i % 2 == 0 {
                    client.read_frame(lines).unwrap()
                } else {
                    client.read_frame(&lp).unwrap()
                };
                assert_eq!(&got, f, "thread {t} frame {i}");
            }
            peer.join().unwrap();
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
}

struct EchoFrames;
impl FrameService for EchoFrames {
    fn on_frame(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Ok(Reply::Echo)
    }
}

#[test]
fn a_static_codec_shared_by_framed_connections() {
    static LINES: std::sync::OnceLock<Delimited> = std::sync::OnceLock::new();
    let lines: &'static Delimited = LINES.get_or_init(|| Delimited::new("--"));
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().read_buffer_size(7)).unwrap();
    listener
        .attach(move |_| Ok(Framed::new(lines, EchoFrames)))
        .unwrap();
    listener.start().unwrap();
    let port = listener.local_addr().port().unwrap();
    let handles: Vec<_> = (0..8)
        .map(|t| {
            thread::spawn(move || {
                let c = Client::connect_with(("127.0.0.1", port), &cfg()).unwrap();
                let mut wire = Vec::new();
                let frames: Vec<Vec<u8>> = (0..100)
                    .map(|i| format!("c{t}:{i}:{}", "-".len() * i).into_bytes())
                    .collect();
                for f in &frames {
                    lines.encode(f, &mut wire).unwrap();
                }
                for chunk in wire.chunks(3 + t) {
                    c.write_bytes(chunk).unwrap();
                }
                for f in &frames {
                    assert_eq!(&c.read_frame(lines).unwrap(), f, "client {t}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

// ------------------------------------------------------------------ Framed

struct Closer {
    events: mpsc::Sender<String>,
}
impl FrameService for Closer {
    fn on_frame(&mut self, caller: &Caller, frame: &[u8]) -> Result<Reply, Error> {
        let _ = self
            .events
            .send(format!("frame {}", String::from_utf8_lossy(frame)));
        if frame == b"quit" {
            caller.close()?;
        }
        Ok(Reply::Bytes([b"R:", frame].concat()))
    }
    fn on_eof(&mut self, _: &Caller) -> Result<(), Error> {
        let _ = self.events.send("eof".into());
        Ok(())
    }
    fn on_error(&mut self, _: &Caller, err: &Error) {
        let _ = self.events.send(format!("error {:?} {err}", err.kind()));
    }
    fn on_close(&mut self, _: &Caller) {
        let _ = self.events.send("close".into());
    }
}

fn closer_listener(
    codec: impl synctcp::framing::Codec + Clone + Send + Sync + 'static,
) -> (Listener, mpsc::Receiver<String>) {
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |_| Ok(Framed::new(codec.clone(), Closer { events: tx.clone() })))
        .unwrap();
    listener.start().unwrap();
    (listener, rx)
}

fn collect(rx: &mpsc::Receiver<String>, until: &str) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let e = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no {until:?} within WAIT; so far {all:?}"));
        let done = e == until;
        all.push(e);
        if done {
            return all;
        }
    }
}

#[test]
fn framed_close_inside_on_frame_sends_that_reply_then_a_clean_end() {
    let (listener, rx) = closer_listener(Delimited::lines());
    let mut peer = raw_to(&listener);
    peer.write_all(b"a\nquit\nb\nc\n").unwrap(); // one piece
    let (got, end) = read_all(&mut peer);
    end.expect("a clean end of stream, not a reset");
    let events = collect(&rx, "close");
    assert!(
        !events.iter().any(|e| e.starts_with("error")),
        "a close asked for by the service is not an error: {events:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "R:a\nR:quit\n",
        "the reply of the closing frame, nothing after the close; events {events:?}"
    );
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn framed_end_of_stream_for_each_codec() {
    // Delimited: the unterminated tail is a frame, its reply is sent, then on_eof.
    let (listener, rx) = closer_listener(Delimited::lines());
    let mut peer = raw_to(&listener);
    peer.write_all(b"one\ntail").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, end) = read_all(&mut peer);
    end.unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "R:one\nR:tail\n");
    let events = collect(&rx, "close");
    assert_eq!(events, ["frame one", "frame tail", "eof", "close"]);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();

    // LengthPrefixed cut mid-body and mid-header: InvalidData to on_error, earlier reply
    // delivered, on_close once.
    for cut in [&[0u8, 0, 0, 5, b'a'][..], &[0u8, 0][..]] {
        let (listener, rx) = closer_listener(LengthPrefixed::new());
        let mut peer = raw_to(&listener);
        let lp = LengthPrefixed::new();
        let mut wire = lp.encoded(b"ok").unwrap();
        wire.extend_from_slice(cut);
        peer.write_all(&wire).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let (got, end) = read_all(&mut peer);
        end.unwrap();
        assert_eq!(got, lp.encoded(b"R:ok").unwrap());
        let events = collect(&rx, "close");
        assert!(
            events.iter().any(|e| e.starts_with("error InvalidData")),
            "cut {cut:?}: {events:?}"
        );
        assert_eq!(events.iter().filter(|e| *e == "close").count(), 1);
        listener.graceful_stop(Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn framed_reply_that_cannot_be_encoded_is_an_error_not_a_silent_drop() {
    struct Bad;
    impl FrameService for Bad {
        fn on_frame(&mut self, _: &Caller, frame: &[u8]) -> Result<Reply, Error> {
            Ok(Reply::Bytes(if frame == b"bad" {
                b"has\na newline".to_vec()
            } else {
                frame.to_vec()
            }))
        }
    }
    let (tx, rx) = mpsc::channel::<String>();
    struct Wrap(Bad, mpsc::Sender<String>);
    impl FrameService for Wrap {
        fn on_frame(&mut self, c: &Caller, f: &[u8]) -> Result<Reply, Error> {
            self.0.on_frame(c, f)
        }
        fn on_error(&mut self, _: &Caller, err: &Error) {
            let _ = self.1.send(format!("error {:?}", err.kind()));
        }
        fn on_close(&mut self, _: &Caller) {
            let _ = self.1.send("close".into());
        }
    }
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(move |_| Ok(Framed::new(Delimited::lines(), Wrap(Bad, tx.clone()))))
        .unwrap();
    listener.start().unwrap();
    let mut peer = raw_to(&listener);
    peer.write_all(b"good\nbad\nafter\n").unwrap();
    let (got, end) = read_all(&mut peer);
    end.unwrap();
    let events = collect(&rx, "close");
    assert_eq!(String::from_utf8_lossy(&got), "good\n", "events {events:?}");
    assert_eq!(events, ["error InvalidData", "close"]);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn write_frame_refused_sends_nothing() {
    let (client, peer) = client_and_peer(cfg(), |mut s| {
        let (got, _) = read_all(&mut s);
        assert_eq!(got, b"fine\n", "a refused frame left bytes on the wire");
    });
    let lines = Delimited::lines();
    let err = client.write_frame(&lines, b"two\nlines").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let err = client
        .write_frame(&lines.clone().max_frame_length(3), b"four")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    client.write_frame(&lines, b"fine").unwrap();
    client.close().unwrap();
    peer.join().unwrap();
}

#[test]
fn default_max_frames_over_the_wire() {
    // Exactly 8 MiB through Framed echo and back; one past refused by write_frame.
    let max = synctcp::framing::DEFAULT_MAX_FRAME_LENGTH;
    let mut listener = Listener::bind_with(LOOPBACK, &listener_config()).unwrap();
    listener
        .attach(|_| Ok(Framed::new(LengthPrefixed::new(), EchoFrames)))
        .unwrap();
    listener.start().unwrap();
    let c =
        Client::connect_with(("127.0.0.1", listener.local_addr().port().unwrap()), &cfg()).unwrap();
    let body = pattern(max);
    let lp = LengthPrefixed::new();
    let writer = {
        let c = std::sync::Arc::new(c);
        let c2 = std::sync::Arc::clone(&c);
        let body2 = body.clone();
        let w = thread::spawn(move || c2.write_frame(&LengthPrefixed::new(), &body2).unwrap());
        let got = c.read_frame(&lp).unwrap();
        assert!(got == body, "{}", first_difference(&got, &body));
        w.join().unwrap();
        assert_eq!(
            c.write_frame(&lp, &vec![0u8; max + 1]).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        c
    };
    drop(writer);
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));
}
