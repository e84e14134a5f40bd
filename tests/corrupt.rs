//! Bad input never panics: every cut, flipped or foreign input gives a typed error or a truncation
//! warning. A body cut anywhere yields a prefix of the complete record list (nothing invented).

use memreport_format::events::Events;
use memreport_format::{dump, Capture, ErrorKind, Record, StreamEnd};

use crate::common::*;

/// What reading a whole input produced.
#[derive(Debug)]
enum Outcome {
    HeaderError(ErrorKind),
    BodyError { kind: ErrorKind, records: Vec<Record> },
    Done { end: Option<StreamEnd>, records: Vec<Record> },
}

/// Reads every record (and every event, in a second pass) of `bytes`, printing each record as
/// `memray parse` would, so the decoder, the event layer and the printer all see the input.
fn read_all(bytes: &[u8]) -> Outcome {
    let capture = match Capture::from_bytes(bytes.to_vec()) {
        Ok(c) => c,
        Err(e) => {
            assert!(e.offset() <= bytes.len() as u64 + 64, "offset {} beyond input", e.offset());
            return Outcome::HeaderError(e.kind());
        }
    };
    let header = capture.header().clone();
    let mut sink = Vec::new();
    let mut records = capture.records();
    let mut out = Vec::new();
    for r in &mut records {
        match r {
            Ok(r) => {
                dump::write_record(&mut sink, &header, &r).unwrap();
                out.push(r);
            }
            Err(e) => {
                assert!(e.record_index().is_some(), "body errors carry a record index");
                return Outcome::BodyError { kind: e.kind(), records: out };
            }
        }
    }
    let end = records.end();
    // The event layer adds its own checks (stack underflow, undefined references); run it too.
    let capture = Capture::from_bytes(bytes.to_vec()).unwrap();
    let (h, recs) = capture.into_parts();
    for event in Events::new(h, recs) {
        if event.is_err() {
            break;
        }
    }
    Outcome::Done { end, records: out }
}

/// Record start offsets of a complete capture, and its records.
fn boundaries(bytes: &[u8]) -> (u64, Vec<u64>, Vec<Record>) {
    let capture = Capture::from_bytes(bytes.to_vec()).unwrap();
    let body = capture.body_offset();
    let mut records = capture.records();
    let mut offsets = Vec::new();
    let mut all = Vec::new();
    loop {
        offsets.push(records.offset());
        match records.next() {
            Some(r) => all.push(r.unwrap()),
            None => break,
        }
    }
    (body, offsets, all)
}

const CUT_FIXTURES: [&str; 6] = [
    "v13-synthetic",
    "v13-synthetic-aggregated",
    "v11-basic",
    "v10-aggregated",
    "v13-killed",
    "v08-native",
];

