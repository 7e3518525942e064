//! The tcpcat example, run as the program it is, against the library's own listener and
//! client: both modes, line framing, timeouts, errors and exit codes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn tcpcat(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(example("tcpcat"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    wait_output(child)
}

/// Waits for a child's exit within the test bound, killing it if it hangs.
fn wait_output(mut child: Child) -> Output {
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tcpcat did not exit within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A tcpcat listener, killed when dropped, with its standard error to read.
struct ListeningCat {
    child: Child,
    stderr: BufReader<ChildStderr>,
    port: u16,
}

impl ListeningCat {
    fn start(args: &[&str]) -> ListeningCat {
        let mut child = Command::new(example("tcpcat"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{line:?}"));
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        ListeningCat {
            child,
            stderr,
            port,
        }
    }

    fn stderr_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).unwrap();
        line
    }

    /// Stops it and returns what it printed on standard output.
    fn stdout(mut self) -> String {
        let _ = self.child.kill();
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    }
}

impl Drop for ListeningCat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn help_describes_modes_options_and_exit_codes() {
    let out = tcpcat(&["--help"], b"");
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "tcpcat [options] HOST PORT",
        "--listen PORT",
        "-U",
        "--lines",
        "--timeout",
        "--tls",
        "exit codes",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}");
    }
}

#[test]
fn client_mode_sends_stdin_and_prints_the_echo() {
    let listener = echo_listener();
    let port = listener.local_addr().port().unwrap().to_string();
    let out = tcpcat(&["127.0.0.1", &port], b"hello\nworld\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\nworld\n");
}

