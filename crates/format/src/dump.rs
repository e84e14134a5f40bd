//! The text form of `memray parse`: one line per record, byte for byte as memray prints it, so the
//! two outputs can be diffed.
//!
//! memray formats with C `printf`, and its quirks are copied here: `%p` prints address 0 as
//! `(nil)` (glibc), sizes go through `%zd` (so values ≥ 2⁶³ print negative), segment sizes are hex
//! without `0x`, and SURVIVING_OBJECT prints its address with a doubled `0x` prefix. Records of
//! format versions 8–11 follow the spelling of memray 1.10's `parse` (`FRAME_ID`, hex RSS).

use std::io::{self, Write};

use crate::header::{FileFormat, Header};
use crate::record::Record;
use crate::{Capture, Error, StreamEnd};

/// Why [`write_capture`] stopped.
#[derive(Debug)]
pub enum DumpError {
    /// The capture is corrupt (an error with its offset); what came before it was written.
    Read(Error),
    /// The output could not be written.
    Write(io::Error),
}

/// Writes a whole capture as `memray parse` does: the header line, then one line per record.
/// Returns how the stream ended, so the caller can warn about a truncated capture.
///
/// memray prints a record's name before its payload, so a record cut by the end of the data
/// leaves that name on the last line without a newline \[quirk\]; it is printed the same.
pub fn write_capture(
    out: &mut dyn Write,
    capture: Capture,
) -> Result<Option<StreamEnd>, DumpError> {
    let header = capture.header().clone();
    write_header(out, &header).map_err(DumpError::Write)?;
    let mut records = capture.records();
    for record in &mut records {
        let record = record.map_err(DumpError::Read)?;
        write_record(out, &header, &record).map_err(DumpError::Write)?;
    }
    if let Some(StreamEnd::Truncated(t)) = records.end() {
        if let Some(prefix) = t.partial_record_type.and_then(|b| partial_prefix(&header, b)) {
            out.write_all(prefix.as_bytes()).map_err(DumpError::Write)?;
        }
    }
    Ok(records.end())
}

/// glibc's `%p`: `(nil)` for 0, else `0x` and lower-case hex.
struct Ptr(u64);

