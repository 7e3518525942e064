//! The crate's one error type. Every error says what was being done and to whom
//! (`connect to localhost:3000: connection refused`); `kind()` is for matching and
//! `source()` reaches the underlying `std::io::Error` (or TLS error) where there is one.

use std::error::Error as StdError;
use std::fmt;
use std::io;

/// A specialised `Result` whose error is [`Error`].
///
/// # Examples
///
/// ```
/// fn greet(client: &synctcp::Client) -> synctcp::Result<()> {
///     client.write_bytes(b"hello")
/// }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is, for matching.
///
/// The list may grow (`#[non_exhaustive]`); match the kinds you handle and keep a `_` arm.
///
/// # Examples
///
/// ```
/// use synctcp::{Client, ClientConfig, ErrorKind};
/// use std::time::Duration;
///
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?; // accepts, never answers
/// let config = ClientConfig::new().timeout(Some(Duration::from_millis(50)));
/// let client = Client::connect_with(listener.local_addr()?, &config)?;
/// let err = client.read_bytes().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::Timeout);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A connect, read, write or handshake did not complete within its timeout, or a
    /// connection was idle for longer than allowed.
    Timeout,
    /// The connection is closed: the peer closed it, or it was closed on this side.
    Closed,
    /// The peer reset the connection (a TCP RST), for example because it exited.
    Reset,
    /// Nothing listens at the address connected to.
    ConnectionRefused,
    /// The address a listener tried to bind is already in use.
    AddressInUse,
    /// A host name could not be resolved to an address.
    HostNotFound,
    /// A configuration value is invalid: an unknown local interface, a zero timeout,
    /// a missing certificate file, a listener started without a service.
    InvalidConfig,
    /// Bytes from the peer break the rules of the protocol in use, for example a frame
    /// longer than the codec allows.
    InvalidData,
    /// The TLS handshake or a TLS record failed.
    Tls,
    /// A service callback panicked; the connection it ran for was closed.
    Panic,
    /// A write that must not wait could not go now: the connection's write queue is full
    /// ([`Caller::try_write_bytes`](crate::Caller::try_write_bytes)). Nothing was written;
    /// the connection stays open.
    WouldBlock,
    /// Any other input/output error; `source()` holds the `std::io::Error`.
    Io,
    /// An error raised by application code with [`Error::new`] or
    /// [`Error::with_source`], or converted with `?` from another error type.
    Other,
}

