//! Where a side's own certificate chain and private key come from: PEM files (the key
//! perhaps encrypted) or a PKCS#12 key store — Ballerina's `CertKey|crypto:KeyStore`.

use std::path::{Path, PathBuf};

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::pem::{self, FileRole};
use crate::error::{Error, ErrorKind};

/// A certificate chain and its private key, still to be read.
#[derive(Debug, Clone)]
pub(crate) enum Identity {
    /// Ballerina's `CertKey`: `certFile` and `keyFile` (its `keyPassword` is given to
    /// `load`).
    Files {
        cert_file: PathBuf,
        key_file: PathBuf,
    },
    #[cfg(feature = "tls-pkcs12")]
    Store(super::pkcs12::KeyStore),
}

/// What was read, with the names to put in messages.
pub(crate) struct Loaded {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    /// Where the key came from: the file that holds it.
    pub(crate) key_file: PathBuf,
}

impl Identity {
    /// Reads the chain and the key; `key_password` opens an encrypted key file (a key
    /// store's key opens with the store's own password).
    pub(crate) fn load(&self, key_password: Option<&str>, context: &str) -> Result<Loaded, Error> {
        match self {
            Identity::Files {
                cert_file,
                key_file,
            } => {
                let password = key_password;
                let chain = pem::certificates(cert_file, FileRole::Certificate, context)?;
                let key = pem::private_key(key_file, password, context)?;
                Ok(Loaded {
                    chain,
                    key,
                    key_file: key_file.clone(),
                })
            }
            #[cfg(feature = "tls-pkcs12")]
            Identity::Store(store) => {
                if key_password.is_some() {
                    return Err(Error::with(
                        ErrorKind::InvalidConfig,
                        context,
                        format!(
                            "keystore {}: a key password goes with a private key file; a \
                             keystore's key opens with the keystore's password",
                            store.path().display()
                        ),
                    ));
                }
                let (chain, key) = store.load(context)?;
                Ok(Loaded {
                    chain,
                    key,
                    key_file: store.path().to_path_buf(),
                })
            }
        }
    }

    /// The error for a key that does not go with its certificate.
    pub(crate) fn mismatch(&self, context: &str, err: rustls::Error) -> Error {
        let message = match self {
            Identity::Files {
                cert_file,
                key_file,
            } => format!(
                "private key file {} cannot be used with certificate file {}: {err}",
                key_file.display(),
                cert_file.display()
            ),
            #[cfg(feature = "tls-pkcs12")]
            Identity::Store(store) => {
                // Java writes EC keys without their public key, which ring cannot load.
                let hint = if err.to_string().contains("failed to parse private key") {
                    " (an EC key written by Java's keytool lacks its public key, which the \
                     ring provider needs: use an RSA key, or re-export the store with openssl)"
                } else {
                    ""
                };
                format!(
                    "keystore {}: its private key cannot be used: {err}{hint}",
                    store.path().display()
                )
            }
        };
        Error::with(ErrorKind::InvalidConfig, context, message).caused_by(err)
    }
}

impl Loaded {
    pub(crate) fn key_file(&self) -> &Path {
        &self.key_file
    }
}
