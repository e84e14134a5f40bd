//! The record decoder: turns the body bytes into [`Record`]s, one at a time, for the three body
//! layouts (v12+ streaming §2, v8–v11 streaming Appendix B, aggregated §3 and Appendix B).
//!
//! Each record is parsed whole from the byte window before any decoder register changes, so a
//! record cut by the end of the stream leaves the registers as they were and can be reported as
//! truncation. How the stream ended is available from [`Records::end`] once iteration stops.

use nom::Err;

use crate::error::{Error, ErrorKind, Result};
use crate::header::{FileFormat, Header};
use crate::record::{AggregatedAllocation, Allocation, Allocator, CodeObject, LegacyFrame, Record};
use crate::source::ByteStream;
use crate::wire::{self, fail, PResult, WireError};

/// Why and where the body stopped before a trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Stream offset where reading stopped (start of the cut record, or end of data).
    pub offset: u64,
    /// Number of records decoded before the cut.
    pub records_read: u64,
    /// Type byte of a record cut in the middle, if the stream ended inside one.
    pub partial_record_type: Option<u8>,
    /// The file was an LZ4 frame cut before its end mark.
    pub lz4_cut: bool,
    /// The file was a gzip or zstd stream cut before its end (a partial copy or upload).
    pub wrapping_cut: bool,
}

/// How the body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// A trailer record was read: the capture is complete.
    Trailer,
    /// A trailer record was read, and bytes that are not padding follow it from `offset` (two
    /// captures concatenated, or a file written over a longer one). They are not read.
    TrailerThenData {
        /// Where the bytes after the trailer start, in the decompressed stream.
        offset: u64,
    },
    /// The data ended without a trailer (a killed process or a cut file); everything before
    /// `offset` was read.
    Truncated(Truncation),
}

/// Longest record the decoder buffers: real records are at most a few KiB (a code object's line
/// table, a long path), so anything longer is a corrupt length field.
const MAX_RECORD_LEN: usize = 64 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Streaming,
    LegacyStreaming,
    Aggregated,
    LegacyAggregated,
}

/// Decoder registers (spec §2.2; Appendix B for v8–v11). All start at zero.
#[derive(Debug, Default, Clone)]
struct Registers {
    /// The last 15 pointer-cache misses as a ring: entry `i` (0 = newest) is at
    /// `(ptr_head + i) % 15`, so an insertion writes one slot instead of shifting fourteen.
    ptr_cache: [u64; 15],
    ptr_head: usize,
    /// v12+: address >> 3 of the last cache miss. v8–v11: the last full address.
    last_ptr: u64,
    last_native_id: u64,
    last_ip: u64,
    last_firstlineno: i32,
    last_frame_id: u64,
    last_line: i32,
}

impl Registers {
    /// Entry `index` (0 = newest, at most 14) of the pointer cache.
    #[inline]
    fn cached(&self, index: u8) -> u64 {
        self.ptr_cache[(self.ptr_head + usize::from(index)) % 15]
    }

    /// A cache miss becomes entry 0; the oldest entry falls out.
    #[inline]
    fn cache_insert(&mut self, address: u64) {
        self.ptr_head = (self.ptr_head + 14) % 15;
        self.ptr_cache[self.ptr_head] = address;
    }
}

/// Register changes computed by a parse, applied only once the whole record has parsed.
#[derive(Debug, Default, Clone, Copy)]
struct Pending {
    last_ptr: Option<u64>,
    cache_insert: Option<u64>,
    last_native_id: Option<u64>,
    last_ip: Option<u64>,
    last_firstlineno: Option<i32>,
    last_frame_id: Option<u64>,
    last_line: Option<i32>,
}

/// Iterator over the records of a capture body.
///
/// Yields `Ok(record)` until the trailer, the end of the data (truncation) or the first error;
/// after an error it yields nothing more.
pub struct Records {
    stream: ByteStream,
    layout: Layout,
    native: bool,
    start_time: u64,
    regs: Registers,
    index: u64,
    segments_left: u64,
    end: Option<StreamEnd>,
    failed: bool,
    /// Whether [`Records::hot_streaming_record`] may be tried (tests turn it off to compare).
    hot_path: bool,
}

