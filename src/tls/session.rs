//! `ServerSession`: the TLS state machine of one accepted connection, shared by its
//! reader and its writers.
//!
//! A rustls connection is not full duplex: reading and writing go through one state
//! machine. Holding its lock across a blocking socket read would starve every writer
//! (rustls issue 288), and a writer blocked on a full socket while holding it would stop
//! the reader from draining the peer — both sides stuck, as in rustls issue 2556. So the
//! lock is never held across socket I/O: the reader reads ciphertext into its own buffer
//! first and only then takes the lock to decrypt; writers take it to encrypt and to hand
//! the socket what it takes without waiting, and send any rest afterwards, lock released,
//! through the connection's ordered write path.

use crate::sock::Sock;
use std::io::{self, BufRead, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};

use super::info::TlsInfo;
use crate::error::{Error, ErrorKind};

#[derive(Debug)]
pub(crate) struct ServerSession {
    tls: Mutex<ServerConnection>,
    handshake_timeout: Duration,
}

/// What decrypting a piece of input found besides plaintext.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Opened {
    /// The session has records to send (handshake messages, alerts, key updates).
    pub(crate) wants_write: bool,
    /// The peer sent close_notify: its data is complete.
    pub(crate) closed: bool,
}

/// An `io::Error` carrying a rustls error, so that it maps to `ErrorKind::Tls`.
pub(crate) fn io_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// The end of a stream that came without close_notify: an error, not a clean end.
pub(crate) fn truncated() -> io::Error {
    io_error(rustls::Error::General(
        "peer closed the connection without a TLS close_notify: the data may be truncated".into(),
    ))
}

impl ServerSession {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        handshake_timeout: Duration,
    ) -> io::Result<ServerSession> {
        Ok(ServerSession {
            tls: Mutex::new(ServerConnection::new(config).map_err(io_error)?),
            handshake_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, ServerConnection> {
        self.tls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connection thread, before `on_connect`: runs the handshake over `stream`, bounded by
    /// the handshake timeout as a whole (a client trickling half a record cannot stretch
    /// it). On failure the alert, if any, is sent. After it, the socket is back to no
    /// receive timeout and the send timeout `write_timeout`.
    pub(crate) fn handshake(
        &self,
        stream: &Sock,
        write_timeout: Option<Duration>,
        context: &str,
    ) -> Result<TlsInfo, Error> {
        let mut tls = self.lock();
        let send_timeout_changed = drive_handshake(&mut tls, stream, self.handshake_timeout)
            .map_err(|e| handshake_error(e, self.handshake_timeout, context))?;
        let restore = || -> io::Result<()> {
            stream.set_read_timeout(None)?;
            if send_timeout_changed {
                stream.set_write_timeout(write_timeout)?;
            }
            Ok(())
        };
        restore().map_err(|e| Error::io(context, e))?;
        Ok(TlsInfo::of(&tls))
    }

    /// Encrypts as much of `data` as the session takes at once and sends the records as far
    /// as the socket takes them without waiting; see [`seal_send`].
    pub(crate) fn seal_send(
        &self,
        data: &[u8],
        stream: &Sock,
        rest: &mut Vec<u8>,
    ) -> io::Result<Sealed> {
        seal_send(&mut self.lock(), data, stream, rest)
    }

    /// Whether records wait to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        self.lock().wants_write()
    }

    /// The close_notify alert to send before FIN (with any records still waiting).
    pub(crate) fn close_notify(&self) -> Vec<u8> {
        let mut tls = self.lock();
        tls.send_close_notify();
        let mut records = Vec::new();
        while tls.wants_write() {
            if tls.write_tls(&mut records).is_err() {
                break;
            }
        }
        records
    }

    /// Decrypts `ciphertext` read from the socket, appending the plaintext to `plain`.
    /// With an empty `ciphertext`, collects plaintext that arrived with the handshake.
    pub(crate) fn open(&self, mut ciphertext: &[u8], plain: &mut Vec<u8>) -> io::Result<Opened> {
        let mut tls = self.lock();
        let mut opened = Opened::default();
        loop {
            if !ciphertext.is_empty() {
                tls.read_tls(&mut ciphertext)?;
            }
            tls.process_new_packets().map_err(io_error)?;
            match take_plaintext(&mut tls, plain) {
                Ok(()) => opened.closed = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if ciphertext.is_empty() {
                break;
            }
        }
        opened.wants_write = tls.wants_write();
        Ok(opened)
    }

    /// The socket reached end of stream: a clean end only after close_notify.
    pub(crate) fn open_eof(&self, plain: &mut Vec<u8>) -> io::Result<()> {
        let mut tls = self.lock();
        tls.read_tls(&mut io::empty())?;
        tls.process_new_packets().map_err(io_error)?;
        match take_plaintext(&mut tls, plain) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(truncated()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(truncated()),
            Err(e) => Err(e),
        }
    }
}

/// Appends the plaintext the session holds to `plain`, chunk by chunk (no zeroed buffer to
/// read into, as `read_to_end` would need). `Ok` once the peer's close_notify has been
/// reached; otherwise the error the session's reader gives when it runs dry: `WouldBlock`
/// while the stream goes on, `UnexpectedEof` after an end without close_notify.
fn take_plaintext(tls: &mut ServerConnection, plain: &mut Vec<u8>) -> io::Result<()> {
    let mut reader = tls.reader();
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(());
        }
        let n = chunk.len();
        plain.extend_from_slice(chunk);
        reader.consume(n);
    }
}

/// What [`seal_send`] did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sealed {
    /// Bytes of the plaintext encrypted.
    pub(crate) taken: usize,
    /// Bytes of records the socket took at once.
    pub(crate) sent: usize,
}

