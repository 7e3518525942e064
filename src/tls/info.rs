//! `TlsInfo`: what a finished handshake agreed on, for services and clients to inspect.

use std::fmt;

/// What the TLS handshake of a connection agreed on: the protocol version, the cipher
/// suite, and the certificate the peer presented (for a listener: the client's, with
/// mutual TLS; for a client: the server's).
///
/// # Examples
///
/// ```
/// use synctcp::Caller;
///
/// fn describe(caller: &Caller) -> String {
///     match caller.tls() {
///         Some(tls) => format!("{} with {}", tls.protocol_version(), tls.cipher_suite()),
///         None => "plain TCP".to_string(),
///     }
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub(crate) protocol_version: &'static str,
    pub(crate) cipher_suite: &'static str,
    pub(crate) peer_certificate: Option<Vec<u8>>,
    pub(crate) resumed: bool,
}

impl TlsInfo {
    /// The protocol version: `"TLSv1.2"` or `"TLSv1.3"`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &synctcp::TlsInfo) {
    /// assert!(tls.protocol_version().starts_with("TLSv1."));
    /// # }
    /// ```
    pub fn protocol_version(&self) -> &'static str {
        self.protocol_version
    }

    /// The cipher suite, by IANA name (`"TLS_AES_256_GCM_SHA384"`).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &synctcp::TlsInfo) {
    /// println!("suite: {}", tls.cipher_suite());
    /// # }
    /// ```
    pub fn cipher_suite(&self) -> &'static str {
        self.cipher_suite
    }

    /// The peer's end-entity certificate (DER), if it presented one.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &synctcp::TlsInfo) {
    /// if let Some(der) = tls.peer_certificate() {
    ///     println!("peer certificate: {} bytes of DER", der.len());
    /// }
    /// # }
    /// ```
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// Whether the handshake resumed an earlier session (a shorter handshake).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn f(tls: &synctcp::TlsInfo) {
    /// println!("resumed: {}", tls.session_resumed());
    /// # }
    /// ```
    pub fn session_resumed(&self) -> bool {
        self.resumed
    }

    pub(crate) fn of(conn: &rustls::CommonState) -> TlsInfo {
        TlsInfo {
            protocol_version: conn
                .protocol_version()
                .map_or("unknown", super::suites::version_name),
            cipher_suite: conn
                .negotiated_cipher_suite()
                .map_or("unknown", super::suites::iana_name),
            peer_certificate: conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.as_ref().to_vec()),
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("protocol_version", &self.protocol_version)
            .field("cipher_suite", &self.cipher_suite)
            .field(
                "peer_certificate",
                &self
                    .peer_certificate
                    .as_ref()
                    .map(|c| format!("{} bytes", c.len())),
            )
            .field("resumed", &self.resumed)
            .finish()
    }
}
