//! Certificates for the TLS tests, made at test time with rcgen: no network, no private key
//! committed. A directory per use, removed when dropped.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A CA, a server certificate it issued (for localhost, 127.0.0.1 and ::1), a client
/// certificate it issued, a second unrelated CA with its own client certificate, and a
/// self-signed server certificate — all as PEM files.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "synctcp-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };

        let (ca_pem, ca_issuer) = ca("synctcp test CA");
        pki.write("ca.pem", &ca_pem);
        let (server, server_key) = leaf(&ca_issuer, ExtendedKeyUsagePurpose::ServerAuth, "server");
        pki.write("server.pem", &server);
        pki.write("server.key", &server_key);
        let (client, client_key) = leaf(&ca_issuer, ExtendedKeyUsagePurpose::ClientAuth, "client");
        pki.write("client.pem", &client);
        pki.write("client.key", &client_key);

        let (other_ca, other_issuer) = ca("another CA");
        pki.write("other-ca.pem", &other_ca);
        let (stranger, stranger_key) = leaf(
            &other_issuer,
            ExtendedKeyUsagePurpose::ClientAuth,
            "stranger",
        );
        pki.write("stranger.pem", &stranger);
        pki.write("stranger.key", &stranger_key);

        let self_key = KeyPair::generate().unwrap();
        let mut params = server_params();
        params
            .distinguished_name
            .push(DnType::CommonName, "self-signed");
        pki.write("self.pem", &params.self_signed(&self_key).unwrap().pem());
        pki.write("self.key", &self_key.serialize_pem());
        pki
    }

    fn write(&self, name: &str, pem: &str) {
        std::fs::write(self.dir.join(name), pem).unwrap();
    }

    /// The path of one of the files: `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key`, `other-ca.pem`, `stranger.pem`, `stranger.key`, `self.pem`, `self.key`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), Issuer::new(params, key))
}

fn server_params() -> CertificateParams {
    let names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let mut params = CertificateParams::new(names).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    usage: ExtendedKeyUsagePurpose,
    name: &str,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = server_params();
    params.extended_key_usages = vec![usage];
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}
