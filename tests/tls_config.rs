//! TLS configurations that can never complete a handshake are configuration errors at
//! bind time, not listeners that fail every client.
#![cfg(feature = "tls")]

mod common;
#[path = "common/pki.rs"]
mod pki;

use common::*;
use pki::Pki;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, Listener, ListenerSecureSocket,
};

fn server_tls(pki: &Pki) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
}

/// The test PKI's keys are ECDSA; an RSA-only TLS 1.2 suite cannot be used with them.
#[test]
fn cipher_suites_that_do_not_suit_the_key_are_refused_at_bind() {
    let pki = Pki::new();
    let secure = server_tls(&pki)
        .protocol_versions(["TLSv1.2"])
        .ciphers(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
    match Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)) {
        Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}"),
        Ok(mut listener) => {
            // Show what a user would meet instead.
            listener.attach(|_: &synctcp::Caller| Ok(Echo)).unwrap();
            listener.start().unwrap();
            let config = ClientConfig::new()
                .timeout(Some(WAIT))
                .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
            let outcome = Client::connect_with(
                ("127.0.0.1", listener.local_addr().port().unwrap()),
                &config,
            )
            .map(|_| "the handshake succeeded".to_string())
            .unwrap_or_else(|e| format!("every handshake fails: {e}"));
            panic!(
                "an ECDSA key with only TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (TLS 1.2) was \
                 accepted by bind_with; {outcome}"
            );
        }
    }
}

/// The control: a suite that suits the key binds and serves.
#[test]
fn a_suite_that_suits_the_key_binds_and_serves() {
    let pki = Pki::new();
    let secure = server_tls(&pki)
        .protocol_versions(["TLSv1.2"])
        .ciphers(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]);
    let listener = echo_listener_with(listener_config().secure_socket(secure));
    let config = ClientConfig::new()
        .timeout(Some(WAIT))
        .secure_socket(ClientSecureSocket::new(pki.path("ca.pem")));
    let client = Client::connect_with(
        ("127.0.0.1", listener.local_addr().port().unwrap()),
        &config,
    )
    .unwrap();
    let tls = client.tls().unwrap();
    assert_eq!(tls.protocol_version(), "TLSv1.2");
    assert_eq!(
        tls.cipher_suite(),
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    );
    client.write_bytes(b"ok").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"ok");
}
