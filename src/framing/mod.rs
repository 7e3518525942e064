//! Whole messages over a byte stream.
//!
//! TCP delivers bytes, not messages: one `write_bytes` of 100 bytes may arrive as 100
//! bytes, or as 60 and 40, or together with the next message. A *codec* says where one
//! message (a *frame*) ends and the next begins. This module has two and a trait for your
//! own:
//!
//! - [`LengthPrefixed`]: each frame is preceded by its length (2 or 4 bytes, big-endian).
//! - [`Delimited`]: each frame ends with a delimiter such as `\n` or `\r\n`.
//! - [`Codec`]: implement it for any other format (the `http_echo` example frames HTTP
//!   requests).
//!
//! Every codec has a maximum frame length: a frame that announces or grows past it is an
//! [`ErrorKind::InvalidData`] error, and memory is never reserved from an announced length
//! before the bytes arrive, so a peer cannot make the process allocate 4 GB by sending four
//! bytes.
//!
//! Use frames on the listener side with [`Framed`] (your service implements
//! [`FrameService::on_frame`]), on the client side with
//! [`Client::read_frame`](crate::Client::read_frame) and
//! [`Client::write_frame`](crate::Client::write_frame), and anywhere with a [`Decoder`].
//!
//! ```
//! use synctcp::framing::{Decoder, LengthPrefixed, Codec};
//!
//! let codec = LengthPrefixed::new();
//! let mut wire = Vec::new();
//! codec.encode(b"hello", &mut wire)?;
//! codec.encode(b"world", &mut wire)?;
//!
//! // However the bytes are split on the way, the same frames come out.
//! let mut decoder = Decoder::new(codec);
//! decoder.push(&wire[..3]);
//! assert_eq!(decoder.next_frame()?, None); // not a whole frame yet
//! decoder.push(&wire[3..]);
//! assert_eq!(decoder.next_frame()?, Some(&b"hello"[..]));
//! assert_eq!(decoder.next_frame()?, Some(&b"world"[..]));
//! # Ok::<(), synctcp::Error>(())
//! ```
//!
//! [`ErrorKind::InvalidData`]: crate::ErrorKind::InvalidData

mod decoder;
mod delimited;
mod framed;
mod length_prefixed;

use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};

pub use decoder::Decoder;
pub use delimited::Delimited;
pub use framed::{FrameService, Framed};
pub use length_prefixed::LengthPrefixed;

/// The default maximum frame length of the built-in codecs: 8 MiB.
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Decoder, LengthPrefixed, DEFAULT_MAX_FRAME_LENGTH};
/// let mut decoder = Decoder::new(LengthPrefixed::new());
/// let too_long = (DEFAULT_MAX_FRAME_LENGTH as u32 + 1).to_be_bytes();
/// decoder.push(&too_long);
/// assert!(decoder.next_frame().is_err());
/// ```
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 * 1024 * 1024;