impl std::fmt::Display for Ptr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            f.write_str("(nil)")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// `%zd` of a `size_t`: the value reinterpreted as signed.
fn zd(v: u64) -> i64 {
    v as i64
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Writes the `HEADER …` line (with its newline).
pub fn write_header(out: &mut dyn Write, h: &Header) -> io::Result<()> {
    let bool_str = |b: bool| if b { "true" } else { "false" };
    write!(out, "HEADER magic=memray version={}", h.version)?;
    if let Some(pv) = h.python_version {
        write!(out, " python_version={pv:08x}")?;
    }
    write!(out, " native_traces={}", bool_str(h.native_traces))?;
    if h.version >= 10 {
        write!(out, " file_format={}", h.file_format.memray_name())?;
    }
    write!(
        out,
        " n_allocations={} n_frames={} start_time={} end_time={} pid={}",
        zd(h.n_allocations),
        zd(h.n_frames),
        h.start_time_ms,
        h.end_time_ms,
        h.pid
    )?;
    if h.has_main_tid() {
        write!(
            out,
            " main_tid={} skipped_frames_on_main_tid={}",
            h.main_tid,
            zd(h.skipped_frames_on_main_tid)
        )?;
    }
    write!(out, " command_line={}", h.command_line)?;
    write!(out, " python_allocator={}", h.python_allocator.parse_name())?;
    if h.version >= 11 {
        write!(out, " trace_python_allocators={}", bool_str(h.trace_python_allocators))?;
    }
    if h.version >= 12 {
        write!(out, " track_object_lifetimes={}", bool_str(h.track_object_lifetimes))?;
    }
    if let Some(libdest) = &h.libdest {
        write!(
            out,
            " libdest={} site_packages={} sys.path={}",
            libdest,
            list(&h.site_packages),
            list(&h.sys_path)
        )?;
    }
    writeln!(out)
}

/// Writes one record line (with its newline).
pub fn write_record(out: &mut dyn Write, h: &Header, record: &Record) -> io::Result<()> {
    let modern = h.has_modern_records();
    let aggregated = h.file_format == FileFormat::Aggregated;
    match record {
        Record::Allocation(a) => {
            if modern {
                writeln!(
                    out,
                    "ALLOCATION address={} size={} allocator={} native_frame_id={}",
                    Ptr(a.address),
                    zd(a.size),
                    a.allocator.name(),
                    zd(a.native_frame_id.unwrap_or(0))
                )
            } else if let Some(native) = a.native_frame_id {
                writeln!(
                    out,
                    "ALLOCATION_WITH_NATIVE address={} size={} allocator={} native_frame_id={}",
                    Ptr(a.address),
                    zd(a.size),
                    a.allocator.name(),
                    zd(native)
                )
            } else {
                writeln!(
                    out,
                    "ALLOCATION address={} size={} allocator={}",
                    Ptr(a.address),
                    zd(a.size),
                    a.allocator.name()
                )
            }
        }
        Record::FramePush { code_object_id, instruction_offset, is_entry_frame } => writeln!(
            out,
            "FRAME_PUSH code_object_id={} instruction_offset={} is_entry_frame={}",
            zd(*code_object_id),
            instruction_offset,
            u8::from(*is_entry_frame)
        ),
        Record::LegacyFramePush { frame_id } => writeln!(out, "FRAME_PUSH frame_id={}", zd(*frame_id)),
        Record::FramePop { count } => writeln!(out, "FRAME_POP count={count}"),
        Record::ObjectRecord { address, native_frame_id, .. } => writeln!(
            out,
            "OBJECT_RECORD address={} native_frame_id={}",
            Ptr(*address),
            zd(native_frame_id.unwrap_or(0))
        ),
        Record::Trailer => writeln!(out, "TRAILER"),
        Record::MemoryRecord { rss, ms_since_epoch } => {
            if modern {
                writeln!(out, "MEMORY_RECORD time={} memory={}", ms_since_epoch, zd(*rss))
            } else {
                writeln!(out, "MEMORY_RECORD time={} memory={:x}", *ms_since_epoch as i64, rss)
            }
        }
        Record::NativeTraceIndex { ip, parent } => {
            let name = if aggregated { "NATIVE_TRACE_INDEX" } else { "NATIVE_FRAME_ID" };
            writeln!(out, "{name} ip={} index={}", Ptr(*ip), parent)
        }
        Record::MemoryMapStart => writeln!(out, "MEMORY_MAP_START"),
        Record::SegmentHeader { filename, num_segments, load_address } => {
            out.write_all(b"SEGMENT_HEADER filename=")?;
            out.write_all(filename)?;
            writeln!(out, " num_segments={} addr={}", zd(*num_segments), Ptr(*load_address))
        }
        Record::Segment { vaddr, memsz } => writeln!(out, "SEGMENT {} {:x}", Ptr(*vaddr), memsz),
        Record::ThreadRecord { name } => {
            out.write_all(if aggregated { b"THREAD_RECORD " } else { b"THREAD " })?;
            out.write_all(name)?;
            writeln!(out)
        }
        Record::ContextSwitch { tid } => writeln!(out, "CONTEXT_SWITCH tid={tid}"),
        Record::CodeObject(c) => writeln!(
            out,
            "CODE_OBJECT code_id={} function_name={} filename={} firstlineno={} linetable_size={}",
            zd(c.id),
            c.function_name,
            c.filename,
            c.firstlineno,
            c.linetable.len()
        ),
        Record::LegacyFrameIndex(f) => writeln!(
            out,
            "FRAME_ID frame_id={} function_name={} filename={} lineno={} is_entry_frame={}",
            zd(f.frame_id),
            f.function_name,
            f.filename,
            f.lineno,
            u8::from(f.is_entry_frame)
        ),
        Record::MemorySnapshot { ms_since_epoch, rss, heap } => {
            writeln!(out, "MEMORY_SNAPSHOT time={} rss={} heap={}", ms_since_epoch, zd(*rss), zd(*heap))
        }
        Record::AggregatedAllocation(a) => writeln!(
            out,
            "AGGREGATED_ALLOCATION tid={} allocator={} native_frame_id={} python_frame_id={} \
             native_segment_generation={} n_allocations_in_high_water_mark={} \
             n_allocations_leaked={} bytes_in_high_water_mark={} bytes_leaked={}",
            a.tid,
            a.allocator.name(),
            zd(a.native_frame_id),
            zd(a.python_node),
            zd(a.native_segment_generation),
            zd(a.n_allocations_in_high_water_mark),
            zd(a.n_allocations_leaked),
            zd(a.bytes_in_high_water_mark),
            zd(a.bytes_leaked)
        ),
        Record::PythonFrameIndex { frame_id, code_object_id, instruction_offset, is_entry_frame } => {
            writeln!(
                out,
                "PYTHON_FRAME_INDEX frame_id={} code_object_id={} instruction_offset={} is_entry_frame={}",
                zd(*frame_id),
                zd(*code_object_id),
                instruction_offset,
                u8::from(*is_entry_frame)
            )
        }
        Record::LegacyPythonFrameIndex(f) => writeln!(
            out,
            "PYTHON_FRAME_INDEX frame_id={} function_name={} filename={} lineno={} is_entry_frame={}",
            zd(f.frame_id),
            f.function_name,
            f.filename,
            f.lineno,
            u8::from(f.is_entry_frame)
        ),
        Record::PythonTraceIndex { frame_id, parent_index } => {
            writeln!(out, "PYTHON_TRACE_INDEX frame_id={} parent_index={}", zd(*frame_id), zd(*parent_index))
        }
        Record::SurvivingObject { address, native_frame_id } => writeln!(
            out,
            "SURVIVING_OBJECT address=0x{} native_frame_id={}",
            Ptr(*address),
            native_frame_id.unwrap_or(0)
        ),
        Record::AggregatedTrailer => writeln!(out, "AGGREGATED_TRAILER"),
    }
}

/// What `memray parse` has already printed when the data ends inside a record of this type: it
/// prints the record name before parsing the payload, and stops without a newline.
pub fn partial_prefix(h: &Header, type_byte: u8) -> Option<&'static str> {
    let aggregated = h.file_format == FileFormat::Aggregated;
    if aggregated {
        return Some(match type_byte {
            0x01 => "MEMORY_SNAPSHOT ",
            0x02 => "AGGREGATED_ALLOCATION ",
            0x03 => "PYTHON_TRACE_INDEX ",
            0x04 => "PYTHON_FRAME_INDEX ",
            0x05 => "NATIVE_TRACE_INDEX ",
            0x07 => "SEGMENT_HEADER ",
            0x08 => "SEGMENT ",
            0x0a => "THREAD_RECORD ",
            0x0c => "CONTEXT_SWITCH ",
            0x0d => "SURVIVING_OBJECT ",
            0x0e => "CODE_OBJECT ",
            _ => return None,
        });
    }
    if h.has_modern_records() {
        let t = type_byte;
        return Some(if t & 0x80 != 0 {
            "ALLOCATION "
        } else if t & 0x40 != 0 {
            "FRAME_PUSH "
        } else if t & 0x20 != 0 {
            "OBJECT_RECORD "
        } else {
            match t {
                0x02 => "MEMORY_RECORD ",
                0x05 => "NATIVE_FRAME_ID ",
                0x07 => "SEGMENT_HEADER ",
                0x08 => "SEGMENT ",
                0x0a => "THREAD ",
                0x0c => "CONTEXT_SWITCH ",
                0x0e => "CODE_OBJECT ",
                _ => return None,
            }
        });
    }
    Some(match type_byte & 0x0f {
        1 => "ALLOCATION ",
        2 => "ALLOCATION_WITH_NATIVE ",
        3 => "FRAME_ID ",
        4 => "FRAME_PUSH ",
        5 => "NATIVE_FRAME_ID ",
        7 => "SEGMENT_HEADER ",
        8 => "SEGMENT ",
        10 => "THREAD ",
        11 => "MEMORY_RECORD ",
        12 => "CONTEXT_SWITCH ",
        _ => return None,
    })
}
