//! `Revocation`: certificate revocation lists (CRLs) and the policy to check them by, for a
//! client verifying servers and a listener verifying client certificates. The checks are
//! rustls' (its WebPKI verifiers' `with_crls`); the files are read, and each CRL parsed,
//! when the listener is bound or before the client connects.

use std::path::PathBuf;

use rustls::client::ServerCertVerifierBuilder;
use rustls::server::ClientCertVerifierBuilder;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

use crate::error::{Error, ErrorKind};

/// Revocation checking against certificate revocation lists (CRLs), for
/// [`ClientSecureSocket::revocation`](crate::ClientSecureSocket::revocation) (the server's
/// chain) and [`ListenerSecureSocket::revocation`](crate::ListenerSecureSocket::revocation)
/// (clients' chains, with [`client_auth`](crate::ListenerSecureSocket::client_auth)).
///
/// Each file holds one or more CRLs, PEM (`-----BEGIN X509 CRL-----`) or DER. A
/// certificate that a CRL of its issuer lists is refused: the handshake fails with an
/// [`ErrorKind::Tls`] error. The policy, with its defaults (rustls' own):
///
/// - **Depth** — every certificate of the chain but the trust anchor is checked, so each
///   issuer in the chain needs its CRL; [`end_entity_only`](Revocation::end_entity_only)
///   checks the peer's own certificate only.
/// - **Unknown status** — a certificate no CRL speaks for (no CRL from its issuer among the
///   files) is refused; [`allow_unknown_status`](Revocation::allow_unknown_status) accepts
///   it, so that a CRL for another CA changes nothing.
/// - **Expired CRLs** — a CRL past its `nextUpdate` is still used as it is;
///   [`enforce_expiration`](Revocation::enforce_expiration) refuses every certificate it
///   would speak for instead, revoked or not.
///
/// CRLs are read once, when the configuration is built: to take a new CRL, bind a new
/// listener or build a new `ClientSecureSocket`. OCSP is not supported.
///
/// # Examples
///
/// ```
/// use synctcp::{ClientSecureSocket, Revocation};
/// let tls = ClientSecureSocket::new("ca.pem")
///     .revocation(Revocation::new(["ca.crl"]).end_entity_only(true));
/// # let _ = tls;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    crl_files: Vec<PathBuf>,
    end_entity_only: bool,
    allow_unknown_status: bool,
    enforce_expiration: bool,
}

impl Revocation {
    /// Checking against the CRLs in `crl_files` (PEM or DER), with the defaults: the whole
    /// chain checked, unknown status refused, expired CRLs used as they are. An empty list
    /// is an [`ErrorKind::InvalidConfig`] error when the configuration is built.
    ///
    /// # Examples
    ///
    /// ```
    /// let revocation = synctcp::Revocation::new(["root-ca.crl", "issuing-ca.crl"]);
    /// # let _ = revocation;
    /// ```
    pub fn new<I, P>(crl_files: I) -> Revocation
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Revocation {
            crl_files: crl_files.into_iter().map(Into::into).collect(),
            end_entity_only: false,
            allow_unknown_status: false,
            enforce_expiration: false,
        }
    }

    /// Whether to check only the peer's own certificate, not the intermediates above it.
    ///
    /// Default: `false` (the whole chain but the trust anchor).
    ///
    /// # Examples
    ///
    /// ```
    /// let revocation = synctcp::Revocation::new(["issuing-ca.crl"]).end_entity_only(true);
    /// # let _ = revocation;
    /// ```
    pub fn end_entity_only(mut self, end_entity_only: bool) -> Revocation {
        self.end_entity_only = end_entity_only;
        self
    }

    /// Whether to accept a certificate whose status no CRL gives (none of the CRLs is from
    /// its issuer).
    ///
    /// Default: `false` (refused).
    ///
    /// # Examples
    ///
    /// ```
    /// let revocation = synctcp::Revocation::new(["ca.crl"]).allow_unknown_status(true);
    /// # let _ = revocation;
    /// ```
    pub fn allow_unknown_status(mut self, allow: bool) -> Revocation {
        self.allow_unknown_status = allow;
        self
    }

    /// Whether a CRL past its `nextUpdate` time makes the certificates it speaks for
    /// unverifiable (refused, revoked or not).
    ///
    /// Default: `false` (an expired CRL is used as it is).
    ///
    /// # Examples
    ///
    /// ```
    /// let revocation = synctcp::Revocation::new(["ca.crl"]).enforce_expiration(true);
    /// # let _ = revocation;
    /// ```
    pub fn enforce_expiration(mut self, enforce: bool) -> Revocation {
        self.enforce_expiration = enforce;
        self
    }

    /// Every CRL of every file, each checked to parse.
    fn crls(&self, context: &str) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
        let invalid = |message: String| Error::with(ErrorKind::InvalidConfig, context, message);
        if self.crl_files.is_empty() {
            return Err(invalid(
                "revocation needs at least one CRL file".to_string(),
            ));
        }
        let mut crls = Vec::new();
        for path in &self.crl_files {
            if path.as_os_str().is_empty() {
                return Err(invalid(
                    "CRL file location must be provided for secure connection".to_string(),
                ));
            }
            let data = std::fs::read(path).map_err(|e| {
                Error::io(context, e)
                    .kind_set(ErrorKind::InvalidConfig)
                    .message(format!("CRL file {} cannot be read", path.display()))
            })?;
            let found: Vec<CertificateRevocationListDer<'static>> =
                if data.windows(11).any(|w| w == b"-----BEGIN ") {
                    CertificateRevocationListDer::pem_slice_iter(&data)
                        .collect::<Result<_, _>>()
                        .map_err(|e| {
                            invalid(format!("CRL file {} is not valid PEM: {e}", path.display()))
                        })?
                } else {
                    vec![CertificateRevocationListDer::from(data)]
                };
            if found.is_empty() {
                return Err(invalid(format!(
                    "CRL file {} holds no CRL (PEM \"X509 CRL\" or DER expected)",
                    path.display()
                )));
            }
            for crl in &found {
                // rustls parses them again when the verifier is built, but could not say
                // which file was wrong.
                webpki::OwnedCertRevocationList::from_der(crl).map_err(|e| {
                    invalid(format!(
                        "CRL file {} holds an invalid CRL: {e:?}",
                        path.display()
                    ))
                })?;
            }
            crls.extend(found);
        }
        Ok(crls)
    }

    /// A client's verifier of servers, checking against the CRLs.
    pub(crate) fn server_verifier(
        &self,
        builder: ServerCertVerifierBuilder,
        context: &str,
    ) -> Result<ServerCertVerifierBuilder, Error> {
        let mut builder = builder.with_crls(self.crls(context)?);
        if self.end_entity_only {
            builder = builder.only_check_end_entity_revocation();
        }
        if self.allow_unknown_status {
            builder = builder.allow_unknown_revocation_status();
        }
        if self.enforce_expiration {
            builder = builder.enforce_revocation_expiration();
        }
        Ok(builder)
    }

    /// A listener's verifier of client certificates, checking against the CRLs.
    pub(crate) fn client_verifier(
        &self,
        builder: ClientCertVerifierBuilder,
        context: &str,
    ) -> Result<ClientCertVerifierBuilder, Error> {
        let mut builder = builder.with_crls(self.crls(context)?);
        if self.end_entity_only {
            builder = builder.only_check_end_entity_revocation();
        }
        if self.allow_unknown_status {
            builder = builder.allow_unknown_revocation_status();
        }
        if self.enforce_expiration {
            builder = builder.enforce_revocation_expiration();
        }
        Ok(builder)
    }
}
