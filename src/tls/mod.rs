//! TLS over rustls, behind the `tls` feature: Ballerina's `secureSocket` for listeners and
//! clients. Our own configuration types and errors; no rustls type in the public API.

mod cache;
mod client_secure_socket;
mod info;
mod listener_secure_socket;
mod pem;
mod session;
mod suites;

pub use client_secure_socket::ClientSecureSocket;
pub use info::TlsInfo;
pub use listener_secure_socket::ListenerSecureSocket;

pub(crate) use listener_secure_socket::ServerTls;
pub(crate) use session::{
    drive_handshake, handshake_error, io_error, seal_into, truncated, Opened, ServerSession,
};
