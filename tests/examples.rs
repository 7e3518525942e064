//! The examples, run as the programs they are: quickstart, echo_server with echo_client,
//! chat_server with three clients, kv_store with its client, sendfile both ways.

mod common;

use std::process::{Command, Output};

use common::*;
use synctcp::Client;

/// Starts a server example on port 0.
fn start_server(name: &str) -> (Running, u16) {
    let mut command = Command::new(example(name));
    command.arg("0");
    start_example(command)
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name)).args(args).output().unwrap()
}

#[test]
fn quickstart_echoes_and_exits_zero() {
    let out = run("quickstart", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("client: received \"Hello Ballerina\""),
        "{stdout}"
    );
    assert!(stdout.contains("server: stopped"), "{stdout}");
}

/// The first README command, `cargo run --example quickstart`, builds the library, its
/// four dependencies (and crossbeam's utilities) and the examples: no benchmark, TLS or
/// test dependency, and nothing behind a feature. Each crate more lengthens a first build.
#[test]
fn quickstart_builds_the_library_and_its_dependencies_only() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--quiet", "--package", "synctcp-examples"])
        .args([
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut crates: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split(' ').next())
        .map(str::to_string)
        .collect();
    crates.sort();
    crates.dedup();
    let expected = [
        "crossbeam-channel",
        "crossbeam-utils",
        "libc",
        "log",
        "socket2",
        "synctcp",
        "synctcp-examples",
    ];
    assert_eq!(crates, expected);
}

#[test]
fn echo_client_talks_to_echo_server() {
    let (_server, port) = start_server("echo_server");
    let out = run(
        "echo_client",
        &["127.0.0.1", &port.to_string(), "Hello Ballerina"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello Ballerina\n");
}

#[test]
fn echo_client_reports_bad_input_with_exit_codes() {
    let usage = run("echo_client", &[]);
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("usage: echo_client HOST PORT MESSAGE"));

    let bad_port = run("echo_client", &["127.0.0.1", "http", "x"]);
    assert_eq!(bad_port.status.code(), Some(2));

    let (_refusing, port) = refusing_port();
    let refused = run("echo_client", &["127.0.0.1", &port.to_string(), "x"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("connect to 127.0.0.1:{port}: connection refused")),
        "{stderr}"
    );
}

#[test]
fn chat_server_broadcasts_numbered_lines_to_three_clients() {
    let (_server, port) = start_server("chat_server");
    let mut clients: Vec<Client> = (0..3).map(|_| connect_port(port)).collect();
    for client in &mut clients {
        let welcome = read_line(client);
        assert!(
            welcome.starts_with("Welcome to the chat server!"),
            "{welcome}"
        );
    }
    clients[0].write_bytes(b"hello all\n").unwrap();
    for client in &mut clients {
        assert_eq!(read_line(client), "Message #1: hello all\n");
    }
    // Empty lines are skipped; a line split across writes is put back together.
    clients[1].write_bytes(b"a\n\r\n").unwrap();
    clients[1].write_bytes(b"par").unwrap();
    clients[2].write_bytes(b"from three\n").unwrap();
    clients[1].write_bytes(b"tial\n").unwrap();
    let mut seen = Vec::new();
    for client in &mut clients {
        let lines: Vec<String> = (0..3).map(|_| read_line(client)).collect();
        seen.push(lines);
    }
    assert!(
        seen.iter().all(|lines| lines == &seen[0]),
        "everyone sees one order: {seen:?}"
    );
    let mut texts: Vec<&str> = seen[0]
        .iter()
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    texts.sort_unstable();
    assert_eq!(texts, ["a\n", "from three\n", "partial\n"]);
    assert!(seen[0][2].starts_with("Message #4: "));

    // A client that leaves is removed; the others still chat.
    clients.remove(0).close().unwrap();
    clients[0].write_bytes(b"still here\n").unwrap();
    for client in &mut clients {
        assert_eq!(read_line(client), "Message #5: still here\n");
    }
}

/// Reads one line (up to and including `\n`) from a client, byte by byte.
fn read_line(client: &mut Client) -> String {
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        line.extend(client.read_bytes_exact(1).unwrap());
        assert!(line.len() < 10_000, "no newline");
    }
    String::from_utf8(line).unwrap()
}

