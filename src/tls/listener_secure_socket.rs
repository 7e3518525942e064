//! `ListenerSecureSocket`: Ballerina's listener `secureSocket` — certificate and key files or
//! a key store, protocol versions, cipher suites, handshake and session timeouts — plus
//! client authentication (mTLS) with revocation lists. Built into a rustls `ServerConfig`
//! when the listener is bound, so every mistake shows up there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use super::cache::ExpiringSessions;
use super::identity::Identity;
use super::revocation::Revocation;
use super::session::ServerSession;
use super::suites;
use super::trust::Trust;
use crate::error::{Error, ErrorKind};

/// How many sessions the listener keeps for resumption.
const SESSION_CACHE_ENTRIES: usize = 1024;

/// TLS for a [`Listener`](crate::Listener): Ballerina's `ListenerSecureSocket`.
///
/// Give it the certificate chain and private key files (PEM; the key in PKCS#8, PKCS#1 or
/// SEC1 form, or encrypted PKCS#8 with [`key_password`](ListenerSecureSocket::key_password)),
/// or a PKCS#12 key store ([`from_key_store`](ListenerSecureSocket::from_key_store)), and set
/// it with [`ListenerConfig::secure_socket`](crate::ListenerConfig::secure_socket). The
/// handshake runs on each connection's own thread, bounded by the handshake timeout.
///
/// # Examples
///
/// ```
/// use synctcp::{Listener, ListenerConfig, ListenerSecureSocket};
/// use std::time::Duration;
/// # // A self-signed certificate for localhost, made for this example, in a directory of its own.
/// # let dir = std::env::temp_dir().join(format!("synctcp-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// # std::fs::write(dir.join("server.pem"), made.cert.pem())?;
/// # std::fs::write(dir.join("ca.pem"), made.cert.pem())?;
/// # std::fs::write(dir.join("server.key"), made.signing_key.serialize_pem())?;
/// # std::env::set_current_dir(&dir)?;
///
/// let tls = ListenerSecureSocket::new("server.pem", "server.key")
///     .protocol_versions(["TLSv1.3"])
///     .handshake_timeout(Duration::from_secs(5));
/// let listener = Listener::bind_with("127.0.0.1:0", &ListenerConfig::new().secure_socket(tls))?;
/// # drop(listener);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ListenerSecureSocket {
    identity: Identity,
    #[cfg(feature = "tls-encrypted-keys")]
    key_password: Option<super::password::Password>,
    versions: Vec<String>,
    ciphers: Vec<String>,
    handshake_timeout: Duration,
    session_timeout: Duration,
    client_trust: Option<Trust>,
    client_auth_required: bool,
    revocation: Option<Revocation>,
}

