//! Reading certificates and private keys from PEM files, with errors that name the file
//! and say what was wrong with it. Parsing is `rustls-pki-types`' own.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, ErrorKind};

/// What a file holds, for messages: "certificate file", "private key file", ...
#[derive(Debug, Clone, Copy)]
pub(crate) enum FileRole {
    Certificate,
    PrivateKey,
    TrustedCertificate,
}

impl FileRole {
    fn noun(self) -> &'static str {
        match self {
            FileRole::Certificate => "certificate file",
            FileRole::PrivateKey => "private key file",
            FileRole::TrustedCertificate => "trusted certificate file",
        }
    }
}

fn invalid(context: &str, message: String) -> Error {
    Error::with(ErrorKind::InvalidConfig, context, message)
}

/// Ballerina's wording for a path left empty.
pub(crate) fn require_path(path: &Path, role: FileRole, context: &str) -> Result<(), Error> {
    if path.as_os_str().is_empty() {
        let what = match role {
            FileRole::Certificate => "certificate",
            FileRole::PrivateKey => "private key",
            FileRole::TrustedCertificate => "trusted certificate",
        };
        return Err(invalid(
            context,
            format!("{what} file location must be provided for secure connection"),
        ));
    }
    Ok(())
}

fn pem_error(path: &Path, role: FileRole, context: &str, err: pem::Error) -> Error {
    let noun = role.noun();
    match err {
        pem::Error::Io(io) => Error::io(context, io)
            .kind_set(ErrorKind::InvalidConfig)
            .message(format!("{noun} {} cannot be read", path.display())),
        pem::Error::NoItemsFound => invalid(
            context,
            match role {
                FileRole::PrivateKey => format!(
                    "{noun} {} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM expected)",
                    path.display()
                ),
                _ => format!("{noun} {} holds no PEM certificate", path.display()),
            },
        ),
        other => invalid(
            context,
            format!("{noun} {} is not valid PEM: {other}", path.display()),
        ),
    }
}

/// Every certificate in a PEM file, in order (a chain: the end entity first).
pub(crate) fn certificates(
    path: &Path,
    role: FileRole,
    context: &str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    require_path(path, role, context)?;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, role, context, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, role, context, e))?;
    if certs.is_empty() {
        return Err(pem_error(path, role, context, pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// The first private key in a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or with the
/// `tls-encrypted-keys` feature a password-protected PKCS#8 key (`ENCRYPTED PRIVATE KEY`).
/// A password for a key that is not encrypted is a mistake too (the wrong file, perhaps).
pub(crate) fn private_key(
    path: &Path,
    password: Option<&str>,
    context: &str,
) -> Result<PrivateKeyDer<'static>, Error> {
    require_path(path, FileRole::PrivateKey, context)?;
    let text = std::fs::read(path)
        .map_err(|e| pem_error(path, FileRole::PrivateKey, context, pem::Error::Io(e)))?;
    let noun = FileRole::PrivateKey.noun();
    if let Some(block) = encrypted_block(&text) {
        return encrypted_key(path, block, password, context);
    }
    if find(&text, b"Proc-Type: 4,ENCRYPTED").is_some() {
        return Err(invalid(
            context,
            format!(
                "{noun} {} is encrypted in OpenSSL's legacy PEM form (Proc-Type: 4,ENCRYPTED), \
                 which is not supported: convert it to encrypted PKCS#8 with \
                 `openssl pkcs8 -topk8 -in OLD -out NEW`",
                path.display()
            ),
        ));
    }
    if password.is_some() {
        return Err(invalid(
            context,
            format!(
                "{noun} {} holds no encrypted private key, but a key password was given",
                path.display()
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| pem_error(path, FileRole::PrivateKey, context, e))
}

/// An encrypted PKCS#8 key, decrypted with its password.
#[cfg(feature = "tls-encrypted-keys")]
fn encrypted_key(
    path: &Path,
    block: &str,
    password: Option<&str>,
    context: &str,
) -> Result<PrivateKeyDer<'static>, Error> {
    match password {
        Some(password) => super::encrypted_key::decrypt(path, block, password, context),
        None => Err(invalid(
            context,
            format!(
                "private key file {} holds an encrypted private key: give its password \
                 (key_password)",
                path.display()
            ),
        )),
    }
}

/// Without the `tls-encrypted-keys` feature, an encrypted key cannot be read: say so.
#[cfg(not(feature = "tls-encrypted-keys"))]
fn encrypted_key(
    path: &Path,
    _: &str,
    _: Option<&str>,
    context: &str,
) -> Result<PrivateKeyDer<'static>, Error> {
    Err(invalid(
        context,
        format!(
            "private key file {} holds an encrypted private key: reading it needs synctcp's \
             tls-encrypted-keys feature and the key's password",
            path.display()
        ),
    ))
}

const ENCRYPTED_BEGIN: &[u8] = b"-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &[u8] = b"-----END ENCRYPTED PRIVATE KEY-----";

/// The first `ENCRYPTED PRIVATE KEY` PEM block of a file, markers included: the PEM reader
/// of `rustls-pki-types` skips such blocks, so they are found by their markers and then
/// decoded by the `pkcs8` crate.
fn encrypted_block(text: &[u8]) -> Option<&str> {
    let start = find(text, ENCRYPTED_BEGIN)?;
    let end = start
        + find(&text[start..], ENCRYPTED_END)
            .map_or(text.len() - start, |at| at + ENCRYPTED_END.len());
    std::str::from_utf8(&text[start..end]).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A root store holding every certificate of a PEM file, each trusted as an anchor.
pub(crate) fn trust_store(path: &Path, context: &str) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, FileRole::TrustedCertificate, context)? {
        roots.add(cert).map_err(|e| {
            invalid(
                context,
                format!(
                    "trusted certificate file {} holds a certificate that cannot be used: {e}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_paths_get_ballerinas_message() {
        let err = certificates(Path::new(""), FileRole::Certificate, "bind *:1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bind *:1: certificate file location must be provided for secure connection"
        );
        let err = private_key(Path::new(""), None, "bind *:1").unwrap_err();
        assert!(err
            .to_string()
            .ends_with("private key file location must be provided for secure connection"));
    }

    #[test]
    fn missing_and_malformed_files_are_named() {
        let err =
            certificates(Path::new("/no/such/cert.pem"), FileRole::Certificate, "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string().contains("/no/such/cert.pem cannot be read"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());

        let dir = std::env::temp_dir().join(format!("synctcp-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let err = certificates(&junk, FileRole::Certificate, "x").unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
        let err = private_key(&junk, None, "x").unwrap_err();
        assert!(err.to_string().contains("holds no private key"), "{err}");

        let encrypted = dir.join("encrypted.key");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = private_key(&encrypted, None, "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string().contains(&format!(
                "private key file {} holds an encrypted private key",
                encrypted.display()
            )),
            "{err}"
        );
        let legacy = dir.join("legacy.key");
        std::fs::write(
            &legacy,
            "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nMAA=\n-----END EC PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = private_key(&legacy, None, "x").unwrap_err();
        assert!(err.to_string().contains("legacy PEM form"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
