//! The capture header (spec §1.5 and Appendix B): the one place where format versions 8 to 13
//! differ in layout before the body starts.
//!
//! | version | memray      | header fields added                                   |
//! |---------|-------------|-------------------------------------------------------|
//! | 8       | 1.2 – 1.3   | (base: magic, version, native, stats, command, pid, allocator) |
//! | 9       | 1.4 – 1.6   | `main_tid`, `skipped_frames_on_main_tid`              |
//! | 10      | 1.7 – 1.10  | `file_format`                                         |
//! | 11      | 1.11 – 1.18 | `trace_python_allocators`                             |
//! | 12      | 1.19        | `python_version`, `track_object_lifetimes`; new record layouts |
//! | 13      | 1.20        | `libdest`, `site_packages`, `sys_path`                |

use crate::error::ErrorKind;
use crate::wire::{self, fail, PResult};

/// Oldest format version this crate reads (memray 1.2.0).
pub const MIN_VERSION: i32 = 8;
/// Newest format version this crate reads (memray 1.20).
pub const MAX_VERSION: i32 = 13;

/// The two body layouts a capture can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Every allocation event, in order (`memray run`, the default).
    AllAllocations,
    /// Pre-aggregated high-water-mark and leak totals per location (`memray run --aggregate`).
    Aggregated,
}

impl FileFormat {
    /// memray's spelling (`ALL_ALLOCATIONS` / `AGGREGATED_ALLOCATIONS`).
    pub fn memray_name(self) -> &'static str {
        match self {
            FileFormat::AllAllocations => "ALL_ALLOCATIONS",
            FileFormat::Aggregated => "AGGREGATED_ALLOCATIONS",
        }
    }

    /// memreport's JSON spelling (`all_allocations` / `aggregated`).
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::AllAllocations => "all_allocations",
            FileFormat::Aggregated => "aggregated",
        }
    }
}

/// The allocator the traced interpreter used for Python objects (`PYTHONMALLOC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PythonAllocator(pub u8);

impl PythonAllocator {
    /// The name memray's reports use ("pymalloc", "malloc", …; "unknown" for other values).
    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "pymalloc",
            2 => "pymalloc debug",
            3 => "malloc",
            5 => "mimalloc",
            6 => "mimalloc debug",
            _ => "unknown",
        }
    }

    /// The name `memray parse` prints, which differs for `malloc` [quirk: it prints "pymalloc"].
    pub fn parse_name(self) -> &'static str {
        match self.0 {
            1 | 3 => "pymalloc",
            2 => "pymalloc debug",
            5 => "mimalloc",
            6 => "mimalloc debug",
            _ => "other",
        }
    }

    /// Whether Python objects bypass pymalloc's arenas, so every object is a libc allocation.
    pub fn is_malloc(self) -> bool {
        self.0 == 3
    }
}

/// The header of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// Format version (8 to 13).
    pub version: i32,
    /// `PY_VERSION_HEX` of the memray build (v12+); only major and minor are meaningful.
    pub python_version: Option<u32>,
    /// The capture has native stacks (`--native`).
    pub native_traces: bool,
    /// Body layout.
    pub file_format: FileFormat,
    /// ALLOCATION records written, as stored (0 in aggregated and truncated captures).
    pub n_allocations: u64,
    /// FRAME_INDEX records written (v8–v11), 0 since v12.
    pub n_frames: u64,
    /// When tracking started, ms since the Unix epoch.
    pub start_time_ms: i64,
    /// When the header was last written, ms since the Unix epoch (≈ start for truncated captures).
    pub end_time_ms: i64,
    /// `" ".join(sys.argv)` of the traced process.
    pub command_line: String,
    /// Process id.
    pub pid: i32,
    /// memray thread id of the thread that started tracking (v9+; 0 before).
    pub main_tid: u64,
    /// Outer frames of the main thread's stacks that belong to memray itself (v9+).
    pub skipped_frames_on_main_tid: u64,
    /// The Python allocator in use.
    pub python_allocator: PythonAllocator,
    /// pymalloc calls were traced (`--trace-python-allocators`, v11+; false before).
    pub trace_python_allocators: bool,
    /// Python object lifetimes were tracked (v12+, Python ≥ 3.13.3).
    pub track_object_lifetimes: bool,
    /// Standard-library directory of the traced interpreter (v13).
    pub libdest: Option<String>,
    /// site-packages directories (v13).
    pub site_packages: Vec<String>,
    /// `sys.path` entries (v13).
    pub sys_path: Vec<String>,
}

