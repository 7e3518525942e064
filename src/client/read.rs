//! Reading from a `Client`: whatever arrived, an exact count, or a whole frame, each call
//! within one deadline. What arrived and was not returned stays in the client's buffer for
//! the next call, whatever it is.

use std::io::{self, Read};

use super::{Client, Reading};
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Codec;

/// How many bytes one read asks the socket for.
const READ_CHUNK: usize = 16 * 1024;

impl Client {
    /// Returns the bytes available now, waiting for at least one.
    ///
    /// How many bytes come back depends on how the peer's writes were split on the way:
    /// TCP is a stream, not a sequence of messages. Use
    /// [`read_bytes_exact`](Client::read_bytes_exact) (or the `framing` module) to read
    /// whole messages.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when nothing arrives within the read timeout (the connection
    /// stays usable), [`ErrorKind::Closed`] when the peer has closed the connection or
    /// [`close`](Client::close) was called, [`ErrorKind::Reset`] when the peer reset it.
    /// Once one call has reported a reset, every later read reports it too, after handing
    /// out the bytes that arrived before it, and so does every later write. (The socket
    /// reports a reset to one call only: a read and a write running at the same time when
    /// it comes may see `Closed` in the one that did not get it.)
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// # server.accept()?.0.write_all(b"hi")?;
    /// let data = client.read_bytes()?;
    /// assert!(!data.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_bytes(&self) -> Result<Vec<u8>> {
        let deadline = self.read_timeout.deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        if reading.pending.is_empty() {
            self.fill(&mut reading, deadline)?;
        }
        let n = reading.pending.len();
        Ok(reading.pending.take(n))
    }

    /// Returns exactly `len` bytes, waiting until they have all arrived (Ballerina's
    /// issue 6164).
    ///
    /// The read timeout bounds the whole call. Bytes received before an error are kept:
    /// calling again after a timeout continues where the first call stopped.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Client::read_bytes); [`ErrorKind::Closed`] when the peer closes
    /// before `len` bytes arrived (the message says how many did).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// # let mut peer = server.accept()?.0; peer.write_all(b"4 by")?; peer.write_all(b"tes!")?;
    /// assert_eq!(client.read_bytes_exact(8)?, b"4 bytes!");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_bytes_exact(&self, len: usize) -> Result<Vec<u8>> {
        let deadline = self.read_timeout.deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        while reading.pending.len() < len {
            let before = reading.pending.len();
            if let Err(err) = self.fill(&mut reading, deadline) {
                if err.kind() == ErrorKind::Closed && reading.peer_closed {
                    return Err(err.message(format!(
                        "connection closed by peer after {before} of {len} bytes"
                    )));
                }
                return Err(err);
            }
        }
        Ok(reading.pending.take(len))
    }

    /// Reads one whole frame, as `codec` finds frames: however the peer's bytes were split
    /// on the way, a whole message comes back.
    ///
    /// Bytes that arrive after the frame are kept for the next read, whatever codec it
    /// uses: the codec only describes the format, and can be shared by any number of
    /// clients. The read timeout bounds the whole call.
    ///
    /// # Errors
    ///
    /// As [`read_bytes`](Client::read_bytes); [`ErrorKind::InvalidData`] when the frame is
    /// longer than the codec allows, or the peer closes in the middle of a frame (unless
    /// the codec takes what is left as a last frame: see
    /// [`Codec::decode_eof`](crate::framing::Codec::decode_eof)).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::Delimited;
    /// # use std::io::Write;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// # let mut peer = server.accept()?.0; peer.write_all(b"first li")?; peer.write_all(b"ne\nsecond line\n")?;
    /// let lines = Delimited::lines();
    /// assert_eq!(client.read_frame(&lines)?, b"first line");
    /// assert_eq!(client.read_frame(&lines)?, b"second line");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_frame<C: Codec + ?Sized>(&self, codec: &C) -> Result<Vec<u8>> {
        let context = || format!("read a frame from {}", self.target);
        let deadline = self.read_timeout.deadline();
        let mut reading = self.take_reading("read a frame from", deadline)?;
        // The codec's progress is kept for this call only: the next call may bring
        // another codec, which starts afresh.
        let mut progress = 0;
        loop {
            // After a reset, what is left of the stream was cut off, not ended: only whole
            // frames still come out of it.
            let decoded = match reading.peer_closed && !self.was_reset() {
                false => codec.decode(reading.pending.data(), &mut progress),
                true => codec.decode_eof(reading.pending.data()),
            };
            match decoded.map_err(|e| e.in_context(context()))? {
                Some(frame) => {
                    let body = reading.pending.data()[frame.body()].to_vec();
                    reading.pending.consume(frame.consumed());
                    return Ok(body);
                }
                None if reading.peer_closed => return Err(self.closed_by_peer()),
                None => {}
            }
            match self.fill(&mut reading, deadline) {
                // The end of stream: what is left is the codec's to judge, above.
                Err(err) if err.kind() == ErrorKind::Closed && reading.peer_closed => {}
                Err(err) => return Err(err),
                Ok(_) => {}
            }
        }
    }

    /// Reads once from the connection into `pending`, waiting until `deadline`.
    fn fill(&self, reading: &mut Reading, deadline: Option<std::time::Instant>) -> Result<usize> {
        if reading.peer_closed {
            return Err(self.closed_by_peer());
        }
        let Reading {
            pending,
            scratch,
            socket_timeout,
            ..
        } = reading;
        let read = self
            .io
            .read(pending.spare(READ_CHUNK), scratch, deadline, socket_timeout);
        if self.is_closed() {
            // Closed from another thread while we waited: whatever the socket said.
            return Err(self.closed_here("read from"));
        }
        match read {
            Ok(0) => {
                reading.peer_closed = true;
                Err(self.closed_by_peer())
            }
            Ok(n) => {
                pending.commit(n);
                Ok(n)
            }
            Err(e) => Err(self.failure("read from", e, self.read_timeout.get())),
        }
    }

    /// `Ok(0)` for `Read` at the end of the stream, unless the peer reset the connection.
    fn end_of_stream(&self) -> io::Result<usize> {
        match self.was_reset() {
            true => Err(self.reset_earlier("read from").into()),
            false => Ok(0),
        }
    }

    /// The end of the stream: the peer closed, or it reset the connection and an earlier
    /// call reported that.
    fn closed_by_peer(&self) -> Error {
        if self.was_reset() {
            return self.reset_earlier("read from");
        }
        Error::with(
            ErrorKind::Closed,
            format!("read from {}", self.target),
            "connection closed by peer",
        )
    }
}

/// Reads what was received and not yet returned first, then from the connection, within
/// the read timeout. End of stream is `Ok(0)`, as `Read` requires.
impl Read for &Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = self.read_timeout.deadline();
        let mut reading = self.take_reading("read from", deadline)?;
        if !reading.pending.is_empty() {
            let n = buf.len().min(reading.pending.len());
            buf[..n].copy_from_slice(&reading.pending.data()[..n]);
            reading.pending.consume(n);
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if reading.peer_closed {
            return self.end_of_stream();
        }
        let Reading {
            scratch,
            socket_timeout,
            ..
        } = &mut *reading;
        let read = self.io.read(buf, scratch, deadline, socket_timeout);
        if self.is_closed() {
            return Err(self.closed_here("read from").into());
        }
        let n = read.map_err(|e| self.failure("read from", e, self.read_timeout.get()))?;
        if n == 0 {
            reading.peer_closed = true;
            return self.end_of_stream();
        }
        Ok(n)
    }
}

impl Read for Client {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}