impl ListenerSecureSocket {
    /// TLS with the certificate chain in `cert_file` (the server's certificate first) and
    /// its private key in `key_file`, both PEM, and the defaults: TLS 1.2 and 1.3, every
    /// supported cipher suite, 10 s handshake timeout, 24 h session timeout, no client
    /// certificates. Empty paths get Ballerina's error text at bind: "certificate file
    /// location must be provided for secure connection".
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key");
    /// # let _ = tls;
    /// ```
    pub fn new(
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> ListenerSecureSocket {
        ListenerSecureSocket::with_identity(Identity::Files {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        })
    }

    /// TLS with the private key and certificate chain of a PKCS#12 key store (Ballerina's
    /// `key: crypto:KeyStore`), and the defaults of [`new`](ListenerSecureSocket::new). An
    /// empty path, a wrong password or a malformed store is an
    /// [`ErrorKind::InvalidConfig`] error at bind that names the file:
    /// `bind 0.0.0.0:8443: keystore server.p12: wrong password`.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{KeyStore, ListenerSecureSocket};
    /// let tls = ListenerSecureSocket::from_key_store(KeyStore::new("server.p12", "secret"));
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-pkcs12")]
    pub fn from_key_store(store: super::pkcs12::KeyStore) -> ListenerSecureSocket {
        ListenerSecureSocket::with_identity(Identity::Store(store))
    }

    fn with_identity(identity: Identity) -> ListenerSecureSocket {
        ListenerSecureSocket {
            identity,
            #[cfg(feature = "tls-encrypted-keys")]
            key_password: None,
            versions: Vec::new(),
            ciphers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            session_timeout: Duration::from_secs(24 * 60 * 60),
            client_trust: None,
            client_auth_required: false,
            revocation: None,
        }
    }

    /// The password of an encrypted private key file (`-----BEGIN ENCRYPTED PRIVATE
    /// KEY-----`, PKCS#8 with PBES2: what `openssl pkcs8 -topk8` and `openssl genpkey
    /// -aes256` write): Ballerina's `keyPassword`. A wrong password, a key file that is not
    /// encrypted, or a password with a key store is an [`ErrorKind::InvalidConfig`] error
    /// at bind. Debug output hides it.
    ///
    /// Default: none (an encrypted key is then an error that says it is encrypted).
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server-encrypted.key")
    ///     .key_password("secret");
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-encrypted-keys")]
    pub fn key_password(mut self, password: impl Into<String>) -> ListenerSecureSocket {
        self.key_password = Some(super::password::Password::new(password));
        self
    }

    /// The protocol versions to accept: `"TLSv1.2"`, `"TLSv1.3"`. As the JDK does, other
    /// entries (SSLv3, TLSv1, TLSv1.1, or a name that is no version) are skipped with a
    /// warning in the log, so a Ballerina configuration listing `["TLSv1.1", "TLSv1.2"]`
    /// serves TLS 1.2; a list with nothing usable is an [`ErrorKind::InvalidConfig`] error
    /// at bind.
    ///
    /// Default: both.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key")
    ///     .protocol_versions(["TLSv1.3"]);
    /// # let _ = tls;
    /// ```
    pub fn protocol_versions<I, S>(mut self, versions: I) -> ListenerSecureSocket
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.versions = versions.into_iter().map(Into::into).collect();
        self
    }

