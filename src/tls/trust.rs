//! `Trust`: where the certificates to trust come from — a PEM file, a PKCS#12 trust store,
//! the platform's trust store or Mozilla's roots compiled in. Always chosen explicitly: a
//! client with no trust configured is an error, never a silent default.

use std::path::{Path, PathBuf};

use rustls::RootCertStore;

use super::pem;
use crate::error::Error;

/// The certificates a side trusts: Ballerina's `cert` (`crypto:TrustStore|string`), plus the
/// platform's trust store and Mozilla's roots for reaching public servers.
///
/// A path converts into a `Trust` (a PEM file of certificates), and so does a
/// [`TrustStore`](crate::TrustStore) with the `tls-pkcs12` feature, so
/// `ClientSecureSocket::new("ca.pem")` reads as before.
///
/// | source | how | feature |
/// |---|---|---|
/// | PEM file | `"ca.pem"`, [`Trust::cert_file`] | `tls` |
/// | PKCS#12 trust store | `TrustStore::new(path, password)` | `tls-pkcs12` |
/// | the platform's trust store | `Trust::system_roots()` | `tls-system-roots` |
/// | Mozilla's roots, compiled in | `Trust::webpki_roots()` | `tls-webpki-roots` |
///
/// Files and stores are read when the listener is bound or before the client connects, and
/// every problem is an [`crate::error::ErrorKind::InvalidConfig`] error naming the file.
///
/// # Examples
///
/// ```
/// use synctcp::{ClientSecureSocket, Trust};
/// let tls = ClientSecureSocket::new(Trust::cert_file("ca.pem"));
/// let same = ClientSecureSocket::new("ca.pem");
/// # let _ = (tls, same);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    CertFile(PathBuf),
    #[cfg(feature = "tls-pkcs12")]
    Store(super::pkcs12::TrustStore),
    #[cfg(feature = "tls-system-roots")]
    System,
    #[cfg(feature = "tls-webpki-roots")]
    Mozilla,
}

impl Trust {
    /// Every certificate in a PEM file: a CA, several, or a server's own self-signed
    /// certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// let trust = synctcp::Trust::cert_file("ca.pem");
    /// # let _ = trust;
    /// ```
    pub fn cert_file(path: impl Into<PathBuf>) -> Trust {
        Trust {
            source: Source::CertFile(path.into()),
        }
    }

    /// The platform's trust store, as Python's default context and the JVM use: on Linux
    /// and the BSDs the system's CA bundle (found where OpenSSL would look; the
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` environment variables replace it), the keychain
    /// on macOS, the system store on Windows. Read through `rustls-native-certs` when the
    /// listener is bound or before the client connects; a store with no usable
    /// certificate is an [`crate::error::ErrorKind::InvalidConfig`] error.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ClientSecureSocket, Trust};
    /// let tls = ClientSecureSocket::new(Trust::system_roots());
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-system-roots")]
    pub fn system_roots() -> Trust {
        Trust {
            source: Source::System,
        }
    }

    /// Mozilla's root certificates as the `webpki-roots` crate compiled them in: the same
    /// on every machine, and as fresh as the crate version built with.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ClientSecureSocket, Trust};
    /// let tls = ClientSecureSocket::new(Trust::webpki_roots());
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-webpki-roots")]
    pub fn webpki_roots() -> Trust {
        Trust {
            source: Source::Mozilla,
        }
    }

    /// What the certificates are, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.source {
            Source::CertFile(path) => format!("trusted certificate file {}", path.display()),
            #[cfg(feature = "tls-pkcs12")]
            Source::Store(store) => format!("truststore {}", store.path().display()),
            #[cfg(feature = "tls-system-roots")]
            Source::System => "the system's trust store".to_string(),
            #[cfg(feature = "tls-webpki-roots")]
            Source::Mozilla => "Mozilla's root certificates".to_string(),
        }
    }

    /// A root store holding every certificate, each trusted as an anchor.
    pub(crate) fn roots(&self, context: &str) -> Result<RootCertStore, Error> {
        match &self.source {
            Source::CertFile(path) => pem::trust_store(path, context),
            #[cfg(feature = "tls-pkcs12")]
            Source::Store(store) => {
                let mut roots = RootCertStore::empty();
                for cert in store.load(context)? {
                    roots.add(cert).map_err(|e| {
                        Error::with(
                            crate::error::ErrorKind::InvalidConfig,
                            context,
                            format!(
                                "truststore {} holds a certificate that cannot be used: {e}",
                                store.path().display()
                            ),
                        )
                    })?;
                }
                Ok(roots)
            }
            #[cfg(feature = "tls-system-roots")]
            Source::System => system_roots(context),
            #[cfg(feature = "tls-webpki-roots")]
            Source::Mozilla => Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
        }
    }
}

#[cfg(feature = "tls-system-roots")]
fn system_roots(context: &str) -> Result<RootCertStore, Error> {
    let found = rustls_native_certs::load_native_certs();
    let problems: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = if problems.is_empty() {
            String::new()
        } else {
            format!(" ({})", problems.join("; "))
        };
        return Err(Error::with(
            crate::error::ErrorKind::InvalidConfig,
            context,
            format!("the system's trust store holds no usable certificate{why}"),
        ));
    }
    // Some platforms' stores always hold an odd entry; what loaded is still the store.
    if !problems.is_empty() || ignored > 0 {
        log::warn!(
            "{context}: the system's trust store: {added} certificates loaded, {ignored} \
             unusable skipped{}{}",
            if problems.is_empty() { "" } else { "; " },
            problems.join("; ")
        );
    }
    Ok(roots)
}

impl<P: AsRef<Path>> From<P> for Trust {
    /// A PEM file of certificates: [`Trust::cert_file`].
    fn from(path: P) -> Trust {
        Trust::cert_file(path.as_ref())
    }
}

#[cfg(feature = "tls-pkcs12")]
impl From<super::pkcs12::TrustStore> for Trust {
    /// A PKCS#12 trust store: every certificate in it.
    fn from(store: super::pkcs12::TrustStore) -> Trust {
        Trust {
            source: Source::Store(store),
        }
    }
}
