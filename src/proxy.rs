//! HAProxy's PROXY protocol, versions 1 (text) and 2 (binary), read strictly: the header a
//! load balancer sends before the client's bytes, saying who the client really is.
//!
//! Specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.
//!
//! [`parse`] looks at the bytes received so far and says one of three things: here is a
//! whole valid header and its length, this is still a valid beginning of one (read more), or
//! this can never become one (refuse the connection). It decides as early as it can: a
//! client that sends `GET / HTTP/1.1` is refused after its first byte, a v1 line after the
//! first byte that cannot continue it (a second space, a leading zero, a fifth field...), a
//! v2 header as soon as its version, command, family or length byte is wrong.
//!
//! The module stands alone (std only, nothing from the rest of the crate) so that the fuzz
//! target can include it by path.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a PROXY protocol header said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Header {
    /// The balancer's own connection (v2 LOCAL command, e.g. a health check; or v1 "UNKNOWN"):
    /// use the real socket addresses.
    Local,
    /// A proxied connection: the original client (`source`) and the address it connected to (`destination`).
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
}

/// Why a header was refused. Display text says what was wrong, lowercase, no trailing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// The most bytes a header may take: v1's 107, or v2's 16 + its length (at most 65,535) — callers stop reading past this.
pub(crate) const MAX_HEADER: usize = V2_FIXED + 65_535;

/// The longest v1 line, CRLF included.
const V1_MAX: usize = 107;
/// The v2 signature, the first 12 bytes of every v2 header.
const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version and command, family and protocol, length.
const V2_FIXED: usize = 16;

/// Looks for a complete PROXY header at the start of `buf`.
/// Ok(Some((header, len))): a whole valid header, `len` bytes long (the bytes after it are the client's data).
/// Ok(None): `buf` is a valid prefix of a header; more bytes are needed.
/// Err(Invalid): `buf` can never become a valid header.
///
/// Version 1: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, `PROXY TCP6 ...` or
/// `PROXY UNKNOWN...\r\n` (anything up to the CRLF; [`Header::Local`]), at most 107 bytes,
/// fields separated by exactly one space, addresses of the family named, numbers without
/// heading zeroes, ports 0 to 65535. A lone CR or LF never ends the line.
///
/// Version 2: the command LOCAL gives [`Header::Local`] whatever the rest of the block says
/// (the specification has the receiver ignore the family and skip the block). The command
/// PROXY with TCP over IPv4 (`0x11`) or IPv6 (`0x21`) gives the addresses; its length must
/// cover the address block (12 or 36 bytes), and what follows the addresses must be a whole
/// number of well-formed TLVs (type, 2-byte length, value), which are skipped. PROXY with the
/// UNSPEC family (`0x00`) gives [`Header::Local`], the block skipped unread. A TCP listener
/// refuses UDP (`DGRAM`, `0x12`, `0x22`) and `AF_UNIX` (`0x31`, `0x32`) connections, and
/// every byte value the specification does not list; also any version but 2 and any command
/// but LOCAL and PROXY.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, Invalid> {
    match buf.first() {
        None => Ok(None),
        Some(b'P') => v1(buf),
        Some(b'\r') => v2(buf),
        Some(_) => Err(not_a_header()),
    }
}

fn not_a_header() -> Invalid {
    Invalid("not a PROXY protocol header (neither the v1 nor the v2 signature)".to_string())
}

fn v1_invalid(what: impl fmt::Display) -> Invalid {
    Invalid(format!("v1 header: {what}"))
}

fn v2_invalid(what: impl fmt::Display) -> Invalid {
    Invalid(format!("v2 header: {what}"))
}

// ---------------------------------------------------------------------------------------
// Version 1

/// The protocols a v1 line may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Tcp4,
    Tcp6,
}

/// The four fields after `TCP4` or `TCP6`, in order.
const V1_FIELDS: [&str; 4] = [
    "source address",
    "destination address",
    "source port",
    "destination port",
];

fn v1(buf: &[u8]) -> Result<Option<(Header, usize)>, Invalid> {
    let line = buf.get(..V1_MAX).unwrap_or(buf);
    match v1_line(line)? {
        Some(found) => Ok(Some(found)),
        None if buf.len() >= V1_MAX => Err(v1_invalid("no CRLF within the first 107 bytes")),
        None => Ok(None),
    }
}

/// The field of `line` that starts at `at`: the bytes up to the first space, CR or LF, and
/// that byte (`None` when the field runs to the end of what has arrived).
fn field(line: &[u8], at: usize) -> (&[u8], Option<u8>) {
    let rest = line.get(at..).unwrap_or_default();
    match rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')) {
        Some(end) => (&rest[..end], Some(rest[end])),
        None => (rest, None),
    }
}

/// After a CR at `cr`: the header ends with the LF after it.
fn v1_end(line: &[u8], cr: usize, header: Header) -> Result<Option<(Header, usize)>, Invalid> {
    match line.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((header, cr + 2))),
        Some(_) => Err(v1_invalid("CR not followed by LF")),
    }
}

