//! `Reply`: what `on_bytes` (and a `FrameService`'s `on_frame`) returns — Ballerina's
//! "returned bytes are written back to the peer".

/// What to write back to the peer when `on_bytes` returns: nothing, the very bytes that
/// arrived, or new bytes.
///
/// Bytes returned go out through the same write path as
/// [`Caller::write_bytes`](crate::Caller::write_bytes) on the connection's own thread, in
/// order with everything written before; [`Reply::Echo`] sends the input itself, without a
/// copy. New bytes convert with `into()` from a `Vec<u8>`, a `String`, a `&str` or a
/// `&[u8]`.
///
/// # Examples
///
/// ```
/// use synctcp::{Caller, ConnectionService, Error, Reply};
///
/// /// Echoes, counts, or stays silent, depending on the input.
/// struct Service { total: usize }
///
/// impl ConnectionService for Service {
///     fn on_bytes(&mut self, _: &Caller, data: &[u8]) -> Result<Reply, Error> {
///         self.total += data.len();
///         Ok(match data {
///             b"count\n" => format!("{}\n", self.total).into(), // new bytes
///             b"quiet\n" => Reply::None,                        // nothing
///             _ => Reply::Echo,                                  // the input, back
///         })
///     }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reply {
    /// Write nothing back.
    #[default]
    None,
    /// Write back the bytes that arrived (for a `FrameService`, the frame), without a copy.
    Echo,
    /// Write these bytes back (for a `FrameService`, as one frame).
    Bytes(Vec<u8>),
}

impl From<Vec<u8>> for Reply {
    fn from(bytes: Vec<u8>) -> Reply {
        Reply::Bytes(bytes)
    }
}

impl From<&[u8]> for Reply {
    fn from(bytes: &[u8]) -> Reply {
        Reply::Bytes(bytes.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Reply {
    fn from(bytes: &[u8; N]) -> Reply {
        Reply::Bytes(bytes.to_vec())
    }
}

impl From<String> for Reply {
    fn from(text: String) -> Reply {
        Reply::Bytes(text.into_bytes())
    }
}

impl From<&str> for Reply {
    fn from(text: &str) -> Reply {
        Reply::Bytes(text.as_bytes().to_vec())
    }
}
