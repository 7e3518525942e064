//! Certificates for the TLS tests, made at test time with rcgen: no network, no private key
//! committed. A directory per use, removed when dropped.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SerialNumber,
};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A CA, a server certificate it issued (for localhost, 127.0.0.1 and ::1), a client
/// certificate it issued, a second unrelated CA with its own client certificate, and a
/// self-signed server certificate — all as PEM files.
pub struct Pki {
    pub dir: PathBuf,
    ca: Option<Issuer<'static, KeyPair>>,
    other_ca: Option<Issuer<'static, KeyPair>>,
}

/// The serial numbers of the certificates the CAs issued, for revocation lists.
pub const SERVER_SERIAL: u64 = 2;
pub const CLIENT_SERIAL: u64 = 3;
pub const STRANGER_SERIAL: u64 = 4;

impl Pki {
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "synctcp-pki-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut pki = Pki {
            dir,
            ca: None,
            other_ca: None,
        };

        let (ca_pem, ca_issuer) = ca("synctcp test CA");
        pki.write("ca.pem", &ca_pem);
        let (server, server_key) = leaf(
            &ca_issuer,
            ExtendedKeyUsagePurpose::ServerAuth,
            "server",
            SERVER_SERIAL,
        );
        pki.write("server.pem", &server);
        pki.write("server.key", &server_key);
        let (client, client_key) = leaf(
            &ca_issuer,
            ExtendedKeyUsagePurpose::ClientAuth,
            "client",
            CLIENT_SERIAL,
        );
        pki.write("client.pem", &client);
        pki.write("client.key", &client_key);

        let (other_ca, other_issuer) = ca("another CA");
        pki.write("other-ca.pem", &other_ca);
        let (stranger, stranger_key) = leaf(
            &other_issuer,
            ExtendedKeyUsagePurpose::ClientAuth,
            "stranger",
            STRANGER_SERIAL,
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
        pki.ca = Some(ca_issuer);
        pki.other_ca = Some(other_issuer);
        pki
    }

    /// Writes a CRL into `file` (DER if its name ends in `.der`, else PEM), signed by the CA
    /// (or the other CA), revoking `revoked` serial numbers; `expired` puts its
    /// `nextUpdate` in the past.
    pub fn write_crl(&self, file: &str, by_other_ca: bool, revoked: &[u64], expired: bool) {
        let issuer = if by_other_ca {
            &self.other_ca
        } else {
            &self.ca
        };
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: if expired {
                date_time_ymd(2021, 1, 1)
            } else {
                date_time_ymd(2099, 1, 1)
            },
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(*serial),
                    revocation_time: date_time_ymd(2020, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(issuer.as_ref().unwrap()).unwrap();
        if file.ends_with(".der") {
            std::fs::write(self.dir.join(file), crl.der()).unwrap();
        } else {
            self.write(file, &crl.pem().unwrap());
        }
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
    serial: u64,
) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = server_params();
    params.serial_number = Some(SerialNumber::from(serial));
    params.extended_key_usages = vec![usage];
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Runs a command-line tool the test needs (`openssl`, `keytool`) in the PKI's directory.
/// A missing tool fails the test loudly: `.ci/run` installs them (Debian's `openssl` and
/// `default-jre-headless` packages).
pub fn run_tool(dir: &std::path::Path, tool: &str, args: &[&str]) {
    let out = std::process::Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs the `{tool}` command ({e}); .ci/run installs it from Debian's \
                 packages"
            )
        });
    assert!(
        out.status.success(),
        "{tool} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// `openssl ARGS...` in this PKI's directory.
    pub fn openssl(&self, args: &[&str]) {
        run_tool(&self.dir, "openssl", args);
    }

    /// `keytool ARGS...` (Java's) in this PKI's directory.
    pub fn keytool(&self, args: &[&str]) {
        run_tool(&self.dir, "keytool", args);
    }
}
