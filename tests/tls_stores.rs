//! Ballerina's key material in the forms it takes it: PKCS#12 key stores and trust stores
//! (`tls-pkcs12`) made by `openssl pkcs12 -export` and Java's `keytool`, current and legacy
//! encryption, and password-protected PKCS#8 keys (`tls-encrypted-keys`). Every store and
//! key is made at test time from the rcgen PKI.
#![cfg(all(feature = "tls-pkcs12", feature = "tls-encrypted-keys"))]

mod common;
#[path = "common/pki.rs"]
mod pki;

use common::*;
use pki::Pki;
use synctcp::{
    Client, ClientConfig, ClientSecureSocket, ErrorKind, KeyStore, Listener, ListenerSecureSocket,
    TrustStore,
};

const PASSWORD: &str = "changeit";

/// `openssl pkcs12 -export` of a PEM certificate, key and chain into `name`; `extra` picks
/// the encryption (nothing: OpenSSL 3's AES-256-CBC with PBKDF2).
fn export(pki: &Pki, name: &str, cert: &str, key: Option<&str>, extra: &[&str]) {
    let pass = format!("pass:{PASSWORD}");
    let mut args = vec![
        "pkcs12", "-export", "-in", cert, "-out", name, "-passout", &pass,
    ];
    match key {
        Some(key) => args.extend(["-inkey", key, "-certfile", "ca.pem"]),
        None => args.push("-nokeys"),
    }
    args.extend(extra);
    pki.openssl(&args);
}

/// Echoes once through a listener with `server` and a client with `client`; returns the
/// server certificate the client saw.
fn echo_through(server: ListenerSecureSocket, client: ClientSecureSocket) -> Vec<u8> {
    let listener = echo_listener_with(listener_config().secure_socket(server));
    let config = client_config().secure_socket(client);
    let client = Client::connect_with(
        ("localhost", listener.local_addr().port().unwrap()),
        &config,
    )
    .unwrap();
    client.write_bytes(b"stored").unwrap();
    assert_eq!(client.read_bytes_exact(6).unwrap(), b"stored");
    client.tls().unwrap().peer_certificate().unwrap().to_vec()
}

fn pem_der(pki: &Pki, name: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(pki.path(name))
        .unwrap()
        .to_vec()
}

fn bind_error(secure: ListenerSecureSocket) -> synctcp::Error {
    Listener::bind_with(LOOPBACK, &listener_config().secure_socket(secure)).unwrap_err()
}

/// A port nothing listens on: a configuration error must come before any connect (which
/// would be refused).
fn connect_error(secure: ClientSecureSocket) -> synctcp::Error {
    let (_socket, port) = refusing_port();
    Client::connect_with(
        ("localhost", port),
        &ClientConfig::new().secure_socket(secure),
    )
    .unwrap_err()
}

#[test]
fn openssl_stores_with_current_encryption_serve_and_trust() {
    let pki = Pki::new();
    export(&pki, "server.p12", "server.pem", Some("server.key"), &[]);
    export(&pki, "trust.p12", "ca.pem", None, &[]);
    let seen = echo_through(
        ListenerSecureSocket::from_key_store(KeyStore::new(pki.path("server.p12"), PASSWORD)),
        ClientSecureSocket::new(TrustStore::new(pki.path("trust.p12"), PASSWORD)),
    );
    assert_eq!(
        seen,
        pem_der(&pki, "server.pem"),
        "the key store's certificate"
    );
}

/// `-legacy`: certificates under RC2-40, the key under 3DES, a SHA-1 MAC (OpenSSL 1.x's
/// defaults, what older tools and JDKs read and write).
#[test]
fn openssl_legacy_stores_3des_and_rc2_are_read() {
    let pki = Pki::new();
    export(
        &pki,
        "server.p12",
        "server.pem",
        Some("server.key"),
        &["-legacy"],
    );
    export(&pki, "trust.p12", "ca.pem", None, &["-legacy"]);
    let seen = echo_through(
        ListenerSecureSocket::from_key_store(KeyStore::new(pki.path("server.p12"), PASSWORD)),
        ClientSecureSocket::new(TrustStore::new(pki.path("trust.p12"), PASSWORD)),
    );
    assert_eq!(seen, pem_der(&pki, "server.pem"));
}