/// Encrypts as much of `data` as `tls` takes at once (see [`seal_into`]) and writes the
/// records it then holds straight from its buffers to `stream`, as far as the socket takes
/// them without waiting; the rest go to `rest`, for the caller to send next, before
/// anything else. So the session's lock is never held while the socket is full, and when
/// the socket has room (the usual case) the records are never copied out of rustls.
pub(crate) fn seal_send<D>(
    tls: &mut rustls::ConnectionCommon<D>,
    data: &[u8],
    stream: &Sock,
    rest: &mut Vec<u8>,
) -> io::Result<Sealed> {
    let taken = encrypt(tls, data)?;
    let mut socket = Now { stream, sent: 0 };
    while tls.wants_write() {
        match tls.write_tls(&mut socket) {
            Ok(n) if n > 0 => {}
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    // What the socket did not take waits outside the session.
    while tls.wants_write() {
        tls.write_tls(rest)?;
    }
    Ok(Sealed {
        taken,
        sent: socket.sent,
    })
}

/// The socket as [`seal_send`] writes records to it: one vectored send of what it takes
/// now, never waiting.
struct Now<'a> {
    stream: &'a Sock,
    sent: usize,
}

impl Write for Now<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[io::IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let n = crate::net::send_vectored_now(self.stream, bufs)?;
        self.sent += n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The most plaintext sealed in one go: at most what rustls buffers (64 KiB by default).
const SEAL_CHUNK: usize = 64 * 1024;

/// Encrypts as much of `data` as `tls` takes at once and moves the records it then holds
/// (with any it was already waiting to send, ahead of them) into `out`. Returns how many
/// bytes of `data` it took. rustls refuses plaintext beyond its buffer limit, so writers
/// loop — seal, send `out`, seal the rest — and the session never holds more than one
/// chunk's records. An empty `data` collects only the waiting records.
pub(crate) fn seal_into<D>(
    tls: &mut rustls::ConnectionCommon<D>,
    data: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    let taken = encrypt(tls, data)?;
    while tls.wants_write() {
        tls.write_tls(out)?;
    }
    Ok(taken)
}

/// Hands rustls as much of `data` as it takes at once (at most [`SEAL_CHUNK`]) to encrypt;
/// returns how much it took, which is more than nothing unless `data` is empty.
fn encrypt<D>(tls: &mut rustls::ConnectionCommon<D>, data: &[u8]) -> io::Result<usize> {
    if data.is_empty() {
        return Ok(0);
    }
    match tls.writer().write(&data[..data.len().min(SEAL_CHUNK)])? {
        0 => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the TLS session took no bytes to encrypt",
        )),
        taken => Ok(taken),
    }
}

