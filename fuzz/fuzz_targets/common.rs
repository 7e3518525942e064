//! Shared by the fuzz targets: feed a stream to a decoder in pieces of sizes the input
//! chooses, check what comes out, and check that it encodes and decodes back the same.

use synctcp::framing::{Codec, Decoder};

/// Sizes for the pieces, from a seed: 1 to 64 bytes, often 1.
pub struct Pieces(u32);

impl Pieces {
    pub fn new(seed: u32) -> Pieces {
        Pieces(seed | 1)
    }
    pub fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        match self.0 % 4 {
            0 => 1,
            _ => 1 + (self.0 >> 8) as usize % 64,
        }
    }
}

/// Decodes `stream` fed in pieces; returns the frames up to the first error.
/// `most_held` bounds what the decoder may hold between frames.
pub fn decode_in_pieces<C: Codec>(
    codec: C,
    stream: &[u8],
    seed: u32,
    max: usize,
    most_held: usize,
) -> Vec<Vec<u8>> {
    let mut decoder = Decoder::new(codec);
    let mut pieces = Pieces::new(seed);
    let mut frames = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = pieces.next().min(stream.len() - at);
        decoder.push(&stream[at..at + n]);
        at += n;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max + 16, "a frame of {} bytes passed a limit of {max}", frame.len());
                    frames.push(frame.to_vec());
                }
                Ok(None) => break,
                Err(_) => return frames,
            }
        }
        assert!(
            decoder.buffered() <= most_held,
            "held {} bytes, more than {most_held}",
            decoder.buffered()
        );
    }
    frames
}

/// Frames, encoded and decoded again in one piece, come back the same.
pub fn round_trip<C: Codec + Clone>(codec: &C, frames: &[Vec<u8>]) {
    let mut wire = Vec::new();
    for frame in frames {
        codec.encode(frame, &mut wire).expect("a decoded frame encodes");
    }
    let mut decoder = Decoder::new(codec.clone());
    decoder.push(&wire);
    for frame in frames {
        assert_eq!(decoder.next_frame().expect("decodes").expect("a frame"), frame.as_slice());
    }
    assert_eq!(decoder.next_frame().expect("decodes"), None);
}
