//! TLS over rustls, behind the `tls` feature: Ballerina's `secureSocket` for listeners and
//! clients. Our own configuration types and errors; no rustls type in the public API.

mod cache;
mod client_secure_socket;
#[cfg(feature = "tls-encrypted-keys")]
mod encrypted_key;
mod identity;
mod info;
mod listener_secure_socket;
#[cfg(any(feature = "tls-pkcs12", feature = "tls-encrypted-keys"))]
mod password;
mod pem;
#[cfg(feature = "tls-pkcs12")]
mod pkcs12;
mod revocation;
mod session;
mod suites;
mod trust;

pub use client_secure_socket::ClientSecureSocket;
pub use info::TlsInfo;
pub use listener_secure_socket::ListenerSecureSocket;
#[cfg(feature = "tls-pkcs12")]
pub use pkcs12::{KeyStore, TrustStore};
pub use revocation::Revocation;
pub use trust::Trust;

pub(crate) use listener_secure_socket::ServerTls;
pub(crate) use session::{
    drive_handshake, handshake_error, io_error, seal_into, seal_send, truncated, Opened,
    ServerSession,
};