impl ErrorKind {
    /// A short lowercase description, used when an error has no more specific text.
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timed out",
            ErrorKind::Closed => "connection closed",
            ErrorKind::Reset => "connection reset by peer",
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::AddressInUse => "address already in use",
            ErrorKind::HostNotFound => "host not found",
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::InvalidData => "invalid data",
            ErrorKind::Tls => "tls error",
            ErrorKind::Panic => "service callback panicked",
            ErrorKind::WouldBlock => "would block: the write queue is full",
            ErrorKind::Io => "i/o error",
            ErrorKind::Other => "error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The error of every fallible operation in this crate.
///
/// Its `Display` names the operation and the address or path it concerns, then what went
/// wrong: `connect to localhost:3000: connection refused`. [`kind`](Error::kind) says what
/// kind of failure it was and [`source`](std::error::Error::source) reaches the cause.
///
/// Services create their own errors with [`Error::new`]; an `std::io::Error` converts with
/// `?`.
///
/// # Examples
///
/// ```
/// use synctcp::{Client, ErrorKind};
///
/// # // A port bound but not listening: connects to it are refused.
/// # let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
/// # socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
/// # let port = socket.local_addr()?.as_socket().unwrap().port();
/// // Nothing listens on `port`.
/// let err = Client::connect(("127.0.0.1", port)).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
/// assert_eq!(err.to_string(), format!("connect to 127.0.0.1:{port}: connection refused"));
/// assert!(std::error::Error::source(&err).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Error {
    kind: ErrorKind,
    /// What was being done and to whom: `read from 127.0.0.1:5000`. May be empty.
    context: String,
    /// What went wrong, when neither the kind nor the source says it well enough.
    message: Option<String>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    /// Creates an error of the given kind with a message, for services and applications.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Error, ErrorKind};
    ///
    /// let err = Error::new(ErrorKind::InvalidData, "request line too long");
    /// assert_eq!(err.kind(), ErrorKind::InvalidData);
    /// assert_eq!(err.to_string(), "request line too long");
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            context: String::new(),
            message: Some(message.into()),
            source: None,
        }
    }

    /// Creates an error of the given kind that says what was being done (`message`) and
    /// keeps the error that caused it, reachable through
    /// [`source`](std::error::Error::source).
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Error, ErrorKind};
    ///
    /// let cause = "12x".parse::<u32>().unwrap_err();
    /// let err = Error::with_source(ErrorKind::InvalidData, "parse the count", cause);
    /// assert_eq!(err.to_string(), "parse the count: invalid digit found in string");
    /// assert!(std::error::Error::source(&err).is_some());
    /// ```
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Error {
        Error {
            kind,
            context: message.into(),
            message: None,
            source: Some(source.into()),
        }
    }

    /// The kind of failure, for matching.
    ///
    /// # Examples
    ///
    /// ```
    /// use synctcp::{Error, ErrorKind};
    ///
    /// assert_eq!(Error::new(ErrorKind::Other, "boom").kind(), ErrorKind::Other);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// An error from an `io::Error`, its kind read off the io error.
    pub(crate) fn io(context: impl Into<String>, err: io::Error) -> Error {
        Error {
            kind: kind_of(&err),
            context: context.into(),
            message: None,
            source: Some(Box::new(err)),
        }
    }

    /// An error with a context and a message, and no source.
    pub(crate) fn with(
        kind: ErrorKind,
        context: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        Error {
            kind,
            context: context.into(),
            message: Some(message.into()),
            source: None,
        }
    }

    /// Sets the context (what was being done, to whom) if the error has none yet.
    pub(crate) fn in_context(mut self, context: impl Into<String>) -> Error {
        if self.context.is_empty() {
            self.context = context.into();
        }
        self
    }

    /// Replaces the message (the source stays).
    pub(crate) fn message(mut self, message: impl Into<String>) -> Error {
        self.message = Some(message.into());
        self
    }

    /// Attaches a cause, reachable through `source()`.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn caused_by(mut self, source: impl StdError + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// Replaces the kind (the text and source stay).
    pub(crate) fn kind_set(mut self, kind: ErrorKind) -> Error {
        self.kind = kind;
        self
    }

    /// A new error of the same kind and text for another operation: a failure seen by the
    /// writer thread is reported to every later writer. The source is not copied.
    pub(crate) fn echo(&self, context: impl Into<String>) -> Error {
        Error {
            kind: self.kind,
            context: context.into(),
            message: Some(self.detail()),
            source: None,
        }
    }

    /// What went wrong, without the context.
    fn detail(&self) -> String {
        if let Some(message) = &self.message {
            return message.clone();
        }
        match (&self.source, self.kind) {
            // For these kinds our own words are clearer than the OS's.
            (
                _,
                ErrorKind::Timeout
                | ErrorKind::Closed
                | ErrorKind::Reset
                | ErrorKind::ConnectionRefused
                | ErrorKind::AddressInUse,
            ) => self.kind.describe().to_string(),
            (Some(source), _) => lowercase_first(&source.to_string()),
            (None, kind) => kind.describe().to_string(),
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // Lowercase "Connection reset" but not "TLS" or "IO".
        (Some(first), Some(second)) if first.is_uppercase() && !second.is_uppercase() => first
            .to_lowercase()
            .chain(text[first.len_utf8()..].chars())
            .collect(),
        _ => text.to_string(),
    }
}