impl Records {
    pub(crate) fn new(stream: ByteStream, header: &Header) -> Records {
        let layout = match (header.file_format, header.has_modern_records()) {
            (FileFormat::AllAllocations, true) => Layout::Streaming,
            (FileFormat::AllAllocations, false) => Layout::LegacyStreaming,
            (FileFormat::Aggregated, true) => Layout::Aggregated,
            (FileFormat::Aggregated, false) => Layout::LegacyAggregated,
        };
        Records {
            stream,
            layout,
            native: header.native_traces,
            start_time: header.start_time_ms as u64,
            regs: Registers::default(),
            index: 0,
            segments_left: 0,
            end: None,
            failed: false,
            hot_path: true,
        }
    }

    /// How the body ended, once the iterator has returned `None` without an error.
    pub fn end(&self) -> Option<StreamEnd> {
        self.end
    }

    /// Whether the capture is LZ4-compressed or wrapped (error offsets are then in its
    /// decompressed stream).
    pub(crate) fn is_decompressed(&self) -> bool {
        self.stream.is_decompressed()
    }

    /// Number of records decoded so far.
    pub fn records_read(&self) -> u64 {
        self.index
    }

    /// Stream offset of the next record.
    pub fn offset(&self) -> u64 {
        self.stream.offset()
    }

    fn truncate(&mut self, partial_record_type: Option<u8>) {
        self.end = Some(StreamEnd::Truncated(Truncation {
            offset: self.stream.offset(),
            records_read: self.index,
            partial_record_type,
            lz4_cut: self.stream.was_cut(),
            wrapping_cut: self.stream.wrapping_was_cut(),
        }));
    }

    fn error(&mut self, kind: ErrorKind, offset: u64) -> Option<Result<Record>> {
        self.failed = true;
        Some(Err(Error::new(kind, offset).at_record(self.index)))
    }

    /// How the stream ends once a trailer was read: anything but padding after it is said.
    fn after_trailer(&mut self) -> StreamEnd {
        let offset = self.stream.offset();
        if self.stream.available().is_empty() && self.stream.fill(1).is_err() {
            return StreamEnd::Trailer;
        }
        if self.stream.available().iter().any(|&b| b != 0) {
            StreamEnd::TrailerThenData { offset }
        } else {
            StreamEnd::Trailer
        }
    }

    fn step(&mut self) -> Option<Result<Record>> {
        if self.end.is_some() || self.failed {
            return None;
        }
        if let Some(record) = self.next_hot() {
            return Some(Ok(record));
        }
        loop {
            let offset = self.stream.offset();
            let avail = self.stream.available();
            if avail.is_empty() {
                if self.stream.at_eof() {
                    // Running out of bytes where a record would start is a clean end of data.
                    self.truncate(None);
                    return None;
                }
                if let Err(e) = self.stream.fill(1) {
                    self.failed = true;
                    return Some(Err(e.at_record(self.index)));
                }
                continue;
            }
            let type_byte = avail[0];
            if type_byte == 0 {
                // Zero is never a record type: either padding after the last record (a capture
                // without trailer) or corruption, if anything non-zero follows.
                return match self.stream.rest_is_zero() {
                    Ok(true) => {
                        self.truncate(None);
                        None
                    }
                    Ok(false) => self.error(ErrorKind::UnknownRecordType { byte: 0 }, offset),
                    Err(e) => {
                        self.failed = true;
                        Some(Err(e.at_record(self.index)))
                    }
                };
            }
            let parsed = match self.layout {
                Layout::Streaming => {
                    parse_streaming(avail, &self.regs, self.native, self.start_time)
                }
                Layout::LegacyStreaming => {
                    parse_legacy_streaming(avail, &self.regs, self.start_time)
                }
                Layout::Aggregated => parse_aggregated(avail, &self.regs, self.native),
                Layout::LegacyAggregated => parse_legacy_aggregated(avail, &self.regs),
            };
            match parsed {
                Ok((rest, (record, pending))) => {
                    let consumed = avail.len() - rest.len();
                    if let Err(kind) = self.check_segment_group(&record) {
                        return self.error(kind, offset);
                    }
                    self.stream.consume(consumed);
                    self.apply(pending);
                    self.index += 1;
                    if matches!(record, Record::Trailer | Record::AggregatedTrailer) {
                        self.end = Some(self.after_trailer());
                    }
                    return Some(Ok(record));
                }
                Err(Err::Incomplete(_)) => {
                    if self.stream.at_eof() {
                        self.truncate(Some(type_byte));
                        return None;
                    }
                    if avail.len() > MAX_RECORD_LEN {
                        return self.error(ErrorKind::RecordTooLarge, offset);
                    }
                    // The window doubles, so a long record is parsed a logarithmic number of
                    // times (a record of many MiB must not be re-parsed once per refill).
                    let want = (avail.len() * 2).clamp(4096, MAX_RECORD_LEN + 1);
                    if let Err(e) = self.stream.fill(want) {
                        self.failed = true;
                        return Some(Err(e.at_record(self.index)));
                    }
                }
                Err(Err::Error(WireError { kind, .. }) | Err::Failure(WireError { kind, .. })) => {
                    return self.error(kind, offset);
                }
            }
        }
    }

