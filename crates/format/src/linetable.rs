//! Line numbers from CPython line tables, exactly as memray computes them (spec §2.5).
//!
//! memray stores a frame as (code object, instruction offset) and resolves the line at read time
//! with one of three decoders chosen by the header's `python_version`. Their quirks are memray's
//! and are kept: code 15 ("no line") keeps the previous line, an empty table or a negative offset
//! gives line 0, and on x86-64 the ≤ 3.9 decoder adds bytecode deltas as signed `char`s.

/// How the ≤ 3.9 decoder adds bytecode deltas; memray's result depends on the signedness of C's
/// `char` on the machine that reads the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CharSignedness {
    /// x86-64 Linux and macOS, Apple arm64: deltas ≥ 128 are negative (memray's common behaviour).
    #[default]
    Signed,
    /// Linux aarch64: deltas are unsigned (CPython's true lines).
    Unsigned,
}

/// The line of `instruction_offset` in a code object's line table.
///
/// `python_version` is the header's `PY_VERSION_HEX`; `firstlineno` is `co_firstlineno`.
pub(crate) fn line_number(
    python_version: u32,
    table: &[u8],
    firstlineno: i32,
    instruction_offset: i32,
    chars: CharSignedness,
) -> i32 {
    if table.is_empty() || instruction_offset < 0 {
        return 0;
    }
    if python_version >= 0x030B_0000 {
        location_table(table, firstlineno, instruction_offset)
    } else if python_version >= 0x030A_0000 {
        linetable_310(table, firstlineno, instruction_offset)
    } else {
        lnotab(table, firstlineno, instruction_offset, chars)
    }
}

/// Decoder A: the 3.11+ location table; the offset is in bytes, entries count 2-byte code units.
fn location_table(table: &[u8], firstlineno: i32, offset: i32) -> i32 {
    let target = offset / 2;
    location_entries(table, firstlineno)
        .find(|&(addr, end, _)| addr <= target && target < end)
        .map_or(0, |(_, _, line)| line)
}

/// The entries of a 3.11+ location table in order: the code units each covers (`addr..end`)
/// and its line, until a 0 byte or the end of the table.
fn location_entries(table: &[u8], firstlineno: i32) -> impl Iterator<Item = (i32, i32, i32)> + '_ {
    let (mut line, mut addr, mut pos) = (firstlineno, 0i32, 0usize);
    std::iter::from_fn(move || {
        let &b = table.get(pos).filter(|&&b| b != 0)?;
        pos += 1;
        let end = addr.wrapping_add(i32::from(b & 7) + 1);
        line = next_line((b >> 3) & 15, line, table, &mut pos);
        let entry = (addr, end, line);
        addr = end;
        Some(entry)
    })
}

/// Reads a varint of 6-bit groups (0x40 = continuation); bytes past the table read as 0.
fn read_u6(table: &[u8], pos: &mut usize) -> u32 {
    let mut value: u32 = 0;
    let mut shift = 0u32;
    loop {
        let b = table.get(*pos).copied().unwrap_or(0);
        *pos += 1;
        if shift < 32 {
            value |= u32::from(b & 0x3f).wrapping_shl(shift);
        }
        shift += 6;
        if b & 0x40 == 0 {
            return value;
        }
    }
}

fn read_s6(table: &[u8], pos: &mut usize) -> i32 {
    let v = read_u6(table, pos);
    if v & 1 != 0 {
        -((v >> 1) as i32)
    } else {
        (v >> 1) as i32
    }
}

/// Decoder B: the 3.10 `co_linetable`; the offset counts 2-byte code units.
fn linetable_310(table: &[u8], firstlineno: i32, offset: i32) -> i32 {
    let target = i64::from(offset) * 2;
    let mut line = firstlineno;
    let mut cur: i64 = 0;
    for pair in table.chunks(2) {
        let sd = pair[0];
        let ld = pair.get(1).copied().unwrap_or(0) as i8;
        cur += i64::from(sd);
        if ld != -128 {
            line = line.wrapping_add(i32::from(ld));
        }
        if cur > target {
            break;
        }
    }
    line
}

