//! Writing to a `Client`: bytes or a frame, whole, within one deadline per call; and
//! ending the sending direction while reading goes on.

use std::io::{self, Write};

use super::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::framing::Codec;

impl Client {
    /// Sends every byte of `data`, blocking until the operating system has taken them all.
    ///
    /// The write timeout bounds the whole call: waiting for another thread's write to
    /// finish, and every send it takes. Writes from several threads never interleave.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the bytes are not all sent within the write timeout,
    /// [`ErrorKind::Closed`] when the connection is closed (by [`close`](Client::close),
    /// from any thread, or after [`shutdown_write`](Client::shutdown_write)),
    /// [`ErrorKind::Reset`] when the peer reset it (and in every later write or read, once
    /// one call has reported it; see [`read_bytes`](Client::read_bytes)). After an error
    /// some of the bytes may have been sent.
    ///
    /// # Examples
    ///
    /// ```
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// client.write_bytes(b"ping")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_bytes(&self, data: &[u8]) -> Result<()> {
        let deadline = self.write_timeout.deadline();
        let mut writing = self.take_writing("write to", deadline)?;
        if writing.shut {
            return Err(self.write_shut("write to"));
        }
        self.io
            .write_all(data, deadline, &mut writing.socket_timeout)
            .map_err(|e| self.failure("write to", e, self.write_timeout.get()))
    }

    /// Sends `frame`, encoded by `codec`, as one write.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidData`] when the codec cannot encode it (too long, or holding the
    /// delimiter); otherwise as [`write_bytes`](Client::write_bytes).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::framing::LengthPrefixed;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let client = synctcp::Client::connect(server.local_addr()?)?;
    /// client.write_frame(&LengthPrefixed::new(), b"one message")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_frame<C: Codec + ?Sized>(&self, codec: &C, frame: &[u8]) -> Result<()> {
        let bytes = codec
            .encoded(frame)
            .map_err(|e| e.in_context(format!("write a frame to {}", self.target)))?;
        self.write_bytes(&bytes)
    }

    /// Ends the sending direction: the peer reads everything written, then an end of
    /// stream (after TLS close_notify), while this client can still read the peer's reply.
    /// Later writes fail with [`ErrorKind::Closed`]. Like `nc -N` on end of input.
    ///
    /// # Errors
    ///
    /// An I/O error if the final bytes cannot be sent; `Closed` after a
    /// [`close`](Client::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::io::{Read, Write};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let addr = server.local_addr()?;
    /// # std::thread::spawn(move || { let (mut s, _) = server.accept().unwrap();
    /// #     let mut all = Vec::new(); s.read_to_end(&mut all).unwrap(); s.write_all(&all).unwrap(); });
    /// let client = synctcp::Client::connect(addr)?;
    /// client.write_bytes(b"whole request")?;
    /// client.shutdown_write()?; // the server reads to the end, then answers
    /// assert_eq!(client.read_bytes_exact(13)?, b"whole request");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_write(&self) -> Result<()> {
        let operation = "shut down writing to";
        let deadline = self.write_timeout.deadline();
        let mut writing = self.take_writing(operation, deadline)?;
        if writing.shut {
            return Ok(());
        }
        writing.shut = true;
        self.io
            .shutdown_write(deadline, &mut writing.socket_timeout)
            .map_err(|e| self.failure(operation, e, self.write_timeout.get()))
    }

    fn write_shut(&self, operation: &str) -> Error {
        Error::with(
            ErrorKind::Closed,
            format!("{operation} {}", self.target),
            "writing was shut down (shutdown_write)",
        )
    }
}

/// Each `write` sends all of `buf`, within the write timeout.
impl Write for &Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf)?;
        Ok(buf.len())
    }

    /// Nothing to do: every write is handed to the operating system before it returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Client {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