    /// The next record, when it is one of the hot records of a v12+ streaming body and whole in
    /// the window; `None` leaves everything as it was for [`Iterator::next`].
    #[inline(always)]
    pub(crate) fn next_hot(&mut self) -> Option<Record> {
        Some(match self.next_hot_raw()? {
            Hot::Allocation(a) => Record::Allocation(a),
            Hot::Push { code_object_id, instruction_offset, is_entry_frame } => {
                Record::FramePush { code_object_id, instruction_offset, is_entry_frame }
            }
            Hot::Pop { count } => Record::FramePop { count },
        })
    }

    /// [`Records::next_hot`] without the general [`Record`]: the event reader's hot loop takes
    /// these three shapes straight from the window.
    #[inline(always)]
    pub(crate) fn next_hot_raw(&mut self) -> Option<Hot> {
        if self.hot_path
            && self.layout == Layout::Streaming
            && self.segments_left == 0
            && self.end.is_none()
            && !self.failed
        {
            self.hot_streaming_record()
        } else {
            None
        }
    }

    /// The fast path for the three records that make up nearly all of a v12+ streaming body
    /// (ALLOCATION, FRAME_PUSH, FRAME_POP), taken when the window holds a whole record of any
    /// of them. Anything else — another record type, a short window, a varint that overflows, an
    /// unknown allocator — returns `None` before touching any state, and the general parser then
    /// reads (or reports) the record exactly as it would have.
    /// `tests::hot_path_matches_general_parser` checks that both paths agree record by record.
    #[inline(always)]
    fn hot_streaming_record(&mut self) -> Option<Hot> {
        let avail = self.stream.available();
        let (hot, used) = decode_hot(avail, &mut self.regs, self.native)?;
        self.stream.consume(used);
        self.index += 1;
        Some(hot)
    }

    /// Decodes hot records one after another from the window, handing each to `each` with the
    /// stream offset where it starts, until `each` says stop (it has then taken that record), the
    /// window runs short or a record is not a hot one. Returns how many it decoded.
    ///
    /// This is the pass's inner loop: the window, the registers and the count stay in locals
    /// for the whole run, instead of being looked up again for every record.
    #[inline(always)]
    pub(crate) fn hot_run(&mut self, mut each: impl FnMut(Hot, u64) -> bool) -> u64 {
        if !(self.hot_path
            && self.layout == Layout::Streaming
            && self.segments_left == 0
            && self.end.is_none()
            && !self.failed)
        {
            return 0;
        }
        let base = self.stream.offset();
        let avail = self.stream.available();
        let mut at = 0;
        let mut n = 0;
        while let Some((hot, used)) = decode_hot(&avail[at..], &mut self.regs, self.native) {
            let start = at;
            at += used;
            n += 1;
            if !each(hot, base + start as u64) {
                break;
            }
        }
        self.stream.consume(at);
        self.index += n;
        n
    }

    /// SEGMENT records must come exactly `num_segments` at a time after their SEGMENT_HEADER.
    fn check_segment_group(&mut self, record: &Record) -> std::result::Result<(), ErrorKind> {
        match record {
            Record::Segment { .. } if self.segments_left > 0 => self.segments_left -= 1,
            Record::Segment { .. } => return Err(ErrorKind::MisplacedSegment),
            _ if self.segments_left > 0 => return Err(ErrorKind::MisplacedSegment),
            Record::SegmentHeader { num_segments, .. } => self.segments_left = *num_segments,
            _ => {}
        }
        Ok(())
    }