/// A v1 line, at most 107 bytes of it: `None` when it has not ended (yet).
fn v1_line(line: &[u8]) -> Result<Option<(Header, usize)>, Invalid> {
    const PREFIX: &[u8] = b"PROXY ";
    let n = line.len().min(PREFIX.len());
    if line[..n] != PREFIX[..n] {
        return Err(not_a_header());
    }
    if line.len() < PREFIX.len() {
        return Ok(None);
    }
    let (protocol, end) = field(line, PREFIX.len());
    let after = PREFIX.len() + protocol.len();
    if ![&b"TCP4"[..], b"TCP6", b"UNKNOWN"]
        .iter()
        .any(|p| p.starts_with(protocol))
    {
        return Err(v1_invalid("unknown protocol (not TCP4, TCP6 or UNKNOWN)"));
    }
    let family = match (protocol, end) {
        (_, None) => return Ok(None),
        (_, Some(b'\n')) => return Err(v1_invalid("LF without CR")),
        (b"UNKNOWN", Some(b'\r')) => return v1_end(line, after, Header::Local),
        (b"UNKNOWN", Some(_)) => {
            // Anything may follow, up to the CRLF; but a lone CR or LF is no line end.
            let rest = &line[after..];
            return match rest.iter().position(|&b| matches!(b, b'\r' | b'\n')) {
                None => Ok(None),
                Some(i) if rest[i] == b'\n' => Err(v1_invalid("LF without CR")),
                Some(i) => v1_end(line, after + i, Header::Local),
            };
        }
        (b"TCP4", Some(b' ')) => Family::Tcp4,
        (b"TCP6", Some(b' ')) => Family::Tcp6,
        (b"TCP4" | b"TCP6", Some(_)) => return Err(v1_invalid("no addresses after the protocol")),
        (b"", Some(_)) => {
            return Err(v1_invalid(
                "empty protocol (fields take exactly one space between them)",
            ))
        }
        (_, Some(_)) => return Err(v1_invalid("unknown protocol (not TCP4, TCP6 or UNKNOWN)")),
    };
    // `at` is on the space before each field.
    let mut at = after;
    let mut addresses = [None, None];
    let mut ports = [0u16; 2];
    for (i, name) in V1_FIELDS.iter().enumerate() {
        let (word, end) = field(line, at + 1);
        let complete = if i < 2 {
            match family {
                Family::Tcp4 => ipv4_text(word)
                    .map_err(|why| v1_invalid(format!("{name} is not an IPv4 address ({why})")))?,
                Family::Tcp6 => ipv6_text(word)
                    .map_err(|why| v1_invalid(format!("{name} is not an IPv6 address ({why})")))?,
            }
        } else {
            port_text(word).map_err(|why| v1_invalid(format!("{name} {why}")))?
        };
        let Some(end) = end else {
            return Ok(None);
        };
        if word.is_empty() {
            return Err(v1_invalid(format!(
                "empty {name} (fields take exactly one space between them)"
            )));
        }
        if !complete {
            let family = if family == Family::Tcp4 {
                "IPv4"
            } else {
                "IPv6"
            };
            return Err(v1_invalid(format!(
                "{name} is not a whole {family} address"
            )));
        }
        let last = i == V1_FIELDS.len() - 1;
        match end {
            b'\n' => return Err(v1_invalid("LF without CR")),
            b'\r' if !last => {
                return Err(v1_invalid(format!(
                    "the line ends at the {name}; it needs four fields after the protocol"
                )))
            }
            b' ' if last => return Err(v1_invalid("a field after the destination port")),
            _ => {}
        }
        let text =
            std::str::from_utf8(word).map_err(|_| v1_invalid(format!("{name} is not text")))?;
        if i < 2 {
            let address = match family {
                Family::Tcp4 => text.parse::<Ipv4Addr>().map(Into::into).ok(),
                Family::Tcp6 => text.parse::<Ipv6Addr>().map(Into::into).ok(),
            };
            addresses[i] =
                Some(address.ok_or_else(|| v1_invalid(format!("{name} does not parse")))?);
        } else {
            ports[i - 2] = text
                .parse()
                .map_err(|_| v1_invalid(format!("{name} does not parse")))?;
        }
        at += 1 + word.len();
    }
    match addresses {
        [Some(source), Some(destination)] => v1_end(
            line,
            at,
            Header::Proxied {
                source: SocketAddr::new(source, ports[0]),
                destination: SocketAddr::new(destination, ports[1]),
            },
        ),
        _ => Err(v1_invalid("addresses missing")),
    }
}

