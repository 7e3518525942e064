//! `LengthPrefixed`: frames preceded by their length in 2 or 4 bytes, big-endian.

use super::{Codec, Frame, DEFAULT_MAX_FRAME_LENGTH};
use crate::error::{Error, ErrorKind, Result};

/// Frames preceded by their length: 4 bytes big-endian by default, or 2.
///
/// A frame that announces more than the maximum frame length is refused as soon as its
/// header arrives, before any memory is set aside for it.
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Codec, Decoder, LengthPrefixed};
///
/// let codec = LengthPrefixed::u16().max_frame_length(1024);
/// assert_eq!(codec.encoded(b"hi")?, [0, 2, b'h', b'i']);
///
/// let mut decoder = Decoder::new(codec);
/// decoder.push(&[0xff, 0xff]); // announces 65,535 bytes
/// assert!(decoder.next_frame().is_err());
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    header: usize,
    max: usize,
}

impl Default for LengthPrefixed {
    fn default() -> LengthPrefixed {
        LengthPrefixed::u32()
    }
}

impl LengthPrefixed {
    /// A 4-byte length, at most [`DEFAULT_MAX_FRAME_LENGTH`] (8 MiB) per frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, LengthPrefixed};
    /// assert_eq!(LengthPrefixed::new().encoded(b"ab")?, [0, 0, 0, 2, b'a', b'b']);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn new() -> LengthPrefixed {
        LengthPrefixed::default()
    }

    /// A 4-byte big-endian length prefix (the default).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, LengthPrefixed};
    /// assert_eq!(LengthPrefixed::u32().encoded(b"x")?, [0, 0, 0, 1, b'x']);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn u32() -> LengthPrefixed {
        LengthPrefixed {
            header: 4,
            max: DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// A 2-byte big-endian length prefix: frames of up to 65,535 bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, LengthPrefixed};
    /// assert_eq!(LengthPrefixed::u16().encoded(b"x")?, [0, 1, b'x']);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn u16() -> LengthPrefixed {
        LengthPrefixed {
            header: 2,
            max: DEFAULT_MAX_FRAME_LENGTH.min(usize::from(u16::MAX)),
        }
    }

    /// The longest frame to accept or send.
    ///
    /// Default: 8 MiB ([`DEFAULT_MAX_FRAME_LENGTH`]); 65,535 with a 2-byte prefix, which
    /// cannot say more.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, LengthPrefixed};
    /// let codec = LengthPrefixed::new().max_frame_length(16);
    /// assert!(codec.encoded(&[0; 17]).is_err());
    /// ```
    pub fn max_frame_length(mut self, max: usize) -> LengthPrefixed {
        self.max = match self.header {
            2 => max.min(usize::from(u16::MAX)),
            _ => max.min(u32::MAX as usize),
        };
        self
    }

    fn too_long(&self, len: usize, what: &str) -> Error {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "{what} of {len} bytes is longer than the maximum frame length of {}",
                self.max
            ),
        )
    }
}

impl Codec for LengthPrefixed {
    fn encode(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if frame.len() > self.max {
            return Err(self.too_long(frame.len(), "a frame to send"));
        }
        let len = frame.len() as u32; // fits: max is below u32::MAX
        out.extend_from_slice(&len.to_be_bytes()[4 - self.header..]);
        out.extend_from_slice(frame);
        Ok(())
    }

    fn decode(&self, buf: &[u8], _progress: &mut usize) -> Result<Option<Frame>> {
        let Some(header) = buf.get(..self.header) else {
            return Ok(None);
        };
        let len = header
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
        if len > self.max {
            return Err(self.too_long(len, "a frame announced"));
        }
        let end = self.header + len;
        Ok((buf.len() >= end).then(|| Frame::new(self.header..end, end)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_four_gigabyte_announcement_is_refused_at_once() {
        let codec = LengthPrefixed::new();
        let err = codec.decode(&[0xff, 0xff, 0xff, 0xff], &mut 0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().contains("4294967295 bytes"), "{err}");
    }

    #[test]
    fn waits_for_the_header_and_the_body() {
        let codec = LengthPrefixed::u16();
        assert_eq!(codec.decode(&[0], &mut 0).unwrap(), None);
        assert_eq!(codec.decode(&[0, 3, b'a'], &mut 0).unwrap(), None);
        assert_eq!(
            codec
                .decode(&[0, 3, b'a', b'b', b'c', b'x'], &mut 0)
                .unwrap(),
            Some(Frame::new(2..5, 5))
        );
        assert_eq!(
            codec.decode(&[0, 0], &mut 0).unwrap(),
            Some(Frame::new(2..2, 2))
        );
        assert!(codec.decode_eof(&[0, 3, b'a']).is_err());
    }

    #[test]
    fn refuses_to_send_what_it_would_refuse_to_read() {
        let codec = LengthPrefixed::new().max_frame_length(3);
        assert!(codec.encoded(b"four").is_err());
        assert_eq!(LengthPrefixed::u16().max_frame_length(1 << 20).max, 65_535);
    }
}