#[test]
fn framed_chat_numbers_and_broadcasts_lines() {
    use synctcp::framing::Delimited;
    let (_server, port) = start_server("framed_chat");
    let clients: Vec<Client> = (0..3).map(|_| connect_port(port)).collect();
    let lines = Delimited::lines();
    for client in &clients {
        let welcome = client.read_frame(&lines).unwrap();
        assert!(welcome.starts_with(b"Welcome!"));
    }
    clients[2].write_bytes(b"split ").unwrap();
    clients[2].write_bytes(b"line\r\n\n").unwrap();
    for client in &clients {
        assert_eq!(
            client.read_frame(&lines).unwrap(),
            b"Message #1: split line"
        );
    }
    // A line past the limit closes only its sender's connection.
    clients[0].write_bytes(&vec![b'x'; 5000]).unwrap();
    assert!(clients[0].read_frame(&lines).is_err());
    clients[1].write_frame(&lines, b"still here").unwrap();
    assert_eq!(
        clients[2].read_frame(&lines).unwrap(),
        b"Message #2: still here"
    );
}

#[test]
fn kv_store_answers_its_client_and_stops_on_shutdown() {
    let (mut server, port) = start_server("kv_store");
    let addr = format!("127.0.0.1:{port}");
    let out = run(
        "kv_store",
        &[
            "--client",
            &addr,
            "SET colour blue",
            "GET colour",
            "DEL colour",
            "GET colour",
            "FLY away",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK\nVALUE blue\nDELETED\nNOT_FOUND\nERR unknown request \"FLY away\"\n"
    );

    // SHUTDOWN stops the server from inside its own callback: the answer still arrives,
    // and the process ends by itself, having printed "stopped".
    let out = run("kv_store", &["--client", &addr, "SHUTDOWN"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "BYE\n");
    assert_eq!(server.next_line(), "stopped\n");
    let status = wait_exit(&mut server.0, WAIT);
    assert!(status.success(), "{status:?}");
}

#[test]
fn sendfile_sends_a_file_and_verifies_the_servers_checksum() {
    let (_server, port) = start_command("sendfile", &["--serve", "0"]);
    let dir = TempDir::new("sendfile");
    for size in [0usize, 1, 65_537, 3 << 20] {
        let path = dir.path(&format!("file-{size}"));
        let data: Vec<u8> = (0..size)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let out = run(
            "sendfile",
            &[&format!("127.0.0.1:{port}"), path.to_str().unwrap()],
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{size} bytes: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.starts_with(&format!("sent {size} bytes, checksum "))
                && stdout.ends_with(", verified\n"),
            "{stdout}"
        );
    }
}

/// Starts an example with `args`, reading its port from `listening on HOST:PORT`.
fn start_command(name: &str, args: &[&str]) -> (Running, u16) {
    let mut command = Command::new(example(name));
    command.args(args);
    start_example(command)
}

/// Waits for a child to exit by itself, failing the test after `bound`.
fn wait_exit(
    child: &mut std::process::Child,
    bound: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after {bound:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn line_echo_writes_every_line_back() {
    let (_server, port) = start_server("line_echo");
    let client = connect_port(port);
    client.write_bytes(b"first\nsec").unwrap();
    client.write_bytes(b"ond\n").unwrap();
    assert_eq!(client.read_bytes_exact(13).unwrap(), b"first\nsecond\n");
}

#[test]
fn guessing_game_plays_the_same_as_a_loop_and_as_callbacks() {
    use synctcp::framing::Delimited;
    for args in [&["0"][..], &["--callbacks", "0"]] {
        let (_server, port) = start_command("guessing_game", args);
        let client = connect_port(port);
        let lines = Delimited::lines();
        let line = |client: &Client| String::from_utf8(client.read_frame(&lines).unwrap()).unwrap();
        for _game in 0..2 {
            assert_eq!(line(&client), "I am thinking of a number from 1 to 100.");
            // Binary search: at most 7 guesses.
            let (mut low, mut high) = (1, 100);
            let mut guesses = 0;
            loop {
                let guess = (low + high) / 2;
                guesses += 1;
                client.write_bytes(format!("{guess}\n").as_bytes()).unwrap();
                match line(&client).as_str() {
                    "higher" => low = guess + 1,
                    "lower" => high = guess - 1,
                    right => {
                        assert_eq!(right, format!("right! {guesses} guesses"), "{args:?}");
                        break;
                    }
                }
                assert!(guesses <= 7, "{args:?}: no answer narrows it down");
            }
        }
        client.write_bytes(b"banana\n").unwrap();
        assert_eq!(line(&client), "I am thinking of a number from 1 to 100.");
        assert_eq!(line(&client), "a number from 1 to 100, please");
    }
}

#[test]
fn chat_loops_broadcasts_numbered_lines_like_the_callback_chat() {
    use synctcp::framing::Delimited;
    let (_server, port) = start_server("chat_loops");
    let clients: Vec<Client> = (0..3).map(|_| connect_port(port)).collect();
    let lines = Delimited::lines();
    for client in &clients {
        let welcome = client.read_frame(&lines).unwrap();
        assert!(welcome.starts_with(b"Welcome! You are client "));
    }
    clients[1].write_bytes(b"hello ").unwrap();
    clients[1].write_bytes(b"loops\n\n").unwrap();
    for client in &clients {
        assert_eq!(
            client.read_frame(&lines).unwrap(),
            b"Message #1: hello loops"
        );
    }
    clients[0].close().unwrap();
    clients[2].write_bytes(b"two left\n").unwrap();
    for client in &clients[1..] {
        assert_eq!(client.read_frame(&lines).unwrap(), b"Message #2: two left");
    }
}

#[test]
fn two_processes_serve_one_port_and_one_can_stop() {
    let start = |port: u16| {
        let mut child = Command::new(example("reuse_port"))
            .arg(port.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
        (Running(child, stdout), stdin, port)
    };
    let (mut first, first_stdin, port) = start(0);
    let (_second, _second_stdin, same) = start(port);
    assert_eq!(same, port);
    let served_by = || {
        let client = connect_port(port);
        let answer = String::from_utf8(read_to_end(&client).unwrap()).unwrap();
        answer
            .trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    // The kernel spreads connections by a hash of their addresses: 64 connects reach both
    // copies (all landing on one would happen once in 2^63 runs).
    let mut ids: Vec<u32> = (0..64).map(|_| served_by()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2, "one port, two processes: {ids:?}");

    // Ending the first one's standard input stops it gracefully; the second serves all.
    drop(first_stdin);
    assert_eq!(first.next_line(), "stopped\n");
    let status = wait_exit(&mut first.0, WAIT);
    assert!(status.success());
    let first_id = first.0.id();
    for _ in 0..16 {
        let id = served_by();
        assert_ne!(id, first_id, "a stopped process still served");
    }
}

#[cfg(unix)]
#[test]
fn unix_echo_greets_by_credentials_echoes_and_removes_its_file_on_stop() {
    use std::io::BufRead;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::process::Stdio;

    let dir = TempDir::new("unix-echo");
    let path = dir.path("echo.sock");
    let mut child = Command::new(example("unix_echo"))
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("listening on unix:{}", path.display()));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let client = Client::connect_with(path.as_path(), &client_config()).unwrap();
    let lines = synctcp::framing::Delimited::lines();
    let uid = std::fs::metadata(dir.dir()).unwrap().uid();
    let greeting = String::from_utf8(client.read_frame(&lines).unwrap()).unwrap();
    assert_eq!(
        greeting,
        format!("hello, user {uid} (process {})", std::process::id())
    );
    client.write_bytes(b"one\ntwo\n").unwrap();
    assert_eq!(client.read_bytes_exact(8).unwrap(), b"one\ntwo\n");
    client.close().unwrap();

    drop(child.stdin.take()); // Ctrl-D: a graceful stop
    let status = wait_exit(&mut child, WAIT);
    assert!(status.success());
    assert!(!path.exists(), "the socket file outlived the stop");
}
