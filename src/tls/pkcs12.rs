//! PKCS#12 stores (`.p12`, `.pfx`), behind the `tls-pkcs12` feature: Ballerina's
//! `crypto:KeyStore` (a private key and its certificate chain) and `crypto:TrustStore`
//! (certificates to trust). Reading, integrity check and decryption are `p12-keystore`'s.

use std::path::{Path, PathBuf};

use p12_keystore::error::Error as P12Error;
use p12_keystore::{KeyStoreEntry, Pkcs12Archive, Pkcs12ImportPolicy};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::password::Password;
use crate::error::{Error, ErrorKind};

/// A PKCS#12 key store: a private key and its certificate chain, opened with a password —
/// Ballerina's `crypto:KeyStore` (`{path, password}`).
///
/// Stores made by `openssl pkcs12 -export` (AES-256-CBC with PBKDF2 since OpenSSL 3, or
/// 3DES and RC2-40 with `-legacy`) and by Java's `keytool` (the same modern scheme since
/// JDK 12, or 3DES and RC2-40 with `-J-Dkeystore.pkcs12.legacy` and before) can be read;
/// the MAC (SHA-1 or SHA-2) is checked with the password. The store must hold exactly one
/// private key; its chain is the certificates linked to it, the key's own first. EC keys
/// written by `keytool` lack their public key, which the *ring* provider needs: such a
/// store is refused with that reason (use RSA keys in Java stores, or re-export the store
/// with `openssl pkcs12`). Set it
/// with [`ListenerSecureSocket::from_key_store`](crate::ListenerSecureSocket::from_key_store)
/// or, for mutual TLS, [`ClientSecureSocket::client_key_store`](crate::ClientSecureSocket::client_key_store).
///
/// # Examples
///
/// ```
/// use synctcp::{KeyStore, ListenerSecureSocket};
/// let tls = ListenerSecureSocket::from_key_store(KeyStore::new("server.p12", "secret"));
/// # let _ = tls;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStore {
    path: PathBuf,
    password: Password,
}

impl KeyStore {
    /// The PKCS#12 file at `path`, opened with `password` (Debug output hides it).
    ///
    /// # Examples
    ///
    /// ```
    /// let store = synctcp::KeyStore::new("server.p12", "secret");
    /// # let _ = store;
    /// ```
    pub fn new(path: impl Into<PathBuf>, password: impl Into<String>) -> KeyStore {
        KeyStore {
            path: path.into(),
            password: Password::new(password),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The private key and its chain, the key's own certificate first.
    pub(crate) fn load(
        &self,
        context: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
        let what = Store::Key(&self.path);
        let data = read(what, "KeyStore", context)?;
        let store = p12_keystore::KeyStore::from_pkcs12(
            &data,
            self.password.as_str(),
            Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| store_error(what, context, e))?;
        let chains: Vec<(&String, &p12_keystore::PrivateKeyChain)> = store
            .entries()
            .filter_map(|(alias, entry)| match entry {
                KeyStoreEntry::PrivateKeyChain(chain) => Some((alias, chain)),
                _ => None,
            })
            .collect();
        let (_, chain) = match chains.as_slice() {
            [one] => *one,
            [] => {
                return Err(what.invalid(
                    context,
                    "holds no private key with its certificate".to_string(),
                ))
            }
            many => {
                let aliases: Vec<String> = many.iter().map(|(a, _)| format!("{a:?}")).collect();
                return Err(what.invalid(
                    context,
                    format!(
                        "holds {} private keys ({}): give a store with the one to use",
                        many.len(),
                        aliases.join(", ")
                    ),
                ));
            }
        };
        let certs = chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
        Ok((certs, key))
    }
}

/// A PKCS#12 trust store: certificates to trust, opened with a password — Ballerina's
/// `crypto:TrustStore` (`{path, password}`).
///
/// Every certificate in the store is trusted: those `keytool -importcert` marks as trusted
/// and those `openssl pkcs12 -export -nokeys` stores without a mark alike (a private key
/// in it is ignored). The formats read are [`KeyStore`]'s. Use it wherever a trusted
/// certificate file goes: [`ClientSecureSocket::new`](crate::ClientSecureSocket::new),
/// [`ListenerSecureSocket::client_auth`](crate::ListenerSecureSocket::client_auth).
///
/// # Examples
///
/// ```
/// use synctcp::{ClientSecureSocket, TrustStore};
/// let tls = ClientSecureSocket::new(TrustStore::new("truststore.p12", "secret"));
/// # let _ = tls;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    path: PathBuf,
    password: Password,
}

impl TrustStore {
    /// The PKCS#12 file at `path`, opened with `password` (Debug output hides it).
    ///
    /// # Examples
    ///
    /// ```
    /// let store = synctcp::TrustStore::new("truststore.p12", "secret");
    /// # let _ = store;
    /// ```
    pub fn new(path: impl Into<PathBuf>, password: impl Into<String>) -> TrustStore {
        TrustStore {
            path: path.into(),
            password: Password::new(password),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every certificate in the store.
    pub(crate) fn load(&self, context: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
        let what = Store::Trust(&self.path);
        let data = read(what, "TrustStore", context)?;
        let archive = Pkcs12Archive::from_pkcs12(&data, self.password.as_str())
            .map_err(|e| store_error(what, context, e))?;
        if archive.certs.is_empty() {
            return Err(what.invalid(context, "holds no certificate".to_string()));
        }
        Ok(archive
            .certs
            .iter()
            .map(|bag| CertificateDer::from(bag.cert.as_der().to_vec()))
            .collect())
    }
}

/// Which store a message is about.
#[derive(Clone, Copy)]
enum Store<'a> {
    Key(&'a Path),
    Trust(&'a Path),
}

impl Store<'_> {
    fn noun(self) -> &'static str {
        match self {
            Store::Key(_) => "keystore",
            Store::Trust(_) => "truststore",
        }
    }

    fn invalid(self, context: &str, what: String) -> Error {
        let (Store::Key(path) | Store::Trust(path)) = self;
        Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!("{} {}: {what}", self.noun(), path.display()),
        )
    }
}

fn read(what: Store<'_>, ballerina_name: &str, context: &str) -> Result<Vec<u8>, Error> {
    let (Store::Key(path) | Store::Trust(path)) = what;
    if path.as_os_str().is_empty() {
        // Ballerina's wording.
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!("{ballerina_name} file location must be provided for secure connection"),
        ));
    }
    std::fs::read(path).map_err(|e| {
        Error::io(context, e)
            .kind_set(ErrorKind::InvalidConfig)
            .message(format!("{} {} cannot be read", what.noun(), path.display()))
    })
}

fn store_error(what: Store<'_>, context: &str, err: P12Error) -> Error {
    let text = match &err {
        // The MAC is keyed by the password: a mismatch is a wrong password (or a store
        // changed since it was written). Stores without a MAC fail to decrypt instead.
        P12Error::MacError(_) | P12Error::UnpadError => "wrong password".to_string(),
        P12Error::Pkcs5Error(e) if e.to_lowercase().contains("decrypt") => {
            "wrong password".to_string()
        }
        P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
            format!("{err}: supported are PBES2 (PBKDF2, AES-CBC), and 3DES and RC2-40 (PBES1)")
        }
        P12Error::DerError(_) | P12Error::InvalidVersion | P12Error::UnsupportedContentType => {
            format!("not a PKCS#12 store ({err})")
        }
        _ => format!("cannot be read as PKCS#12: {err}"),
    };
    what.invalid(context, text).caused_by(err)
}
