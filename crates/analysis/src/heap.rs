//! The live heap as memray replays it (spec §5.2, §5.3): simple blocks by address, and mapped
//! byte ranges that `munmap` can shrink or split.
//!
//! Every change is reported to the caller as a [`Change`] of one site, so the caller can keep
//! per-site live totals without a second walk over the heap. Memory is proportional to the live
//! blocks and mappings, never to the number of events.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

/// A live simple block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub(crate) size: u64,
    pub(crate) site: u32,
    pub(crate) index: u64,
}

/// A live piece of a mapping: `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    end: u64,
    site: u32,
    index: u64,
}

/// One site's live totals moving by `count` blocks and `added − removed` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) site: u32,
    pub(crate) count: i64,
    pub(crate) added: u64,
    pub(crate) removed: u64,
}

/// Live blocks and mapped ranges.
#[derive(Debug, Default)]
pub(crate) struct LiveHeap {
    blocks: FxHashMap<u64, Block>,
    /// Pieces keyed by `(start, serial)`: mappings may overlap, so the start alone is not unique.
    pieces: BTreeMap<(u64, u64), Piece>,
    /// The longest piece ever mapped, to bound the search for pieces overlapping a range.
    longest: u64,
    serial: u64,
}

impl LiveHeap {
    /// A simple allocation. [quirk] A block already live at the address is replaced without
    /// being freed: the caller's running total keeps its bytes, the snapshot loses it (§5.2/§5.3).
    pub(crate) fn allocate(&mut self, address: u64, block: Block) -> Option<Block> {
        self.blocks.insert(address, block)
    }

    /// A simple deallocation: the block freed, if it was live.
    pub(crate) fn free(&mut self, address: u64) -> Option<Block> {
        self.blocks.remove(&address)
    }

    /// `mmap`: a new live range (size 0 maps nothing).
    pub(crate) fn map(&mut self, address: u64, size: u64, site: u32, index: u64) {
        if size == 0 {
            return;
        }
        let end = address.saturating_add(size);
        self.longest = self.longest.max(end - address);
        self.serial += 1;
        self.pieces.insert((address, self.serial), Piece { end, site, index });
    }

    /// `munmap`: removes `[address, address + size)` from every live piece; reports each site's
    /// change in memray's order (fully freed pieces, then shrunk ones, then split ones, §5.8)
    /// and returns the bytes removed.
    pub(crate) fn unmap(&mut self, address: u64, size: u64, changes: &mut Vec<Change>) -> u64 {
        changes.clear();
        let (lo, hi) = (address, address.saturating_add(size));
        if hi <= lo {
            return 0;
        }
        let from = (lo.saturating_sub(self.longest), 0);
        let hits: Vec<((u64, u64), Piece)> = self
            .pieces
            .range(from..(hi, 0))
            .filter(|(&(start, _), piece)| start < hi && piece.end > lo)
            .map(|(&k, &p)| (k, p))
            .collect();
        let (mut freed, mut shrunk, mut split) = (Vec::new(), Vec::new(), Vec::new());
        let mut removed_total = 0u64;
        for ((start, serial), piece) in hits {
            self.pieces.remove(&(start, serial));
            let cut_lo = start.max(lo);
            let cut_hi = piece.end.min(hi);
            let removed = cut_hi - cut_lo;
            removed_total = removed_total.wrapping_add(removed);
            let keep_left = start < lo;
            let keep_right = piece.end > hi;
            if keep_left {
                self.pieces.insert((start, serial), Piece { end: lo, ..piece });
            }
            if keep_right {
                self.serial += 1;
                self.pieces.insert((hi, self.serial), piece);
            }
            let change = |count| Change { site: piece.site, count, added: 0, removed };
            match (keep_left, keep_right) {
                (false, false) => freed.push(change(-1)),
                (true, true) => split.push(change(1)),
                _ => shrunk.push(change(0)),
            }
        }
        changes.extend(freed);
        changes.extend(shrunk);
        changes.extend(split);
        removed_total
    }

    /// Every live item as `(site, bytes, first index)`: blocks, then map pieces.
    pub(crate) fn items(&self) -> impl Iterator<Item = (u32, u64, u64)> + '_ {
        let blocks = self.blocks.values().map(|b| (b.site, b.size, b.index));
        let pieces = self.pieces.iter().map(|(&(start, _), p)| (p.site, p.end - start, p.index));
        blocks.chain(pieces)
    }

    /// Number of live blocks and map pieces.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len() + self.pieces.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmap_frees_shrinks_and_splits() {
        let mut heap = LiveHeap::default();
        heap.map(1000, 100, 1, 0); // [1000, 1100)
        heap.map(2000, 100, 2, 1); // [2000, 2100)
        heap.map(3000, 100, 3, 2); // [3000, 3100)
        let mut changes = Vec::new();
        // Split the first mapping in the middle.
        assert_eq!(heap.unmap(1040, 20, &mut changes), 20);
        assert_eq!(changes, vec![Change { site: 1, count: 1, added: 0, removed: 20 }]);
        // Free the second entirely and shrink the third from the left: freed first.
        assert_eq!(heap.unmap(2000, 1050, &mut changes), 150);
        assert_eq!(
            changes,
            vec![
                Change { site: 2, count: -1, added: 0, removed: 100 },
                Change { site: 3, count: 0, added: 0, removed: 50 },
            ]
        );
        let mut items: Vec<_> = heap.items().collect();
        items.sort_unstable();
        assert_eq!(items, vec![(1, 40, 0), (1, 40, 0), (3, 50, 2)]);
        // An unmap of nothing live changes nothing.
        assert_eq!(heap.unmap(5000, 10, &mut changes), 0);
        assert!(changes.is_empty());
    }

    #[test]
    fn overlapping_mappings_both_lose_the_range() {
        let mut heap = LiveHeap::default();
        heap.map(0, 4096, 1, 0);
        heap.map(1024, 1024, 2, 1);
        let mut changes = Vec::new();
        assert_eq!(heap.unmap(1024, 1024, &mut changes), 2048);
        assert_eq!(heap.len(), 2); // the split halves of the first mapping
    }
}