#[test]
fn usage_errors_exit_2_and_say_what_is_wrong() {
    for (args, says) in [
        (&["127.0.0.1", "http"][..], "\"http\" is not a port number"),
        (
            &["127.0.0.1", "70000"][..],
            "\"70000\" is not a port number",
        ),
        (&["127.0.0.1"][..], "give HOST and PORT"),
        (
            &["--frobnicate", "x", "1"][..],
            "unknown option --frobnicate",
        ),
        (
            &["--timeout", "soon", "127.0.0.1", "1"][..],
            "not a number of seconds",
        ),
    ] {
        let out = tcpcat(args, b"");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_refused_connection_exits_1_with_the_address() {
    let (_refusing, port) = refusing_port();
    let out = tcpcat(&["127.0.0.1", &port.to_string()], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!("tcpcat: connect to 127.0.0.1:{port}: connection refused")
    );
}

#[test]
fn the_timeout_bounds_the_connect_as_nc_w_does() {
    let (_full, port) = full_backlog();
    let tcpcat = example("tcpcat");
    let started = Instant::now();
    let out = Command::new(tcpcat)
        .args(["-w", "1", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    // A second for the connect, and slack for starting the process on a busy machine.
    assert!(took < Duration::from_secs(5), "tcpcat -w 1 took {took:?}");
}

#[test]
fn a_silent_server_meets_the_timeout() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let child = Command::new(example("tcpcat"))
        .args(["--timeout", "0.5", "127.0.0.1", &port])
        .stdin(Stdio::piped()) // kept open: the client waits for the server only
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _held = server.accept().unwrap();
    let started = Instant::now();
    let out = wait_output(child);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("timed out"),
        "{}",
        text(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn listen_mode_prints_peers_and_their_bytes() {
    let mut cat = ListeningCat::start(&["--listen", "0"]);
    let client = connect_port(cat.port);
    client.write_bytes(b"abc").unwrap();
    let from = cat.stderr_line();
    assert_eq!(
        from.trim(),
        format!("connection from {}", client.local_addr())
    );
    client.close().unwrap();
    let closed = cat.stderr_line();
    assert_eq!(closed.trim(), format!("{} closed", client.local_addr()));
    assert_eq!(cat.stdout(), "abc");
}

#[test]
fn lines_mode_prints_whole_lines_however_they_arrive() {
    let mut cat = ListeningCat::start(&["--listen", "0", "--lines"]);
    let client = connect_port(cat.port);
    client.write_bytes(b"par").unwrap();
    client.write_bytes(b"tial\nsecond line\nnot ended").unwrap();
    client.close().unwrap();
    let _ = cat.stderr_line(); // connection from
    let _ = cat.stderr_line(); // closed
    assert_eq!(cat.stdout(), "partial\nsecond line\n");
}

#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

#[cfg(feature = "tls")]
#[test]
fn tls_on_both_sides() {
    let pki = pki::Pki::new();
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.path("ca.pem"),
    );
    let (cert, key, ca) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        ca.to_str().unwrap(),
    );
    let mut cat = ListeningCat::start(&["--listen", "0", "--tls", "--cert", cert, "--key", key]);
    let port = cat.port.to_string();
    let out = tcpcat(&["--tls", "--ca", ca, "localhost", &port], b"secret\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = cat.stderr_line();
    let _ = cat.stderr_line();
    assert_eq!(cat.stdout(), "secret\n");

    let missing = pki.path("missing.pem");
    let out = tcpcat(
        &[
            "--tls",
            "--ca",
            missing.to_str().unwrap(),
            "localhost",
            &port,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains(&missing.display().to_string()),
        "{}",
        text(&out.stderr)
    );
}

/// Without --ca, tcpcat trusts the system's trust store (`Trust::system_roots`). Pointing
/// `SSL_CERT_FILE` at the test CA, in tcpcat's environment only, makes that store hold it:
/// the connect succeeds. Pointed at another CA, the server's certificate is from an unknown
/// issuer and the connect fails.
#[cfg(feature = "tls")]
#[test]
fn tls_without_ca_trusts_the_system_store() {
    let pki = pki::Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let mut cat = ListeningCat::start(&["--listen", "0", "--tls", "--cert", cert, "--key", key]);
    let port = cat.port.to_string();
    let system_cat = |store: &str, input: &[u8]| {
        let mut child = Command::new(example("tcpcat"))
            .args(["--tls", "localhost", &port])
            .env("SSL_CERT_FILE", pki.path(store))
            .env_remove("SSL_CERT_DIR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        wait_output(child)
    };
    let out = system_cat("other-ca.pem", b"");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("UnknownIssuer"),
        "{}",
        text(&out.stderr)
    );
    let out = system_cat("ca.pem", b"trusted\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let _ = cat.stderr_line();
    let _ = cat.stderr_line();
    assert_eq!(cat.stdout(), "trusted\n");
}

#[test]
fn verbose_listen_mode_stops_when_stdin_ends_and_prints_its_counters() {
    let mut child = Command::new(example("tcpcat"))
        .args(["--listen", "0", "-v"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let client = connect_port(port);
    client.write_bytes(b"hello").unwrap();
    client.close().unwrap();
    // "connection from ..." and "... closed", then the end of standard input stops it.
    for _ in 0..2 {
        line.clear();
        stderr.read_line(&mut line).unwrap();
    }
    drop(child.stdin.take());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains("stopped: 1 accepted") && rest.contains("5 bytes in"),
        "{rest}"
    );
}

#[cfg(unix)]
#[test]
fn unix_sockets_with_dash_u_in_both_modes() {
    let dir = TempDir::new("tcpcat-unix");
    let path = dir.path("cat.sock");
    let path_text = path.to_str().unwrap();

    // Listening: -v so that the end of standard input stops it, as a graceful stop.
    let mut child = Command::new(example("tcpcat"))
        .args(["-U", "--listen", path_text, "-v"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("listening on unix:{path_text}"));
    let client = synctcp::Client::connect_with(path.as_path(), &client_config()).unwrap();
    client.write_bytes(b"over unix").unwrap();
    client.close().unwrap();
    line.clear();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "connection from unix:(unnamed)");
    drop(child.stdin.take());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let output = wait_output(child);
    assert!(output.status.success(), "{rest}");
    assert_eq!(text(&output.stdout), "over unix");
    assert!(rest.contains("9 bytes in"), "{rest}");
    assert!(!path.exists(), "tcpcat left its socket file behind");

    // Connecting, to an echo listener on a path.
    let mut listener = synctcp::Listener::bind(path.as_path()).unwrap();
    listener.attach(|_| Ok(Echo)).unwrap();
    listener.start().unwrap();
    let out = tcpcat(&["-U", path_text], b"hello\nworld\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\nworld\n");
    drop(listener);

    // Nothing there: exit 1, naming the path.
    let out = tcpcat(&["-U", path_text], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(path_text),
        "{}",
        text(&out.stderr)
    );
}
