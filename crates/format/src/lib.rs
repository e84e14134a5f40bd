//! Streaming reader for the capture files of [memray](https://github.com/bloomberg/memray), the
//! memory profiler for Python: format versions 8 (memray 1.2) to 13 (memray 1.20), both file
//! formats (all allocations and `--aggregate`), LZ4-compressed or raw, complete or truncated.
//!
//! # Brief overview
//!
//! * [`Capture`] opens a file (or bytes), detects LZ4, parses the [`Header`] and hands out the
//!   body as [`Records`], an iterator of decoded [`Record`]s. Nothing but a small window of the
//!   decompressed stream is ever in memory, so captures of any size can be read.
//! * [`events::Events`] follows the records the way memray's reader does: per-thread Python stacks,
//!   the trace tree, code objects, native nodes, memory maps and thread names, and yields one
//!   [`events::Event`] per allocation or memory sample, with its stack as a trace-tree node.
//! * [`dump`] prints records in the text of `memray parse`.
//! * Errors are an [`Error`] with an [`ErrorKind`], the byte offset in the decompressed stream and
//!   the record index. A capture that ends without a trailer (a killed process) is not an error:
//!   [`Records::end`] reports [`StreamEnd::Truncated`].
//!
//! The byte-level specification is `docs/memray-format.md` of the memreport repository.
//!
//! # Example
//!
//! ```
//! use memreport_format::{Capture, Record};
//!
//! # fn main() -> Result<(), memreport_format::Error> {
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-basic/capture.bin");
//! let capture = Capture::open(path)?;
//! assert_eq!(capture.header().version, 13);
//! let mut records = capture.records();
//! let mut n_allocations = 0;
//! for record in &mut records {
//!     if let Record::Allocation(_) = record? {
//!         n_allocations += 1;
//!     }
//! }
//! assert!(n_allocations > 0);
//! assert!(matches!(records.end(), Some(memreport_format::StreamEnd::Trailer)));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod dump;
mod error;
pub mod events;
mod header;
mod linetable;
mod record;
mod records;
mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod wire;
mod wrapping;

use std::path::Path;

pub use error::{Error, ErrorKind, Result};
pub use header::{FileFormat, Header, PythonAllocator, MAX_VERSION, MIN_VERSION};
pub use linetable::CharSignedness;
pub use record::{
    AggregatedAllocation, Allocation, Allocator, AllocatorKind, CodeObject, LegacyFrame, Record,
};
pub use records::{Records, StreamEnd, Truncation};
pub use source::Storage;
pub use wrapping::Wrapping;

use source::{ByteStream, Source};

/// The longest header read: memray's headers are a few KiB (the command line and the
/// interpreter's path lists); 16 MiB leaves room for any real one.
pub const MAX_HEADER_BYTES: u64 = 16 << 20;

/// An opened capture: its header, and its body ready to be read once.
pub struct Capture {
    header: Header,
    storage: Storage,
    wrapping: Option<Wrapping>,
    body_offset: u64,
    stream: ByteStream,
}

impl Capture {
    /// Opens a capture file.
    pub fn open(path: impl AsRef<Path>) -> Result<Capture> {
        Capture::from_source(source::open_file(path.as_ref())?)
    }

    /// Reads a capture held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Capture> {
        Capture::from_source(source::open_bytes(bytes)?)
    }

    fn from_source(source: Source) -> Result<Capture> {
        let decompressed = source.storage == Storage::Lz4 || source.wrapping.is_some();
        Capture::read_header(source).map_err(|e| e.of_lz4(decompressed))
    }

    fn read_header(source: Source) -> Result<Capture> {
        let Source { storage, wrapping, reader, limit } = source;
        let wrapped = wrapping.as_ref().map(|w| w.0);
        let mut stream = ByteStream::new(storage, wrapping, reader, limit);
        stream.fill(1)?;
        // The header of a raw stream may end in zeros that the trailing-zero rule held back
        // (nothing but padding after it): they are put back once, and the body then ends there.
        let mut restored = false;
        loop {
            let avail = stream.available();
            let avail_len = avail.len();
            match header::parse_header(avail) {
                Ok((rest, header)) => {
                    let used = avail.len() - rest.len();
                    stream.consume(used);
                    stream.set_limit(limit);
                    if restored {
                        stream.end_here();
                    }
                    let body_offset = used as u64;
                    return Ok(Capture { header, storage, wrapping: wrapped, body_offset, stream });
                }
                Err(nom::Err::Incomplete(_)) => {
                    if stream.at_eof() && !restored {
                        restored = stream.restore_trailing_zeros(MAX_HEADER_BYTES as usize);
                        if restored {
                            continue;
                        }
                    }
                    if stream.at_eof() {
                        let kind = if let (true, Some(w)) = (stream.wrapping_was_cut(), wrapped) {
                            ErrorKind::WrappingCut(w)
                        } else if stream.was_cut() {
                            ErrorKind::Lz4FrameCut
                        } else if avail_len == 0 {
                            ErrorKind::Empty
                        } else {
                            ErrorKind::HeaderTruncated
                        };
                        return Err(Error::new(kind, avail_len as u64));
                    }
                    // The window doubles until the header is whole, so a long header is parsed
                    // a logarithmic number of times, not once per refill; and one longer than
                    // any memray writes is refused before it is read whole (a header bomb: a
                    // few hundred KiB of LZ4 that inflate to a 512 MiB command line).
                    if avail_len as u64 >= MAX_HEADER_BYTES {
                        let kind = ErrorKind::HeaderTooLong { limit: MAX_HEADER_BYTES };
                        return Err(Error::new(kind, avail_len as u64));
                    }
                    let want = (avail_len * 2).clamp(4096, MAX_HEADER_BYTES as usize);
                    stream.fill(want)?;
                }
                Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
                    let at = avail.len().saturating_sub(e.remaining) as u64;
                    return Err(Error::new(e.kind, header_field_offset(e.kind, at)));
                }
            }
        }
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How the file is stored (LZ4 frame or raw).
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Whether the file is LZ4-compressed.
    pub fn is_compressed(&self) -> bool {
        self.storage == Storage::Lz4
    }

    /// The gzip or zstd stream the file was wrapped in after memray wrote it, if any.
    pub fn wrapping(&self) -> Option<Wrapping> {
        self.wrapping
    }

    /// Stream offset of the first body record.
    pub fn body_offset(&self) -> u64 {
        self.body_offset
    }

    /// The body, as an iterator of records.
    pub fn records(self) -> Records {
        Records::new(self.stream, &self.header)
    }

    /// The header and the body, for callers that keep both.
    pub fn into_parts(self) -> (Header, Records) {
        let records = Records::new(self.stream, &self.header);
        (self.header, records)
    }
}

/// Errors found in a header field are reported at the start of that field.
fn header_field_offset(kind: ErrorKind, after: u64) -> u64 {
    match kind {
        ErrorKind::BadMagic => 0,
        ErrorKind::UnsupportedVersion { .. } => 7,
        ErrorKind::UnknownFileFormat { .. } => after.saturating_sub(1),
        _ => after,
    }
}
