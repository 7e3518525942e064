//! `Client::close` from one thread while another thread is blocked on the same client: the
//! close returns promptly, and the blocked writer or reader is woken with `Closed` —
//! whatever the write timeout, however stuck the peer.
//!
//! The peer is a listener whose `on_bytes` blocks on its first call (until the test lets it
//! go), so it stops reading; that first call is also the event that tells the test the
//! client's write is under way.

mod common;
#[cfg(feature = "tls")]
#[path = "common/pki.rs"]
mod pki;

use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use synctcp::{
    Caller, Client, ClientConfig, ConnectionService, Error, ErrorKind, Listener, ListenerConfig,
    Reply,
};

/// "Promptly".
const PROMPT: Duration = Duration::from_secs(1);
const MIB: usize = 1 << 20;

/// Stops reading on its first bytes: tells the test, then waits to be let go.
struct Stalls {
    first: mpsc::Sender<()>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
    stalled: bool,
}

impl ConnectionService for Stalls {
    fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
        if !self.stalled {
            self.stalled = true;
            let _ = self.first.send(());
            let _ = self.release.lock().unwrap().recv_timeout(WAIT);
        }
        Ok(Reply::None)
    }
}

/// A listener that stalls on first bytes; the receiver of "first bytes arrived", and the
/// sender whose drop lets the stalled callback go.
fn stalling_listener(config: ListenerConfig) -> (Listener, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (first_tx, first) = mpsc::channel();
    let (release_tx, release) = mpsc::channel();
    let release = Arc::new(Mutex::new(release));
    let mut listener = Listener::bind_with(LOOPBACK, &config).unwrap();
    listener
        .attach(move |_| {
            Ok(Stalls {
                first: first_tx.clone(),
                release: Arc::clone(&release),
                stalled: false,
            })
        })
        .unwrap();
    listener.start().unwrap();
    (listener, first, release_tx)
}