/// Java's `keytool`: an RSA key pair it generated (self-signed, for localhost), and a trust
/// store of that certificate imported as trusted — in the JDK's current PKCS#12 format
/// and in its legacy one (3DES keys, RC2-40 certificates, SHA-1 MAC).
#[test]
fn keytool_stores_current_and_legacy_are_read() {
    for legacy in [false, true] {
        let pki = Pki::new();
        keytool_pair(&pki, legacy, "RSA");
        let seen = echo_through(
            ListenerSecureSocket::from_key_store(KeyStore::new(pki.path("server.p12"), PASSWORD)),
            ClientSecureSocket::new(TrustStore::new(pki.path("trust.p12"), PASSWORD)),
        );
        assert_eq!(seen, pem_der(&pki, "server-java.pem"), "legacy: {legacy}");
    }
}

/// `keytool -genkeypair` of a self-signed `algorithm` key for localhost into `server.p12`,
/// its certificate exported to `server-java.pem` and imported as trusted into `trust.p12`.
fn keytool_pair(pki: &Pki, legacy: bool, algorithm: &str) {
    let mut java: Vec<&str> = Vec::new();
    if legacy {
        java.push("-J-Dkeystore.pkcs12.legacy");
    }
    let store = ["-storetype", "PKCS12", "-storepass", PASSWORD];
    let mut args = java.clone();
    args.extend([
        "-genkeypair",
        "-alias",
        "server",
        "-keyalg",
        algorithm,
        "-dname",
        "CN=localhost",
        "-ext",
        "SAN=dns:localhost,ip:127.0.0.1",
        "-validity",
        "2",
        "-keystore",
        "server.p12",
    ]);
    args.extend(store);
    pki.keytool(&args);
    let mut args = java.clone();
    args.extend([
        "-exportcert",
        "-rfc",
        "-alias",
        "server",
        "-file",
        "server-java.pem",
    ]);
    args.extend(["-keystore", "server.p12"]);
    args.extend(store);
    pki.keytool(&args);
    let mut args = java.clone();
    args.extend([
        "-importcert",
        "-noprompt",
        "-alias",
        "server",
        "-file",
        "server-java.pem",
    ]);
    args.extend(["-keystore", "trust.p12"]);
    args.extend(store);
    pki.keytool(&args);
}

/// An EC key from keytool: Java writes it without its public key, which ring cannot load;
/// the error says so rather than only "cannot parse".
#[test]
fn a_keytool_ec_key_is_refused_with_the_reason() {
    let pki = Pki::new();
    keytool_pair(&pki, false, "EC");
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        pki.path("server.p12"),
        PASSWORD,
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string().contains("written by Java's keytool"),
        "{err}"
    );
}

/// Mutual TLS from stores: the client presents a key store, the listener trusts clients
/// by a trust store.
#[test]
fn mutual_tls_with_a_client_key_store_and_a_listener_trust_store() {
    let pki = Pki::new();
    export(&pki, "client.p12", "client.pem", Some("client.key"), &[]);
    export(&pki, "trust.p12", "ca.pem", None, &[]);
    let (listener, callers) = caller_listener(
        listener_config().secure_socket(
            ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
                .client_auth(TrustStore::new(pki.path("trust.p12"), PASSWORD), true),
        ),
    );
    let secure = ClientSecureSocket::new(pki.path("ca.pem"))
        .client_key_store(KeyStore::new(pki.path("client.p12"), PASSWORD));
    let client = Client::connect_with(
        ("localhost", listener.local_addr().port().unwrap()),
        &client_config().secure_socket(secure),
    )
    .unwrap();
    client.write_bytes(b"me").unwrap();
    assert_eq!(client.read_bytes_exact(2).unwrap(), b"me");
    let caller = callers.recv_timeout(WAIT).unwrap();
    assert_eq!(
        caller.tls().unwrap().peer_certificate().unwrap(),
        pem_der(&pki, "client.pem")
    );
}