    /// The cipher suites to offer, by IANA name (`"TLS_AES_128_GCM_SHA256"`,
    /// `"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`). Names rustls does not support (CBC
    /// suites, RSA key exchange, unknown names) are skipped with a warning in the log, as the
    /// JDK skips what it cannot use. At bind it is an [`ErrorKind::InvalidConfig`] error
    /// (listing the supported suites) when no usable suite remains, when none is for an
    /// enabled protocol version, or when none of them can be used with the private key's
    /// type (a TLS 1.2 suite names it: `TLS_ECDHE_ECDSA_*` for an ECDSA key,
    /// `TLS_ECDHE_RSA_*` for an RSA key; TLS 1.3 suites go with any key). An enabled
    /// version left without a suite for the key is a warning: its clients cannot connect.
    ///
    /// Default: every suite rustls supports (all AEAD, forward secret).
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key")
    ///     .ciphers(["TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]);
    /// # let _ = tls;
    /// ```
    pub fn ciphers<I, S>(mut self, ciphers: I) -> ListenerSecureSocket
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ciphers = ciphers.into_iter().map(Into::into).collect();
        self
    }

    /// How long a client may take to complete the handshake; a client that connects and
    /// sends nothing, or half a message, is closed when it expires.
    ///
    /// Default: 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key")
    ///     .handshake_timeout(Duration::from_secs(5));
    /// # let _ = tls;
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> ListenerSecureSocket {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a TLS session can be resumed after it was established.
    ///
    /// Default: 24 hours (the JVM's default that Ballerina runs with).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key")
    ///     .session_timeout(Duration::from_secs(3600));
    /// # let _ = tls;
    /// ```
    pub fn session_timeout(mut self, timeout: Duration) -> ListenerSecureSocket {
        self.session_timeout = timeout;
        self
    }

    /// Asks clients for a certificate issued by a CA that `trust` holds (mutual TLS): a PEM
    /// file of CA certificates (`"ca.pem"`) or a PKCS#12 [`TrustStore`](crate::TrustStore).
    /// With `required`, a client that sends no certificate fails the handshake; without it,
    /// such a client is served and
    /// [`TlsInfo::peer_certificate`](crate::TlsInfo::peer_certificate) is `None`. Either way
    /// a client that presents a certificate that does not verify (another CA's, expired,
    /// revoked) is refused: optional means the certificate may be absent, not wrong.
    ///
    /// Default: no client certificates are asked for.
    ///
    /// # Examples
    ///
    /// ```
    /// // Only clients with a certificate from this CA get in.
    /// let tls = synctcp::ListenerSecureSocket::new("server.pem", "server.key").client_auth("ca.pem", true);
    /// # let _ = tls;
    /// ```
    pub fn client_auth(mut self, trust: impl Into<Trust>, required: bool) -> ListenerSecureSocket {
        self.client_trust = Some(trust.into());
        self.client_auth_required = required;
        self
    }

    /// Checks client certificates against certificate revocation lists; see [`Revocation`]
    /// for the policy. It needs [`client_auth`](ListenerSecureSocket::client_auth): without
    /// it the listener is an [`ErrorKind::InvalidConfig`] error at bind. A revoked client is
    /// refused in the handshake and never reaches `on_connect`.
    ///
    /// Default: no revocation checking.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ListenerSecureSocket, Revocation};
    /// let tls = ListenerSecureSocket::new("server.pem", "server.key")
    ///     .client_auth("ca.pem", true)
    ///     .revocation(Revocation::new(["ca.crl"]));
    /// # let _ = tls;
    /// ```
    pub fn revocation(mut self, revocation: Revocation) -> ListenerSecureSocket {
        self.revocation = Some(revocation);
        self
    }

    /// Reads the files and builds the rustls configuration; every error names what was
    /// wrong.
    pub(crate) fn build(&self, context: &str) -> Result<ServerTls, Error> {
        if self.handshake_timeout.is_zero() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                context,
                "handshake_timeout must be more than zero",
            ));
        }
        #[cfg(feature = "tls-encrypted-keys")]
        let key_password = self.key_password.as_ref().map(|p| p.as_str());
        #[cfg(not(feature = "tls-encrypted-keys"))]
        let key_password = None;
        let own = self.identity.load(key_password, context)?;
        let versions = suites::versions(&self.versions, context)?;
        let provider = suites::provider(&self.ciphers, &versions, context)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| suites::config_error(context, e))?;
        suites::check_key_fits(&provider, &versions, &own.key, own.key_file(), context)?;
        let builder = match &self.client_trust {
            None if self.revocation.is_some() => {
                return Err(Error::with(
                    ErrorKind::InvalidConfig,
                    context,
                    "revocation checks client certificates: it needs client_auth",
                ))
            }
            None => builder.with_no_client_auth(),
            Some(trust) => {
                let roots = Arc::new(trust.roots(context)?);
                let mut verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                if let Some(revocation) = &self.revocation {
                    verifier = revocation.client_verifier(verifier, context)?;
                }
                if !self.client_auth_required {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| {
                    Error::with(
                        ErrorKind::InvalidConfig,
                        context,
                        format!(
                            "client certificate verification with {}: {e}",
                            trust.describe()
                        ),
                    )
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(own.chain, own.key)
            .map_err(|e| self.identity.mismatch(context, e))?;
        config.session_storage = Arc::new(ExpiringSessions::new(
            self.session_timeout,
            SESSION_CACHE_ENTRIES,
        ));
        Ok(ServerTls {
            config: Arc::new(config),
            handshake_timeout: self.handshake_timeout,
        })
    }
}

/// A listener's built TLS configuration: what each accepted connection's session needs.
#[derive(Debug, Clone)]
pub(crate) struct ServerTls {
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl ServerTls {
    /// A new connection's session, boxed. Not inlined: a session is large while it is
    /// made, and a caller's frame that held one would make every connection's stack
    /// deeper, the plain ones' too.
    #[inline(never)]
    pub(crate) fn session(&self) -> std::io::Result<Box<ServerSession>> {
        ServerSession::new(Arc::clone(&self.config), self.handshake_timeout).map(Box::new)
    }
}
