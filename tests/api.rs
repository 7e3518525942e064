//! The API as a Rust programmer writes it first: addresses the std way, closures without
//! annotations, replies, a `Caller` that is a writer with the crossbeam grid of writes, a
//! reply after the peer finished sending, stopping from anywhere (and from inside a
//! callback), errors users raise, and the small std shapes (timeouts at run time, std
//! sockets in and out, keepalive).

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::framing::LengthPrefixed;
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Keepalive, Listener,
    ListenerConfig, Reply,
};

// ---- addresses ----

#[test]
fn a_client_connects_to_every_form_of_address() {
    let listener = echo_listener();
    let port = listener.local_addr().port().unwrap();
    let text = format!("127.0.0.1:{port}");
    let clients = [
        Client::connect(text.as_str()).unwrap(),
        Client::connect(text.clone()).unwrap(),
        Client::connect(&text).unwrap(),
        Client::connect(("127.0.0.1", port)).unwrap(),
        Client::connect(("localhost", port)).unwrap(),
        Client::connect((String::from("localhost"), port)).unwrap(),
        Client::connect(listener.local_addr()).unwrap(),
        Client::connect((IpAddr::V4(Ipv4Addr::LOCALHOST), port)).unwrap(),
        Client::connect((Ipv4Addr::LOCALHOST, port)).unwrap(),
    ];
    for client in &clients {
        client.write_bytes(b"hi").unwrap();
        assert_eq!(client.read_bytes_exact(2).unwrap(), b"hi");
    }
}

#[test]
fn a_listener_binds_every_form_of_address() {
    for listener in [
        Listener::bind("127.0.0.1:0").unwrap(),
        Listener::bind(String::from("127.0.0.1:0")).unwrap(),
        Listener::bind(("127.0.0.1", 0)).unwrap(),
        Listener::bind(("localhost", 0)).unwrap(),
        Listener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap(),
    ] {
        assert!(listener.local_addr().ip().unwrap().is_loopback());
        assert_ne!(listener.local_addr().port().unwrap(), 0);
    }
}

#[test]
fn address_errors_name_what_was_written() {
    let err = Client::connect("localhost").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert_eq!(
        err.to_string(),
        "connect to \"localhost\": an address needs a port, as in \"localhost:3000\""
    );
    let err = Client::connect(3000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .starts_with("connect to *:3000: a port alone"),
        "{err}"
    );
    let err = Client::connect("no-such-host.invalid:80").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::HostNotFound);
    assert!(
        err.to_string()
            .starts_with("connect to no-such-host.invalid:80: "),
        "{err}"
    );
    let (_held, port) = refusing_port();
    let err = Client::connect(("localhost", port)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("connect to localhost:{port}: connection refused")
    );
    let err = Listener::bind("127.0.0.1:http").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().starts_with("bind \"127.0.0.1:http\": "),
        "{err}"
    );
}

// ---- replies and closures ----

struct Replies;

impl ConnectionService for Replies {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        Ok(match data {
            b"echo" => Reply::Echo,
            b"none" => Reply::None,
            b"str_" => "a str".into(),
            b"strg" => String::from("a String").into(),
            b"vec_" => vec![b'v'; 3].into(),
            b"slic" => Reply::from(&b"a slice"[..]),
            _ => Reply::Bytes(b"bytes".to_vec()),
        })
    }
}

#[test]
fn every_form_of_reply_is_written_back_in_order() {
    // Every request is 4 bytes and every read at most 4: one request per on_bytes, even
    // when two arrive together (a request with no reply is followed by the next at once).
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().read_buffer_size(4)).unwrap();
    listener.attach(|_| Ok(Replies)).unwrap(); // a closure, no annotation
    listener.start().unwrap();
    let client = connect(&listener);
    let mut all = Vec::new();
    for (ask, answer) in [
        (&b"echo"[..], &b"echo"[..]),
        (b"none", b""),
        (b"str_", b"a str"),
        (b"strg", b"a String"),
        (b"vec_", b"vvv"),
        (b"slic", b"a slice"),
        (b"othr", b"bytes"),
    ] {
        client.write_bytes(ask).unwrap();
        if !answer.is_empty() {
            all.extend(client.read_bytes_exact(answer.len()).unwrap());
        }
        all.extend_from_slice(b"|");
    }
    assert_eq!(all, b"echo||a str|a String|vvv|a slice|bytes|");
}

