//! Password-protected PKCS#8 private keys (`ENCRYPTED PRIVATE KEY`, Ballerina's
//! `keyPassword`), behind the `tls-encrypted-keys` feature: decoded and decrypted by the
//! RustCrypto `pkcs8` crate (PBES2: PBKDF2 or scrypt, AES-CBC or 3DES-CBC).

use std::path::Path;

use pkcs8::der::Decode;
use pkcs8::EncryptedPrivateKeyInfoOwned;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::{Error, ErrorKind};

const SUPPORTED: &str = "PBES2 with PBKDF2 or scrypt and AES-CBC or 3DES-CBC is supported (what \
                         `openssl pkcs8 -topk8` writes)";

/// The private key of an `ENCRYPTED PRIVATE KEY` PEM block, decrypted with `password`.
pub(crate) fn decrypt(
    path: &Path,
    block: &str,
    password: &str,
    context: &str,
) -> Result<PrivateKeyDer<'static>, Error> {
    let invalid = |what: String| {
        Error::with(
            ErrorKind::InvalidConfig,
            context,
            format!("private key file {}: {what}", path.display()),
        )
    };
    // PEM to DER first: der's PEM reader cannot decode the algorithm parameters in place.
    let (_, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| invalid(format!("not valid PEM: {e}")))?;
    let encrypted = EncryptedPrivateKeyInfoOwned::from_der(&der).map_err(|e| {
        // PBES1 schemes (`openssl pkcs8 -v1 ...`) fail here: their OIDs are not PBES2's.
        invalid(format!(
            "cannot be read as an encrypted PKCS#8 key ({e}); {SUPPORTED}, PBES1 \
                 (`openssl pkcs8 -v1`) is not supported"
        ))
        .caused_by(e)
    })?;
    match encrypted.decrypt(password) {
        Ok(key) => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            key.as_bytes().to_vec(),
        ))),
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::NoPbes1CryptSupport
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. }),
        )) => Err(invalid(format!(
            "encrypted with a scheme that is not supported ({e}); {SUPPORTED}"
        ))),
        // A wrong password fails the padding check, or (rarely) yields bytes that are not
        // a key.
        Err(_) => Err(invalid("wrong password".to_string())),
    }
}
