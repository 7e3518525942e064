//! `read_bytes_exact` with a length no peer will send: an error when the peer closes,
//! never an allocation failure (which aborts the process) or a panic.

#[path = "common/hostile.rs"]
mod hostile;

use std::io::Write;
use std::net::TcpListener;
use std::thread;

use hostile::*;
use synctcp::{Client, ClientConfig, ErrorKind};

#[test]
fn read_bytes_exact_with_an_absurd_length_fails_cleanly() {
    for len in [1usize << 40, usize::MAX] {
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let peer = thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.write_all(b"only ten b").unwrap();
        });
        let config = ClientConfig::new().timeout(Some(WAIT));
        let client = Client::connect_with(("127.0.0.1", port), &config).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            client.read_bytes_exact(len)
        }));
        peer.join().unwrap();
        match r {
            Ok(Err(e)) => assert_eq!(e.kind(), ErrorKind::Closed, "len {len}: {e}"),
            Ok(Ok(b)) => panic!("len {len}: got {} bytes", b.len()),
            Err(_) => panic!("len {len}: read_bytes_exact panicked"),
        }
    }
}