/// Runs a handshake over `stream` until it completes, the peer fails it, or `timeout`
/// passes (as a whole: a peer trickling half a record cannot stretch it). On failure the
/// alert, if any, is sent as far as the socket takes it.
///
/// Each flight goes out in one write: rustls holds a flight as several records (a TLS 1.3
/// server's is ServerHello, ChangeCipherSpec, then the encrypted rest), and writing them
/// one by one cost a system call and a TCP segment each. A flight is a few KiB, which the
/// socket nearly always takes at once: it is sent without waiting, and the socket's send
/// timeout is changed only when it does not. The receive timeout is set for the first read
/// and changed again only when what is left of `timeout` no longer fits it.
///
/// Returns whether the send timeout was changed; the receive timeout always is. The caller
/// restores its own.
pub(crate) fn drive_handshake<D>(
    tls: &mut rustls::ConnectionCommon<D>,
    stream: &Sock,
    timeout: Duration,
) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut input = Until {
        stream,
        deadline,
        timeout: NOT_KNOWN,
    };
    let mut send_timeout = NOT_KNOWN;
    let mut flight = Vec::new();
    loop {
        while tls.wants_write() {
            tls.write_tls(&mut flight)?;
        }
        send_flight(stream, &flight, deadline, &mut send_timeout)?;
        flight.clear();
        if !tls.is_handshaking() {
            return Ok(send_timeout != NOT_KNOWN);
        }
        if tls.read_tls(&mut input)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed the connection during the TLS handshake",
            ));
        }
        if let Err(e) = tls.process_new_packets() {
            let mut alert = Vec::new();
            let _ = tls.write_tls(&mut alert);
            let _ = send_flight(
                stream,
                &alert,
                Instant::now() + Duration::from_millis(100),
                &mut send_timeout,
            );
            return Err(io_error(e));
        }
    }
}

/// A socket timeout this code has not set: no deadline fits it, so that the first blocking
/// call sets the timeout (see `net::recv_by`).
const NOT_KNOWN: Option<Duration> = Some(Duration::MAX);

/// Sends `flight` at once if the socket takes it, else blocking until `deadline`.
fn send_flight(
    stream: &Sock,
    flight: &[u8],
    deadline: Instant,
    send_timeout: &mut Option<Duration>,
) -> io::Result<()> {
    let sent = crate::net::send_now(stream, flight)?;
    if sent < flight.len() {
        crate::net::send_all(stream, &flight[sent..], Some(deadline), send_timeout)?;
    }
    Ok(())
}

/// The socket as rustls reads it during a handshake: each read waits until `deadline` at
/// most.
struct Until<'a> {
    stream: &'a Sock,
    deadline: Instant,
    /// The socket's receive timeout as the last read left it.
    timeout: Option<Duration>,
}

impl Read for Until<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::net::recv_by(self.stream, buf, Some(self.deadline), &mut self.timeout)
    }
}

/// The error for a failed handshake: Timeout when it took too long, Tls otherwise.
pub(crate) fn handshake_error(e: io::Error, timeout: Duration, context: &str) -> Error {
    let timed_out = matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    );
    let (kind, message) = if timed_out {
        (
            ErrorKind::Timeout,
            format!("TLS handshake not finished within the handshake timeout of {timeout:?}"),
        )
    } else {
        (ErrorKind::Tls, format!("TLS handshake failed: {e}"))
    };
    Error::io(context, e).kind_set(kind).message(message)
}
