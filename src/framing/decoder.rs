//! `Decoder`: a codec with a buffer, turning bytes that arrive in any pieces into frames.

use std::ops::Range;

use super::{Codec, Frame};
use crate::buffer::ReadBuf;
use crate::error::Result;

/// Frames out of bytes that arrive in pieces: push what arrives, take frames out.
///
/// Only the bytes of frames not yet complete are kept; a frame handed out by
/// [`next_frame`](Decoder::next_frame) borrows from the buffer until the next call.
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Decoder, Delimited};
///
/// let mut decoder = Decoder::new(Delimited::lines());
/// for piece in [&b"one\ntw"[..], b"o\nthr", b"ee\n"] {
///     decoder.push(piece);
///     while let Some(line) = decoder.next_frame()? {
///         println!("{}", String::from_utf8_lossy(line));
///     }
/// }
/// assert_eq!(decoder.buffered(), 0);
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug)]
pub struct Decoder<C> {
    codec: C,
    buf: ReadBuf,
    /// Bytes of the frame handed out last, dropped on the next call.
    used: usize,
    /// The codec's progress on the frame being received (see [`Codec::decode`]).
    progress: usize,
}

impl<C: Codec> Decoder<C> {
    /// A decoder with an empty buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Decoder, LengthPrefixed};
    /// let decoder = Decoder::new(LengthPrefixed::new());
    /// assert_eq!(decoder.buffered(), 0);
    /// ```
    pub fn new(codec: C) -> Decoder<C> {
        Decoder {
            codec,
            buf: ReadBuf::default(),
            used: 0,
            progress: 0,
        }
    }

    /// Adds bytes that arrived.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut decoder = synctcp::framing::Decoder::new(synctcp::framing::Delimited::lines());
    /// decoder.push(b"partial");
    /// assert_eq!(decoder.buffered(), 7);
    /// ```
    pub fn push(&mut self, bytes: &[u8]) {
        self.settle();
        self.buf.extend(bytes);
    }

    /// The next whole frame, or `None` until more bytes are pushed.
    ///
    /// # Errors
    ///
    /// The codec's: [`ErrorKind::InvalidData`](crate::ErrorKind::InvalidData) for a frame
    /// longer than its maximum. The stream cannot be followed after that.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Decoder, LengthPrefixed};
    ///
    /// let mut decoder = Decoder::new(LengthPrefixed::new());
    /// decoder.push(&LengthPrefixed::new().encoded(b"ping")?);
    /// assert_eq!(decoder.next_frame()?, Some(&b"ping"[..]));
    /// assert_eq!(decoder.next_frame()?, None);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>> {
        Ok(self.next_range()?.map(|body| &self.buf.data()[body]))
    }

    /// The next frame once the stream has ended: whole frames first, then what the codec
    /// makes of the bytes left over (see [`Codec::decode_eof`]); `None` when nothing is
    /// left.
    ///
    /// # Errors
    ///
    /// The codec's: [`ErrorKind::InvalidData`](crate::ErrorKind::InvalidData) for a frame
    /// the end of the stream cut off.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Decoder, Delimited};
    ///
    /// let mut decoder = Decoder::new(Delimited::lines());
    /// decoder.push(b"one\ntwo");
    /// assert_eq!(decoder.next_frame()?, Some(&b"one"[..]));
    /// assert_eq!(decoder.next_frame()?, None); // "two" may go on
    /// // ...but the stream ended:
    /// assert_eq!(decoder.next_frame_eof()?, Some(&b"two"[..]));
    /// assert_eq!(decoder.next_frame_eof()?, None);
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn next_frame_eof(&mut self) -> Result<Option<&[u8]>> {
        Ok(self.next_range_eof()?.map(|body| &self.buf.data()[body]))
    }

    /// Like `next_frame`, as a range of [`data`](Decoder::data): lets the caller use the
    /// codec while holding the frame.
    pub(crate) fn next_range(&mut self) -> Result<Option<Range<usize>>> {
        self.settle();
        let frame = self.codec.decode(self.buf.data(), &mut self.progress)?;
        Ok(frame.map(|frame| self.hand_out(frame)))
    }

    /// Like `next_frame_eof`, as a range of [`data`](Decoder::data).
    pub(crate) fn next_range_eof(&mut self) -> Result<Option<Range<usize>>> {
        self.settle();
        Ok(self
            .codec
            .decode_eof(self.buf.data())?
            .map(|frame| self.hand_out(frame)))
    }

    fn hand_out(&mut self, frame: Frame) -> Range<usize> {
        self.used = frame.consumed();
        self.progress = 0;
        frame.body()
    }

    pub(crate) fn data(&self) -> &[u8] {
        self.buf.data()
    }

    fn settle(&mut self) {
        if self.used > 0 {
            self.buf.consume(self.used);
            self.used = 0;
        }
    }

    /// How many bytes are held: the part of a frame that has not arrived whole (and the
    /// frame last handed out, until the next call).
    ///
    /// # Examples
    ///
    /// ```
    /// let decoder = synctcp::framing::Decoder::new(synctcp::framing::Delimited::lines());
    /// assert_eq!(decoder.buffered(), 0);
    /// ```
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.used
    }

    /// The codec, to encode replies with.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Codec, Decoder, Delimited};
    /// let decoder = Decoder::new(Delimited::lines());
    /// assert_eq!(decoder.codec().encoded(b"ok")?, b"ok\n");
    /// # Ok::<(), synctcp::Error>(())
    /// ```
    pub fn codec(&self) -> &C {
        &self.codec
    }
}