// ---- the caller as a writer ----

#[test]
fn a_caller_is_an_io_writer_and_writes_frames() {
    let mut listener = Listener::bind(LOOPBACK).unwrap();
    listener
        .attach(|caller| {
            writeln!(&*caller, "hello {}", caller.id())?;
            caller.write_frame(&LengthPrefixed::new(), b"framed")?;
            let mut own = caller.clone();
            own.write_all(b"!")?;
            own.flush()?;
            Ok(Replies)
        })
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    let line = read_until_newline(&client);
    assert!(line.starts_with("hello "), "{line}");
    assert_eq!(
        client.read_frame(&LengthPrefixed::new()).unwrap(),
        b"framed"
    );
    assert_eq!(client.read_bytes_exact(1).unwrap(), b"!");
}

fn read_until_newline(client: &Client) -> String {
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        line.extend(client.read_bytes_exact(1).unwrap());
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn try_write_bytes_never_waits_and_never_writes_part_of_a_write() {
    // A peer that never reads, a 64 KiB queue: writes of 10,000 bytes from another thread
    // go out until the socket and the queue are full; then try_write_bytes says
    // WouldBlock at once, without writing any of that write. What the peer finally reads
    // is exactly the writes that returned Ok, each whole.
    const RECORD: usize = 10_000;
    let (listener, callers) = caller_listener(listener_config().write_queue_bytes(64 * 1024));
    let peer = TcpStream::connect(listener.local_addr()).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let caller = callers.recv_timeout(WAIT).unwrap();
    let writer = thread::spawn(move || {
        let mut accepted = 0u32;
        let deadline = Instant::now() + WAIT;
        loop {
            let record = [(accepted % 251) as u8; RECORD];
            let started = Instant::now();
            match caller.try_write_bytes(&record) {
                Ok(()) => accepted += 1,
                Err(err) => {
                    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
                    assert!(started.elapsed() < Duration::from_secs(1), "it waited");
                    assert!(!caller.is_closed(), "a full queue closes nothing");
                    // A write longer than the whole queue never fits.
                    let err = caller.try_write_bytes(&vec![0; 65 * 1024]).unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::WouldBlock);
                    caller.close().unwrap();
                    return accepted;
                }
            }
            assert!(Instant::now() < deadline, "the queue never filled");
        }
    });
    let accepted = writer.join().unwrap();
    let mut all = Vec::new();
    (&peer).read_to_end(&mut all).unwrap();
    assert_eq!(all.len(), accepted as usize * RECORD, "only whole writes");
    for (i, record) in all.chunks(RECORD).enumerate() {
        assert!(record.iter().all(|&b| b == (i % 251) as u8), "record {i}");
    }
    listener.immediate_stop().unwrap();
}

#[test]
fn write_bytes_timeout_bounds_a_write_to_a_peer_that_never_reads() {
    let (_listener, callers) = caller_listener(listener_config());
    let _peer = TcpStream::connect(_listener.local_addr()).unwrap();
    let caller = callers.recv_timeout(WAIT).unwrap();
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = caller
        .write_bytes_timeout(&vec![0; 64 << 20], timeout)
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(took >= timeout && took <= bound(timeout), "{took:?}");
    // The error names the timeout the write was given, not the listener's write_timeout.
    assert!(err.to_string().contains("timeout of 500ms"), "{err}");
    assert!(!err.to_string().contains("write_timeout"), "{err}");
}

// ---- a reply after the peer has finished sending ----

struct Summer(u64);

impl ConnectionService for Summer {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        self.0 += data.iter().map(|&b| u64::from(b)).sum::<u64>();
        Ok(Reply::None)
    }

    fn on_eof(&mut self, caller: &Caller) -> Result<(), Error> {
        caller.write_bytes(format!("sum {}", self.0).as_bytes())
    }
}

#[test]
fn on_eof_answers_a_peer_that_shut_down_its_sending_side() {
    let mut listener = Listener::bind(LOOPBACK).unwrap();
    listener.attach(|_| Ok(Summer(0))).unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    let data = vec![3u8; 1 << 20];
    client.write_bytes(&data).unwrap();
    client.shutdown_write().unwrap();
    let answer = read_to_end(&client).unwrap();
    assert_eq!(answer, format!("sum {}", 3 << 20).as_bytes());
    assert_eq!(
        client.write_bytes(b"more").unwrap_err().kind(),
        ErrorKind::Closed
    );
}

