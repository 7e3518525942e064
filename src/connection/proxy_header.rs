//! Reading the PROXY protocol header a load balancer sends before anything else (before the
//! TLS handshake too), within the header timeout. It reads no byte past the header, so the
//! client's own bytes are left on the socket for what comes next.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Connection;
use crate::error::{Error, ErrorKind};
use crate::net;
use crate::proxy::{self, Header};

/// Reads and checks the header: `Ok(Some(client))` for a proxied connection, `Ok(None)`
/// for the balancer's own (a health check: use the real addresses).
///
/// # Errors
///
/// `InvalidData` for bytes that are not a valid header (the connection must be refused),
/// `Timeout` when no whole header came within `timeout`, or the read's error.
pub(crate) fn read(conn: &Connection, timeout: Duration) -> Result<Option<SocketAddr>, Error> {
    let context = || {
        format!(
            "read the PROXY header of connection {} from {}",
            conn.id,
            conn.label()
        )
    };
    let stream = conn.socket().stream();
    let deadline = Instant::now() + timeout;
    let mut socket_timeout = None;
    let mut header = Vec::with_capacity(108);
    let outcome = loop {
        match proxy::parse(&header) {
            Ok(Some((Header::Proxied { source, .. }, _))) => break Ok(Some(source)),
            Ok(Some((Header::Local, _))) => break Ok(None),
            Err(invalid) => {
                break Err(Error::with(ErrorKind::InvalidData, context(), invalid.0));
            }
            Ok(None) => {}
        }
        // Exactly what is still missing, so nothing past the header is read: the rest of
        // a v2 header once its length is known, else (v1 and a v2 header's first bytes)
        // one byte at a time.
        let want = match header.get(14..16) {
            Some(&[high, low]) if header[0] == b'\r' => {
                16 + usize::from(u16::from_be_bytes([high, low]))
            }
            _ => header.len() + 1,
        };
        let have = header.len();
        let want = want.max(have + 1); // never a read of nothing
        header.resize(want.min(proxy::MAX_HEADER), 0);
        let mut filled = have;
        while filled < header.len() {
            match net::recv_by(
                stream,
                &mut header[filled..],
                Some(deadline),
                &mut socket_timeout,
            ) {
                Ok(0) => {
                    return Err(Error::with(
                        ErrorKind::InvalidData,
                        context(),
                        format!("the peer closed after {filled} bytes of a header"),
                    ))
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(Error::with(
                        ErrorKind::Timeout,
                        context(),
                        format!("no whole header within the header timeout of {timeout:?}"),
                    ))
                }
                Err(e) => return Err(Error::io(context(), e)),
            }
        }
        conn.counted_in(header.len() - have);
    };
    // Back to no read timeout: what reads next tracks it from there.
    let _ = stream.set_read_timeout(None);
    outcome
}