    fn apply(&mut self, p: Pending) {
        let r = &mut self.regs;
        if let Some(v) = p.last_ptr {
            r.last_ptr = v;
        }
        if let Some(address) = p.cache_insert {
            r.cache_insert(address);
        }
        if let Some(v) = p.last_native_id {
            r.last_native_id = v;
        }
        if let Some(v) = p.last_ip {
            r.last_ip = v;
        }
        if let Some(v) = p.last_firstlineno {
            r.last_firstlineno = v;
        }
        if let Some(v) = p.last_frame_id {
            r.last_frame_id = v;
        }
        if let Some(v) = p.last_line {
            r.last_line = v;
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        let lz4 = self.stream.is_decompressed();
        self.step().map(|r| r.map_err(|e| e.of_lz4(lz4)))
    }
}

/// The three records of the hot path, as [`Records::next_hot_raw`] gives them.
pub(crate) enum Hot {
    Allocation(Allocation),
    Push { code_object_id: u64, instruction_offset: i32, is_entry_frame: bool },
    Pop { count: u8 },
}

/// The longest ALLOCATION record: type byte, address delta (10), allocator byte, native delta
/// (10) and size (10). FRAME_PUSH and FRAME_POP are shorter.
const HOT_RECORD_MAX: usize = 32;

/// Runs a wire parser on the front of `rest` and advances past what it read. Any failure
/// becomes `None` for the hot path, which leaves the record to the general parser (truncation
/// cannot happen there: the window holds a whole record of any hot type).
#[inline]
fn take<'a, T>(rest: &mut &'a [u8], parse: fn(&'a [u8]) -> PResult<'a, T>) -> Option<T> {
    let (after, value) = parse(rest).ok()?;
    *rest = after;
    Some(value)
}

/// One hot record (ALLOCATION, FRAME_PUSH or FRAME_POP) from the front of `avail`, with its
/// length, when `avail` holds at least [`HOT_RECORD_MAX`] bytes. It decodes straight into the
/// registers, without the staged [`Pending`] changes the general parser needs for records that
/// may be cut, and changes them only once the whole record is read: `None` leaves them as they
/// were.
#[inline(always)]
fn decode_hot(avail: &[u8], regs: &mut Registers, native: bool) -> Option<(Hot, usize)> {
    if avail.len() < HOT_RECORD_MAX {
        return None;
    }
    let t = avail[0];
    let mut rest = &avail[1..];
    let record = if t & 0x80 != 0 {
        let index = (t >> 3) & 0x0f;
        let miss = if index == 15 {
            Some(regs.last_ptr.wrapping_add(take(&mut rest, wire::svarint)? as u64))
        } else {
            None
        };
        let id = if t & 0x07 != 0 {
            t & 0x07
        } else {
            let (&id, after) = rest.split_first()?;
            rest = after;
            id
        };
        let allocator = Allocator::from_id(id)?;
        let native_frame_id = if native && allocator.has_size() {
            Some(regs.last_native_id.wrapping_add(take(&mut rest, wire::svarint)? as u64))
        } else {
            None
        };
        let size = if allocator.has_size() { take(&mut rest, wire::uvarint)? } else { 0 };
        // The whole record is read: only now do the registers change.
        let address = match miss {
            Some(shifted) => {
                regs.last_ptr = shifted;
                regs.cache_insert(shifted << 3);
                shifted << 3
            }
            None => regs.cached(index),
        };
        if let Some(id) = native_frame_id {
            regs.last_native_id = id;
        }
        Hot::Allocation(Allocation { address, size, allocator, native_frame_id })
    } else if t & 0x40 != 0 {
        let code_object_id = take(&mut rest, wire::uvarint)?;
        let offset = take(&mut rest, wire::svarint)?;
        Hot::Push { code_object_id, instruction_offset: offset as i32, is_entry_frame: t & 1 != 0 }
    } else if t & 0x30 == 0x10 {
        Hot::Pop { count: (t & 0x0f) + 1 }
    } else {
        return None;
    };
    Some((record, avail.len() - rest.len()))
}

type Parsed<'a> = PResult<'a, (Record, Pending)>;

fn done(input: &[u8], record: Record, pending: Pending) -> Parsed<'_> {
    Ok((input, (record, pending)))
}