#[test]
fn cuts_at_and_inside_every_record_give_truncation_and_a_prefix() {
    for n in CUT_FIXTURES {
        let raw = raw_bytes(&fixtures_dir().join(n).join("capture.bin"));
        let (body, offsets, all) = boundaries(&raw);
        // The killed capture has thousands of records: test a spread of them.
        let step = (offsets.len() / 400).max(1);
        let mut cuts: Vec<u64> = (0..body).collect();
        for o in offsets.iter().step_by(step) {
            cuts.extend([*o, o + 1, o + 2]);
        }
        for cut in cuts {
            let cut = cut.min(raw.len() as u64) as usize;
            match read_all(&raw[..cut]) {
                Outcome::HeaderError(kind) => assert!(
                    (cut as u64) < body
                        && matches!(kind, ErrorKind::HeaderTruncated | ErrorKind::Empty),
                    "{n}: cut at {cut}: header error {kind:?}"
                ),
                Outcome::BodyError { kind, .. } => {
                    panic!("{n}: cut at {cut}: error {kind:?}, expected truncation")
                }
                Outcome::Done { end, records } => {
                    assert!(cut as u64 >= body, "{n}: cut at {cut} inside the header read fine");
                    assert!(
                        records.len() <= all.len() && records[..] == all[..records.len()],
                        "{n}: cut at {cut}: not a prefix"
                    );
                    let complete = records.len() == all.len()
                        && matches!(all.last(), Some(Record::Trailer | Record::AggregatedTrailer));
                    if !complete {
                        assert!(
                            matches!(end, Some(StreamEnd::Truncated(_))),
                            "{n}: cut at {cut}: {end:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn cut_lz4_files_never_panic_and_keep_a_prefix() {
    for n in ["v13-basic", "v10-basic", "v13-aggregated"] {
        let file = std::fs::read(fixtures_dir().join(n).join("capture.bin")).unwrap();
        let (_, _, all) = boundaries(&file);
        for cut in (0..file.len()).step_by(37) {
            match read_all(&file[..cut]) {
                Outcome::HeaderError(_) => {}
                Outcome::BodyError { kind, records } => {
                    assert_eq!(kind, ErrorKind::Lz4Frame, "{n}: cut at {cut}");
                    assert!(records[..] == all[..records.len()], "{n}: cut at {cut}: not a prefix");
                }
                Outcome::Done { records, .. } => {
                    assert!(records[..] == all[..records.len()], "{n}: cut at {cut}: not a prefix")
                }
            }
        }
    }
}

#[test]
fn flipped_bytes_give_an_error_or_records_never_a_panic() {
    for n in [
        "v13-synthetic",
        "v12-synthetic",
        "v13-synthetic-aggregated",
        "v11-basic",
        "v13-nocompress",
        "v11-aggregated",
        "v08-native",
    ] {
        let raw = raw_bytes(&fixtures_dir().join(n).join("capture.bin"));
        let len = raw.iter().rposition(|&b| b != 0).unwrap() + 1;
        let step = (len / 1500).max(1);
        for pos in (0..len).step_by(step) {
            for mask in [0xff, 0x80, 0x01] {
                let mut bytes = raw.clone();
                bytes[pos] ^= mask;
                let _ = read_all(&bytes);
            }
        }
    }
}

#[test]
fn foreign_and_degenerate_inputs_are_typed_errors() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    assert!(matches!(read_all(png), Outcome::HeaderError(ErrorKind::BadMagic)));
    assert!(matches!(read_all(b""), Outcome::HeaderError(ErrorKind::Empty)));
    assert!(matches!(read_all(b"mem"), Outcome::HeaderError(ErrorKind::HeaderTruncated)));
    assert!(matches!(read_all(&[0u8; 4096]), Outcome::HeaderError(ErrorKind::BadMagic)));
    let mut lz4_junk = vec![0x04, 0x22, 0x4d, 0x18];
    lz4_junk.extend((0..200u8).map(|i| i.wrapping_mul(37)));
    assert!(matches!(read_all(&lz4_junk), Outcome::HeaderError(ErrorKind::Lz4Frame)));
    for version in [0i32, 6, 7, 14, -1, i32::MAX] {
        let mut bytes = b"memray\0".to_vec();
        bytes.extend(version.to_le_bytes());
        bytes.extend([0u8; 64]);
        assert!(
            matches!(read_all(&bytes), Outcome::HeaderError(ErrorKind::UnsupportedVersion { found }) if found == version),
            "version {version}"
        );
    }
    // The message names the memray release that reads a refused version.
    let named = |version: i32| ErrorKind::UnsupportedVersion { found: version }.to_string();
    assert!(named(7).contains("memray 1.1"), "{}", named(7));
    assert!(named(14).contains("newer than 1.20"), "{}", named(14));
    assert!(named(0).contains("no released memray"), "{}", named(0));
    // An unknown file-format byte in a v13 header.
    let mut raw = raw_bytes(&fixtures_dir().join("v13-nocompress/capture.bin"));
    raw[16] = 7;
    assert!(matches!(
        read_all(&raw),
        Outcome::HeaderError(ErrorKind::UnknownFileFormat { found: 7 })
    ));
}

#[test]
fn mid_stream_corruption_names_the_record_and_offset() {
    let raw = raw_bytes(&fixtures_dir().join("v13-nocompress/capture.bin"));
    let (_, offsets, _) = boundaries(&raw);
    // 0x03 is not a record type in the streaming layout.
    let at = offsets[10] as usize;
    let mut bytes = raw.clone();
    bytes[at] = 0x03;
    let err = Capture::from_bytes(bytes).unwrap().records().find_map(Result::err).unwrap();
    assert_eq!(err.kind(), ErrorKind::UnknownRecordType { byte: 0x03 });
    assert_eq!(err.offset(), at as u64);
    assert_eq!(err.record_index(), Some(10));
    // An 11-byte varint: the size of an allocation.
    let mut builder = memreport_format::testing::CaptureBuilder::new();
    builder.context_switch(1).byte(0x80 | (15 << 3) | 6).svarint(8).raw(&[0xff; 11]);
    let err =
        Capture::from_bytes(builder.finish()).unwrap().records().find_map(Result::err).unwrap();
    assert_eq!(err.kind(), ErrorKind::VarintOverflow);
    assert_eq!(err.record_index(), Some(1));
    // A code object whose line table claims 100 MiB, followed by 70 MiB of data: an error, not
    // 100 MiB of buffering.
    let mut builder = memreport_format::testing::CaptureBuilder::new();
    builder.byte(0x0e).varint(1).cstr(b"f").cstr(b"f.py").svarint(1).varint(100 << 20);
    builder.raw(&vec![0x55; 70 << 20]);
    let err =
        Capture::from_bytes(builder.finish()).unwrap().records().find_map(Result::err).unwrap();
    assert_eq!(err.kind(), ErrorKind::RecordTooLarge);
}