// ---- stopping from anywhere ----

#[test]
fn a_stop_handle_stops_a_served_listener_from_another_thread() {
    let listener = Listener::bind(LOOPBACK).unwrap();
    let addr = listener.local_addr();
    let stop = listener.stop_handle();
    let (served_tx, served) = mpsc::channel();
    let server = thread::spawn(move || {
        let result = listener.serve(|_| Ok(Echo));
        let _ = served_tx.send(());
        result
    });
    let client = Client::connect_with(&addr, &client_config()).unwrap();
    client.write_bytes(b"up").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"up");
    assert!(stop.is_running());
    let also = stop.clone();
    thread::spawn(move || also.graceful_stop(Duration::from_secs(5)))
        .join()
        .unwrap()
        .unwrap();
    served.recv_timeout(WAIT).expect("serve returned");
    server.join().unwrap().unwrap();
    assert!(!stop.is_running());
    assert!(Client::connect(addr).is_err(), "no longer accepting");
}

struct StopsItself(synctcp::StopHandle);

impl ConnectionService for StopsItself {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let started = Instant::now();
        self.0.graceful_stop(Duration::from_secs(10))?;
        Ok(format!("stopped in {} ms", started.elapsed().as_millis()).into())
    }
}

#[test]
fn a_graceful_stop_from_inside_a_callback_does_not_wait_for_itself() {
    let mut listener = Listener::bind(LOOPBACK).unwrap();
    let stop = listener.stop_handle();
    listener
        .attach(move |_| Ok(StopsItself(stop.clone())))
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"stop").unwrap();
    // The reply of the callback that stopped the listener arrives, then the end of stream.
    let reply = String::from_utf8(read_to_end(&client).unwrap()).unwrap();
    let millis: u64 = reply
        .strip_prefix("stopped in ")
        .and_then(|r| r.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("{reply:?}"))
        .parse()
        .unwrap();
    assert!(
        millis < 2_000,
        "the stop waited for its own callback: {reply}"
    );
    assert!(!listener.is_running());
}

/// Its first `on_bytes` says it runs, waits until another thread's stop has begun, then
/// stops the listener itself (a "shutdown" command while a signal thread is stopping).
struct StopsDuringAStop(synctcp::StopHandle, mpsc::Sender<()>);

impl ConnectionService for StopsDuringAStop {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        let _ = self.1.send(());
        wait_until(WAIT, "the other stop to begin", || !self.0.is_running());
        let started = Instant::now();
        self.0.graceful_stop(Duration::from_secs(10))?;
        Ok(format!("stopped in {} ms", started.elapsed().as_millis()).into())
    }
}

#[test]
fn a_stop_from_inside_a_callback_during_another_stop_returns_at_once_and_its_reply_goes_out() {
    let mut listener = Listener::bind(LOOPBACK).unwrap();
    let stop = listener.stop_handle();
    let inner = stop.clone();
    let (running_tx, running) = mpsc::channel();
    let running_tx = std::sync::Mutex::new(running_tx);
    listener
        .attach(move |_| {
            let running = running_tx.lock().unwrap().clone();
            Ok(StopsDuringAStop(inner.clone(), running))
        })
        .unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"stop").unwrap();
    // The outer stop comes while the callback runs (before it, it would close the
    // connection before the callback could).
    running.recv_timeout(WAIT).expect("on_bytes runs");
    let outer = thread::spawn(move || {
        let started = Instant::now();
        (
            stop.graceful_stop(Duration::from_secs(5)),
            started.elapsed(),
        )
    });
    // Before the fix, the two stops waited for each other until the outer one's deadline
    // forced the connection closed, its reply lost.
    let reply = String::from_utf8(read_to_end(&client).unwrap()).unwrap();
    assert!(reply.starts_with("stopped in "), "{reply:?}");
    drop(client); // our FIN ends the connection's drain
    let (outcome, took) = outer.join().unwrap();
    outcome.unwrap();
    assert!(
        took < Duration::from_secs(5),
        "the outer stop took {took:?}"
    );
}

