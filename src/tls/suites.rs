//! Protocol versions and cipher suites by the names Ballerina's configuration uses
//! (`"TLSv1.2"`, IANA suite names), turned into a rustls crypto provider. Every config is
//! built with `builder_with_provider`, so another crate in the graph enabling a second
//! provider cannot make building ours panic.

use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::error::{Error, ErrorKind};

const VERSIONS: [(&str, &SupportedProtocolVersion); 2] = [
    ("TLSv1.2", &rustls::version::TLS12),
    ("TLSv1.3", &rustls::version::TLS13),
];

/// The IANA name of a suite (rustls spells TLS 1.3 suites `TLS13_…`, IANA `TLS_…`).
pub(crate) fn iana_name(suite: SupportedCipherSuite) -> &'static str {
    let name = suite.suite().as_str().unwrap_or("unknown");
    match name.strip_prefix("TLS13_") {
        Some(_) => IANA_TLS13
            .iter()
            .find(|(rustls, _)| *rustls == name)
            .map_or(name, |(_, iana)| iana),
        None => name,
    }
}

const IANA_TLS13: [(&str, &str); 3] = [
    ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    ("TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
];

/// The name Ballerina uses for a protocol version.
pub(crate) fn version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
        _ => "unknown",
    }
}

/// The versions named, or both when none is.
pub(crate) fn versions(
    names: &[String],
    context: &str,
) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
    if names.is_empty() {
        return Ok(VERSIONS.iter().map(|(_, v)| *v).collect());
    }
    names
        .iter()
        .map(|name| {
            VERSIONS
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name.trim()))
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    Error::with(
                        ErrorKind::InvalidConfig,
                        context,
                        format!("unsupported TLS protocol version {name:?}; supported: TLSv1.2, TLSv1.3"),
                    )
                })
        })
        .collect()
}

/// The ring provider restricted to the cipher suites named (all of them when none is).
pub(crate) fn provider(ciphers: &[String], context: &str) -> Result<Arc<CryptoProvider>, Error> {
    let mut provider = ring::default_provider();
    if !ciphers.is_empty() {
        let all = provider.cipher_suites.clone();
        let mut chosen = Vec::new();
        for name in ciphers {
            let suite = all
                .iter()
                .find(|s| iana_name(**s).eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    let supported: Vec<&str> = all.iter().map(|s| iana_name(*s)).collect();
                    Error::with(
                        ErrorKind::InvalidConfig,
                        context,
                        format!(
                            "unsupported cipher suite {name:?}; supported: {}",
                            supported.join(", ")
                        ),
                    )
                })?;
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// Checks that the listener can serve somebody: at least one suite, of an enabled version,
/// that its private key can sign for. A TLS 1.2 suite names the key type it needs
/// (`TLS_ECDHE_RSA_*` an RSA key, `TLS_ECDHE_ECDSA_*` an ECDSA one); TLS 1.3 suites go with
/// any key. Without this, such a listener would bind and then fail every handshake.
pub(crate) fn check_key_fits(
    provider: &CryptoProvider,
    versions: &[&'static SupportedProtocolVersion],
    key: &rustls_pki_types::PrivateKeyDer<'static>,
    key_file: &std::path::Path,
    context: &str,
) -> Result<(), Error> {
    // A key rustls cannot load is reported, with its file, when the config is built.
    let Ok(signing) = provider.key_provider.load_private_key(key.clone_key()) else {
        return Ok(());
    };
    let algorithm = signing.algorithm();
    let fits = provider.cipher_suites.iter().any(|suite| {
        versions.contains(&suite.version()) && suite.usable_for_signature_algorithm(algorithm)
    });
    if fits {
        return Ok(());
    }
    let offered: Vec<&str> = provider
        .cipher_suites
        .iter()
        .map(|s| iana_name(*s))
        .collect();
    Err(Error::with(
        ErrorKind::InvalidConfig,
        context,
        format!(
            "none of the cipher suites {} can be used with the {algorithm:?} private key in {}: \
             add a suite for that key type (TLS_ECDHE_ECDSA_* for ECDSA, TLS_ECDHE_RSA_* for \
             RSA) or a TLS 1.3 suite",
            offered.join(", "),
            key_file.display()
        ),
    ))
}

/// A rustls configuration error (versions and suites that cannot go together).
pub(crate) fn config_error(context: &str, err: rustls::Error) -> Error {
    Error::with(
        ErrorKind::InvalidConfig,
        context,
        format!("TLS configuration: {err}"),
    )
    .caused_by(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_iana() {
        let names: Vec<&str> = ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| iana_name(*s))
            .collect();
        assert!(names.contains(&"TLS_AES_128_GCM_SHA256"), "{names:?}");
        assert!(
            names.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{names:?}"
        );
    }

    #[test]
    fn old_versions_and_unknown_suites_are_refused_with_the_list() {
        let err = versions(&["SSLv3".into()], "x").unwrap_err();
        assert!(
            err.to_string().contains("supported: TLSv1.2, TLSv1.3"),
            "{err}"
        );
        assert!(versions(&["TLSv1.1".into()], "x").is_err());
        assert_eq!(versions(&["tlsv1.3".into()], "x").unwrap().len(), 1);
        let err = provider(&["TLS_RSA_WITH_RC4_128_MD5".into()], "x").unwrap_err();
        assert!(err.to_string().contains("supported: TLS_"), "{err}");
        assert_eq!(
            provider(&["TLS_AES_256_GCM_SHA384".into()], "x")
                .unwrap()
                .cipher_suites
                .len(),
            1
        );
    }
}
