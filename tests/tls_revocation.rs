//! Revocation lists (CRLs) on both sides: a client refusing a revoked server certificate, a
//! listener refusing a revoked client certificate, and the policy choices — unknown status,
//! expired CRLs — doing what `Revocation`'s documentation says.
#![cfg(feature = "tls")]

mod common;
#[path = "common/pki.rs"]
mod pki;

use common::*;
use pki::{Pki, CLIENT_SERIAL, SERVER_SERIAL};
use synctcp::{Client, ClientSecureSocket, ErrorKind, Listener, ListenerSecureSocket, Revocation};

fn server_tls(pki: &Pki) -> ListenerSecureSocket {
    ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
}

/// Connects to a plain TLS echo listener trusting the CA, checking against `revocation`;
/// sends and reads back a byte.
fn reach_server(pki: &Pki, revocation: Revocation) -> synctcp::Result<()> {
    let listener = echo_listener_with(listener_config().secure_socket(server_tls(pki)));
    let secure = ClientSecureSocket::new(pki.path("ca.pem")).revocation(revocation);
    let client = Client::connect_with(
        ("localhost", listener.local_addr().port().unwrap()),
        &client_config().secure_socket(secure),
    )?;
    client.write_bytes(b"r")?;
    client.read_bytes_exact(1).map(|_| ())
}

fn crl(pki: &Pki, name: &str) -> Revocation {
    Revocation::new([pki.path(name)])
}

#[test]
fn a_revoked_server_certificate_is_refused() {
    let pki = Pki::new();
    pki.write_crl("revoked.crl", false, &[SERVER_SERIAL], false);
    pki.write_crl("revoked.der", false, &[SERVER_SERIAL], false);
    pki.write_crl("others.crl", false, &[99], false);
    for file in ["revoked.crl", "revoked.der"] {
        let err = reach_server(&pki, crl(&pki, file)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{file}: {err}");
        assert!(err.to_string().contains("Revoked"), "{file}: {err}");
    }
    // The control: a CRL from the same CA that lists other certificates.
    reach_server(&pki, crl(&pki, "others.crl")).unwrap();
}

#[test]
fn a_revoked_client_certificate_is_refused_before_on_connect() {
    let pki = Pki::new();
    pki.write_crl("revoked.crl", false, &[CLIENT_SERIAL], false);
    pki.write_crl("others.crl", false, &[99], false);
    let client = || {
        ClientSecureSocket::new(pki.path("ca.pem"))
            .client_cert(pki.path("client.pem"), pki.path("client.key"))
    };
    for (file, admitted) in [("revoked.crl", false), ("others.crl", true)] {
        let secure = server_tls(&pki)
            .client_auth(pki.path("ca.pem"), true)
            .revocation(crl(&pki, file));
        let (listener, callers) = caller_listener(listener_config().secure_socket(secure));
        let outcome = Client::connect_with(
            ("localhost", listener.local_addr().port().unwrap()),
            &client_config().secure_socket(client()),
        )
        .and_then(|c| {
            // TLS 1.3: the server's verdict on the client's certificate comes after the
            // client finished, so it shows on the first read.
            c.write_bytes(b"me")?;
            c.read_bytes_exact(2)
        });
        if admitted {
            assert_eq!(outcome.unwrap(), b"me");
            callers.recv_timeout(WAIT).unwrap();
        } else {
            let err = outcome.unwrap_err();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::Tls | ErrorKind::Closed | ErrorKind::Reset
                ),
                "{err}"
            );
            listener.graceful_stop(WAIT).unwrap();
            assert!(
                callers.try_recv().is_err(),
                "a revoked client reached on_connect"
            );
        }
    }
}

/// A CRL from another CA says nothing about our server: by default its status is unknown
/// and it is refused; with `allow_unknown_status` the CRL changes nothing.
#[test]
fn a_crl_for_another_ca_leaves_the_status_unknown() {
    let pki = Pki::new();
    pki.write_crl("other.crl", true, &[SERVER_SERIAL], false);
    let err = reach_server(&pki, crl(&pki, "other.crl")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("UnknownRevocationStatus"), "{err}");
    reach_server(&pki, crl(&pki, "other.crl").allow_unknown_status(true)).unwrap();
}

/// An expired CRL is used as it is by default (its revocations still count); with
/// `enforce_expiration` it makes every certificate it speaks for unverifiable.
#[test]
fn an_expired_crl_is_used_unless_expiration_is_enforced() {
    let pki = Pki::new();
    pki.write_crl("expired-revoking.crl", false, &[SERVER_SERIAL], true);
    pki.write_crl("expired-others.crl", false, &[99], true);
    let err = reach_server(&pki, crl(&pki, "expired-revoking.crl")).unwrap_err();
    assert!(err.to_string().contains("Revoked"), "{err}");
    reach_server(&pki, crl(&pki, "expired-others.crl")).unwrap();
    let err = reach_server(
        &pki,
        crl(&pki, "expired-others.crl").enforce_expiration(true),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("revocation list expired"), "{err}");
}

#[test]
fn crl_mistakes_are_config_errors_naming_the_file() {
    let pki = Pki::new();
    let (_socket, port) = refusing_port();
    let connect = |revocation: Revocation| {
        let secure = ClientSecureSocket::new(pki.path("ca.pem")).revocation(revocation);
        Client::connect_with(("localhost", port), &client_config().secure_socket(secure))
            .unwrap_err()
    };
    let junk = pki.path("ca.pem"); // a certificate, not a CRL
    let err = connect(Revocation::new([&junk]));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .contains(&format!("CRL file {} holds no CRL", junk.display())),
        "{err}"
    );
    let not_der = pki.path("server.key.der");
    std::fs::write(&not_der, b"\x30\x03\x02\x01\x00").unwrap();
    let err = connect(Revocation::new([&not_der]));
    assert!(
        err.to_string().contains(&format!(
            "CRL file {} holds an invalid CRL",
            not_der.display()
        )),
        "{err}"
    );
    let missing = pki.path("missing.crl");
    let err = connect(Revocation::new([&missing]));
    assert!(
        err.to_string()
            .contains(&format!("CRL file {} cannot be read", missing.display())),
        "{err}"
    );
    let err = connect(Revocation::new(Vec::<std::path::PathBuf>::new()));
    assert!(err.to_string().contains("at least one CRL file"), "{err}");

    // On a listener, revocation checks client certificates: without client_auth it is a
    // mistake.
    pki.write_crl("ca.crl", false, &[], false);
    let secure = server_tls(&pki).revocation(crl(&pki, "ca.crl"));
    let err = Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("needs client_auth"), "{err}");
}