/// A port, or the start of one: decimal digits, no sign, no heading zero, at most 65535.
/// `Ok(true)`: a whole port; `Ok(false)`: nothing yet.
fn port_text(word: &[u8]) -> Result<bool, &'static str> {
    let mut value = 0u32;
    for (i, &b) in word.iter().enumerate() {
        if !b.is_ascii_digit() {
            return Err("is not a decimal number");
        }
        if i == 1 && word[0] == b'0' {
            return Err("has a heading zero");
        }
        value = value * 10 + u32::from(b - b'0');
        if value > u32::from(u16::MAX) {
            return Err("is over 65535");
        }
    }
    Ok(!word.is_empty())
}

/// Dotted decimal, being read: octets written so far (as dots), digits of this octet, its value.
#[derive(Clone, Copy)]
struct Quad {
    dots: u8,
    digits: u8,
    value: u16,
    zero_first: bool,
}

impl Quad {
    const NEW: Quad = Quad {
        dots: 0,
        digits: 0,
        value: 0,
        zero_first: false,
    };

    fn push(&mut self, b: u8) -> Result<(), &'static str> {
        match b {
            b'0'..=b'9' => {
                if self.digits == 0 {
                    self.zero_first = b == b'0';
                } else if self.zero_first {
                    return Err("an octet with a heading zero");
                }
                self.digits += 1;
                self.value = self.value * 10 + u16::from(b - b'0');
                if self.value > 255 {
                    return Err("an octet over 255");
                }
            }
            b'.' if self.digits == 0 => return Err("an empty octet"),
            b'.' if self.dots == 3 => return Err("more than four octets"),
            b'.' => {
                *self = Quad {
                    dots: self.dots + 1,
                    ..Quad::NEW
                }
            }
            _ => return Err("a character that is not a digit or a dot"),
        }
        Ok(())
    }

    fn complete(&self) -> bool {
        self.dots == 3 && self.digits > 0
    }
}

/// An IPv4 address in dotted decimal, or the start of one (`Ok(false)`): exactly four
/// decimal octets 0 to 255 with no heading zeroes.
fn ipv4_text(word: &[u8]) -> Result<bool, &'static str> {
    let mut quad = Quad::NEW;
    for &b in word {
        quad.push(b)?;
    }
    Ok(quad.complete())
}

/// An IPv6 address in text, or the start of one (`Ok(false)`): groups of one to four hex
/// digits between single colons, at most one `::` standing for one or more zero groups, 128
/// bits in all; the last 32 bits may be written as dotted decimal. The same language as
/// `Ipv6Addr`'s `FromStr` (the tests compare them), decided one byte at a time.
fn ipv6_text(word: &[u8]) -> Result<bool, &'static str> {
    #[derive(Clone, Copy)]
    enum At {
        /// Nothing read.
        Start,
        /// A `:` at the very start (a `::` must follow).
        LeadingColon,
        /// A `:` after a group.
        Colon,
        /// Just after the `::`.
        Double,
        /// In a group of `len` hex digits; `quad`: while it could still be the first
        /// octet of a dotted-decimal tail.
        Group { len: u8, quad: Option<Quad> },
        /// In the dotted-decimal tail.
        Tail(Quad),
    }
    // Groups before the current one; with a `::`, at most 7 may be written.
    let mut groups = 0u8;
    let mut double = false;
    let mut at = At::Start;
    for &b in word {
        let limit = if double { 7 } else { 8 };
        at = match (at, b) {
            (At::Tail(mut quad), _) => {
                quad.push(b)?;
                At::Tail(quad)
            }
            (At::Group { quad, .. }, b'.') => {
                let Some(mut quad) = quad else {
                    return Err("a dotted-decimal part that is not");
                };
                // The dotted tail stands for the last two groups.
                if (!double && groups != 6) || (double && groups + 2 > 7) {
                    return Err("dotted decimal not in the last 32 bits");
                }
                quad.push(b)?;
                At::Tail(quad)
            }
            (At::Group { .. }, b':') => {
                groups += 1;
                if groups >= limit {
                    return Err("more than 128 bits");
                }
                At::Colon
            }
            (At::Group { len, quad }, _) if b.is_ascii_hexdigit() => {
                if len == 4 {
                    return Err("a group of more than four hex digits");
                }
                let quad = quad.and_then(|mut q| q.push(b).ok().map(|()| q));
                At::Group { len: len + 1, quad }
            }
            (At::Start | At::Colon | At::Double, _) if b.is_ascii_hexdigit() => {
                if groups >= limit {
                    return Err("more than 128 bits");
                }
                let mut quad = Quad::NEW;
                let quad = quad.push(b).ok().map(|()| quad);
                At::Group { len: 1, quad }
            }
            (At::Start, b':') => At::LeadingColon,
            (At::LeadingColon, b':') => {
                double = true;
                At::Double
            }
            (At::LeadingColon, _) => return Err("a single colon at the start"),
            (At::Colon, b':') if double => return Err("more than one '::'"),
            (At::Colon, b':') => {
                double = true;
                At::Double
            }
            (At::Double, b':') => return Err("':::'"),
            (_, b'.') => return Err("a misplaced dot"),
            _ => return Err("a character that is not a hex digit, colon or dot"),
        };
    }
    Ok(match at {
        At::Group { .. } => double || groups == 7,
        At::Double => true,
        At::Tail(quad) => quad.complete(),
        At::Start | At::LeadingColon | At::Colon => false,
    })
}

