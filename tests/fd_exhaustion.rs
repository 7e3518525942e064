//! Out of file descriptors: the accept loop backs off instead of spinning, and serves again
//! once descriptors free. The listener runs in a child process whose descriptor limit is
//! lowered with the shell's `ulimit`.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use synctcp::Client;

/// CPU time (user + system) of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn out_of_descriptors_the_listener_backs_off_and_recovers() {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" 0"#)
        .arg(example("echo_server"));
    let (server, port) = start_example(command);
    let pid = server.0.id();

    // Far more connections than the server has descriptors for.
    let mut flood: Vec<Client> = (0..150).map(|_| connect_port(port)).collect();
    let mut served = 0;
    for client in flood.iter_mut().take(40) {
        client.write_bytes(b"x").unwrap();
        if client.read_bytes_exact(1).is_ok() {
            served += 1;
        }
    }
    assert_eq!(served, 40, "the first connections are served");

    // The rest wait in the backlog while accept fails with EMFILE. Over two seconds the
    // server must barely use the CPU: it backs off instead of retrying in a loop.
    let before = cpu_ticks(pid);
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(2)); // a measurement window, not a wait
    let used = cpu_ticks(pid) - before;
    let elapsed = window.elapsed();
    let cpu = Duration::from_millis(used * 1000 / ticks_per_second());
    println!("server CPU over {elapsed:?} while out of descriptors: {cpu:?}");
    assert!(
        cpu < Duration::from_millis(300),
        "spinning: {cpu:?} of CPU in {elapsed:?}"
    );

    // Free the descriptors; the server serves again.
    drop(flood);
    let deadline = Instant::now() + WAIT;
    loop {
        let client = connect_port(port);
        client.write_bytes(b"back").unwrap();
        match client.read_bytes_exact(4) {
            Ok(reply) => {
                assert_eq!(reply, b"back");
                break;
            }
            Err(err) => assert!(Instant::now() < deadline, "not serving again: {err}"),
        }
    }
}
