//! Unix domain sockets: both server shapes, many clients, limits, stopping, the socket
//! file's life (stale files, live ones, files that are not sockets, its mode), peer
//! credentials, and clear errors for paths that cannot be sockets.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{client_config, wait_until, Echo, TempDir, WAIT};
use synctcp::{Addr, Caller, Client, ErrorKind, Listener, ListenerConfig, Stream};

fn echo_on(path: &Path, config: &ListenerConfig) -> Listener {
    let mut listener = Listener::bind_with(path, config).expect("bind");
    listener.attach(|_| Ok(Echo)).expect("attach");
    listener.start().expect("start");
    listener
}

fn connect(path: &Path) -> Client {
    Client::connect_with(path, &client_config()).expect("connect")
}

fn is_socket(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

#[test]
fn callbacks_echo_and_the_caller_says_who_connected() {
    let dir = TempDir::new("callbacks");
    let path = dir.path("echo.sock");
    let (tx, rx) = mpsc::channel::<Caller>();
    let mut listener = Listener::bind(path.as_path()).unwrap();
    assert_eq!(listener.local_addr(), Addr::Unix(Some(path.clone())));
    listener
        .attach(move |caller| {
            let _ = tx.send(caller.clone());
            Ok(Echo)
        })
        .unwrap();
    listener.start().unwrap();
    assert!(is_socket(&path));

    let client = connect(&path);
    client.write_bytes(b"over a file").unwrap();
    assert_eq!(client.read_bytes_exact(11).unwrap(), b"over a file");
    assert_eq!(client.remote_addr(), Addr::Unix(Some(path.clone())));
    assert_eq!(client.remote_port(), None);

    let caller = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(caller.local_addr().unix_path(), Some(path.as_path()));
    assert_eq!(caller.remote_addr(), Addr::Unix(None));
    assert_eq!(caller.remote_host(), None);
    assert_eq!(caller.remote_addr().to_string(), "unix:(unnamed)");
    // The system vouches for the peer: this process, its user (the owner of a file it
    // creates) and group.
    #[cfg(feature = "peer-credentials")]
    {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata(dir.dir()).unwrap();
        let peer = caller.peer_credentials().expect("credentials on Linux");
        assert_eq!(peer.pid, Some(std::process::id()));
        assert_eq!(peer.uid, me.uid());
        assert_eq!(peer.gid, me.gid());
    }

    // Also through the string form, as a config file or command line would give it.
    let second = Client::connect(format!("unix:{}", path.display())).unwrap();
    second.write_bytes(b"2").unwrap();
    assert_eq!(second.read_bytes_exact(1).unwrap(), b"2");
    // And to the listener's own address, whatever its kind.
    let third = Client::connect(listener.local_addr()).unwrap();
    third.write_bytes(b"3").unwrap();
    assert_eq!(third.read_bytes_exact(1).unwrap(), b"3");
}

#[test]
fn stream_handlers_serve_sixty_four_clients_at_once() {
    let dir = TempDir::new("streams64");
    let path = dir.path("lines.sock");
    let mut listener = Listener::bind(path.as_path()).unwrap();
    listener
        .attach_handler(|stream: &mut Stream| {
            #[cfg(feature = "peer-credentials")]
            assert!(stream.peer_credentials().is_some());
            let mut lines = BufReader::new(&*stream);
            let mut line = String::new();
            while lines.read_line(&mut line)? > 0 {
                stream.write_bytes(line.to_uppercase().as_bytes())?;
                line.clear();
            }
            Ok(())
        })
        .unwrap();
    listener.start().unwrap();

    let clients: Vec<_> = (0..64)
        .map(|n| {
            let path = path.clone();
            thread::spawn(move || {
                let client = connect(&path);
                let mut want = Vec::new();
                for round in 0..20 {
                    let line = format!("client {n} round {round} {}\n", "x".repeat(n * 37));
                    client.write_bytes(line.as_bytes()).unwrap();
                    want.extend_from_slice(line.to_uppercase().as_bytes());
                }
                client.shutdown_write().unwrap();
                let mut got = Vec::new();
                loop {
                    match client.read_bytes() {
                        Ok(bytes) => got.extend_from_slice(&bytes),
                        Err(e) if e.kind() == ErrorKind::Closed => break,
                        Err(e) => panic!("client {n}: {e}"),
                    }
                }
                assert_eq!(got, want, "client {n}");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    wait_until(WAIT, "every connection closed", || {
        listener.connection_count() == 0
    });
    let stats = listener.stats();
    assert_eq!(stats.accepted, 64);
    assert_eq!(stats.closed.by_peer + stats.closed.locally, 64);
}

#[test]
fn limits_hold_max_connections_and_the_idle_timeout() {
    let dir = TempDir::new("limits");
    let path = dir.path("limited.sock");
    let config = ListenerConfig::new()
        .max_connections(1)
        .idle_timeout(Some(Duration::from_millis(300)));
    let listener = echo_on(&path, &config);

    // The idle one is closed by the listener after its timeout.
    let idle = connect(&path);
    let started = Instant::now();
    let err = idle.read_bytes().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(250));

    // At the limit, a second client waits in the backlog until the first leaves.
    let first = connect(&path);
    first.write_bytes(b"a").unwrap();
    assert_eq!(first.read_bytes_exact(1).unwrap(), b"a");
    let second = connect(&path);
    second.write_bytes(b"b").unwrap();
    assert_eq!(listener.connection_count(), 1);
    first.close().unwrap();
    assert_eq!(second.read_bytes_exact(1).unwrap(), b"b");
    assert!(listener.stats().closed.by_timeout >= 1);
}

#[test]
fn a_stop_removes_the_file_refuses_clients_and_a_start_binds_it_again() {
    let dir = TempDir::new("stop");
    let path = dir.path("stop.sock");
    let mut listener = echo_on(&path, &ListenerConfig::new());
    let client = connect(&path);
    client.write_bytes(b"x").unwrap();
    assert_eq!(client.read_bytes_exact(1).unwrap(), b"x");

    listener.graceful_stop(WAIT).unwrap();
    assert!(!path.exists(), "the socket file outlived the stop");
    assert_eq!(client.read_bytes().unwrap_err().kind(), ErrorKind::Closed);
    let err = Client::connect(path.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    listener.start().unwrap();
    assert!(is_socket(&path));
    let again = connect(&path);
    again.write_bytes(b"y").unwrap();
    assert_eq!(again.read_bytes_exact(1).unwrap(), b"y");

    drop(again);
    drop(listener);
    assert!(!path.exists(), "the socket file outlived the listener");
}

#[test]
fn a_blocked_stream_read_times_out_on_its_own_and_is_woken_by_a_stop() {
    let dir = TempDir::new("blocked");
    let path = dir.path("blocked.sock");
    let (tx, rx) = mpsc::channel();
    let mut listener = Listener::bind(path.as_path()).unwrap();
    listener
        .attach_handler(move |stream: &mut Stream| {
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            let _ = tx.send((stream.read_bytes().unwrap_err().kind(), String::new()));
            stream.set_read_timeout(None)?;
            let e = stream.read_bytes().unwrap_err();
            let _ = tx.send((e.kind(), e.to_string()));
            Ok(())
        })
        .unwrap();
    listener.start().unwrap();
    let _client = connect(&path);
    assert_eq!(rx.recv_timeout(WAIT).unwrap().0, ErrorKind::Timeout);
    // Now blocked with no timeout: a graceful stop lets it run to its deadline, then
    // wakes it.
    let handle = listener.stop_handle();
    let stopper = thread::spawn(move || handle.graceful_stop(Duration::from_millis(300)));
    let (kind, text) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(kind, ErrorKind::Closed);
    assert!(
        !text.contains("peer"),
        "the stop is not the peer's doing: {text}"
    );
    stopper.join().unwrap().unwrap();
    assert!(!path.exists());
}

#[test]
fn a_stale_socket_file_is_replaced_but_a_live_one_and_other_files_are_not() {
    let dir = TempDir::new("stale");

    // Left behind by a process that is gone: std leaves the file when the socket closes.
    let stale = dir.path("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(is_socket(&stale));
    let listener = echo_on(&stale, &ListenerConfig::new());
    let client = connect(&stale);
    client.write_bytes(b"s").unwrap();
    assert_eq!(client.read_bytes_exact(1).unwrap(), b"s");

    // Someone listens there: not taken, and the first listener goes on serving.
    let err = Listener::bind(stale.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddressInUse, "{err}");
    assert!(err.to_string().contains("another process"), "{err}");
    assert!(
        err.to_string().contains(&stale.display().to_string()),
        "{err}"
    );
    let again = connect(&stale);
    again.write_bytes(b"t").unwrap();
    assert_eq!(again.read_bytes_exact(1).unwrap(), b"t");
    drop(listener);

    // A regular file is never removed.
    let file = dir.path("notes.txt");
    std::fs::write(&file, b"keep me").unwrap();
    let err = Listener::bind(file.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddressInUse, "{err}");
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn a_socket_rebound_by_someone_else_after_ours_is_not_removed_by_our_stop() {
    let dir = TempDir::new("rebound");
    let path = dir.path("shared.sock");
    let ours = echo_on(&path, &ListenerConfig::new());
    // Another program removes our file and binds its own socket there.
    std::fs::remove_file(&path).unwrap();
    let theirs = UnixListener::bind(&path).unwrap();
    ours.graceful_stop(WAIT).unwrap();
    drop(ours);
    assert!(
        is_socket(&path),
        "our stop removed someone else's socket file"
    );
    let mut peer = UnixStream::connect(&path).unwrap();
    let (mut served, _) = theirs.accept().unwrap();
    peer.write_all(b"z").unwrap();
    let mut byte = [0];
    served.read_exact(&mut byte).unwrap();
    assert_eq!(&byte, b"z");
}

#[test]
fn the_socket_file_gets_the_mode_asked_for() {
    let dir = TempDir::new("mode");
    for mode in [0o600, 0o660, 0o666] {
        let path = dir.path(&format!("mode-{mode:o}.sock"));
        let listener = echo_on(&path, &ListenerConfig::new().unix_mode(mode));
        let got = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "asked {mode:o}, got {got:o}");
        let client = connect(&path);
        client.write_bytes(b"m").unwrap();
        assert_eq!(client.read_bytes_exact(1).unwrap(), b"m");
        drop(listener);
    }
    let err = Listener::bind_with(
        dir.path("bad.sock").as_path(),
        &ListenerConfig::new().unix_mode(0o1777),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(!dir.path("bad.sock").exists());
}

#[test]
fn paths_that_cannot_be_sockets_are_clear_errors_naming_them() {
    let dir = TempDir::new("paths");
    let long = dir.path(&"l".repeat(200));
    let err = Listener::bind(long.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.to_string().contains("at most"), "{err}");
    assert!(
        err.to_string().contains(&long.display().to_string()),
        "{err}"
    );
    let err = Client::connect(long.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");

    let err = Listener::bind(Path::new("")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");

    let missing_dir = dir.path("no/such/dir.sock");
    let err = Listener::bind(missing_dir.as_path()).unwrap_err();
    assert!(
        err.to_string().contains(&missing_dir.display().to_string()),
        "{err}"
    );

    let nothing = dir.path("nobody.sock");
    let err = Client::connect(nothing.as_path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(err.to_string().contains("nobody.sock"), "{err}");

    // A plain path string is not taken for a host name.
    let err = Client::connect("/run/app.sock").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(err.to_string().contains("unix:"), "{err}");
}

#[test]
fn a_big_echo_and_a_peer_that_leaves_mid_write() {
    let dir = TempDir::new("bulk");
    let path = dir.path("bulk.sock");
    let listener = echo_on(&path, &ListenerConfig::new());
    // 8 MiB through the echo, far past the socket buffers and the read buffer.
    let client = connect(&path);
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let echoed = thread::scope(|s| {
        let writer = s.spawn(|| client.write_bytes(&data));
        let echoed = client.read_bytes_exact(data.len()).unwrap();
        writer.join().unwrap().unwrap();
        echoed
    });
    assert!(echoed == data, "the echo differs");

    // A peer that goes away while the listener is writing a big reply to it: the write
    // fails (EPIPE; a Unix socket has no reset) and the connection ends, promptly.
    drop(client);
    drop(listener);
    let big = dir.path("big.sock");
    let mut listener = Listener::bind(big.as_path()).unwrap();
    listener
        .attach(|_| Ok(BigReply(vec![1u8; 16 << 20])))
        .unwrap();
    listener.start().unwrap();
    let mut raw = UnixStream::connect(&big).unwrap();
    raw.write_all(b"go").unwrap();
    let mut first = [0u8; 4096];
    raw.read_exact(&mut first).unwrap();
    let started = Instant::now();
    drop(raw);
    wait_until(WAIT, "the connection ended", || {
        listener.connection_count() == 0
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let stats = listener.stats();
    assert_eq!(stats.closed.by_error + stats.closed.by_peer, 1, "{stats:?}");
}

/// Answers anything with one big reply.
struct BigReply(Vec<u8>);

impl synctcp::ConnectionService for BigReply {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<synctcp::Reply, synctcp::Error> {
        Ok(synctcp::Reply::Bytes(self.0.clone()))
    }
}

/// Binds `path` from two threads at the same moment, `rounds` times (each round on a fresh
/// path, with a stale file there first if `stale`); returns in how many rounds both won.
fn race_to_bind(dir: &TempDir, rounds: usize, stale: bool) -> usize {
    let mut both = 0;
    for i in 0..rounds {
        let path = dir.path(&format!("r{i}.sock"));
        if stale {
            drop(UnixListener::bind(&path).unwrap());
        }
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let binders: Vec<_> = (0..2)
            .map(|_| {
                let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    Listener::bind(path.as_path())
                })
            })
            .collect();
        let results: Vec<_> = binders.into_iter().map(|b| b.join().unwrap()).collect();
        for result in &results {
            if let Err(e) = result {
                assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");
            }
        }
        if results.iter().all(|r| r.is_ok()) {
            both += 1;
        }
    }
    both
}

/// Any user who can read a directory can lock it: that must not stop a bind there for
/// longer than the turn a bind waits (a second).
#[test]
fn a_lock_someone_else_holds_on_the_directory_does_not_stop_a_bind() {
    let dir = TempDir::new("held-lock");
    let holder = std::fs::File::open(dir.dir()).unwrap();
    holder.lock().unwrap();
    let path = dir.path("s.sock");
    let (tx, rx) = mpsc::channel();
    let binding = path.clone();
    let binder = thread::spawn(move || {
        let bound = Listener::bind(binding.as_path()).map(drop);
        let _ = tx.send(());
        bound
    });
    let returned = rx.recv_timeout(WAIT).is_ok();
    drop(holder);
    assert!(returned, "bind still waiting for the directory's lock");
    binder.join().unwrap().unwrap();
}

#[test]
fn two_listeners_binding_one_path_at_once_never_both_win() {
    let dir = TempDir::new("bind-race");
    assert_eq!(race_to_bind(&dir, 200, false), 0, "fresh path");
    assert_eq!(race_to_bind(&dir, 200, true), 0, "stale file");
}

#[test]
fn binding_over_a_live_socket_with_a_full_backlog_is_address_in_use_not_a_hang() {
    let dir = TempDir::new("full-backlog");
    let path = dir.path("full.sock");
    // Bound and never started: connects wait in its backlog until it is full.
    let first = Listener::bind_with(path.as_path(), &ListenerConfig::new().backlog(1)).unwrap();
    let mut held = Vec::new();
    for _ in 0..64 {
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        match s.connect(&socket2::SockAddr::unix(&path).unwrap()) {
            Ok(()) => held.push(s),
            Err(_) => break,
        }
    }
    let (tx, rx) = mpsc::channel();
    let second = path.clone();
    thread::spawn(move || {
        let _ = tx.send(Listener::bind(second.as_path()).map(|_| ()));
    });
    let result = rx
        .recv_timeout(WAIT)
        .expect("a bind over a busy live socket hung");
    assert_eq!(result.unwrap_err().kind(), ErrorKind::AddressInUse);
    assert!(is_socket(&path));
    drop(first);
}

#[test]
fn a_path_with_a_nul_byte_is_refused_and_creates_no_file() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("nul");
    let truncated = dir.path("a");
    let mut raw = truncated.as_os_str().as_bytes().to_vec();
    raw.extend_from_slice(b"\0b.sock");
    let with_nul = PathBuf::from(std::ffi::OsStr::from_bytes(&raw));

    let e = Listener::bind(with_nul.as_path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
    assert!(e.to_string().contains("NUL"), "{e}");
    assert!(
        std::fs::symlink_metadata(&truncated).is_err(),
        "a stray file"
    );

    // Nor does a client reach a socket at the path before the NUL.
    let _other = UnixListener::bind(&truncated).unwrap();
    let e = Client::connect_with(with_nul.as_path(), &client_config()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
}

#[test]
fn a_client_waiting_in_the_backlog_at_a_stop_sees_the_end_at_once() {
    let dir = TempDir::new("backlog-stop");
    let path = dir.path("b.sock");
    let listener = echo_on(&path, &ListenerConfig::new().max_connections(1));
    let first = connect(&path);
    first.write_bytes(b"a").unwrap();
    assert_eq!(first.read_bytes_exact(1).unwrap(), b"a");
    // At max_connections 1 the second waits in the backlog, never accepted.
    let patient = synctcp::ClientConfig::new().timeout(Some(Duration::from_secs(60)));
    let second = Client::connect_with(path.as_path(), &patient).unwrap();
    second.write_bytes(b"hello").unwrap();
    listener.graceful_stop(WAIT).unwrap();
    let started = Instant::now();
    let e = second.read_bytes().unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the backlogged client waited {:?}: {e}",
        started.elapsed()
    );
    assert_ne!(e.kind(), ErrorKind::Timeout, "{e}");
}

#[test]
fn the_mode_is_never_set_through_a_symlink_swapped_in_after_the_bind() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TempDir::new("mode-swap");
    let victim = dir.path("victim.txt");
    std::fs::write(&victim, b"secret").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = dir.path("m.sock");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // Someone who can write the directory replaces each new socket file by a link to the
    // victim, as fast as it can.
    let attacker = {
        let (path, victim, stop) = (path.clone(), victim.clone(), stop.clone());
        thread::spawn(move || {
            let link = path.with_extension("lnk");
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if is_socket(&path) {
                    let _ = std::fs::remove_file(&link);
                    let _ = std::os::unix::fs::symlink(&victim, &link);
                    if std::fs::rename(&link, &path).is_ok() {
                        swaps += 1;
                    }
                }
            }
            swaps
        })
    };
    let config = ListenerConfig::new().unix_mode(0o666);
    let mut changed = None;
    for _ in 0..2_000 {
        let _ = std::fs::remove_file(&path);
        drop(Listener::bind_with(path.as_path(), &config));
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        if mode != 0o600 {
            changed = Some(mode);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = attacker.join().unwrap();
    assert!(swaps > 0, "the attacker never got a turn");
    assert_eq!(changed, None, "the victim's mode was changed");
}
