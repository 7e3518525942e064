//! The PROXY protocol against a real load balancer: HAProxy (Debian's `haproxy`, which
//! `.ci/run` installs) in front of a listener, with `send-proxy` and `send-proxy-v2`. The
//! service must see the test client's address, not HAProxy's.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use synctcp::{Caller, Listener};

/// HAProxy in the foreground, killed when dropped.
struct Haproxy {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts HAProxy listening on a free loopback port and forwarding to `backend`, with the
/// PROXY header `send_proxy` (`send-proxy` or `send-proxy-v2`). The free port is found by
/// binding port 0 and letting go of it: should another process take it meanwhile, HAProxy
/// exits and another port is tried.
fn haproxy(backend: u16, send_proxy: &str) -> Haproxy {
    let binary = which("haproxy").expect(
        "haproxy must be installed for this test (.ci/run installs Debian's haproxy package)",
    );
    for attempt in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = TempDir::new(&format!("haproxy-{backend}-{attempt}"));
        let config = dir.path("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 100\n\
                 defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
                 frontend front\n  bind 127.0.0.1:{port}\n  default_backend back\n\
                 backend back\n  server s1 127.0.0.1:{backend} {send_proxy}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(&binary)
            .arg("-db") // foreground
            .arg("-f")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Ready once its frontend accepts; gone if it could not bind.
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                eprintln!("haproxy exited ({status}) on port {port}; trying another");
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Haproxy {
                    child,
                    port,
                    _dir: dir,
                };
            }
            assert!(
                Instant::now() < deadline,
                "haproxy did not listen within {WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("haproxy could not be started on a free port");
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|path| path.is_file())
}

#[test]
fn behind_haproxy_the_service_sees_the_clients_address() {
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().proxy_protocol(true)).unwrap();
    listener
        .attach(|caller: &Caller| {
            writeln!(&*caller, "{}", caller.remote_addr())?;
            Ok(Echo)
        })
        .unwrap();
    listener.start().unwrap();
    let backend = listener.local_addr().port().unwrap();
    for send_proxy in ["send-proxy", "send-proxy-v2"] {
        let balancer = haproxy(backend, send_proxy);
        for _ in 0..3 {
            let client = TcpStream::connect(("127.0.0.1", balancer.port)).unwrap();
            client.set_read_timeout(Some(WAIT)).unwrap();
            let mut lines = BufReader::new(&client);
            let mut seen = String::new();
            lines.read_line(&mut seen).unwrap();
            assert_eq!(
                seen.trim(),
                client.local_addr().unwrap().to_string(),
                "{send_proxy}: the service saw HAProxy, not the client"
            );
            (&client).write_all(b"ping\n").unwrap();
            let mut echo = String::new();
            lines.read_line(&mut echo).unwrap();
            assert_eq!(echo, "ping\n", "{send_proxy}");
        }
    }
    assert!(listener.stats().accepted >= 6);
}
