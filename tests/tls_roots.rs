//! Trust roots a client can use without a certificate file: Mozilla's roots compiled in
//! (`tls-webpki-roots`) and the platform's trust store (`tls-system-roots`). No test
//! reaches the internet: each checks that the roots load and that a server whose
//! certificate comes from a CA they do not hold (the test CA) is refused. The system store
//! with a CA it does hold is tested through tcpcat with `SSL_CERT_FILE` in its own
//! environment (tests/tcpcat.rs), as changing this process's environment would race with
//! the other tests.
#![cfg(all(feature = "tls-webpki-roots", feature = "tls-system-roots"))]

mod common;
#[path = "common/pki.rs"]
mod pki;

use common::*;
use pki::Pki;
use synctcp::{Client, ClientSecureSocket, ErrorKind, ListenerSecureSocket, Trust};

fn refused_by(trust: Trust) -> synctcp::Error {
    let pki = Pki::new();
    let listener = echo_listener_with(listener_config().secure_socket(ListenerSecureSocket::new(
        pki.path("server.pem"),
        pki.path("server.key"),
    )));
    Client::connect_with(
        ("localhost", listener.local_addr().port().unwrap()),
        &client_config().secure_socket(ClientSecureSocket::new(trust)),
    )
    .unwrap_err()
}

/// The roots load (the connect gets as far as the handshake: no configuration error) and do
/// not vouch for a private CA.
#[test]
fn mozillas_roots_refuse_a_certificate_from_an_unknown_ca() {
    let err = refused_by(Trust::webpki_roots());
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

/// On a machine with a system trust store (CI's Debian has `ca-certificates`, which
/// `.ci/run` installs) the same holds for it.
#[test]
fn the_system_roots_refuse_a_certificate_from_an_unknown_ca() {
    let err = refused_by(Trust::system_roots());
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

/// A trust configuration is always chosen: the roots are options, not a fallback, and an
/// empty file name stays Ballerina's error.
#[test]
fn no_trust_configured_is_still_an_error() {
    let err = refused_by(Trust::cert_file(""));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .ends_with("trusted certificate file location must be provided for secure connection"),
        "{err}"
    );
}