// ---------------------------------------------------------------------------------------
// Version 2

/// What the family and protocol byte makes of the address block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    /// LOCAL, or PROXY with UNSPEC: skipped unread.
    Skip,
    /// TCP over IPv4: 4 + 4 + 2 + 2 bytes, then TLVs.
    Inet,
    /// TCP over IPv6: 16 + 16 + 2 + 2 bytes, then TLVs.
    Inet6,
}

fn v2(buf: &[u8]) -> Result<Option<(Header, usize)>, Invalid> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(not_a_header());
    }
    let Some(&version_command) = buf.get(12) else {
        return Ok(None);
    };
    if version_command >> 4 != 2 {
        return Err(v2_invalid(format_args!(
            "version {} (only 2 exists)",
            version_command >> 4
        )));
    }
    let local = match version_command & 0x0F {
        0x0 => true,
        0x1 => false,
        command => {
            return Err(v2_invalid(format_args!(
                "unknown command {command:#x} (not LOCAL or PROXY)"
            )))
        }
    };
    let Some(&family) = buf.get(13) else {
        return Ok(None);
    };
    let block = match family {
        // LOCAL: "the receiver must ... discard the protocol block including the family".
        _ if local => Block::Skip,
        0x00 => Block::Skip,
        0x11 => Block::Inet,
        0x21 => Block::Inet6,
        0x12 | 0x22 => {
            return Err(v2_invalid(
                "a UDP (DGRAM) connection, which a TCP listener does not take",
            ))
        }
        0x31 | 0x32 => {
            return Err(v2_invalid(
                "an AF_UNIX connection, which a TCP listener does not take",
            ))
        }
        other => {
            return Err(v2_invalid(format_args!(
                "unknown family and protocol {other:#04x}"
            )))
        }
    };
    let (Some(&high), Some(&low)) = (buf.get(14), buf.get(15)) else {
        return Ok(None);
    };
    let length = usize::from(u16::from_be_bytes([high, low]));
    let total = V2_FIXED + length;
    let addresses = match block {
        Block::Skip => 0,
        Block::Inet => 12,
        Block::Inet6 => 36,
    };
    if length < addresses {
        let family = if block == Block::Inet { "IPv4" } else { "IPv6" };
        return Err(v2_invalid(format_args!(
            "length {length} is less than the {addresses} bytes of the {family} addresses"
        )));
    }
    if block != Block::Skip {
        let start = V2_FIXED + addresses;
        let present = buf.get(start..total.min(buf.len())).unwrap_or_default();
        tlvs(present, length - addresses)?;
    }
    if buf.len() < total {
        return Ok(None);
    }
    let header = match block {
        Block::Skip => Header::Local,
        Block::Inet => {
            let at = |i| bytes::<4>(buf, V2_FIXED + i).map(Ipv4Addr::from);
            let port = |i| bytes::<2>(buf, V2_FIXED + i).map(u16::from_be_bytes);
            match (at(0), at(4), port(8), port(10)) {
                (Some(source), Some(destination), Some(sport), Some(dport)) => Header::Proxied {
                    source: SocketAddr::new(source.into(), sport),
                    destination: SocketAddr::new(destination.into(), dport),
                },
                _ => return Err(v2_invalid("addresses cut short")),
            }
        }
        Block::Inet6 => {
            let at = |i| bytes::<16>(buf, V2_FIXED + i).map(Ipv6Addr::from);
            let port = |i| bytes::<2>(buf, V2_FIXED + i).map(u16::from_be_bytes);
            match (at(0), at(16), port(32), port(34)) {
                (Some(source), Some(destination), Some(sport), Some(dport)) => Header::Proxied {
                    source: SocketAddr::new(source.into(), sport),
                    destination: SocketAddr::new(destination.into(), dport),
                },
                _ => return Err(v2_invalid("addresses cut short")),
            }
        }
    };
    Ok(Some((header, total)))
}