/// The calling thread's id, for [`wait_blocked_on_socket`].
fn thread_id() -> String {
    let link = std::fs::read_link("/proc/thread-self").expect("Linux /proc");
    link.to_string_lossy()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// Waits until thread `tid` sleeps in the kernel waiting on a socket (not on a lock):
/// the event "blocked in read/write", which no channel can report. Linux only.
fn wait_blocked_on_socket(tid: &str, what: &str) {
    wait_until(WAIT, what, || {
        let wchan =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/wchan")).unwrap_or_default();
        wchan == "wait_woken" || wchan.starts_with("sk_")
    });
}

/// Long timeouts: nothing but the close may end the blocked call.
fn patient(config: ClientConfig) -> ClientConfig {
    config.timeout(Some(WAIT)).write_timeout(Some(WAIT))
}

/// Thread A writes (all at once, or in 16 KiB pieces) until an error; thread B closes once
/// the peer has seen the first bytes and has stopped reading.
fn close_unblocks_a_stalled_writer(
    listener_config: ListenerConfig,
    client_config: ClientConfig,
    pieces: bool,
    transport: &str,
) {
    let (listener, first_bytes, release) = stalling_listener(listener_config);
    let client =
        Arc::new(Client::connect_with(listener.local_addr(), &patient(client_config)).unwrap());
    let (wrote_tx, wrote) = mpsc::channel();
    let (tid_tx, tid) = mpsc::channel();
    {
        let client = Arc::clone(&client);
        let tid_tx = tid_tx.clone();
        thread::spawn(move || {
            let _ = tid_tx.send(thread_id());
            let outcome = if pieces {
                let piece = vec![7u8; 16 * 1024];
                loop {
                    if let Err(e) = client.write_bytes(&piece) {
                        break Err(e);
                    }
                }
            } else {
                client.write_bytes(&vec![7u8; 64 * MIB])
            };
            let _ = wrote_tx.send((outcome, Instant::now()));
        });
    }
    // The writer is under way (the peer got its first bytes) and the peer reads no more.
    first_bytes
        .recv_timeout(WAIT)
        .expect("the peer never got the first bytes");
    let tid = tid.recv_timeout(WAIT).unwrap();
    wait_blocked_on_socket(&tid, "the writer blocked on the socket");

    let (closed_tx, closed) = mpsc::channel();
    let started = Instant::now();
    {
        let client = Arc::clone(&client);
        thread::spawn(move || {
            let outcome = client.close();
            let _ = closed_tx.send((outcome, started.elapsed()));
        });
    }
    let close = closed.recv_timeout(PROMPT + Duration::from_millis(500));
    let writer = wrote.recv_timeout(PROMPT + Duration::from_millis(500));
    drop(release); // let everything go before asserting
    drop(listener);

    let what = format!("{transport}: close() while another thread's write is stalled");
    let (close_result, close_took) = close.unwrap_or_else(|_| {
        panic!(
            "{what}: close did not return within {:?}",
            PROMPT + Duration::from_millis(500)
        )
    });
    close_result.unwrap();
    assert!(close_took <= PROMPT, "{what}: close took {close_took:?}");
    let (write_result, ended) = writer.unwrap_or_else(|_| {
        panic!(
            "{what}: the blocked writer was not woken within {:?} of the close",
            PROMPT
        )
    });
    let err = write_result.expect_err("the write cannot have completed");
    assert_eq!(
        err.kind(),
        ErrorKind::Closed,
        "{what}: the writer got {err}"
    );
    assert!(
        ended.duration_since(started) <= PROMPT,
        "{what}: the writer was woken {:?} after the close began",
        ended.duration_since(started)
    );
}

#[test]
fn close_unblocks_a_writer_stalled_in_a_64_mib_write() {
    close_unblocks_a_stalled_writer(listener_config(), ClientConfig::new(), false, "plain TCP");
}

#[test]
fn close_unblocks_a_writer_stalled_in_a_loop_of_small_writes() {
    close_unblocks_a_stalled_writer(listener_config(), ClientConfig::new(), true, "plain TCP");
}

fn close_wakes_a_blocked_reader(
    listener_config: ListenerConfig,
    client_config: ClientConfig,
    transport: &str,
) {
    let (listener, _first, release) = stalling_listener(listener_config);
    let client =
        Arc::new(Client::connect_with(listener.local_addr(), &patient(client_config)).unwrap());
    let (read_tx, read) = mpsc::channel();
    let (entered_tx, entered) = mpsc::channel();
    {
        let client = Arc::clone(&client);
        thread::spawn(move || {
            let _ = entered_tx.send(thread_id());
            let outcome = client.read_bytes();
            let _ = read_tx.send((outcome, Instant::now()));
        });
    }
    let tid = entered.recv_timeout(WAIT).unwrap();
    wait_blocked_on_socket(&tid, "the reader blocked on the socket");
    let started = Instant::now();
    let close = {
        let client = Arc::clone(&client);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let outcome = client.close();
            let _ = tx.send((outcome, started.elapsed()));
        });
        rx.recv_timeout(PROMPT + Duration::from_millis(500))
    };
    let reader = read.recv_timeout(PROMPT + Duration::from_millis(500));
    drop(release);
    drop(listener);

    let what = format!("{transport}: close() while another thread waits in read_bytes");
    let (close_result, took) =
        close.unwrap_or_else(|_| panic!("{what}: close did not return promptly"));
    close_result.unwrap();
    assert!(took <= PROMPT, "{what}: close took {took:?}");
    let (read_result, ended) =
        reader.unwrap_or_else(|_| panic!("{what}: the reader was not woken within {PROMPT:?}"));
    let err = read_result.expect_err("nothing was sent to read");
    assert_eq!(
        err.kind(),
        ErrorKind::Closed,
        "{what}: the reader got {err}"
    );
    assert!(
        ended.duration_since(started) <= PROMPT,
        "{what}: reader woken late"
    );
}

#[test]
fn close_wakes_a_reader_blocked_in_read_bytes() {
    close_wakes_a_blocked_reader(listener_config(), ClientConfig::new(), "plain TCP");
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use pki::Pki;
    use synctcp::{ClientSecureSocket, ListenerSecureSocket};

    fn configs(pki: &Pki) -> (ListenerConfig, ClientConfig) {
        let server = ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"));
        let client = ClientSecureSocket::new(pki.path("ca.pem"));
        (
            listener_config().secure_socket(server),
            ClientConfig::new().secure_socket(client),
        )
    }

    /// In pieces of 16 KiB, under the 64 KiB that a single TLS write could take here
    /// (defect 1 is the size matrix's business, not this test's).
    #[test]
    fn tls_close_unblocks_a_writer_stalled_in_a_loop_of_small_writes() {
        let pki = Pki::new();
        let (server, client) = configs(&pki);
        close_unblocks_a_stalled_writer(server, client, true, "TLS");
    }

    #[test]
    fn tls_close_wakes_a_reader_blocked_in_read_bytes() {
        let pki = Pki::new();
        let (server, client) = configs(&pki);
        close_wakes_a_blocked_reader(server, client, "TLS");
    }
}