/// A message format: how frames are written to and found in a byte stream.
///
/// A codec only describes the format; it keeps no state between calls. What a stream has
/// delivered and not yet used lives with the stream (a [`Decoder`], a [`Framed`] service,
/// a [`Client`](crate::Client)), so one codec can serve any number of connections at once.
///
/// # Examples
///
/// A codec whose frames are exactly 4 bytes:
///
/// ```
/// use synctcp::framing::{Codec, Decoder, Frame};
/// use synctcp::Result;
///
/// struct FourBytes;
///
/// impl Codec for FourBytes {
///     fn encode(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
///         assert_eq!(frame.len(), 4);
///         out.extend_from_slice(frame);
///         Ok(())
///     }
///     fn decode(&self, buf: &[u8], _progress: &mut usize) -> Result<Option<Frame>> {
///         Ok((buf.len() >= 4).then(|| Frame::new(0..4, 4)))
///     }
/// }
///
/// let mut decoder = Decoder::new(FourBytes);
/// decoder.push(b"abcdef");
/// assert_eq!(decoder.next_frame()?, Some(&b"abcd"[..]));
/// assert_eq!(decoder.next_frame()?, None);
/// # Ok::<(), synctcp::Error>(())
/// ```
pub trait Codec {
    /// Appends `frame`, encoded, to `out`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the frame cannot be
    /// encoded: longer than the maximum, or holding the delimiter.
    fn encode(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<()>;

    /// Looks for one whole frame at the start of `buf`: `Ok(Some(frame))` with where its
    /// body lies in `buf` and how many bytes of `buf` it used, `Ok(None)` when more bytes
    /// are needed.
    ///
    /// `progress` is the codec's to use: a number kept with the stream's buffer between
    /// the calls for one frame, 0 at the start of each frame (and of each stream). A
    /// format that searches for a delimiter keeps how far it has searched there, so that a
    /// long frame arriving in small pieces costs linear time; other formats ignore it.
    /// The codec itself keeps no state, so it can serve any number of streams at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the bytes can never
    /// become a valid frame (a frame longer than the maximum): the stream cannot be
    /// followed any further.
    fn decode(&self, buf: &[u8], progress: &mut usize) -> Result<Option<Frame>>;

    /// The stream has ended: what to make of `buf`, the bytes left after the last whole
    /// frame. `Ok(None)` when there is nothing left; a last frame when the format allows
    /// one to end with the stream.
    ///
    /// The default refuses leftover bytes: a frame cut off by the end of the stream is an
    /// [`ErrorKind::InvalidData`] error. [`Delimited`]
    /// returns an unterminated last line as a frame, as `BufRead::lines` does.
    ///
    /// # Errors
    ///
    /// `InvalidData` for a frame the end of the stream cut off.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Delimited, LengthPrefixed};
    ///
    /// assert!(LengthPrefixed::new().decode_eof(&[0, 0, 0, 9, b'x']).is_err());
    /// assert!(LengthPrefixed::new().decode_eof(&[]).unwrap().is_none());
    /// let last = Delimited::lines().decode_eof(b"no newline")?.unwrap();
    /// assert_eq!(last.body(), 0..10);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    fn decode_eof(&self, buf: &[u8]) -> Result<Option<Frame>> {
        if let Some(frame) = self.decode(buf, &mut 0)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "the stream ended in the middle of a frame ({} bytes of it received)",
                buf.len()
            ),
        ))
    }

    /// `frame`, encoded, as a new buffer: for `Caller::write_bytes`.
    ///
    /// # Errors
    ///
    /// As [`encode`](Codec::encode).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Delimited};
    ///
    /// assert_eq!(Delimited::lines().encoded(b"hi")?, b"hi\n");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    fn encoded(&self, frame: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(frame.len() + 4);
        self.encode(frame, &mut out)?;
        Ok(out)
    }
}

/// A shared codec is a codec: `&C` reads and writes as `C` does.
impl<C: Codec + ?Sized> Codec for &C {
    fn encode(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
        (**self).encode(frame, out)
    }

    fn decode(&self, buf: &[u8], progress: &mut usize) -> Result<Option<Frame>> {
        (**self).decode(buf, progress)
    }

    fn decode_eof(&self, buf: &[u8]) -> Result<Option<Frame>> {
        (**self).decode_eof(buf)
    }
}

/// Where a decoded frame lies in the bytes it was decoded from.
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Codec, Delimited, Frame};
/// let codec = Delimited::lines();
/// let frame = codec.decode(b"hello\nrest", &mut 0)?.unwrap();
/// assert_eq!(frame, Frame::new(0..5, 6));
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    body: Range<usize>,
    consumed: usize,
}

impl Frame {
    /// A frame whose body is `buf[body]` and which used the first `consumed` bytes of `buf`
    /// (header and delimiter included).
    ///
    /// # Panics
    ///
    /// When `body` does not lie within the first `consumed` bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// // A 2-byte header, then 5 bytes of body.
    /// let frame = synctcp::framing::Frame::new(2..7, 7);
    /// assert_eq!(frame.body(), 2..7);
    /// ```
    pub fn new(body: Range<usize>, consumed: usize) -> Frame {
        assert!(
            body.start <= body.end && body.end <= consumed,
            "a frame's body must lie within the bytes it used"
        );
        Frame { body, consumed }
    }

    /// Where the body lies in the decoded bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// let frame = synctcp::framing::Frame::new(0..5, 6); // "hello\n"
    /// assert_eq!(&b"hello\n"[frame.body()], b"hello");
    /// ```
    pub fn body(&self) -> Range<usize> {
        self.body.clone()
    }

    /// How many bytes the frame used, body and framing.
    ///
    /// # Examples
    ///
    /// ```
    /// let frame = synctcp::framing::Frame::new(0..5, 6); // "hello\n"
    /// assert_eq!(frame.consumed(), 6);
    /// ```
    pub fn consumed(&self) -> usize {
        self.consumed
    }
}
