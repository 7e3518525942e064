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

/// The first private key in a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub(crate) fn private_key(path: &Path, context: &str) -> Result<PrivateKeyDer<'static>, Error> {
    require_path(path, FileRole::PrivateKey, context)?;
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| pem_error(path, FileRole::PrivateKey, context, e))
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
        let err = private_key(Path::new(""), "bind *:1").unwrap_err();
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
        let err = private_key(&junk, "x").unwrap_err();
        assert!(err.to_string().contains("holds no private key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