/// The address of an ALLOCATION or OBJECT_RECORD: a pointer-cache hit, or a delta of address>>3.
#[inline]
fn cached_address<'a>(
    input: &'a [u8],
    regs: &Registers,
    index: u8,
    pending: &mut Pending,
) -> PResult<'a, u64> {
    if index == 15 {
        let (input, delta) = wire::svarint(input)?;
        let shifted = regs.last_ptr.wrapping_add(delta as u64);
        let address = shifted << 3;
        pending.last_ptr = Some(shifted);
        pending.cache_insert = Some(address);
        Ok((input, address))
    } else {
        // A hit does not reorder the cache: it is a FIFO of the last 15 misses.
        Ok((input, regs.cached(index)))
    }
}

#[inline]
fn native_delta<'a>(input: &'a [u8], regs: &Registers, pending: &mut Pending) -> PResult<'a, u64> {
    let (input, delta) = wire::svarint(input)?;
    let id = regs.last_native_id.wrapping_add(delta as u64);
    pending.last_native_id = Some(id);
    Ok((input, id))
}

fn native_trace_index<'a>(input: &'a [u8], regs: &Registers) -> Parsed<'a> {
    let mut pending = Pending::default();
    let (input, dip) = wire::svarint(input)?;
    let ip = regs.last_ip.wrapping_add(dip as u64);
    pending.last_ip = Some(ip);
    let (input, parent) = native_delta(input, regs, &mut pending)?;
    done(input, Record::NativeTraceIndex { ip, parent }, pending)
}

fn segment_header(input: &[u8]) -> Parsed<'_> {
    let (input, filename) = wire::cstr(input)?;
    let (input, num_segments) = wire::uvarint(input)?;
    let (input, load_address) = wire::le_u64(input)?;
    let record = Record::SegmentHeader { filename: filename.to_vec(), num_segments, load_address };
    done(input, record, Pending::default())
}

fn segment(input: &[u8]) -> Parsed<'_> {
    let (input, vaddr) = wire::le_u64(input)?;
    let (input, memsz) = wire::uvarint(input)?;
    done(input, Record::Segment { vaddr, memsz }, Pending::default())
}

fn thread_record(input: &[u8]) -> Parsed<'_> {
    let (input, name) = wire::cstr(input)?;
    done(input, Record::ThreadRecord { name: name.to_vec() }, Pending::default())
}

fn context_switch(input: &[u8]) -> Parsed<'_> {
    let (input, tid) = wire::le_u64(input)?;
    done(input, Record::ContextSwitch { tid }, Pending::default())
}

fn memory_record(input: &[u8], start_time: u64) -> Parsed<'_> {
    let (input, rss) = wire::uvarint(input)?;
    let (input, delta) = wire::uvarint(input)?;
    // The writer stores `timestamp - start_time` as unsigned, so earlier times wrap around.
    let record = Record::MemoryRecord { rss, ms_since_epoch: start_time.wrapping_add(delta) };
    done(input, record, Pending::default())
}

fn code_object<'a>(input: &'a [u8], regs: &Registers) -> Parsed<'a> {
    let mut pending = Pending::default();
    let (input, id) = wire::uvarint(input)?;
    let (input, function_name) = wire::string(input)?;
    let (input, filename) = wire::string(input)?;
    let (input, delta) = wire::svarint(input)?;
    // The firstlineno register is a 32-bit int: it wraps at 32 bits.
    let firstlineno = regs.last_firstlineno.wrapping_add(delta as i32);
    pending.last_firstlineno = Some(firstlineno);
    let (input, len) = wire::uvarint(input)?;
    let (input, table) = wire::bytes(input, len)?;
    let record = Record::CodeObject(Box::new(CodeObject {
        id,
        function_name,
        filename,
        firstlineno,
        linetable: table.to_vec(),
    }));
    done(input, record, pending)
}

fn modern_allocator(input: &[u8], id: u8) -> PResult<'_, Allocator> {
    match Allocator::from_id(id) {
        Some(a) => Ok((input, a)),
        None => fail(input, ErrorKind::UnknownAllocator { id }),
    }
}

