//! Primitive encodings of the capture format as `nom` streaming parsers (spec §1.4): unsigned and
//! zig-zag LEB128 varints, NUL-terminated strings and little-endian fixed-width fields.
//!
//! Every parser here is a streaming parser: short input gives `Err::Incomplete`, which the record
//! reader answers by pulling more bytes, or, at the end of the stream, by reporting truncation.
//! `nom` stays private to this crate.

use nom::error::ParseError;
use nom::{Err, IResult, Needed};

use crate::error::ErrorKind;

/// A parse failure inside a record, with the number of input bytes left where it happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WireError {
    pub(crate) kind: ErrorKind,
    pub(crate) remaining: usize,
}

impl<'a> ParseError<&'a [u8]> for WireError {
    fn from_error_kind(input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        WireError { kind: ErrorKind::UnexpectedEof, remaining: input.len() }
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, WireError>;

pub(crate) fn fail<T>(input: &[u8], kind: ErrorKind) -> PResult<'_, T> {
    Err(Err::Failure(WireError { kind, remaining: input.len() }))
}

/// Unsigned LEB128, at most 10 bytes; memray fails when a continuation would shift past 63 bits.
#[inline]
pub(crate) fn uvarint(input: &[u8]) -> PResult<'_, u64> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    for (i, &byte) in input.iter().enumerate() {
        // Bits shifted past 64 are lost, as in memray.
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((&input[i + 1..], value));
        }
        shift += 7;
        if shift >= 64 {
            return fail(input, ErrorKind::VarintOverflow);
        }
    }
    Err(Err::Incomplete(Needed::Unknown))
}

/// Zig-zag encoded signed LEB128.
#[inline]
pub(crate) fn svarint(input: &[u8]) -> PResult<'_, i64> {
    let (rest, z) = uvarint(input)?;
    Ok((rest, ((z >> 1) as i64) ^ -((z & 1) as i64)))
}

/// A NUL-terminated byte string; the terminator is consumed and not returned.
#[inline]
pub(crate) fn cstr(input: &[u8]) -> PResult<'_, &[u8]> {
    match input.iter().position(|&b| b == 0) {
        Some(n) => Ok((&input[n + 1..], &input[..n])),
        None => Err(Err::Incomplete(Needed::Unknown)),
    }
}

/// A NUL-terminated string decoded as UTF-8 (invalid sequences replaced, never an error).
#[inline]
pub(crate) fn string(input: &[u8]) -> PResult<'_, String> {
    let (rest, bytes) = cstr(input)?;
    Ok((rest, String::from_utf8_lossy(bytes).into_owned()))
}

#[inline]
pub(crate) fn u8(input: &[u8]) -> PResult<'_, u8> {
    nom::number::streaming::u8(input)
}

#[inline]
pub(crate) fn le_u32(input: &[u8]) -> PResult<'_, u32> {
    nom::number::streaming::le_u32(input)
}

#[inline]
pub(crate) fn le_i32(input: &[u8]) -> PResult<'_, i32> {
    nom::number::streaming::le_i32(input)
}

#[inline]
pub(crate) fn le_u64(input: &[u8]) -> PResult<'_, u64> {
    nom::number::streaming::le_u64(input)
}

#[inline]
pub(crate) fn le_i64(input: &[u8]) -> PResult<'_, i64> {
    nom::number::streaming::le_i64(input)
}

/// `n` raw bytes.
#[inline]
pub(crate) fn bytes(input: &[u8], n: u64) -> PResult<'_, &[u8]> {
    match usize::try_from(n) {
        Ok(n) if n <= input.len() => Ok((&input[n..], &input[..n])),
        Ok(n) => Err(Err::Incomplete(Needed::new(n - input.len()))),
        Err(_) => Err(Err::Incomplete(Needed::Unknown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_decodes_leb128() {
        assert_eq!(uvarint(&[0x00]).unwrap().1, 0);
        assert_eq!(uvarint(&[0x7f]).unwrap().1, 127);
        assert_eq!(uvarint(&[0x80, 0x01]).unwrap().1, 128);
        assert_eq!(uvarint(&[0xe2, 0xc4, 0x1e]).unwrap().1, 500_322);
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(uvarint(&max).unwrap().1, u64::MAX);
    }

    #[test]
    fn uvarint_rejects_an_eleventh_byte_and_waits_for_more() {
        let long = [0xff; 11];
        assert!(matches!(
            uvarint(&long),
            Err(Err::Failure(WireError { kind: ErrorKind::VarintOverflow, .. }))
        ));
        assert!(matches!(uvarint(&[0x80, 0x80]), Err(Err::Incomplete(_))));
    }

    #[test]
    fn svarint_is_zigzag() {
        assert_eq!(svarint(&[0x00]).unwrap().1, 0);
        assert_eq!(svarint(&[0x01]).unwrap().1, -1);
        assert_eq!(svarint(&[0x02]).unwrap().1, 1);
        assert_eq!(svarint(&[0x03]).unwrap().1, -2);
        let min = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(svarint(&min).unwrap().1, i64::MIN);
    }

    #[test]
    fn cstr_needs_its_terminator() {
        assert_eq!(cstr(b"ab\0c").unwrap(), (&b"c"[..], &b"ab"[..]));
        assert!(matches!(cstr(b"ab"), Err(Err::Incomplete(_))));
    }
}
