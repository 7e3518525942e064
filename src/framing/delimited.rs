//! `Delimited`: frames that end with a delimiter (`\n`, `\r\n`, or any byte string).

use super::{Codec, Frame, DEFAULT_MAX_FRAME_LENGTH};
use crate::error::{Error, ErrorKind, Result};

/// Frames that end with a delimiter, such as lines ending in `\n` or `\r\n`.
///
/// The delimiter is stripped from decoded frames by default. A frame that grows past the
/// maximum frame length without a delimiter is refused as soon as it does. Searching resumes
/// where it stopped, so a long frame arriving in small pieces costs linear time. At the end
/// of the stream, an unterminated last frame is still a frame (as `BufRead::lines` gives an
/// unterminated last line).
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Decoder, Delimited};
///
/// let mut decoder = Decoder::new(Delimited::new("\r\n"));
/// decoder.push(b"GET / HTTP/1.1\r");
/// assert_eq!(decoder.next_frame()?, None); // the delimiter is split across reads
/// decoder.push(b"\nHost: x\r\n");
/// assert_eq!(decoder.next_frame()?, Some(&b"GET / HTTP/1.1"[..]));
/// assert_eq!(decoder.next_frame()?, Some(&b"Host: x"[..]));
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Delimited {
    delimiter: Vec<u8>,
    strip: bool,
    max: usize,
}

impl Delimited {
    /// Frames ending with `delimiter`, stripped, at most [`DEFAULT_MAX_FRAME_LENGTH`]
    /// (8 MiB) long.
    ///
    /// # Panics
    ///
    /// When `delimiter` is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Delimited};
    /// assert_eq!(Delimited::new("\r\n").encoded(b"line")?, b"line\r\n");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn new(delimiter: impl AsRef<[u8]>) -> Delimited {
        let delimiter = delimiter.as_ref().to_vec();
        assert!(!delimiter.is_empty(), "a frame delimiter cannot be empty");
        Delimited {
            delimiter,
            strip: true,
            max: DEFAULT_MAX_FRAME_LENGTH,
        }
    }

    /// Lines ending in `\n` (a `\r` before it stays part of the line).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Delimited};
    /// assert_eq!(Delimited::lines().encoded(b"hello")?, b"hello\n");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn lines() -> Delimited {
        Delimited::new(b"\n")
    }

    /// Whether decoded frames leave out the delimiter.
    ///
    /// Default: `true`.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Decoder, Delimited};
    /// let mut decoder = Decoder::new(Delimited::lines().strip_delimiter(false));
    /// decoder.push(b"kept\n");
    /// assert_eq!(decoder.next_frame()?, Some(&b"kept\n"[..]));
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn strip_delimiter(mut self, strip: bool) -> Delimited {
        self.strip = strip;
        self
    }

    /// The longest frame (without its delimiter) to accept or send.
    ///
    /// Default: 8 MiB ([`DEFAULT_MAX_FRAME_LENGTH`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Decoder, Delimited};
    /// let mut decoder = Decoder::new(Delimited::lines().max_frame_length(4));
    /// decoder.push(b"too long\n");
    /// assert!(decoder.next_frame().is_err());
    /// ```
    pub fn max_frame_length(mut self, max: usize) -> Delimited {
        self.max = max;
        self
    }

    fn find(&self, buf: &[u8], from: usize) -> Option<usize> {
        buf.get(from..)?
            .windows(self.delimiter.len())
            .position(|w| w == self.delimiter.as_slice())
            .map(|p| from + p)
    }

    /// How many bytes at the end of `buf` could be the start of a delimiter.
    fn partial_delimiter(&self, buf: &[u8]) -> usize {
        (1..self.delimiter.len())
            .rev()
            .find(|&k| buf.ends_with(&self.delimiter[..k]))
            .unwrap_or(0)
    }

    fn too_long(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "{what} is longer than the maximum frame length of {} bytes",
                self.max
            ),
        )
    }
}

impl Codec for Delimited {
    fn encode(&self, frame: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if frame.len() > self.max {
            return Err(self.too_long("a frame to send"));
        }
        if self.find(frame, 0).is_some() {
            return Err(Error::new(
                ErrorKind::InvalidData,
                "a frame to send holds the delimiter, which would split it in two",
            ));
        }
        out.extend_from_slice(frame);
        out.extend_from_slice(&self.delimiter);
        Ok(())
    }

