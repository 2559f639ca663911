//! Splitting a large input into requests the server accepts: at most `max_batch` items and,
//! by a margin, under the server's message size. Pure, so the split is unit-tested.

use std::ops::Range;

/// Bytes a request may hold besides its items (names, field tags).
const OVERHEAD: usize = 4096;

/// Index ranges of `sizes` (each item's encoded size in bytes) such that every range has at
/// most `max_items` items and at most `max_bytes` bytes, unless one item alone is larger (it
/// then goes alone and the server refuses it with a clear error).
pub fn ranges(
    sizes: impl IntoIterator<Item = usize>,
    max_items: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let budget = max_bytes.saturating_sub(OVERHEAD).max(1);
    let max_items = max_items.max(1);
    let mut out = Vec::new();
    let (mut start, mut bytes, mut i) = (0, 0, 0);
    for size in sizes {
        // Each repeated field costs its bytes plus a tag and a length prefix.
        let cost = size + 6;
        if i > start && (i - start == max_items || bytes + cost > budget) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += cost;
        i += 1;
    }
    if i > start {
        out.push(start..i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_count_and_by_bytes() {
        assert_eq!(ranges([1; 5], 2, 1 << 20), vec![0..2, 2..4, 4..5]);
        assert_eq!(ranges([1; 0], 2, 1 << 20), Vec::<Range<usize>>::new());
        // 4096 overhead + 3 items of 1000 (+6) fit in 7200 bytes; the fourth does not.
        assert_eq!(ranges([1000; 5], 100, 7200), vec![0..3, 3..5]);
        // One oversized item goes alone.
        assert_eq!(ranges([10, 100_000, 10], 100, 8192), vec![0..1, 1..2, 2..3]);
    }
}