#[test]
fn store_mistakes_are_config_errors_naming_the_file_before_any_connection() {
    let pki = Pki::new();
    export(&pki, "server.p12", "server.pem", Some("server.key"), &[]);
    export(&pki, "trust.p12", "ca.pem", None, &[]);
    let server_p12 = pki.path("server.p12");
    let trust_p12 = pki.path("trust.p12");

    // Ballerina's texts for empty paths.
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        "", PASSWORD,
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .ends_with(": KeyStore file location must be provided for secure connection"),
        "{err}"
    );
    let err = connect_error(ClientSecureSocket::new(TrustStore::new("", PASSWORD)));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .ends_with(": TrustStore file location must be provided for secure connection"),
        "{err}"
    );

    // A wrong password, on either store.
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        &server_p12,
        "wrong",
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let expected = format!("keystore {}: wrong password", server_p12.display());
    assert!(err.to_string().starts_with("bind 127.0.0.1:0: "), "{err}");
    assert!(err.to_string().ends_with(&expected), "{err}");
    let err = connect_error(ClientSecureSocket::new(TrustStore::new(
        &trust_p12, "wrong",
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    let expected = format!("truststore {}: wrong password", trust_p12.display());
    assert!(err.to_string().ends_with(&expected), "{err}");

    // Not a store at all, a missing file, a store without a key used as a key store.
    let pem = pki.path("server.pem");
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        &pem, PASSWORD,
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let expected = format!("keystore {}: not a PKCS#12 store", pem.display());
    assert!(err.to_string().contains(&expected), "{err}");
    let missing = pki.path("missing.p12");
    let err = connect_error(ClientSecureSocket::new(TrustStore::new(&missing, PASSWORD)));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let expected = format!("truststore {} cannot be read", missing.display());
    assert!(err.to_string().contains(&expected), "{err}");
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        &trust_p12, PASSWORD,
    )));
    let expected = format!("keystore {}: holds no private key", trust_p12.display());
    assert!(err.to_string().contains(&expected), "{err}");
    // On the listener's client-auth side too.
    let err = bind_error(
        ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
            .client_auth(TrustStore::new(&trust_p12, "wrong"), true),
    );
    assert!(err.to_string().ends_with("wrong password"), "{err}");
}

#[test]
fn a_store_with_two_keys_is_refused_rather_than_guessed_from() {
    let pki = Pki::new();
    // Two stores' worth of keys in one: openssl exports one key; keytool merges stores.
    export(
        &pki,
        "one.p12",
        "server.pem",
        Some("server.key"),
        &["-name", "one"],
    );
    export(
        &pki,
        "two.p12",
        "client.pem",
        Some("client.key"),
        &["-name", "two"],
    );
    let merge = |src: &str| {
        pki.keytool(&[
            "-importkeystore",
            "-noprompt",
            "-srckeystore",
            src,
            "-srcstoretype",
            "PKCS12",
            "-srcstorepass",
            PASSWORD,
            "-destkeystore",
            "both.p12",
            "-deststoretype",
            "PKCS12",
            "-deststorepass",
            PASSWORD,
        ])
    };
    merge("one.p12");
    merge("two.p12");
    let err = bind_error(ListenerSecureSocket::from_key_store(KeyStore::new(
        pki.path("both.p12"),
        PASSWORD,
    )));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("holds 2 private keys"), "{err}");
}

#[test]
fn the_password_never_shows_in_debug_output() {
    let secure = ListenerSecureSocket::from_key_store(KeyStore::new("server.p12", "hunter2"))
        .key_password("hunter3");
    let client = ClientSecureSocket::new(TrustStore::new("trust.p12", "hunter4"));
    let shown = format!("{secure:?} {client:?}");
    assert!(!shown.contains("hunter"), "{shown}");
}