#[test]
fn an_immediate_stop_hurries_a_graceful_stop_under_way() {
    // A peer that never answers our FIN holds a graceful stop for the drain timeout; an
    // immediate stop (a second Ctrl-C) closes it at once.
    let config = listener_config().drain_timeout(Duration::from_secs(60));
    let listener = echo_listener_with(config);
    let client = connect(&listener);
    client.write_bytes(b"up").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"up");
    let stop = listener.stop_handle();
    let graceful = {
        let stop = stop.clone();
        thread::spawn(move || stop.graceful_stop(Duration::from_secs(120)))
    };
    wait_until(WAIT, "the graceful stop to begin", || !stop.is_running());
    let started = Instant::now();
    stop.immediate_stop().unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the immediate stop waited for the graceful one: {took:?}"
    );
    graceful.join().unwrap().unwrap();
    assert!(listener.connection_count() == 0);
    drop(client);
}

// ---- errors users raise ----

struct Parser(mpsc::Sender<(ErrorKind, String, bool)>);

impl ConnectionService for Parser {
    fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
        let text = std::str::from_utf8(data)?; // Utf8Error
        let number: u32 = text.trim().parse()?; // ParseIntError
        Ok(format!("{}", number * 2).into())
    }

    fn on_error(&mut self, _: &Caller, err: &Error) {
        let has_source = std::error::Error::source(err).is_some();
        let _ = self.0.send((err.kind(), err.to_string(), has_source));
    }
}

#[test]
fn question_mark_on_parse_errors_in_a_callback_is_invalid_data_with_its_source() {
    let (tx, errors) = mpsc::channel();
    for (input, expected) in [
        (&b"\xff\xfe"[..], "invalid utf-8"),
        (b"12x", "invalid digit"),
    ] {
        let mut listener = Listener::bind(LOOPBACK).unwrap();
        let tx = tx.clone();
        listener.attach(move |_| Ok(Parser(tx.clone()))).unwrap();
        listener.start().unwrap();
        let client = connect(&listener);
        client.write_bytes(b"21").unwrap();
        assert_eq!(client.read_bytes_exact(2).unwrap(), b"42");
        client.write_bytes(input).unwrap();
        let (kind, text, has_source) = errors.recv_timeout(WAIT).unwrap();
        assert_eq!(kind, ErrorKind::InvalidData);
        assert!(text.contains(expected), "{text}");
        assert!(has_source);
    }
    let err = Error::with_source(
        ErrorKind::Other,
        "load the table",
        std::io::Error::other("disk on fire"),
    );
    assert_eq!(err.to_string(), "load the table: disk on fire");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn the_default_on_error_prints_when_no_logger_is_installed() {
    // Run the body in a child process (this test binary, filtered to the ignored test
    // below), where no logger is installed, and read its standard error.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "default_on_error_body",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("synctcp: connection ") && stderr.contains("the service said no"),
        "nothing a beginner would see: {stderr}"
    );
}

struct Refuses;

impl ConnectionService for Refuses {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        Err(Error::new(ErrorKind::Other, "the service said no"))
    }
}

#[test]
#[ignore = "the body of the_default_on_error_prints_when_no_logger_is_installed"]
fn default_on_error_body() {
    let mut listener = Listener::bind(LOOPBACK).unwrap();
    listener.attach(|_| Ok(Refuses)).unwrap();
    listener.start().unwrap();
    let client = connect(&listener);
    client.write_bytes(b"x").unwrap();
    assert_eq!(read_to_end(&client).unwrap(), b""); // on_error ran, then the close
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

// ---- small std shapes ----

#[test]
fn client_timeouts_change_at_run_time() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = Client::connect(server.local_addr().unwrap()).unwrap();
    let _peer = server.accept().unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert_eq!(client.read_timeout(), Some(Duration::from_millis(100)));
    let started = Instant::now();
    assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        client
            .set_write_timeout(Some(Duration::ZERO))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidConfig
    );
    client.set_write_timeout(None).unwrap();
    assert_eq!(client.write_timeout(), None);
}

#[test]
fn std_sockets_go_in_and_descriptors_come_out() {
    use std::os::fd::AsRawFd;
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = socket.as_raw_fd();
    let mut listener = Listener::from_std(socket).unwrap();
    assert_eq!(listener.as_raw_fd(), fd);
    listener.attach(|_| Ok(Echo)).unwrap();
    listener.start().unwrap();
    let stream = TcpStream::connect(listener.local_addr()).unwrap();
    let stream_fd = stream.as_raw_fd();
    let client = Client::from_std(stream).unwrap();
    assert_eq!(client.as_raw_fd(), stream_fd);
    assert_eq!(client.peer_addr(), listener.local_addr());
    assert_eq!(client.remote_addr(), client.peer_addr());
    assert_eq!(client.remote_port(), listener.local_addr().port());
    client.write_bytes(b"std").unwrap();
    assert_eq!(client.read_bytes_exact(3).unwrap(), b"std");
    listener.graceful_stop(Duration::from_secs(5)).unwrap();
}