    /// `progress`: how many bytes have been searched without finding the delimiter.
    fn decode(&self, buf: &[u8], progress: &mut usize) -> Result<Option<Frame>> {
        // A delimiter may straddle the bytes searched and the new ones.
        let from = (*progress)
            .min(buf.len())
            .saturating_sub(self.delimiter.len() - 1);
        match self.find(buf, from) {
            Some(at) => {
                *progress = 0;
                if at > self.max {
                    return Err(self.too_long("a frame received"));
                }
                let end = at + self.delimiter.len();
                let body = if self.strip { 0..at } else { 0..end };
                Ok(Some(Frame::new(body, end)))
            }
            None => {
                *progress = buf.len();
                // What is here is body, but for the start of a delimiter at the very end.
                if buf.len() - self.partial_delimiter(buf) > self.max {
                    return Err(self.too_long("a frame received without its delimiter"));
                }
                Ok(None)
            }
        }
    }

    /// An unterminated last frame is a frame.
    fn decode_eof(&self, buf: &[u8]) -> Result<Option<Frame>> {
        if let Some(frame) = self.decode(buf, &mut 0)? {
            return Ok(Some(frame));
        }
        if buf.is_empty() {
            return Ok(None);
        }
        if buf.len() > self.max {
            return Err(self.too_long("a last frame received"));
        }
        Ok(Some(Frame::new(0..buf.len(), buf.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_delimiter_split_across_calls() {
        let codec = Delimited::new("\r\n");
        assert_eq!(codec.decode(b"abc\r", &mut 0).unwrap(), None);
        let mut progress = 0;
        assert_eq!(codec.decode(b"abc\r", &mut progress).unwrap(), None);
        assert_eq!(progress, 4);
        assert_eq!(
            codec.decode(b"abc\r\n", &mut progress).unwrap(),
            Some(Frame::new(0..3, 5))
        );
        assert_eq!(progress, 0);
    }

    #[test]
    fn one_codec_serves_two_streams_at_once() {
        let codec = Delimited::lines();
        let (mut one, mut two) = (0, 0);
        assert_eq!(codec.decode(b"long li", &mut one).unwrap(), None);
        assert_eq!(
            codec.decode(b"x\ny\n", &mut two).unwrap(),
            Some(Frame::new(0..1, 2))
        );
        assert_eq!(
            codec.decode(b"long line\n", &mut one).unwrap(),
            Some(Frame::new(0..9, 10))
        );
    }

    #[test]
    fn keeps_the_delimiter_when_asked() {
        let codec = Delimited::lines().strip_delimiter(false);
        assert_eq!(
            codec.decode(b"a\nb", &mut 0).unwrap(),
            Some(Frame::new(0..2, 2))
        );
    }

    #[test]
    fn an_unterminated_last_frame_is_a_frame() {
        let codec = Delimited::lines();
        assert_eq!(codec.decode_eof(b"").unwrap(), None);
        assert_eq!(
            codec.decode_eof(b"tail").unwrap(),
            Some(Frame::new(0..4, 4))
        );
        assert_eq!(
            codec.decode_eof(b"a\ntail").unwrap(),
            Some(Frame::new(0..1, 2))
        );
        assert!(Delimited::lines()
            .max_frame_length(2)
            .decode_eof(b"tail")
            .is_err());
    }

    #[test]
    fn refuses_overlong_frames_with_or_without_delimiter() {
        let codec = Delimited::lines().max_frame_length(4);
        assert!(codec.decode(b"abcd", &mut 0).unwrap().is_none());
        assert!(codec.decode(b"abcde", &mut 0).is_err());
        // A possible start of the delimiter is not counted as body...
        let codec = Delimited::new("\r\n").max_frame_length(4);
        assert!(codec.decode(b"abcd\r", &mut 0).unwrap().is_none());
        // ...anything else is.
        assert!(codec.decode(b"abcdx", &mut 0).is_err());
        let codec = Delimited::lines().max_frame_length(4);
        assert!(codec.decode(b"abcdefgh\n", &mut 0).is_err());
        assert!(codec.encoded(b"abcde").is_err());
        assert!(Delimited::lines().encoded(b"a\nb").is_err());
    }
}