/// `openssl pkcs8 -topk8` with each PBES2 variant it offers that we read.
#[test]
fn encrypted_pkcs8_keys_open_with_their_password() {
    let pki = Pki::new();
    let pass = format!("pass:{PASSWORD}");
    for (name, scheme) in [
        ("aes.key", &[][..]),               // AES-256-CBC, HMAC-SHA256
        ("des3.key", &["-v2", "des3"][..]), // 3DES-CBC
        ("sha1.key", &["-v2", "aes128", "-v2prf", "hmacWithSHA1"][..]), // OpenSSL 1.0's PRF
        ("scrypt.key", &["-scrypt"][..]),
    ] {
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-in",
            "server.key",
            "-out",
            name,
            "-passout",
            &pass,
        ];
        args.extend(scheme);
        pki.openssl(&args);
        let text = std::fs::read_to_string(pki.path(name)).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{text}"
        );
        let seen = echo_through(
            ListenerSecureSocket::new(pki.path("server.pem"), pki.path(name))
                .key_password(PASSWORD),
            ClientSecureSocket::new(pki.path("ca.pem")),
        );
        assert_eq!(seen, pem_der(&pki, "server.pem"), "{name}");
    }

    // A client's own encrypted key, for mutual TLS.
    pki.openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        "client.key",
        "-out",
        "client-enc.key",
        "-passout",
        &pass,
    ]);
    let listener = echo_listener_with(
        listener_config().secure_socket(
            ListenerSecureSocket::new(pki.path("server.pem"), pki.path("server.key"))
                .client_auth(pki.path("ca.pem"), true),
        ),
    );
    let secure = ClientSecureSocket::new(pki.path("ca.pem"))
        .client_cert(pki.path("client.pem"), pki.path("client-enc.key"))
        .client_key_password(PASSWORD);
    let client = Client::connect_with(
        ("localhost", listener.local_addr().port().unwrap()),
        &client_config().secure_socket(secure),
    )
    .unwrap();
    client.write_bytes(b"mine").unwrap();
    assert_eq!(client.read_bytes_exact(4).unwrap(), b"mine");
}

#[test]
fn encrypted_key_mistakes_are_config_errors_naming_the_file() {
    let pki = Pki::new();
    let pass = format!("pass:{PASSWORD}");
    pki.openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        "server.key",
        "-out",
        "enc.key",
        "-passout",
        &pass,
    ]);
    let enc = pki.path("enc.key");
    let with_key = |key: &std::path::Path| ListenerSecureSocket::new(pki.path("server.pem"), key);

    // Today's message for an encrypted key without a password was "holds no private key".
    let err = bind_error(with_key(&enc));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let expected = format!(
        "private key file {} holds an encrypted private key: give its password",
        enc.display()
    );
    assert!(err.to_string().contains(&expected), "{err}");

    let err = bind_error(with_key(&enc).key_password("wrong"));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    let expected = format!("private key file {}: wrong password", enc.display());
    assert!(err.to_string().ends_with(&expected), "{err}");

    // A password for a key that is not encrypted: the wrong file, perhaps.
    let err = bind_error(with_key(&pki.path("server.key")).key_password(PASSWORD));
    assert!(
        err.to_string().contains("holds no encrypted private key"),
        "{err}"
    );

    // PBES1 (PKCS#5 v1.5 / PKCS#12 PBE) keys are not supported: said so.
    pki.openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        "server.key",
        "-out",
        "pbes1.key",
        "-passout",
        &pass,
        "-v1",
        "PBE-SHA1-3DES",
    ]);
    let err = bind_error(with_key(&pki.path("pbes1.key")).key_password(PASSWORD));
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(
        err.to_string()
            .contains("PBES1 (`openssl pkcs8 -v1`) is not supported"),
        "{err}"
    );

    // A key password with a key store.
    export(&pki, "server.p12", "server.pem", Some("server.key"), &[]);
    let err = bind_error(
        ListenerSecureSocket::from_key_store(KeyStore::new(pki.path("server.p12"), PASSWORD))
            .key_password(PASSWORD),
    );
    assert!(
        err.to_string()
            .contains("a key password goes with a private key file"),
        "{err}"
    );

    // The client side names its file too.
    let err = connect_error(
        ClientSecureSocket::new(pki.path("ca.pem"))
            .client_cert(pki.path("client.pem"), &enc)
            .client_key_password("wrong"),
    );
    assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{err}");
    assert!(
        err.to_string().contains(&enc.display().to_string()),
        "{err}"
    );
}
