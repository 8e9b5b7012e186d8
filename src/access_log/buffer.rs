//! The bounded buffer between request threads and the writer thread: whole lines go in, the
//! writer takes everything at once; a line that would pass the capacity is refused whole.

/// What became of a line offered to the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pushed {
    /// Buffered; the buffer is still under its write threshold.
    Buffered,
    /// Buffered, and this line took the buffer to its write threshold: wake the writer.
    Full,
    /// Refused: buffering it would pass the capacity. The caller counts it.
    Dropped,
}

/// Lines accepted but not yet written, with the two limits that govern them.
#[derive(Debug)]
pub(super) struct Pending {
    /// Lines accepted since the writer last took them.
    lines: Vec<u8>,
    /// Bytes the writer took and has not finished writing: they still use capacity, so a
    /// blocked destination fills the buffer instead of growing memory without bound.
    writing: usize,
    /// Pending bytes at which the writer is woken to write (`access_log.buffer_bytes`).
    threshold: usize,
    /// Most bytes pending, buffered and being written together (`access_log.max_pending_bytes`).
    capacity: usize,
}

impl Pending {
    /// An empty buffer that asks for a write at `threshold` bytes and holds at most `capacity`.
    pub(super) fn new(threshold: usize, capacity: usize) -> Pending {
        Pending {
            lines: Vec::with_capacity(threshold.min(capacity)),
            writing: 0,
            threshold,
            capacity,
        }
    }

    /// Apply new limits (a reload); lines already accepted stay.
    pub(super) fn set_limits(&mut self, threshold: usize, capacity: usize) {
        self.threshold = threshold;
        self.capacity = capacity;
    }

    /// Accept `line` whole, or refuse it whole when it does not fit in the capacity.
    pub(super) fn push(&mut self, line: &[u8]) -> Pushed {
        let after = self.lines.len() + line.len();
        if self.writing + after > self.capacity {
            return Pushed::Dropped;
        }
        let was_under = self.lines.len() < self.threshold;
        self.lines.extend_from_slice(line);
        if was_under && after >= self.threshold {
            Pushed::Full
        } else {
            Pushed::Buffered
        }
    }

    /// True when the buffered lines have reached the write threshold.
    pub(super) fn is_full(&self) -> bool {
        self.lines.len() >= self.threshold
    }

    /// Bytes buffered (not counting those being written).
    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no line waits to be taken.
    pub(super) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Hand every buffered line to the writer, keeping `spare` (empty, with its allocation) as
    /// the new buffer: two buffers swap, so a steady load allocates nothing.
    pub(super) fn take(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        let taken = std::mem::replace(&mut self.lines, spare);
        self.writing = taken.len();
        taken
    }

    /// The writer is done with what it took: that capacity is free again.
    pub(super) fn written(&mut self) {
        self.writing = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_that_reaches_the_threshold_wakes_the_writer_once() {
        let mut p = Pending::new(10, 100);
        assert_eq!(p.push(b"1234\n"), Pushed::Buffered);
        assert!(!p.is_full());
        assert_eq!(p.push(b"56789\n"), Pushed::Full);
        assert!(p.is_full());
        // Already past the threshold: the writer was woken, no second wake-up.
        assert_eq!(p.push(b"abc\n"), Pushed::Buffered);
        assert_eq!(p.take(Vec::new()), b"1234\n56789\nabc\n");
        assert!(p.is_empty());
    }

    #[test]
    fn a_line_that_would_pass_the_capacity_is_dropped_whole() {
        let mut p = Pending::new(8, 12);
        assert_eq!(p.push(b"aaaaa\n"), Pushed::Buffered);
        assert_eq!(p.push(b"bbbbb\n"), Pushed::Full);
        assert_eq!(p.push(b"c\n"), Pushed::Dropped);
        assert_eq!(p.take(Vec::new()), b"aaaaa\nbbbbb\n", "no partial line");
    }

    #[test]
    fn bytes_being_written_count_against_the_capacity_until_written() {
        let mut p = Pending::new(4, 10);
        assert_eq!(p.push(b"12345678\n"), Pushed::Full);
        let taken = p.take(Vec::new());
        // The writer holds 9 bytes (a blocked destination): only 1 byte of room is left.
        assert_eq!(p.push(b"x\n"), Pushed::Dropped);
        p.written();
        assert_eq!(p.push(b"x\n"), Pushed::Buffered);
        assert_eq!(taken.len(), 9);
    }

    #[test]
    fn the_spare_buffer_is_reused_empty() {
        let mut p = Pending::new(4, 100);
        p.push(b"one\n");
        let mut spare = Vec::with_capacity(64);
        spare.extend_from_slice(b"stale");
        let taken = p.take(spare);
        assert_eq!(taken, b"one\n");
        assert!(p.is_empty(), "the spare came back cleared");
        p.push(b"two\n");
        assert_eq!(p.take(taken), b"two\n");
    }

    #[test]
    fn new_limits_apply_to_the_next_line() {
        let mut p = Pending::new(100, 100);
        assert_eq!(p.push(b"12345\n"), Pushed::Buffered);
        p.set_limits(4, 8);
        assert!(p.is_full());
        assert_eq!(p.push(b"abc\n"), Pushed::Dropped);
    }
}
