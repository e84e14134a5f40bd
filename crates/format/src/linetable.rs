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
pub fn line_number(
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
    let mut line = firstlineno;
    let mut addr: i32 = 0;
    let mut pos = 0usize;
    while pos < table.len() && table[pos] != 0 {
        let b = table[pos];
        pos += 1;
        let code = (b >> 3) & 15;
        let end = addr.wrapping_add(i32::from(b & 7) + 1);
        match code {
            15 => {}
            14 => {
                line = line.wrapping_add(read_s6(table, &mut pos));
                for _ in 0..3 {
                    read_u6(table, &mut pos);
                }
            }
            13 => line = line.wrapping_add(read_s6(table, &mut pos)),
            10..=12 => {
                line = line.wrapping_add(i32::from(code) - 10);
                pos += 2;
            }
            _ => pos += 1,
        }
        if addr <= target && target < end {
            return line;
        }
        addr = end;
    }
    0
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
}
