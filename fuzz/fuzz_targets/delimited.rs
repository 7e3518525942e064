//! The delimiter decoder, fed arbitrary bytes in arbitrary pieces: it never panics, never
//! hands out a frame past its maximum or one holding the delimiter, never holds more than
//! one frame's worth, and what it decodes encodes back to the same frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctcp::framing::Delimited;

#[path = "common.rs"]
mod common;

const DELIMITERS: [&[u8]; 4] = [b"\n", b"\r\n", b"\0", b"END"];

fuzz_target!(|data: &[u8]| {
    let Some((config, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let delimiter = DELIMITERS[usize::from(config[0] % 4)];
    let strip = config[0] & 4 == 0;
    let max = usize::from(u16::from_be_bytes([config[1], config[2]])) % 4096;
    let seed = u32::from(config[3]);
    let codec = Delimited::new(delimiter)
        .strip_delimiter(strip)
        .max_frame_length(max);
    let most_held = max + delimiter.len();
    let frames = common::decode_in_pieces(codec.clone(), stream, seed, max, most_held);
    for frame in &frames {
        let body = if strip { &frame[..] } else { &frame[..frame.len() - delimiter.len()] };
        assert!(body.len() <= max);
        assert!(!body.windows(delimiter.len()).any(|w| w == delimiter), "a frame holds the delimiter");
        if !strip {
            assert!(frame.ends_with(delimiter));
        }
    }
    if strip {
        common::round_trip(&codec, &frames);
    }
});
