//! The PROXY protocol on a listener: v1 and v2 headers give the original client's address;
//! a LOCAL header (a health check) is served with the real ones; anything else is refused
//! and counted, before the service — or the TLS handshake — sees a byte.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use synctcp::{Caller, Listener, ListenerConfig};

/// A listener reading PROXY headers whose service answers each connection with
/// `REMOTE VIA\n` (VIA the balancer, or "direct") and then echoes.
fn proxied_listener(config: ListenerConfig) -> Listener {
    let mut listener = Listener::bind_with(LOOPBACK, &config.proxy_protocol(true)).unwrap();
    listener
        .attach(|caller: &Caller| {
            let via = caller
                .proxied_by()
                .map_or("direct".to_string(), |b| b.to_string());
            writeln!(&*caller, "{} {via}", caller.remote_addr())?;
            Ok(Echo)
        })
        .unwrap();
    listener.start().unwrap();
    listener
}

fn tcp(listener: &Listener) -> TcpStream {
    let stream = TcpStream::connect(listener.local_addr()).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

fn first_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while !line.ends_with(b"\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed after {line:?}");
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap().trim_end().to_string()
}

fn v2(command: u8, family: u8, addresses: &[u8], tlvs: &[u8]) -> Vec<u8> {
    let mut header = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    header.push(0x20 | command);
    header.push(family);
    let len = (addresses.len() + tlvs.len()) as u16;
    header.extend_from_slice(&len.to_be_bytes());
    header.extend_from_slice(addresses);
    header.extend_from_slice(tlvs);
    header
}

#[test]
fn a_v1_header_names_the_client() {
    let listener = proxied_listener(listener_config());
    let mut balancer = tcp(&listener);
    let own = balancer.local_addr().unwrap();
    balancer
        .write_all(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nhello")
        .unwrap();
    assert_eq!(first_line(&mut balancer), format!("192.0.2.1:56324 {own}"));
    let mut echo = [0u8; 5];
    balancer.read_exact(&mut echo).unwrap();
    assert_eq!(
        &echo, b"hello",
        "the bytes after the header are the client's"
    );
}

#[test]
fn a_v2_header_with_tlvs_names_an_ipv6_client() {
    let listener = proxied_listener(listener_config());
    let mut balancer = tcp(&listener);
    let own = balancer.local_addr().unwrap();
    let source: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
    let mut addresses = Vec::new();
    addresses.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    addresses.extend_from_slice(
        &"2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    addresses.extend_from_slice(&4000u16.to_be_bytes());
    addresses.extend_from_slice(&443u16.to_be_bytes());
    let tlvs = [0x04, 0x00, 0x03, b'a', b'b', b'c']; // PP2_TYPE_NOOP, 3 bytes
    let mut wire = v2(0x1, 0x21, &addresses, &tlvs);
    wire.extend_from_slice(b"after");
    balancer.write_all(&wire).unwrap();
    assert_eq!(first_line(&mut balancer), format!("{source} {own}"));
    let mut echo = [0u8; 5];
    balancer.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"after");
}

#[test]
fn a_local_header_is_a_health_check_served_with_the_real_addresses() {
    let listener = proxied_listener(listener_config());
    let mut balancer = tcp(&listener);
    let own = balancer.local_addr().unwrap();
    balancer.write_all(&v2(0x0, 0x00, &[], &[])).unwrap();
    assert_eq!(first_line(&mut balancer), format!("{own} direct"));
    let mut v1_unknown = tcp(&listener);
    let own = v1_unknown.local_addr().unwrap();
    v1_unknown.write_all(b"PROXY UNKNOWN\r\n").unwrap();
    assert_eq!(first_line(&mut v1_unknown), format!("{own} direct"));
}

#[test]
fn a_connection_without_a_valid_header_is_refused_and_counted() {
    let listener = proxied_listener(listener_config());
    for bad in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",   // no CR
        b"PROXY TCP4 1.2.3.4 ::1 1 2\r\n",     // wrong family
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", // no such protocol
        &v2(0x1, 0x12, &[0; 12], &[]),         // UDP
        &v2(0x3, 0x11, &[0; 12], &[]),         // no such command
    ] {
        let mut peer = tcp(&listener);
        peer.write_all(bad).unwrap();
        let mut rest = Vec::new();
        // Closed without a byte from the service (perhaps with a reset: unread input).
        let _ = peer.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{:?} reached the service: {:?}", bad, rest);
    }
    wait_until(WAIT, "six refused connections counted", || {
        listener.stats().refused == 6
    });
    assert_eq!(listener.stats().closed, synctcp::Closed::default());
}

#[test]
fn a_header_that_never_ends_is_refused_at_the_header_timeout() {
    let timeout = Duration::from_millis(500);
    let listener = proxied_listener(listener_config().proxy_header_timeout(timeout));
    let mut peer = tcp(&listener);
    let started = Instant::now();
    peer.write_all(b"PROXY TCP4 1.2.3.4 ").unwrap(); // and nothing more
    let mut rest = Vec::new();
    let _ = peer.read_to_end(&mut rest);
    let took = started.elapsed();
    assert!(rest.is_empty());
    assert!(
        took >= timeout && took <= timeout + timeout / 5 + Duration::from_millis(200),
        "{took:?}"
    );
}

#[test]
fn stream_handlers_see_the_client_too() {
    let mut listener =
        Listener::bind_with(LOOPBACK, &listener_config().proxy_protocol(true)).unwrap();
    listener
        .attach_handler(|stream| {
            let via = stream.caller().proxied_by().is_some();
            writeln!(&*stream, "{} {via}", stream.peer_addr())?;
            Ok(())
        })
        .unwrap();
    listener.start().unwrap();
    let mut balancer = tcp(&listener);
    balancer
        .write_all(b"PROXY TCP6 2001:db8::7 2001:db8::8 9 10\r\n")
        .unwrap();
    assert_eq!(first_line(&mut balancer), "[2001:db8::7]:9 true");
}
