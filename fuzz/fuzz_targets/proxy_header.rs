//! The PROXY protocol header parser (`src/listener/proxy.rs`, included by path: it is
//! crate-private), fed arbitrary bytes. Invariants checked on every input:
//!
//! 1. `parse` never panics.
//! 2. A header it finds is 1 to `MAX_HEADER` bytes and no longer than the input: 16 or more
//!    for v2 (first byte CR), at most 107 for v1 (first byte `P`).
//! 3. Bytes decide once: over the input's prefixes, shortest first, the answers are
//!    `Ok(None)` up to some length, then one and the same answer from there on, the answer
//!    for the whole input (the same header and length, or the same refusal and reason). So a
//!    header's proper prefixes all ask for more, what follows a header never changes it, and
//!    a refusal is never taken back.
//! 4. "More" is asked only while a header could still fit: under 107 bytes for v1, under 16 +
//!    the declared length for v2, under `MAX_HEADER` always; the input padded to
//!    `MAX_HEADER` bytes is decided.
//! 5. What a header says, written again in v1 and in v2 (canonically), reads back the same.
//!
//! The first byte picks a start to put before the rest (nothing, a v1 or a v2 beginning) so
//! that the fuzzer gets past the signatures quickly.
#![no_main]

use std::net::SocketAddr;

use libfuzzer_sys::fuzz_target;

#[path = "../../src/proxy.rs"]
mod proxy;

use proxy::{parse, Header, MAX_HEADER};

const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let start: &[u8] = match mode % 8 {
        4 => b"PROXY TCP4 ",
        5 => b"PROXY TCP6 ",
        6 => b"\r\n\r\n\0\r\nQUIT\n\x21",
        7 => b"\r\n\r\n\0\r\nQUIT\n\x21\x11",
        _ => b"",
    };
    let input = [start, rest].concat();
    check(&input);
});

fn check(input: &[u8]) {
    let whole = parse(input);

    // 2. The length of a header found.
    if let Ok(Some((_, len))) = &whole {
        let len = *len;
        assert!(
            len >= 1 && len <= input.len() && len <= MAX_HEADER,
            "len {len}"
        );
        match input[0] {
            b'P' => assert!(len <= 107, "a v1 header of {len} bytes"),
            b'\r' => assert!(len >= 16, "a v2 header of {len} bytes"),
            other => panic!("a header starting with {other:#04x}"),
        }
    }

    // 3. Over the prefixes (all of them for short inputs; for long ones the first 300, a
    //    spread, and those around the header's end and the input's end).
    let n = input.len();
    let mut lengths: Vec<usize> = if n <= 600 {
        (0..=n).collect()
    } else {
        let mut lengths: Vec<usize> = (0..300).collect();
        lengths.extend((300..n).step_by(97));
        lengths.extend(n - 20..=n);
        if let Ok(Some((_, len))) = &whole {
            lengths.extend(len.saturating_sub(20)..=(len + 20).min(n));
        }
        lengths.sort_unstable();
        lengths.dedup();
        lengths
    };
    lengths.retain(|&k| k <= n);
    let mut decided = None;
    for k in lengths {
        let answer = parse(&input[..k]);
        match (&answer, &decided) {
            (Ok(None), None) => {}
            (Ok(None), Some(earlier)) => {
                panic!("{k} bytes ask for more after fewer gave {earlier:?}")
            }
            (_, None) => {
                assert_eq!(answer, whole, "{k} bytes decide otherwise than all {n}");
                decided = Some(answer);
            }
            (_, Some(earlier)) => assert_eq!(&answer, earlier, "at {k} bytes"),
        }
    }
    if let Ok(Some((_, len))) = &whole {
        assert_eq!(parse(&input[..*len]), whole);
        assert_eq!(parse(&input[..*len - 1]), Ok(None));
    }

    // 4. Asking for more only while a header could still fit.
    if whole == Ok(None) {
        assert!(n < MAX_HEADER);
        match input.first() {
            Some(b'P') => assert!(n < 107, "a v1 line of {n} bytes still undecided"),
            Some(b'\r') if n >= 16 => {
                let declared = usize::from(u16::from_be_bytes([input[14], input[15]]));
                assert!(
                    n < 16 + declared,
                    "{n} bytes, {declared} declared, still undecided"
                );
            }
            _ => {}
        }
        let mut padded = input.to_vec();
        padded.resize(MAX_HEADER, 0);
        assert_ne!(parse(&padded), Ok(None), "MAX_HEADER bytes undecided");
    }

    // 5. Written again, read the same.
    if let Ok(Some((header, _))) = &whole {
        for again in [v1(header), v2(header)] {
            assert_eq!(
                parse(&again),
                Ok(Some((header.clone(), again.len()))),
                "{again:?}"
            );
        }
    }
}

fn v1(header: &Header) -> Vec<u8> {
    match header {
        Header::Local => b"PROXY UNKNOWN\r\n".to_vec(),
        Header::Proxied {
            source,
            destination,
        } => {
            let family = if source.is_ipv4() { "TCP4" } else { "TCP6" };
            format!(
                "PROXY {family} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .into_bytes()
        }
    }
}

fn v2(header: &Header) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    match header {
        Header::Local => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
        Header::Proxied {
            source,
            destination,
        } => {
            let mut block = Vec::new();
            match (source, destination) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    out.push(0x21);
                    out.push(0x11);
                    block.extend_from_slice(&s.ip().octets());
                    block.extend_from_slice(&d.ip().octets());
                }
                (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                    out.push(0x21);
                    out.push(0x21);
                    block.extend_from_slice(&s.ip().octets());
                    block.extend_from_slice(&d.ip().octets());
                }
                _ => panic!("a header with addresses of two families: {header:?}"),
            }
            block.extend_from_slice(&source.port().to_be_bytes());
            block.extend_from_slice(&destination.port().to_be_bytes());
            out.extend_from_slice(&(block.len() as u16).to_be_bytes());
            out.extend_from_slice(&block);
        }
    }
    out
}
