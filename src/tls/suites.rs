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

/// Protocol names Java (and so Ballerina's configurations) knows but rustls does not speak.
const OBSOLETE_VERSIONS: [&str; 5] = ["SSLv2Hello", "SSLv2", "SSLv3", "TLSv1", "TLSv1.1"];

/// The versions named, or both when none is. As the JDK does with a list of versions, the
/// usable ones are kept and the rest skipped with a warning (configurations written for
/// Ballerina routinely list `TLSv1.1`); only a list with nothing usable is an error.
pub(crate) fn versions(
    names: &[String],
    context: &str,
) -> Result<Vec<&'static SupportedProtocolVersion>, Error> {
    if names.is_empty() {
        return Ok(VERSIONS.iter().map(|(_, v)| *v).collect());
    }
    let mut chosen: Vec<&'static SupportedProtocolVersion> = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        match VERSIONS
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name.trim()))
        {
            Some((_, version)) if !chosen.contains(version) => chosen.push(version),
            Some(_) => {}
            None => skipped.push(name.as_str()),
        }
    }
    for name in &skipped {
        let why = if OBSOLETE_VERSIONS
            .iter()
            .any(|old| old.eq_ignore_ascii_case(name.trim()))
        {
            "an obsolete protocol version rustls does not support"
        } else {
            "not a TLS protocol version name"
        };
        log::warn!("{context}: skipping TLS protocol version {name:?}: {why}");
    }
    if chosen.is_empty() {
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!(
                "none of the TLS protocol versions {} is supported; supported: TLSv1.2, TLSv1.3",
                quoted(&skipped)
            ),
        ));
    }
    Ok(chosen)
}

fn quoted(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    names.join(", ")
}

/// The ring provider restricted to the cipher suites named (all of them when none is), in
/// the order named. Names rustls does not support (CBC and RSA key exchange suites, say)
/// are skipped with a warning; only a list with nothing usable is an error. Then at least
/// one suite must be for an enabled version; a version left without a suite gets a warning.
pub(crate) fn provider(
    ciphers: &[String],
    versions: &[&'static SupportedProtocolVersion],
    context: &str,
) -> Result<Arc<CryptoProvider>, Error> {
    let mut provider = ring::default_provider();
    let all = provider.cipher_suites.clone();
    let supported = || {
        let names: Vec<&str> = all.iter().map(|s| iana_name(*s)).collect();
        names.join(", ")
    };
    if !ciphers.is_empty() {
        let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
        let mut skipped = Vec::new();
        for name in ciphers {
            match all
                .iter()
                .find(|s| iana_name(**s).eq_ignore_ascii_case(name.trim()))
            {
                Some(suite) if !chosen.contains(suite) => chosen.push(*suite),
                Some(_) => {}
                None => skipped.push(name.as_str()),
            }
        }
        for name in &skipped {
            log::warn!(
                "{context}: skipping cipher suite {name:?}: not supported by rustls (only AEAD \
                 suites with forward secrecy are)"
            );
        }
        if chosen.is_empty() {
            return Err(Error::with(
                ErrorKind::InvalidConfig,
                context,
                format!(
                    "none of the cipher suites {} is supported; supported: {}",
                    quoted(&skipped),
                    supported()
                ),
            ));
        }
        provider.cipher_suites = chosen;
    }
    let for_version = |version: &SupportedProtocolVersion| {
        provider
            .cipher_suites
            .iter()
            .any(|s| s.version() == version)
    };
    if !versions.iter().any(|v| for_version(v)) {
        let named: Vec<&str> = provider
            .cipher_suites
            .iter()
            .map(|s| iana_name(*s))
            .collect();
        let enabled: Vec<&str> = versions.iter().map(|v| version_name(v.version)).collect();
        return Err(Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!(
                "none of the cipher suites {} is for the enabled protocol versions {}",
                named.join(", "),
                enabled.join(", ")
            ),
        ));
    }
    for version in versions.iter().filter(|v| !for_version(v)) {
        log::warn!(
            "{context}: {} is enabled but none of the cipher suites is for it: its peers \
             cannot connect",
            version_name(version.version)
        );
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
    let fits = |version: &SupportedProtocolVersion| {
        provider.cipher_suites.iter().any(|suite| {
            suite.version() == version && suite.usable_for_signature_algorithm(algorithm)
        })
    };
    if versions.iter().any(|v| fits(v)) {
        for version in versions.iter().filter(|v| !fits(v)) {
            let has_suites = provider
                .cipher_suites
                .iter()
                .any(|s| s.version() == *version);
            // A version without any suite was reported when the suites were chosen.
            if has_suites {
                log::warn!(
                    "{context}: {} is enabled but none of its cipher suites can be used with \
                     the {algorithm:?} private key in {}: its clients cannot connect",
                    version_name(version.version),
                    key_file.display()
                );
            }
        }
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
        let both = versions(&[], "x").unwrap();
        let err = provider(&["TLS_RSA_WITH_RC4_128_MD5".into()], &both, "x").unwrap_err();
        assert!(err.to_string().contains("supported: TLS_"), "{err}");
        assert_eq!(
            provider(&["TLS_AES_256_GCM_SHA384".into()], &both, "x")
                .unwrap()
                .cipher_suites
                .len(),
            1
        );
    }

    #[test]
    fn unusable_entries_are_skipped_when_something_usable_remains() {
        let names: Vec<String> = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.2"]
            .map(String::from)
            .to_vec();
        let chosen = versions(&names, "x").unwrap();
        assert_eq!(chosen, [&rustls::version::TLS12]);
        let err = versions(&["TLSv1".into(), "TLSv1.1".into()], "x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string()
                .contains(r#"none of the TLS protocol versions "TLSv1", "TLSv1.1""#),
            "{err}"
        );

        let ciphers: Vec<String> = [
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ]
        .map(String::from)
        .to_vec();
        let provider = provider(&ciphers, &chosen, "x").unwrap();
        let kept: Vec<&str> = provider
            .cipher_suites
            .iter()
            .map(|s| iana_name(*s))
            .collect();
        assert_eq!(kept, ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]);
    }

    #[test]
    fn suites_must_serve_an_enabled_version() {
        let tls13 = versions(&["TLSv1.3".into()], "x").unwrap();
        let err = super::provider(
            &["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()],
            &tls13,
            "x",
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
        assert!(
            err.to_string()
                .contains("is for the enabled protocol versions TLSv1.3"),
            "{err}"
        );
    }
}