/// Decoder C: the ≤ 3.9 `co_lnotab`; the offset is in bytes.
fn lnotab(table: &[u8], firstlineno: i32, offset: i32, chars: CharSignedness) -> i32 {
    let mut line = firstlineno;
    let mut bc: u64 = 0;
    let offset = offset as u64;
    for pair in table.chunks(2) {
        let delta = match chars {
            CharSignedness::Signed => pair[0] as i8 as i64 as u64,
            CharSignedness::Unsigned => u64::from(pair[0]),
        };
        bc = bc.wrapping_add(delta);
        if bc > offset {
            break;
        }
        line = line.wrapping_add(i32::from(pair.get(1).copied().unwrap_or(0) as i8));
    }
    line
}

/// A code object's line table decoded once, answering [`line_number`] for any offset by a binary
/// search instead of a rescan of the table.
///
/// Each decoder's answer for an offset is "the line of the first table entry whose bound exceeds
/// the offset, or a fixed value past the last entry". The bounds never decrease (for the ≤ 3.9
/// decoder, whose signed deltas can move backwards, the bound is the running maximum, which first
/// exceeds an offset exactly where the scan stops), so a lookup is a partition point. Runs of
/// entries with the same line keep only their last bound, which answers every offset alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineIndex {
    /// Where the offset is measured: 0 = code units (3.11+), 1 = doubled code units (3.10),
    /// 2 = bytes (≤ 3.9).
    scale: u8,
    bounds: Vec<u64>,
    lines: Vec<i32>,
    past_end: i32,
}

impl LineIndex {
    /// Decodes `table` with the decoder [`line_number`] would choose.
    pub(crate) fn new(
        python_version: u32,
        table: &[u8],
        firstlineno: i32,
        chars: CharSignedness,
    ) -> Self {
        let mut index = LineIndex::default();
        if table.is_empty() {
            return index;
        }
        if python_version >= 0x030B_0000 {
            index.decode_location_table(table, firstlineno);
        } else if python_version >= 0x030A_0000 {
            index.decode_310(table, firstlineno);
        } else {
            index.decode_lnotab(table, firstlineno, chars);
        }
        index
    }

    /// The line of `instruction_offset`: the same as [`line_number`] on the same table.
    pub(crate) fn line(&self, instruction_offset: i32) -> i32 {
        if instruction_offset < 0 {
            return 0;
        }
        let key = match self.scale {
            0 => (instruction_offset / 2) as u64,
            1 => instruction_offset as u64 * 2,
            _ => instruction_offset as u64,
        };
        let k = self.bounds.partition_point(|&b| b <= key);
        self.lines.get(k).copied().unwrap_or(self.past_end)
    }

    fn push(&mut self, bound: u64, line: i32) {
        if self.lines.last() == Some(&line) {
            *self.bounds.last_mut().expect("bounds and lines have one length") = bound;
        } else {
            self.bounds.push(bound);
            self.lines.push(line);
        }
    }

    fn decode_location_table(&mut self, table: &[u8], firstlineno: i32) {
        self.scale = 0;
        for (addr, end, line) in location_entries(table, firstlineno) {
            // An address that wrapped (a table of over 2^31 code units) can never be reached
            // by an i32 offset; the scan would not find it either.
            if end < addr {
                break;
            }
            self.push(end as u64, line);
        }
        // Past the last entry the scan finds nothing and answers 0.
        self.past_end = 0;
    }

    fn decode_310(&mut self, table: &[u8], firstlineno: i32) {
        self.scale = 1;
        let mut line = firstlineno;
        let mut cur: u64 = 0;
        for pair in table.chunks(2) {
            cur += u64::from(pair[0]);
            let ld = pair.get(1).copied().unwrap_or(0) as i8;
            if ld != -128 {
                line = line.wrapping_add(i32::from(ld));
            }
            self.push(cur, line);
        }
        self.past_end = line;
    }

    fn decode_lnotab(&mut self, table: &[u8], firstlineno: i32, chars: CharSignedness) {
        self.scale = 2;
        let mut line = firstlineno;
        let mut bc: u64 = 0;
        let mut max: u64 = 0;
        for pair in table.chunks(2) {
            let delta = match chars {
                CharSignedness::Signed => pair[0] as i8 as i64 as u64,
                CharSignedness::Unsigned => u64::from(pair[0]),
            };
            bc = bc.wrapping_add(delta);
            max = max.max(bc);
            // The scan stops at the first pair whose running offset exceeds the target, before
            // adding that pair's line delta.
            self.push(max, line);
            line = line.wrapping_add(i32::from(pair.get(1).copied().unwrap_or(0) as i8));
        }
        self.past_end = line;
    }
}