impl Header {
    /// Whether the body uses the record layouts of memray 1.19+ (code objects, pointer cache).
    pub fn has_modern_records(&self) -> bool {
        self.version >= 12
    }

    /// Whether the capture stores every event (rather than aggregated totals).
    pub fn is_streaming(&self) -> bool {
        self.file_format == FileFormat::AllAllocations
    }

    /// Whether the header carries `main_tid` (v9+).
    pub fn has_main_tid(&self) -> bool {
        self.version >= 9
    }
}

/// Parses the header; the input starts at byte 0 of the decompressed stream.
pub(crate) fn parse_header(input: &[u8]) -> PResult<'_, Header> {
    let (input, magic) = wire::bytes(input, 7)?;
    if magic != crate::source::MEMRAY_MAGIC {
        return fail(input, ErrorKind::BadMagic);
    }
    let (input, version) = wire::le_i32(input)?;
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return fail(input, ErrorKind::UnsupportedVersion { found: version });
    }
    // v12 moved python_version right after the version field.
    let (input, python_version) = if version >= 12 {
        let (i, v) = wire::le_u32(input)?;
        (i, Some(v))
    } else {
        (input, None)
    };
    let (input, native_traces) = wire::u8(input)?;
    // v10 added the file-format byte after native_traces.
    let (input, file_format) = if version >= 10 {
        let (i, f) = wire::u8(input)?;
        let format = match f {
            0 => FileFormat::AllAllocations,
            1 => FileFormat::Aggregated,
            found => return fail(input, ErrorKind::UnknownFileFormat { found }),
        };
        (i, format)
    } else {
        (input, FileFormat::AllAllocations)
    };
    let (input, n_allocations) = wire::le_u64(input)?;
    let (input, n_frames) = wire::le_u64(input)?;
    let (input, start_time_ms) = wire::le_i64(input)?;
    let (input, end_time_ms) = wire::le_i64(input)?;
    let (input, command_line) = wire::string(input)?;
    let (input, pid) = wire::le_i32(input)?;
    // v9 added the main thread id and the number of memray frames to hide on it.
    let (input, main_tid, skipped_frames_on_main_tid) = if version >= 9 {
        let (i, tid) = wire::le_u64(input)?;
        let (i, skipped) = wire::le_u64(i)?;
        (i, tid, skipped)
    } else {
        (input, 0, 0)
    };
    let (input, python_allocator) = wire::u8(input)?;
    // v11 added trace_python_allocators as the last field.
    let (input, trace_python_allocators) =
        if version >= 11 { wire::u8(input)? } else { (input, 0) };
    // v12 added track_object_lifetimes as the last field.
    let (input, track_object_lifetimes) = if version >= 12 { wire::u8(input)? } else { (input, 0) };
    // v13 added the interpreter's path lists used to classify files into modules.
    let (input, libdest, site_packages, sys_path) = if version >= 13 {
        let (i, libdest) = wire::string(input)?;
        let (i, site) = string_list(i)?;
        let (i, path) = string_list(i)?;
        (i, Some(libdest), site, path)
    } else {
        (input, None, Vec::new(), Vec::new())
    };
    let header = Header {
        version,
        python_version,
        native_traces: native_traces != 0,
        file_format,
        n_allocations,
        n_frames,
        start_time_ms,
        end_time_ms,
        command_line,
        pid,
        main_tid,
        skipped_frames_on_main_tid,
        python_allocator: PythonAllocator(python_allocator),
        trace_python_allocators: trace_python_allocators != 0,
        track_object_lifetimes: track_object_lifetimes != 0,
        libdest,
        site_packages,
        sys_path,
    };
    Ok((input, header))
}

/// Zero or more non-empty strings closed by an empty one.
fn string_list(mut input: &[u8]) -> PResult<'_, Vec<String>> {
    let mut out = Vec::new();
    loop {
        let (rest, s) = wire::cstr(input)?;
        input = rest;
        if s.is_empty() {
            return Ok((input, out));
        }
        out.push(String::from_utf8_lossy(s).into_owned());
    }
}