#[test]
fn keepalive_is_on_by_default_and_configurable() {
    let listener = echo_listener();
    let client = Client::connect(listener.local_addr()).unwrap();
    let socket = socket2::SockRef::from(&client);
    assert!(socket.keepalive().unwrap());
    assert_eq!(
        socket.tcp_keepalive_time().unwrap(),
        Duration::from_secs(60)
    );
    assert_eq!(
        socket.tcp_keepalive_interval().unwrap(),
        Duration::from_secs(10)
    );
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 6);

    let eager = Keepalive {
        idle: Duration::from_secs(5),
        retries: 2,
        ..Keepalive::default()
    };
    let client = Client::connect_with(
        listener.local_addr(),
        &ClientConfig::new().keepalive(Some(eager)),
    )
    .unwrap();
    let socket = socket2::SockRef::from(&client);
    assert_eq!(socket.tcp_keepalive_time().unwrap(), Duration::from_secs(5));
    assert_eq!(socket.tcp_keepalive_retries().unwrap(), 2);
    let off =
        Client::connect_with(listener.local_addr(), &ClientConfig::new().keepalive(None)).unwrap();
    assert!(!socket2::SockRef::from(&off).keepalive().unwrap());
}

/// The socket options an accepted connection has, as its handler sees them.
#[derive(Debug, PartialEq)]
struct Options {
    nodelay: bool,
    keepalive: Option<Duration>,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

fn accepted_options(config: ListenerConfig) -> Options {
    let mut listener = Listener::bind_with("127.0.0.1:0", &config).unwrap();
    let (tx, rx) = mpsc::channel();
    listener
        .attach_handler(move |stream| {
            let socket = socket2::SockRef::from(&*stream);
            let keepalive = match socket.keepalive().unwrap() {
                true => Some(socket.tcp_keepalive_time().unwrap()),
                false => None,
            };
            tx.send(Options {
                nodelay: socket.tcp_nodelay().unwrap(),
                keepalive,
                read_timeout: socket.read_timeout().unwrap(),
                write_timeout: socket.write_timeout().unwrap(),
            })
            .unwrap();
            Ok(())
        })
        .unwrap();
    listener.start().unwrap();
    let client = Client::connect(listener.local_addr()).unwrap();
    let options = rx.recv_timeout(WAIT).unwrap();
    drop(client);
    listener.graceful_stop(WAIT).unwrap();
    options
}

/// Linux gives an accepted socket the listening socket's options, its receive timeout too
/// (which bounds `accept` for the spare workers): an idle connection must not inherit that
/// one, or its thread wakes every ten seconds for nothing.
#[test]
fn accepted_connections_have_the_configured_options_and_no_receive_timeout() {
    let default =
        accepted_options(ListenerConfig::new().write_timeout(Some(Duration::from_secs(7))));
    assert_eq!(
        default,
        Options {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
            read_timeout: None,
            write_timeout: Some(Duration::from_secs(7)),
        }
    );
    let other = ListenerConfig::new()
        .nodelay(false)
        .keepalive(None)
        .write_timeout(None);
    assert_eq!(
        accepted_options(other),
        Options {
            nodelay: false,
            keepalive: None,
            read_timeout: None,
            write_timeout: None,
        }
    );
}

/// Only zero is refused: half a microsecond is a (tiny) limit, never "no limit", which
/// is what a socket timeout of zero means. (socket2 would cut it to zero.)
#[test]
fn a_sub_microsecond_write_timeout_stays_a_limit_on_accepted_sockets() {
    let config = ListenerConfig::new().write_timeout(Some(Duration::from_nanos(500)));
    let options = accepted_options(config);
    assert!(options.write_timeout.is_some(), "{options:?}");
}

#[test]
fn a_peer_that_half_closes_still_gets_its_echo() {
    // The std shapes agree: a std peer's shutdown(Write) is on_eof on our side.
    let listener = echo_listener();
    let mut peer = TcpStream::connect(listener.local_addr()).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    peer.write_all(b"last words").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let mut all = Vec::new();
    peer.read_to_end(&mut all).unwrap();
    assert_eq!(all, b"last words");
}