/// One record of the v12+ streaming layout (spec §2.1, §2.3).
fn parse_streaming<'a>(input: &'a [u8], regs: &Registers, native: bool, start: u64) -> Parsed<'a> {
    let t = input[0];
    let body = &input[1..];
    if t & 0x80 != 0 {
        let mut pending = Pending::default();
        let (body, address) = cached_address(body, regs, (t >> 3) & 0x0f, &mut pending)?;
        let (body, id) = if t & 0x07 != 0 { (body, t & 0x07) } else { wire::u8(body)? };
        let (body, allocator) = modern_allocator(body, id)?;
        let (body, native_frame_id) = if native && allocator.has_size() {
            let (b, id) = native_delta(body, regs, &mut pending)?;
            (b, Some(id))
        } else {
            (body, None)
        };
        let (body, size) = if allocator.has_size() { wire::uvarint(body)? } else { (body, 0) };
        let record = Record::Allocation(Allocation { address, size, allocator, native_frame_id });
        return done(body, record, pending);
    }
    if t & 0x40 != 0 {
        let (body, code_object_id) = wire::uvarint(body)?;
        let (body, offset) = wire::svarint(body)?;
        let record = Record::FramePush {
            code_object_id,
            instruction_offset: offset as i32,
            is_entry_frame: t & 1 != 0,
        };
        return done(body, record, Pending::default());
    }
    if t & 0x20 != 0 {
        let mut pending = Pending::default();
        let created = t & 1 != 0;
        let (body, address) = cached_address(body, regs, (t >> 1) & 0x0f, &mut pending)?;
        let (body, native_frame_id) = if native && created {
            let (b, id) = native_delta(body, regs, &mut pending)?;
            (b, Some(id))
        } else {
            (body, None)
        };
        return done(body, Record::ObjectRecord { address, created, native_frame_id }, pending);
    }
    if t & 0x10 != 0 {
        return done(body, Record::FramePop { count: (t & 0x0f) + 1 }, Pending::default());
    }
    match t {
        0x01 => done(body, Record::Trailer, Pending::default()),
        0x02 => memory_record(body, start),
        0x0e => code_object(body, regs),
        _ => global_record(input, regs),
    }
}

/// One record of the v8–v11 streaming layout: type in the low nibble, flags in the high one.
fn parse_legacy_streaming<'a>(input: &'a [u8], regs: &Registers, start: u64) -> Parsed<'a> {
    let t = input[0];
    let body = &input[1..];
    let flags = t >> 4;
    match t & 0x0f {
        0 if flags == 1 => done(body, Record::Trailer, Pending::default()),
        1 | 2 => {
            let with_native = t & 0x0f == 2;
            let allocator = match Allocator::from_legacy_id(flags) {
                Some(a) => a,
                None => return fail(input, ErrorKind::UnknownAllocator { id: flags }),
            };
            let mut pending = Pending::default();
            let (body, delta) = wire::svarint(body)?;
            let address = regs.last_ptr.wrapping_add(delta as u64);
            pending.last_ptr = Some(address);
            let (body, size) =
                if with_native || allocator.has_size() { wire::uvarint(body)? } else { (body, 0) };
            let (body, native_frame_id) = if with_native {
                let (b, id) = native_delta(body, regs, &mut pending)?;
                (b, Some(id))
            } else {
                (body, None)
            };
            let record =
                Record::Allocation(Allocation { address, size, allocator, native_frame_id });
            done(body, record, pending)
        }
        3 => {
            let mut pending = Pending::default();
            let (body, delta) = wire::svarint(body)?;
            let frame_id = regs.last_frame_id.wrapping_add(delta as u64);
            pending.last_frame_id = Some(frame_id);
            let (body, function_name) = wire::string(body)?;
            let (body, filename) = wire::string(body)?;
            let (body, dline) = wire::svarint(body)?;
            let lineno = regs.last_line.wrapping_add(dline as i32);
            pending.last_line = Some(lineno);
            let frame = LegacyFrame {
                frame_id,
                function_name,
                filename,
                lineno,
                is_entry_frame: flags & 1 == 0,
            };
            done(body, Record::LegacyFrameIndex(Box::new(frame)), pending)
        }
        4 => {
            let mut pending = Pending::default();
            let (body, delta) = wire::svarint(body)?;
            let frame_id = regs.last_frame_id.wrapping_add(delta as u64);
            pending.last_frame_id = Some(frame_id);
            done(body, Record::LegacyFramePush { frame_id }, pending)
        }
        5 => native_trace_index(body, regs),
        6 => done(body, Record::MemoryMapStart, Pending::default()),
        7 => segment_header(body),
        8 if t == 0x08 => segment(body),
        9 => done(body, Record::FramePop { count: flags + 1 }, Pending::default()),
        10 => thread_record(body),
        11 => memory_record(body, start),
        12 => context_switch(body),
        _ => fail(input, ErrorKind::UnknownRecordType { byte: t }),
    }
}

