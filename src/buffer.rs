//! `ReadBuf`: bytes read from a socket and not yet handed out. The client keeps what a
//! timed-out `read_bytes_exact` already received here, so a retry loses nothing; framing
//! decoders keep partial frames here.

/// A growable buffer with a filled region `start..end`. Every byte of `buf` is initialised
/// once, when the buffer grows, so reading into the spare room never zeroes memory again.
#[derive(Default)]
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// The bytes received and not yet consumed.
    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Drops the first `n` received bytes.
    pub(crate) fn consume(&mut self, n: usize) {
        assert!(n <= self.len(), "consume past the received bytes");
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Takes the first `n` received bytes out as an owned buffer.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    /// Room to read into: at least `min` bytes, more if the buffer already has it.
    /// Compacts before it grows; grows by doubling.
    pub(crate) fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.end < min {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < min {
                let wanted = (self.end + min).max(self.buf.len() * 2);
                self.buf.resize(wanted, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Marks `n` bytes of the spare room as received.
    pub(crate) fn commit(&mut self, n: usize) {
        assert!(self.end + n <= self.buf.len(), "commit past the spare room");
        self.end += n;
    }

    /// Appends bytes (decoders fed from slices).
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        self.spare(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.commit(bytes.len());
    }
}

/// Sizes only: the bytes themselves may be large, and are the peer's.
impl std::fmt::Debug for ReadBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBuf")
            .field("received", &self.len())
            .field("capacity", &self.buf.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_across_compaction_and_growth() {
        let mut rb = ReadBuf::default();
        rb.extend(b"hello ");
        assert_eq!(rb.take(2), b"he");
        rb.extend(&[b'x'; 100]);
        assert_eq!(&rb.data()[..4], b"llo ");
        assert_eq!(rb.len(), 104);
        rb.consume(104);
        assert!(rb.is_empty());
        let room = rb.spare(8);
        assert!(room.len() >= 8);
        room[..3].copy_from_slice(b"abc");
        rb.commit(3);
        assert_eq!(rb.data(), b"abc");
    }
}
