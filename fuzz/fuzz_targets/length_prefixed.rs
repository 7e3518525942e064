//! The length-prefixed decoder, fed arbitrary bytes in arbitrary pieces: it never panics,
//! never hands out a frame past its maximum, never holds more than one frame's worth, and
//! what it decodes encodes back to the same frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctcp::framing::LengthPrefixed;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((config, stream)) = data.split_first_chunk::<4>() else {
        return;
    };
    let short = config[0] & 1 == 1;
    let max = usize::from(u16::from_be_bytes([config[1], config[2]]));
    let seed = u32::from(config[3]);
    let codec = if short { LengthPrefixed::u16() } else { LengthPrefixed::u32() };
    let codec = codec.max_frame_length(max);
    let header = if short { 2 } else { 4 };
    let frames = common::decode_in_pieces(codec.clone(), stream, seed, max, header + max);
    for frame in &frames {
        assert!(frame.len() <= max);
    }
    common::round_trip(&codec, &frames);
});