fn memory_snapshot(input: &[u8]) -> Parsed<'_> {
    let (input, ms_since_epoch) = wire::le_u64(input)?;
    let (input, rss) = wire::le_u64(input)?;
    let (input, heap) = wire::le_u64(input)?;
    done(input, Record::MemorySnapshot { ms_since_epoch, rss, heap }, Pending::default())
}

/// The 72-byte AGGREGATED_ALLOCATION struct; bytes 9–15 are uninitialised padding.
fn aggregated_allocation(input: &[u8], legacy: bool) -> Parsed<'_> {
    let (input, raw) = wire::bytes(input, 72)?;
    let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().unwrap_or([0; 8]));
    let id = raw[8];
    let allocator = if legacy { Allocator::from_legacy_id(id) } else { Allocator::from_id(id) };
    let Some(allocator) = allocator else {
        return fail(input, ErrorKind::UnknownAllocator { id });
    };
    let record = Record::AggregatedAllocation(Box::new(AggregatedAllocation {
        tid: word(0),
        allocator,
        native_frame_id: word(16),
        python_node: word(24),
        native_segment_generation: word(32),
        n_allocations_in_high_water_mark: word(40),
        n_allocations_leaked: word(48),
        bytes_in_high_water_mark: word(56),
        bytes_leaked: word(64),
    }));
    done(input, record, Pending::default())
}

/// One record of the v12+ aggregated layout (spec §3).
fn parse_aggregated<'a>(input: &'a [u8], regs: &Registers, native: bool) -> Parsed<'a> {
    let t = input[0];
    let body = &input[1..];
    match t {
        0x02 => aggregated_allocation(body, false),
        0x03 => {
            let (body, frame_id) = wire::uvarint(body)?;
            let (body, parent_index) = wire::uvarint(body)?;
            done(body, Record::PythonTraceIndex { frame_id, parent_index }, Pending::default())
        }
        0x04 => {
            let (body, frame_id) = wire::uvarint(body)?;
            let (body, code_object_id) = wire::uvarint(body)?;
            let (body, offset) = wire::svarint(body)?;
            let (body, entry) = wire::u8(body)?;
            let record = Record::PythonFrameIndex {
                frame_id,
                code_object_id,
                instruction_offset: offset as i32,
                is_entry_frame: entry != 0,
            };
            done(body, record, Pending::default())
        }
        0x0d => {
            let (body, shifted) = wire::uvarint(body)?;
            let (body, native_frame_id) = if native {
                let (b, id) = wire::uvarint(body)?;
                (b, Some(id))
            } else {
                (body, None)
            };
            let record = Record::SurvivingObject { address: shifted << 3, native_frame_id };
            done(body, record, Pending::default())
        }
        0x0e => code_object(body, regs),
        _ => aggregated_common(input, regs),
    }
}

/// Records that both aggregated layouts encode the same way (and the end of the body).
fn aggregated_common<'a>(input: &'a [u8], regs: &Registers) -> Parsed<'a> {
    let body = &input[1..];
    match input[0] {
        0x01 => memory_snapshot(body),
        0x0f => done(body, Record::AggregatedTrailer, Pending::default()),
        _ => global_record(input, regs),
    }
}

/// Records with the same type byte and payload in the v12+ streaming layout and in both aggregated
/// layouts: native nodes, memory maps, thread names and context switches.
fn global_record<'a>(input: &'a [u8], regs: &Registers) -> Parsed<'a> {
    let body = &input[1..];
    match input[0] {
        0x05 => native_trace_index(body, regs),
        0x06 => done(body, Record::MemoryMapStart, Pending::default()),
        0x07 => segment_header(body),
        0x08 => segment(body),
        0x0a => thread_record(body),
        0x0c => context_switch(body),
        byte => fail(input, ErrorKind::UnknownRecordType { byte }),
    }
}

