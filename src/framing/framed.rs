//! `Framed` and `FrameService`: a connection service that gets whole frames instead of
//! whatever pieces the network delivered.

use super::{Codec, Decoder};
use crate::connection::Caller;
use crate::error::{Error, Result};
use crate::reply::Reply;
use crate::service::ConnectionService;

/// A connection service that works in whole frames: Ballerina's `onBytes`, with the message
/// boundaries found for you.
///
/// Wrap it in [`Framed`] with a codec and return that from `on_connect`. Every callback
/// runs on the connection's own thread, in order, as for [`ConnectionService`].
///
/// # Examples
///
/// ```
/// use synctcp::framing::{Delimited, FrameService, Framed};
/// use synctcp::{Caller, Error, Listener, Reply};
///
/// /// Answers every line with its length.
/// struct Measure;
///
/// impl FrameService for Measure {
///     fn on_frame(&mut self, _: &Caller, line: &[u8]) -> Result<Reply, Error> {
///         Ok(line.len().to_string().into())
///     }
/// }
///
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach(|_| Ok(Framed::new(Delimited::lines(), Measure)))?;
/// # Ok::<(), synctcp::Error>(())
/// ```
pub trait FrameService: 'static {
    /// Called with each whole frame, in order. What it returns is sent back as a frame
    /// (encoded by the codec): [`Reply::Echo`] the frame itself, `bytes.into()` new
    /// bytes, [`Reply::None`] nothing.
    ///
    /// # Errors
    ///
    /// An error goes to [`on_error`](FrameService::on_error), then the connection closes.
    fn on_frame(&mut self, caller: &Caller, frame: &[u8]) -> Result<Reply>;

    /// Called when the peer has finished sending (end of stream), after the last frame.
    /// The connection is still open for writing; it closes in order when this returns.
    /// The default does nothing.
    ///
    /// # Errors
    ///
    /// An error goes to [`on_error`](FrameService::on_error), then the connection closes.
    fn on_eof(&mut self, caller: &Caller) -> Result<()> {
        let _ = caller;
        Ok(())
    }

    /// Called when the connection fails, a frame is malformed or too long included. The
    /// default logs the error at warn level, or prints it when no logger is installed
    /// (see [`ConnectionService::on_error`]).
    fn on_error(&mut self, caller: &Caller, err: &Error) {
        crate::service::report_error(caller, err);
    }

    /// Called once when the connection has closed. The default does nothing.
    fn on_close(&mut self, caller: &Caller) {
        let _ = caller;
    }
}

/// Adapts a [`FrameService`] to a [`ConnectionService`]: buffers the bytes that arrive,
/// hands the service whole frames, and sends each reply, encoded, as soon as the frame's
/// callback returns — so replies and the service's own `Caller::write_bytes` leave in the
/// order they were made.
///
/// A frame the codec refuses (longer than its maximum) is an
/// [`ErrorKind::InvalidData`](crate::ErrorKind::InvalidData) error: `on_error`, then the
/// connection closes. At the end of the stream, bytes left over go to the codec's
/// [`decode_eof`](Codec::decode_eof): an unterminated last line is one more frame for
/// [`Delimited`](super::Delimited); a cut-off frame is an `InvalidData` error (`on_error`),
/// never dropped in silence.
///
/// # Examples
///
/// ```
/// use synctcp::framing::{FrameService, Framed, LengthPrefixed};
/// use synctcp::{Caller, Client, Error, Listener, Reply};
///
/// struct Echo;
/// impl FrameService for Echo {
///     fn on_frame(&mut self, _: &Caller, _: &[u8]) -> Result<Reply, Error> {
///         Ok(Reply::Echo)
///     }
/// }
///
/// let mut listener = Listener::bind("127.0.0.1:0")?;
/// listener.attach(|_| Ok(Framed::new(LengthPrefixed::new(), Echo)))?;
/// listener.start()?;
///
/// let client = Client::connect(listener.local_addr())?;
/// let codec = LengthPrefixed::new();
/// client.write_frame(&codec, b"a whole message")?;
/// assert_eq!(client.read_frame(&codec)?, b"a whole message");
/// # Ok::<(), synctcp::Error>(())
/// ```
#[derive(Debug)]
pub struct Framed<C, S> {
    decoder: Decoder<C>,
    service: S,
}

impl<C: Codec, S: FrameService> Framed<C, S> {
    /// `service`, fed frames found by `codec`.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::{Delimited, FrameService, Framed};
    /// use synctcp::{Caller, Error, Reply};
    ///
    /// struct Shout;
    /// impl FrameService for Shout {
    ///     fn on_frame(&mut self, _: &Caller, line: &[u8]) -> Result<Reply, Error> {
    ///         Ok(line.to_ascii_uppercase().into())
    ///     }
    /// }
    /// let service = Framed::new(Delimited::lines(), Shout);
    /// # let _ = service;
    /// ```
    pub fn new(codec: C, service: S) -> Framed<C, S> {
        Framed {
            decoder: Decoder::new(codec),
            service,
        }
    }
}

impl<C: Codec, S: FrameService> Framed<C, S> {
    /// Hands the frame at `body` to the service and sends its reply, if any.
    fn deliver(&mut self, caller: &Caller, body: std::ops::Range<usize>) -> Result<()> {
        let frame = &self.decoder.data()[body];
        let reply = match self.service.on_frame(caller, frame)? {
            Reply::None => return Ok(()),
            Reply::Echo => self.decoder.codec().encoded(frame)?,
            Reply::Bytes(bytes) => self.decoder.codec().encoded(&bytes)?,
        };
        caller.reply(&reply)
    }
}

impl<C: Codec + 'static, S: FrameService> ConnectionService for Framed<C, S> {
    fn on_bytes(&mut self, caller: &Caller, data: &[u8]) -> Result<Reply> {
        self.decoder.push(data);
        // After a close asked for in one frame's callback, the frames behind it are input
        // that arrived after the close: not delivered.
        while !caller.is_closed() {
            let Some(body) = self.decoder.next_range()? else {
                break;
            };
            self.deliver(caller, body)?;
        }
        Ok(Reply::None)
    }

    fn on_eof(&mut self, caller: &Caller) -> Result<()> {
        while !caller.is_closed() {
            let Some(body) = self.decoder.next_range_eof()? else {
                break;
            };
            self.deliver(caller, body)?;
        }
        self.service.on_eof(caller)
    }

    fn on_error(&mut self, caller: &Caller, err: &Error) {
        self.service.on_error(caller, err);
    }

    fn on_close(&mut self, caller: &Caller) {
        self.service.on_close(caller);
    }
}