/// `N` bytes of `buf` from `at`, if it has them.
fn bytes<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The TLVs after the addresses: `size` bytes of them declared, `present` the ones arrived.
/// Each is a type byte, a 2-byte big-endian length and that many bytes of value; they must
/// fill the `size` bytes exactly. Checks as far as the bytes present allow.
fn tlvs(present: &[u8], size: usize) -> Result<(), Invalid> {
    let mut at = 0;
    while at < size {
        if size - at < 3 {
            return Err(v2_invalid(format_args!(
                "{} byte(s) after the last TLV, too few for another",
                size - at
            )));
        }
        let Some(&[kind, high, low]) = present.get(at..at + 3) else {
            return Ok(());
        };
        let end = at + 3 + usize::from(u16::from_be_bytes([high, low]));
        if end > size {
            return Err(v2_invalid(format_args!(
                "TLV of type {kind:#04x} runs {} byte(s) past the header's end",
                end - size
            )));
        }
        at = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn proxied(source: &str, destination: &str) -> Header {
        Header::Proxied {
            source: addr(source),
            destination: addr(destination),
        }
    }

    /// `header` followed by client bytes: every proper prefix of the header is a valid
    /// beginning, the whole reads as `expected` with the header's length, whatever follows.
    fn every_split(header: &[u8], expected: &Header) {
        for n in 0..header.len() {
            assert_eq!(
                parse(&header[..n]),
                Ok(None),
                "prefix of {n} bytes of {header:?}"
            );
        }
        let mut stream = header.to_vec();
        assert_eq!(parse(&stream), Ok(Some((expected.clone(), header.len()))));
        stream.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parse(&stream), Ok(Some((expected.clone(), header.len()))));
        assert_eq!(&stream[header.len()..], b"GET / HTTP/1.1\r\n\r\n");
        stream.truncate(header.len());
        stream.extend_from_slice(&[0xFF; 200]);
        assert_eq!(parse(&stream), Ok(Some((expected.clone(), header.len()))));
    }

    /// Refused, and with a reason containing `why`.
    fn refused(buf: &[u8], why: &str) {
        match parse(buf) {
            Err(Invalid(reason)) => {
                assert!(
                    reason.contains(why),
                    "{buf:?}: reason {reason:?} does not say {why:?}"
                );
                assert!(!reason.ends_with('.'), "{reason:?}");
                assert!(
                    reason.starts_with(|c: char| !c.is_uppercase()),
                    "{reason:?}"
                );
            }
            other => panic!("{buf:?} gave {other:?}, not a refusal saying {why:?}"),
        }
        // Refused at the first byte that cannot continue a header, and for the same reason
        // from there on.
        let answers: Vec<_> = (0..=buf.len()).map(|n| parse(&buf[..n])).collect();
        let first = answers.iter().position(Result::is_err).unwrap();
        assert!(answers[..first].iter().all(|a| *a == Ok(None)), "{buf:?}");
        assert!(
            answers[first..].iter().all(|a| *a == answers[buf.len()]),
            "{buf:?}"
        );
    }

    fn v2(command: u8, family: u8, block: &[u8]) -> Vec<u8> {
        let mut header = V2_SIGNATURE.to_vec();
        header.push(0x20 | command);
        header.push(family);
        header.extend_from_slice(&u16::try_from(block.len()).unwrap().to_be_bytes());
        header.extend_from_slice(block);
        header
    }

    fn inet_block() -> Vec<u8> {
        let mut block = vec![192, 168, 0, 1, 192, 168, 0, 11];
        block.extend_from_slice(&56324u16.to_be_bytes());
        block.extend_from_slice(&443u16.to_be_bytes());
        block
    }

    fn inet6_block() -> Vec<u8> {
        let mut block = "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets().to_vec();
        block.extend_from_slice(&"::ffff:10.0.0.1".parse::<Ipv6Addr>().unwrap().octets());
        block.extend_from_slice(&65535u16.to_be_bytes());
        block.extend_from_slice(&0u16.to_be_bytes());
        block
    }

    #[test]
    fn the_specifications_v1_examples() {
        every_split(
            b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
            &proxied("255.255.255.255:65535", "255.255.255.255:65535"),
        );
        every_split(
            b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
            &proxied("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        );
        every_split(b"PROXY UNKNOWN\r\n", &Header::Local);
        // The worst case, 107 bytes exactly.
        let worst = b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(worst.len(), 107);
        every_split(worst, &Header::Local);
        every_split(
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
            &proxied("192.168.0.1:56324", "192.168.0.11:443"),
        );
    }

    #[test]
    fn v1_forms() {
        every_split(
            b"PROXY TCP4 0.0.0.0 10.1.2.3 0 1\r\n",
            &proxied("0.0.0.0:0", "10.1.2.3:1"),
        );
        every_split(
            b"PROXY TCP6 ::1 2001:DB8::a:b 1234 80\r\n",
            &proxied("[::1]:1234", "[2001:db8::a:b]:80"),
        );
        every_split(
            b"PROXY TCP6 :: ::ffff:1.2.3.4 1 2\r\n",
            &proxied("[::]:1", "[::ffff:1.2.3.4]:2"),
        );
        every_split(
            b"PROXY TCP6 1:2:3:4:5:6:7:: 1:2:3:4:5:6:7:8 1 2\r\n",
            &proxied("[1:2:3:4:5:6:7:0]:1", "[1:2:3:4:5:6:7:8]:2"),
        );
        every_split(
            b"PROXY TCP6 1:2:3:4:5:6:1.2.3.4 ::2:3:4:5:6:7:8 1 2\r\n",
            &proxied("[1:2:3:4:5:6:102:304]:1", "[0:2:3:4:5:6:7:8]:2"),
        );
        every_split(b"PROXY UNKNOWN whatever \x00\xff here\r\n", &Header::Local);
        every_split(b"PROXY UNKNOWN \r\n", &Header::Local);
    }

    #[test]
    fn v1_refusals() {
        refused(
            b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "not a PROXY protocol header",
        );
        refused(b"PROXy", "not a PROXY protocol header");
        refused(b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "empty protocol");
        refused(
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            "empty source address",
        );
        refused(
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            "empty destination address",
        );
        refused(b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", "empty source port");
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
            "empty destination port",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
            "empty destination port",
        );
        refused(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "LF without CR");
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
            "CR not followed by LF",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
            "a field after the destination port",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            "the line ends at the source port",
        );
        refused(
            b"PROXY TCP4 1.2.3.4\r\n",
            "the line ends at the source address",
        );
        refused(b"PROXY TCP4\r\n", "no addresses");
        refused(b"PROXY TCP5 1", "unknown protocol");
        refused(b"PROXY TCP44", "unknown protocol");
        refused(b"PROXY UDP4", "unknown protocol");
        refused(b"PROXY TC\0 1.2.3.4 5.6.7.8 1 2\n", "unknown protocol");
        refused(b"PROXY TCP\r\n", "unknown protocol");
        refused(b"PROXY tcp4", "unknown protocol");
        refused(b"PROXY UNKNOWNX\r\n", "unknown protocol");
        refused(b"PROXY UNKNOWN\n", "LF without CR");
        refused(b"PROXY UNKNOWN \n", "LF without CR");
        refused(b"PROXY UNKNOWN a\rb\r\n", "CR not followed by LF");
        refused(
            b"PROXY TCP4 ::1 ::2 1 2\r\n",
            "source address is not an IPv4 address",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 ::2 1 2\r\n",
            "destination address is not an IPv4 address",
        );
        refused(
            b"PROXY TCP6 1.2.3.4 ::2 1 2\r\n",
            "source address is not an IPv6 address",
        );
        refused(
            b"PROXY TCP6 ::1 5.6.7.8 1 2\r\n",
            "destination address is not an IPv6 address",
        );
        refused(b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "heading zero");
        refused(b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "over 255");
        refused(
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            "not a whole IPv4 address",
        );
        refused(
            b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
            "more than four octets",
        );
        refused(b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", "empty octet");
        refused(
            b"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n",
            "not a whole IPv6 address",
        );
        refused(
            b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n",
            "more than 128 bits",
        );
        refused(b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "more than one '::'");
        refused(
            b"PROXY TCP6 12345:: ::1 1 2\r\n",
            "more than four hex digits",
        );
        refused(
            b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
            "not an IPv6 address",
        );
        refused(b"PROXY TCP6 [::1] ::1 1 2\r\n", "not an IPv6 address");
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            "source port is not a decimal number",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
            "source port is not a decimal number",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 02\r\n",
            "destination port has a heading zero",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n",
            "destination port is not a decimal number",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
            "source port has a heading zero",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
            "source port has a heading zero",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            "source port is over 65535",
        );
        refused(
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n",
            "destination port is not a decimal number",
        );
        refused(
            b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
            "not an IPv4 address",
        );
    }

    #[test]
    fn v1_is_refused_at_the_first_wrong_byte() {
        // Each of these is a valid beginning but one byte, the last.
        for (line, why) in [
            (&b"PROXY TCP4 1.2.3.4 5.6.7.8 99999"[..], "over 65535"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ", "a field after"),
            (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "LF without CR"),
            (b"PROXY TCP6 1:2:3:4:5:6:7:8:", "more than 128 bits"),
            (b"PROXY TCP6 ::1:2:3:4:5:6:7:", "more than 128 bits"),
            (b"PROXY TCP6 1:2:3:4:5:6:7::1", "more than 128 bits"),
            (
                b"PROXY TCP6 1:2:3:4:5:1.",
                "dotted decimal not in the last 32 bits",
            ),
            (
                b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r",
                "the line ends at the source port",
            ),
            (b"PROXY X", "unknown protocol"),
            (b"PROXY TC\0", "unknown protocol"),
        ] {
            assert_eq!(parse(&line[..line.len() - 1]), Ok(None), "{line:?}");
            refused(line, why);
        }
    }

    #[test]
    fn v1_is_at_most_107_bytes() {
        let mut line = b"PROXY UNKNOWN ".to_vec();
        line.resize(105, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse(&line), Ok(Some((Header::Local, 107))));
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(106, b'x');
        assert_eq!(parse(&long), Ok(None));
        long.push(b'\r');
        refused(&long, "no CRLF within the first 107 bytes");
        long.push(b'\n');
        refused(&long, "no CRLF within the first 107 bytes");
        // A TCP6 line too long for its addresses' longest forms.
        let line = b"PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 0000:0000:0000:0000:0000:ffff:255.255.255.255 65535 65535\r\n";
        assert!(line.len() > 107);
        assert_eq!(parse(&line[..106]), Ok(None));
        refused(line, "no CRLF within the first 107 bytes");
    }

    #[test]
    fn neither_signature_is_refused_at_once() {
        refused(b"G", "not a PROXY protocol header");
        refused(b"GET / HTTP/1.1\r\n", "not a PROXY protocol header");
        refused(b"\x16\x03\x01", "not a PROXY protocol header");
        refused(b"\r\n\r\n\x00\r\nQUIX", "not a PROXY protocol header");
        refused(b"\r\r", "not a PROXY protocol header");
        refused(b"PX", "not a PROXY protocol header");
        assert_eq!(parse(b""), Ok(None));
        assert_eq!(parse(b"P"), Ok(None));
        assert_eq!(parse(b"\r"), Ok(None));
        assert_eq!(parse(b"\r\n\r\n\x00\r\nQUI"), Ok(None));
    }

    #[test]
    fn v2_ipv4_and_ipv6() {
        every_split(
            &v2(1, 0x11, &inet_block()),
            &proxied("192.168.0.1:56324", "192.168.0.11:443"),
        );
        every_split(
            &v2(1, 0x21, &inet6_block()),
            &proxied("[2001:db8::1]:65535", "[::ffff:10.0.0.1]:0"),
        );
    }

    #[test]
    fn v2_tlvs_are_skipped() {
        let mut block = inet_block();
        block.extend_from_slice(&[0x01, 0x00, 0x02, b'h', b'2']); // PP2_TYPE_ALPN
        block.extend_from_slice(&[0x04, 0x00, 0x00]); // PP2_TYPE_NOOP, empty
        block.extend_from_slice(&[0x04, 0x00, 0x05, 0, 0, 0, 0, 0]); // padding
        every_split(
            &v2(1, 0x11, &block),
            &proxied("192.168.0.1:56324", "192.168.0.11:443"),
        );
        let mut block = inet6_block();
        block.extend_from_slice(&[0xE0, 0x01, 0x00]);
        block.extend_from_slice(&[7; 256]);
        every_split(
            &v2(1, 0x21, &block),
            &proxied("[2001:db8::1]:65535", "[::ffff:10.0.0.1]:0"),
        );
    }

    #[test]
    fn v2_malformed_tlvs_are_refused_as_soon_as_known() {
        let mut block = inet_block();
        block.extend_from_slice(&[0x01, 0x00, 0x03, b'h', b'2']);
        let header = v2(1, 0x11, &block);
        refused(
            &header,
            "TLV of type 0x01 runs 1 byte(s) past the header's end",
        );
        // Known from the TLV's own length, before its value arrives.
        refused(&header[..16 + 12 + 3], "runs 1 byte(s) past");
        assert_eq!(parse(&header[..16 + 12 + 2]), Ok(None));
        // Fewer than 3 bytes left over: known from the header's length alone.
        let mut block = inet_block();
        block.extend_from_slice(&[0x04, 0x00]);
        let header = v2(1, 0x11, &block);
        refused(&header[..16], "2 byte(s) after the last TLV");
        let mut block = inet6_block();
        block.extend_from_slice(&[0x04, 0x00, 0x00, 0x04]);
        refused(&v2(1, 0x21, &block), "1 byte(s) after the last TLV");
    }

    #[test]
    fn v2_local_ignores_the_block() {
        every_split(&v2(0, 0x00, &[]), &Header::Local);
        every_split(&v2(0, 0x11, &inet_block()), &Header::Local);
        // Whatever it holds: even a short block or one that is no TLVs.
        every_split(&v2(0, 0x11, &[1, 2, 3]), &Header::Local);
        every_split(&v2(0, 0x31, &[0xFF; 216]), &Header::Local);
        every_split(&v2(0, 0x77, &[0xFF; 5]), &Header::Local);
    }

    #[test]
    fn v2_proxy_unspec_is_local() {
        every_split(&v2(1, 0x00, &[]), &Header::Local);
        every_split(&v2(1, 0x00, &[9; 40]), &Header::Local);
    }

    #[test]
    fn v2_refusals() {
        let mut header = v2(1, 0x11, &inet_block());
        header[12] = 0x11;
        refused(&header[..13], "version 1 (only 2 exists)");
        header[12] = 0x31;
        refused(&header[..13], "version 3");
        header[12] = 0x22;
        refused(&header[..13], "unknown command 0x2");
        header[12] = 0x2F;
        refused(&header[..13], "unknown command 0xf");
        refused(&v2(1, 0x12, &inet_block())[..14], "UDP (DGRAM)");
        refused(&v2(1, 0x22, &inet6_block())[..14], "UDP (DGRAM)");
        refused(&v2(1, 0x31, &[0; 216])[..14], "AF_UNIX");
        refused(&v2(1, 0x32, &[0; 216])[..14], "AF_UNIX");
        for family in [0x01, 0x02, 0x10, 0x13, 0x20, 0x30, 0x41, 0xFF] {
            refused(&v2(1, family, &[])[..14], "unknown family and protocol");
        }
        refused(
            &v2(1, 0x11, &inet_block()[..11])[..16],
            "length 11 is less than the 12 bytes of the IPv4 addresses",
        );
        refused(
            &v2(1, 0x21, &inet_block())[..16],
            "length 12 is less than the 36 bytes of the IPv6 addresses",
        );
        refused(
            &v2(1, 0x21, &[])[..16],
            "length 0 is less than the 36 bytes",
        );
    }

    #[test]
    fn v2_the_longest_header() {
        let mut block = inet_block();
        block.extend_from_slice(&[0xEE, 0xFF, 0xF0]);
        block.resize(65_535, 0);
        let header = v2(1, 0x11, &block);
        assert_eq!(header.len(), MAX_HEADER);
        assert_eq!(parse(&header[..MAX_HEADER - 1]), Ok(None));
        assert_eq!(
            parse(&header),
            Ok(Some((
                proxied("192.168.0.1:56324", "192.168.0.11:443"),
                MAX_HEADER
            )))
        );
    }

    /// All strings of `alphabet` up to `most` bytes long.
    fn strings(alphabet: &[u8], most: usize) -> Vec<Vec<u8>> {
        let mut all = vec![Vec::new()];
        let mut last = vec![Vec::new()];
        for _ in 0..most {
            let mut next = Vec::new();
            for s in &last {
                for &c in alphabet {
                    let mut t = s.clone();
                    t.push(c);
                    next.push(t);
                }
            }
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    fn std_v4(s: &[u8]) -> bool {
        std::str::from_utf8(s).is_ok_and(|s| s.parse::<Ipv4Addr>().is_ok())
    }

    fn std_v6(s: &[u8]) -> bool {
        std::str::from_utf8(s).is_ok_and(|s| s.parse::<Ipv6Addr>().is_ok())
    }

    /// Whole addresses are exactly those std reads; every beginning of one is a beginning;
    /// every beginning can be finished.
    fn same_language(
        check: fn(&[u8]) -> Result<bool, &'static str>,
        std: fn(&[u8]) -> bool,
        alphabet: &[u8],
        most: usize,
        finish: &[u8],
        finish_most: usize,
        prefix_most: usize,
    ) {
        let endings = strings(finish, finish_most);
        for s in strings(alphabet, most) {
            let ours = check(&s);
            assert_eq!(
                ours == Ok(true),
                std(&s),
                "{:?}: {ours:?}",
                String::from_utf8_lossy(&s)
            );
            if std(&s) {
                for n in 0..s.len() {
                    assert!(
                        check(&s[..n]).is_ok(),
                        "{:?}",
                        String::from_utf8_lossy(&s[..n])
                    );
                }
            }
            if ours == Ok(false) && s.len() <= prefix_most {
                assert!(
                    endings.iter().any(|e| std(&[&s[..], e].concat())),
                    "{:?} cannot be finished",
                    String::from_utf8_lossy(&s)
                );
            }
        }
    }

    #[test]
    fn ipv4_text_is_stds_language() {
        same_language(ipv4_text, std_v4, b"0125.6", 7, b"0.", 7, 7);
        for s in ["255.255.255.255", "0.0.0.0", "10.200.30.4"] {
            assert_eq!(ipv4_text(s.as_bytes()), Ok(true), "{s}");
        }
    }

    #[test]
    fn ipv6_text_is_stds_language() {
        same_language(ipv6_text, std_v6, b"0a1:.", 8, b"0:.", 5, 5);
        for s in [
            "::",
            "::1",
            "1::",
            "::ffff:255.255.255.255",
            "0000:0000:0000:0000:0000:ffff:255.255.255.255",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "1::1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "FFFF:abcd::",
        ] {
            assert_eq!(ipv6_text(s.as_bytes()), Ok(true), "{s}");
            assert!(std_v6(s.as_bytes()), "{s}");
            for n in 0..s.len() {
                assert!(ipv6_text(&s.as_bytes()[..n]).is_ok(), "{s} at {n}");
            }
        }
        for s in [
            ":",
            "1:2:3:4:5:6::1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "1.2.3.4",
            "::1.2.3.04",
            "::1.2.3.256",
            "::01.2.3.4",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "g::",
        ] {
            assert!(ipv6_text(s.as_bytes()) != Ok(true), "{s}");
            assert!(!std_v6(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn invalid_displays_its_reason() {
        let error = parse(b"X").unwrap_err();
        assert_eq!(error.to_string(), error.0);
        let _: &dyn std::error::Error = &error;
    }
}