/// One record of the v10–v11 aggregated layout (Appendix B): fixed-width frame and trace indexes.
fn parse_legacy_aggregated<'a>(input: &'a [u8], regs: &Registers) -> Parsed<'a> {
    let t = input[0];
    let body = &input[1..];
    match t {
        0x02 => aggregated_allocation(body, true),
        0x03 => {
            let (body, frame_id) = wire::le_u64(body)?;
            let (body, parent) = wire::le_u32(body)?;
            let record = Record::PythonTraceIndex { frame_id, parent_index: u64::from(parent) };
            done(body, record, Pending::default())
        }
        0x04 => {
            let (body, frame_id) = wire::le_u64(body)?;
            let (body, function_name) = wire::string(body)?;
            let (body, filename) = wire::string(body)?;
            let (body, lineno) = wire::le_i32(body)?;
            let (body, entry) = wire::u8(body)?;
            let frame = LegacyFrame {
                frame_id,
                function_name,
                filename,
                lineno,
                is_entry_frame: entry != 0,
            };
            done(body, Record::LegacyPythonFrameIndex(Box::new(frame)), Pending::default())
        }
        _ => aggregated_common(input, regs),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::Capture;

    /// Every capture the repository holds: the fixtures and the fuzzer's regression inputs.
    fn captures() -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut out = Vec::new();
        for dir in ["fixtures", "tests/regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir)) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    out.extend(std::fs::read_dir(&path).unwrap().flatten().map(|e| e.path()));
                } else {
                    out.push(path);
                }
            }
        }
        out.retain(|p| p.extension().is_some_and(|e| e == "bin"));
        out.sort();
        out
    }

    /// Every record, error and end, as text, with or without the hot path.
    fn decode(path: &Path, hot_path: bool) -> Vec<String> {
        let capture = match Capture::open(path) {
            Ok(c) => c,
            Err(e) => return vec![format!("{e:?}")],
        };
        let (_, mut records) = capture.into_parts();
        records.hot_path = hot_path;
        let mut out: Vec<String> = records.by_ref().map(|r| format!("{r:?}")).collect();
        out.push(format!("{:?} at {} after {}", records.end(), records.offset(), records.index));
        out
    }

    #[test]
    fn hot_path_matches_general_parser() {
        let paths = captures();
        assert!(paths.len() > 50, "found only {} captures", paths.len());
        let mut hot_records = 0;
        for path in &paths {
            let general = decode(path, false);
            let hot = decode(path, true);
            assert_eq!(general.len(), hot.len(), "{}", path.display());
            for (i, (a, b)) in general.iter().zip(&hot).enumerate() {
                assert_eq!(a, b, "{} record {i}", path.display());
            }
            hot_records += general.len();
        }
        assert!(hot_records > 1_000_000, "only {hot_records} records compared");
    }

    /// Every event, error and end, as text, through `Events::fill` in batches of `batch` (or
    /// through `Iterator::next` for 0).
    fn events(path: &Path, batch: usize) -> Vec<String> {
        let capture = match Capture::open(path) {
            Ok(c) => c,
            Err(e) => return vec![format!("{e:?}")],
        };
        let (header, records) = capture.into_parts();
        let mut events = crate::events::Events::new(header, records);
        let mut out: Vec<String> = Vec::new();
        if batch == 0 {
            out.extend(events.by_ref().map(|e| format!("{e:?}")));
        } else {
            let mut buffer = Vec::new();
            loop {
                buffer.clear();
                let filled = events.fill(&mut buffer, batch);
                out.extend(buffer.iter().map(|e| format!("{:?}", Ok::<_, ()>(e))));
                match filled {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        out.push(format!("{:?}", Err::<(), _>(e)));
                        // Nothing more after an error.
                        assert_eq!(events.fill(&mut buffer, batch).ok(), Some(false));
                        break;
                    }
                }
            }
        }
        out.push(format!("{:?} at {} {:?}", events.end(), events.offset(), events.counts()));
        out
    }

    #[test]
    fn batched_events_match_one_at_a_time() {
        for path in captures() {
            let one = events(&path, 0);
            for batch in [3, 2048] {
                let batched = events(&path, batch);
                assert_eq!(one.len(), batched.len(), "{} batch {batch}", path.display());
                for (i, (a, b)) in one.iter().zip(&batched).enumerate() {
                    assert_eq!(a, b, "{} batch {batch} item {i}", path.display());
                }
            }
        }
    }
}