/// Reads our kind off an `io::Error`.
pub(crate) fn kind_of(err: &io::Error) -> ErrorKind {
    use io::ErrorKind as K;
    #[cfg(feature = "tls")]
    if err
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
    {
        return ErrorKind::Tls;
    }
    match err.kind() {
        K::TimedOut | K::WouldBlock => ErrorKind::Timeout,
        K::ConnectionRefused => ErrorKind::ConnectionRefused,
        K::ConnectionReset | K::ConnectionAborted => ErrorKind::Reset,
        K::BrokenPipe | K::NotConnected | K::UnexpectedEof => ErrorKind::Closed,
        K::AddrInUse => ErrorKind::AddressInUse,
        K::InvalidData => ErrorKind::InvalidData,
        _ => ErrorKind::Io,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.context.is_empty() {
            f.write_str(&self.detail())
        } else {
            write!(f, "{}: {}", self.context, self.detail())
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind);
        if !self.context.is_empty() {
            d.field("context", &self.context);
        }
        if let Some(message) = &self.message {
            d.field("message", message);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Lets services use `?` on `std::io` calls. The error has no context: add one with
/// [`Error::with_source`] where the operation is not obvious from the io error. An
/// `io::Error` that carries one of ours (from a `Read` or `Write` of this crate) gives it
/// back unchanged.
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        if !err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            return Error::io(String::new(), err);
        }
        let kind = err.kind();
        match err.into_inner().map(|inner| inner.downcast::<Error>()) {
            Some(Ok(ours)) => *ours,
            Some(Err(other)) => Error::io(String::new(), io::Error::new(kind, other)),
            None => Error::io(String::new(), io::Error::from(kind)),
        }
    }
}

/// `?` on the parsing a service does of its peer's bytes: malformed input is
/// [`ErrorKind::InvalidData`], with the parse error as its source.
macro_rules! invalid_data_from {
    ($($ty:ty),*) => {$(
        impl From<$ty> for Error {
            fn from(err: $ty) -> Error {
                Error {
                    kind: ErrorKind::InvalidData,
                    context: String::new(),
                    message: None,
                    source: Some(Box::new(err)),
                }
            }
        }
    )*};
}

invalid_data_from!(
    std::str::Utf8Error,
    std::string::FromUtf8Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::str::ParseBoolError,
    std::char::ParseCharError,
    std::net::AddrParseError
);

/// Lets `Read`/`Write` implementations and `io::copy` carry our errors.
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match err.kind {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Closed => io::ErrorKind::BrokenPipe,
            ErrorKind::Reset => io::ErrorKind::ConnectionReset,
            ErrorKind::ConnectionRefused => io::ErrorKind::ConnectionRefused,
            ErrorKind::AddressInUse => io::ErrorKind::AddrInUse,
            ErrorKind::InvalidConfig => io::ErrorKind::InvalidInput,
            ErrorKind::InvalidData | ErrorKind::Tls => io::ErrorKind::InvalidData,
            ErrorKind::WouldBlock => io::ErrorKind::WouldBlock,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_operation_and_cause() {
        let io = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = Error::io("connect to localhost:3000", io);
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        assert_eq!(
            err.to_string(),
            "connect to localhost:3000: connection refused"
        );
        assert!(StdError::source(&err).is_some());
    }

    #[test]
    fn io_text_is_lowercased_but_acronyms_kept() {
        let err = Error::io("bind [::]:80", io::Error::other("Permission denied"));
        assert_eq!(err.to_string(), "bind [::]:80: permission denied");
        let err = Error::io("x", io::Error::other("TLS broke"));
        assert_eq!(err.to_string(), "x: TLS broke");
    }

    #[test]
    fn echo_keeps_kind_and_text() {
        let first = Error::with(
            ErrorKind::Timeout,
            "write to 1.2.3.4:5",
            "peer read nothing for 1s",
        );
        let later = first.echo("write to 1.2.3.4:5");
        assert_eq!(later.kind(), ErrorKind::Timeout);
        assert_eq!(later.to_string(), first.to_string());
    }

    #[test]
    fn converts_to_io_error_and_back_to_the_same_kind() {
        let err: io::Error = Error::with(ErrorKind::Timeout, "read", "timed out").into();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(Error::from(err).kind(), ErrorKind::Timeout);
    }
}
