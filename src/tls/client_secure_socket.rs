//! `ClientSecureSocket`: Ballerina's client `secureSocket` — `enable`, the trusted
//! certificates, protocol versions, cipher suites, handshake timeout, session resumption —
//! plus the server name to verify, revocation lists, and a client certificate for mutual
//! TLS. The rustls
//! configuration is built on first use and shared by clones, so sessions resume across
//! connects made with the same configuration.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::ClientConfig;

use super::identity::Identity;
use super::revocation::Revocation;
use super::suites;
use super::trust::Trust;
use crate::error::{Error, ErrorKind};

/// TLS for a [`Client`](crate::Client): Ballerina's `ClientSecureSocket`.
///
/// Give it the certificates to trust — a PEM file with the CA that issued the server's
/// certificate, or the server's own self-signed certificate; a PKCS#12
/// [`TrustStore`](crate::TrustStore); or, to reach public servers, the platform's trust
/// store or Mozilla's roots (see [`Trust`]) — and set it with
/// [`ClientConfig::secure_socket`](crate::ClientConfig::secure_socket). The server's
/// certificate must be valid for the host connected to (or for
/// [`server_name`](ClientSecureSocket::server_name)).
///
/// # Examples
///
/// ```
/// use synctcp::{Client, ClientConfig, ClientSecureSocket};
/// # // A self-signed certificate for localhost, made for this example, in a directory of its own.
/// # let dir = std::env::temp_dir().join(format!("synctcp-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
/// # std::fs::write(dir.join("server.pem"), made.cert.pem())?;
/// # std::fs::write(dir.join("ca.pem"), made.cert.pem())?;
/// # std::fs::write(dir.join("server.key"), made.signing_key.serialize_pem())?;
/// # std::env::set_current_dir(&dir)?;
/// # use synctcp::{Caller, Listener, ListenerConfig, ListenerSecureSocket};
/// # struct Quiet;
/// # impl synctcp::ConnectionService for Quiet {
/// #     fn on_bytes(&mut self, _: &Caller, _: &[u8]) -> synctcp::Result<synctcp::Reply> { Ok(synctcp::Reply::None) }
/// # }
/// # let server_tls = ListenerSecureSocket::new("server.pem", "server.key");
/// # let mut listener = Listener::bind_with("127.0.0.1:0", &ListenerConfig::new().secure_socket(server_tls))?;
/// # listener.attach(|_| Ok(Quiet))?;
/// # listener.start()?;
/// # let port = listener.local_addr().port().unwrap();
///
/// // ca.pem: the CA that issued the server's certificate (here, the certificate itself).
/// let tls = ClientSecureSocket::new("ca.pem").protocol_versions(["TLSv1.3"]);
/// let client = Client::connect_with(("localhost", port), &ClientConfig::new().secure_socket(tls))?;
/// client.write_bytes(b"hello over TLS")?;
/// assert_eq!(client.tls().unwrap().protocol_version(), "TLSv1.3");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientSecureSocket {
    enable: bool,
    trust: Trust,
    versions: Vec<String>,
    ciphers: Vec<String>,
    handshake_timeout: Duration,
    session_resumption: bool,
    server_name: Option<String>,
    revocation: Option<Revocation>,
    client_identity: Option<Identity>,
    #[cfg(feature = "tls-encrypted-keys")]
    client_key_password: Option<super::password::Password>,
    /// The rustls configuration, built on first use; shared by clones (and so its session
    /// cache), reset by every setter.
    built: Arc<Mutex<Option<Arc<ClientConfig>>>>,
}

impl ClientSecureSocket {
    /// TLS that trusts `trust`: the certificates of a PEM file (`"ca.pem"`), a PKCS#12
    /// [`TrustStore`](crate::TrustStore), [`Trust::system_roots`] or
    /// [`Trust::webpki_roots`]. The defaults: enabled, TLS 1.2 and 1.3, every supported
    /// cipher suite, 10 s handshake timeout, session resumption on, the host connected to
    /// as the server name, no revocation checking, no client certificate. An empty path
    /// gets Ballerina's error text at connect: "trusted certificate file location must be
    /// provided for secure connection" (for a trust store, "TrustStore file location ...").
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem");
    /// # let _ = tls;
    /// ```
    pub fn new(trust: impl Into<Trust>) -> ClientSecureSocket {
        ClientSecureSocket {
            enable: true,
            trust: trust.into(),
            versions: Vec::new(),
            ciphers: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            session_resumption: true,
            server_name: None,
            revocation: None,
            client_identity: None,
            #[cfg(feature = "tls-encrypted-keys")]
            client_key_password: None,
            built: Arc::default(),
        }
    }

