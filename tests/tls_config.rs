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

/// An ECDSA key with only `TLS_ECDHE_RSA_*` suites and both versions enabled: TLS 1.3 has
/// no suite and TLS 1.2 none for the key, so nobody could connect.
#[test]
fn rsa_only_suites_with_an_ecdsa_key_are_refused_with_both_versions_enabled() {
    let pki = Pki::new();
    let secure = server_tls(&pki).ciphers([
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ]);
    let err = Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let text = err.to_string();
    assert!(text.contains("can be used with the ECDSA"), "{text}");
    assert!(
        text.contains(&pki.path("server.key").display().to_string()),
        "names the key file: {text}"
    );
}

/// A configuration written for Ballerina (the JDK): obsolete versions and CBC suites beside
/// usable ones. The usable ones are kept, the rest skipped with a warning naming them.
#[test]
fn a_ballerina_list_with_obsolete_entries_serves_what_it_can() {
    let pki = Pki::new();
    let warnings = capture_warnings();
    let secure = server_tls(&pki)
        .protocol_versions(["TLSv1.1", "TLSv1.2"])
        .ciphers([
            "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]);
    let listener = echo_listener_with(listener_config().secure_socket(secure));
    let client_tls = ClientSecureSocket::new(pki.path("ca.pem"))
        .protocol_versions(["TLSv1", "TLSv1.2"])
        .ciphers([
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]);
    let config = ClientConfig::new()
        .timeout(Some(WAIT))
        .secure_socket(client_tls);
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

    let logged = warnings.lock().unwrap().join("\n");
    for skipped in [
        "skipping TLS protocol version \"TLSv1.1\"",
        "skipping TLS protocol version \"TLSv1\"",
        "skipping cipher suite \"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256\"",
        "skipping cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\"",
        "skipping cipher suite \"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384\"",
    ] {
        assert!(
            logged.contains(skipped),
            "no warning {skipped:?} in:\n{logged}"
        );
    }
}

/// Only when nothing usable is left is the list an error, and it names what was skipped.
#[test]
fn a_list_with_nothing_usable_is_an_error_naming_the_entries() {
    let pki = Pki::new();
    let bind = |secure: ListenerSecureSocket| {
        Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)).unwrap_err()
    };
    let err = bind(server_tls(&pki).protocol_versions(["SSLv3", "TLSv1", "TLSv1.1"]));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().contains(
            r#"none of the TLS protocol versions "SSLv3", "TLSv1", "TLSv1.1" is supported; supported: TLSv1.2, TLSv1.3"#
        ),
        "{err}"
    );
    let err = bind(server_tls(&pki).ciphers(["TLS_RSA_WITH_AES_128_CBC_SHA"]));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .contains(r#"none of the cipher suites "TLS_RSA_WITH_AES_128_CBC_SHA" is supported"#),
        "{err}"
    );
    // Usable suites, but none for the only version enabled.
    let err = bind(
        server_tls(&pki)
            .protocol_versions(["TLSv1.3"])
            .ciphers(["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .contains("is for the enabled protocol versions TLSv1.3"),
        "{err}"
    );
    let client = ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions(["TLSv1.1"]);
    let err = Client::connect_with(("127.0.0.1", 1), &ClientConfig::new().secure_socket(client))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
}

/// Both versions but only a TLS 1.3 suite (the README's old snippet): TLS 1.2 clients can
/// never connect. It binds (TLS 1.3 clients are served) and says so in the log.
#[test]
fn a_version_left_without_a_suite_is_warned_about() {
    let pki = Pki::new();
    let warnings = capture_warnings();
    let secure = server_tls(&pki)
        .protocol_versions(["TLSv1.2", "TLSv1.3"])
        .ciphers(["TLS_AES_128_GCM_SHA256"]);
    let listener = echo_listener_with(listener_config().secure_socket(secure));
    let port = listener.local_addr().port().unwrap();
    let connect = |version: &str| {
        let secure = ClientSecureSocket::new(pki.path("ca.pem")).protocol_versions([version]);
        Client::connect_with(
            ("127.0.0.1", port),
            &ClientConfig::new()
                .timeout(Some(WAIT))
                .secure_socket(secure),
        )
    };
    assert!(connect("TLSv1.3").is_ok());
    assert_eq!(connect("TLSv1.2").unwrap_err().kind(), ErrorKind::Tls);
    let logged = warnings.lock().unwrap().join("\n");
    assert!(
        logged.contains("TLSv1.2 is enabled but none of the cipher suites is for it"),
        "{logged}"
    );
}

/// Warnings logged by the crate, kept for the tests to read (one logger per test binary).
fn capture_warnings() -> &'static std::sync::Mutex<Vec<String>> {
    static LOGGED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.level() <= log::Level::Warn
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                LOGGED.lock().unwrap().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    &LOGGED
}