/// The line after one 3.11+ location-table entry of `code`, reading its operands at `pos`.
fn next_line(code: u8, line: i32, table: &[u8], pos: &mut usize) -> i32 {
    match code {
        15 => line,
        14 => {
            let line = line.wrapping_add(read_s6(table, pos));
            for _ in 0..3 {
                read_u6(table, pos);
            }
            line
        }
        13 => line.wrapping_add(read_s6(table, pos)),
        10..=12 => {
            *pos += 2;
            line.wrapping_add(i32::from(code) - 10)
        }
        _ => {
            *pos += 1;
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_and_negative_offset_give_zero() {
        assert_eq!(line_number(0x030B_0000, &[], 10, 4, CharSignedness::Signed), 0);
        assert_eq!(line_number(0x030B_0000, &[0x80], 10, -1, CharSignedness::Signed), 0);
    }

    #[test]
    fn location_table_short_form_advances_lines() {
        // Entry 1: code 10 (line +0), 1 code unit; entry 2: code 11 (line +1), 2 code units.
        let table = [0x80 | (10 << 3), 0, 0, 0x80 | (11 << 3) | 1, 0, 0];
        assert_eq!(location_table(&table, 5, 0), 5);
        assert_eq!(location_table(&table, 5, 2), 6);
        assert_eq!(location_table(&table, 5, 4), 6);
        assert_eq!(location_table(&table, 5, 6), 0, "past the table");
    }

    #[test]
    fn lnotab_signed_char_quirk_stops_early() {
        // (200, +1) then (2, +1): with signed chars 200 wraps negative and the scan stops.
        let table = [200, 1, 2, 1];
        assert_eq!(lnotab(&table, 1, 201, CharSignedness::Unsigned), 2);
        assert_eq!(lnotab(&table, 1, 201, CharSignedness::Signed), 1);
    }

    #[test]
    fn linetable_310_skips_no_line_entries() {
        let table = [4, 1, 4, 0x80, 4, 2];
        assert_eq!(linetable_310(&table, 10, 0), 11);
        assert_eq!(linetable_310(&table, 10, 3), 11);
        assert_eq!(linetable_310(&table, 10, 5), 13);
    }

    /// A small deterministic generator, so that the equivalence test is the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn line_index_answers_as_the_scan_for_every_offset() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..3000 {
            let len = (xorshift(&mut state) % 64) as usize;
            let table: Vec<u8> = (0..len)
                .map(|_| {
                    let r = xorshift(&mut state);
                    // Mostly plausible entries (the high bit set starts a 3.11 entry), some noise.
                    if r % 4 == 0 {
                        (r >> 8) as u8
                    } else {
                        0x80 | ((r >> 8) as u8 & 0x7f)
                    }
                })
                .collect();
            let version = [0x030B_0000, 0x030A_0000, 0x0309_0000][round % 3];
            let chars =
                if round % 2 == 0 { CharSignedness::Signed } else { CharSignedness::Unsigned };
            let first = (xorshift(&mut state) % 1000) as i32 - 10;
            let index = LineIndex::new(version, &table, first, chars);
            for offset in -2..(len as i32 * 40 + 8) {
                assert_eq!(
                    index.line(offset),
                    line_number(version, &table, first, offset, chars),
                    "version {version:#x}, table {table:?}, offset {offset}"
                );
            }
        }
    }

    #[test]
    fn line_index_is_smaller_than_its_entries_when_lines_repeat() {
        // Forty entries of code 10 (same line): one bound is enough.
        let table: Vec<u8> = (0..40).flat_map(|_| [0x80 | (10 << 3) | 7, 0, 0]).collect();
        let index = LineIndex::new(0x030B_0000, &table, 7, CharSignedness::Signed);
        assert_eq!(index.bounds.len(), 1);
        assert_eq!(index.line(0), 7);
        assert_eq!(index.line(40 * 8 * 2 - 1), 7);
        assert_eq!(index.line(40 * 8 * 2), 0);
    }
}