    fn changed(mut self) -> ClientSecureSocket {
        self.built = Arc::default();
        self
    }

    /// Whether to use TLS at all. `false` connects in plain TCP, as Ballerina's
    /// `enable = false`.
    ///
    /// Default: `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// // Same configuration, plain TCP: Ballerina's `enable = false`.
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").enable(false);
    /// # let _ = tls;
    /// ```
    pub fn enable(mut self, enable: bool) -> ClientSecureSocket {
        self.enable = enable;
        self.changed()
    }

    /// The protocol versions to offer: `"TLSv1.2"`, `"TLSv1.3"`. Other entries (SSLv3,
    /// TLSv1, TLSv1.1, a name that is no version) are skipped with a warning in the log; a
    /// list with nothing usable is an [`ErrorKind::InvalidConfig`] error at connect.
    ///
    /// Default: both.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").protocol_versions(["TLSv1.3"]);
    /// # let _ = tls;
    /// ```
    pub fn protocol_versions<I, S>(mut self, versions: I) -> ClientSecureSocket
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.versions = versions.into_iter().map(Into::into).collect();
        self.changed()
    }

    /// The cipher suites to offer, by IANA name. Names rustls does not support (CBC suites,
    /// RSA key exchange, unknown names) are skipped with a warning in the log; when none
    /// is left, or none is for an enabled version, it is an [`ErrorKind::InvalidConfig`]
    /// error at connect listing the supported ones.
    ///
    /// Default: every suite rustls supports.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem")
    ///     .ciphers(["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]);
    /// # let _ = tls;
    /// ```
    pub fn ciphers<I, S>(mut self, ciphers: I) -> ClientSecureSocket
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ciphers = ciphers.into_iter().map(Into::into).collect();
        self.changed()
    }

    /// How long the handshake may take before the connect fails with
    /// [`ErrorKind::Timeout`].
    ///
    /// Default: 10 s.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").handshake_timeout(Duration::from_secs(3));
    /// # let _ = tls;
    /// ```
    pub fn handshake_timeout(mut self, timeout: Duration) -> ClientSecureSocket {
        self.handshake_timeout = timeout;
        self.changed()
    }

    /// Whether to resume earlier sessions with the same server (a shorter handshake).
    /// Sessions are kept by this configuration and its clones.
    ///
    /// Default: `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").session_resumption(false);
    /// # let _ = tls;
    /// ```
    pub fn session_resumption(mut self, resume: bool) -> ClientSecureSocket {
        self.session_resumption = resume;
        self.changed()
    }

    /// The name the server's certificate must be valid for (and that is sent as SNI).
    ///
    /// Default: the host given to `connect`.
    ///
    /// # Examples
    ///
    /// ```
    /// // Connect by IP address, verify the certificate for the name.
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").server_name("api.example");
    /// # let _ = tls;
    /// ```
    pub fn server_name(mut self, name: impl Into<String>) -> ClientSecureSocket {
        self.server_name = Some(name.into());
        self.changed()
    }

    /// Checks the server's certificate chain against certificate revocation lists; see
    /// [`Revocation`] for the policy. A revoked server fails the connect with an
    /// [`ErrorKind::Tls`] error.
    ///
    /// Default: no revocation checking.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ClientSecureSocket, Revocation};
    /// let tls = ClientSecureSocket::new("ca.pem").revocation(Revocation::new(["ca.crl"]));
    /// # let _ = tls;
    /// ```
    pub fn revocation(mut self, revocation: Revocation) -> ClientSecureSocket {
        self.revocation = Some(revocation);
        self.changed()
    }

    /// A certificate chain and private key (PEM files) to present when the server asks for
    /// one (mutual TLS); an encrypted key needs
    /// [`client_key_password`](ClientSecureSocket::client_key_password).
    ///
    /// Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem").client_cert("client.pem", "client.key");
    /// # let _ = tls;
    /// ```
    pub fn client_cert(
        mut self,
        cert_file: impl Into<PathBuf>,
        key_file: impl Into<PathBuf>,
    ) -> ClientSecureSocket {
        self.client_identity = Some(Identity::Files {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
        });
        self.changed()
    }

    /// A PKCS#12 key store's private key and chain to present when the server asks for a
    /// certificate (mutual TLS; Ballerina's `key: crypto:KeyStore`). It replaces
    /// [`client_cert`](ClientSecureSocket::client_cert), and the other way round.
    ///
    /// Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{ClientSecureSocket, KeyStore};
    /// let tls = ClientSecureSocket::new("ca.pem").client_key_store(KeyStore::new("client.p12", "secret"));
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-pkcs12")]
    pub fn client_key_store(mut self, store: super::pkcs12::KeyStore) -> ClientSecureSocket {
        self.client_identity = Some(Identity::Store(store));
        self.changed()
    }

    /// The password of the encrypted private key file given to
    /// [`client_cert`](ClientSecureSocket::client_cert) (`ENCRYPTED PRIVATE KEY`, PKCS#8):
    /// Ballerina's `keyPassword`. A wrong password or a key that is not encrypted is an
    /// [`ErrorKind::InvalidConfig`] error at connect. Debug output hides it.
    ///
    /// Default: none.
    ///
    /// # Examples
    ///
    /// ```
    /// let tls = synctcp::ClientSecureSocket::new("ca.pem")
    ///     .client_cert("client.pem", "client-encrypted.key")
    ///     .client_key_password("secret");
    /// # let _ = tls;
    /// ```
    #[cfg(feature = "tls-encrypted-keys")]
    pub fn client_key_password(mut self, password: impl Into<String>) -> ClientSecureSocket {
        self.client_key_password = Some(super::password::Password::new(password));
        self.changed()
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.enable
    }

    pub(crate) fn handshake_timeout_value(&self) -> Duration {
        self.handshake_timeout
    }

    pub(crate) fn server_name_for<'a>(&'a self, host: &'a str) -> &'a str {
        self.server_name.as_deref().unwrap_or(host)
    }

    /// The rustls configuration, built once per configuration (and its clones).
    pub(crate) fn config(&self, context: &str) -> Result<Arc<ClientConfig>, Error> {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = &*built {
            return Ok(Arc::clone(config));
        }
        let config = Arc::new(self.build(context)?);
        *built = Some(Arc::clone(&config));
        Ok(config)
    }

    fn build(&self, context: &str) -> Result<ClientConfig, Error> {
        if self.handshake_timeout.is_zero() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                context,
                "handshake_timeout must be more than zero",
            ));
        }
        if let Some(name) = &self.server_name {
            let bare = name.trim_start_matches('[').trim_end_matches(']');
            rustls_pki_types::ServerName::try_from(bare.to_string()).map_err(|e| {
                Error::with(
                    ErrorKind::InvalidConfig,
                    context,
                    format!("server_name {name:?} is not a host name or IP address to verify: {e}"),
                )
            })?;
        }
        let roots = Arc::new(self.trust.roots(context)?);
        let versions = suites::versions(&self.versions, context)?;
        let provider = suites::provider(&self.ciphers, &versions, context)?;
        let mut verifier =
            WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider));
        if let Some(revocation) = &self.revocation {
            verifier = revocation.server_verifier(verifier, context)?;
        }
        let verifier = verifier.build().map_err(|e| {
            Error::with(
                ErrorKind::InvalidConfig,
                context,
                format!(
                    "server certificate verification with {}: {e}",
                    self.trust.describe()
                ),
            )
        })?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| suites::config_error(context, e))?
            .with_webpki_verifier(verifier);
        #[cfg(feature = "tls-encrypted-keys")]
        let key_password = self.client_key_password.as_ref().map(|p| p.as_str());
        #[cfg(not(feature = "tls-encrypted-keys"))]
        let key_password = None;
        let mut config = match &self.client_identity {
            None if key_password.is_some() => {
                return Err(Error::with(
                    ErrorKind::InvalidConfig,
                    context,
                    "client_key_password goes with client_cert, which is not set",
                ))
            }
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let own = identity.load(key_password, context)?;
                builder
                    .with_client_auth_cert(own.chain, own.key)
                    .map_err(|e| identity.mismatch(context, e))?
            }
        };
        if !self.session_resumption {
            config.resumption = Resumption::disabled();
        }
        Ok(config)
    }
}
