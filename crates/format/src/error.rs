//! Errors of the format crate: a [`Error`] struct carrying a `Copy` [`ErrorKind`], the byte offset
//! in the decompressed stream and, once the body is being read, the index of the failing record.

use std::fmt;
use std::io;

/// A failure to read a capture.
///
/// The offset is always a position in the *decompressed* stream (the raw capture bytes), because an
/// LZ4-compressed capture has no meaningful position for a record inside the compressed file.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    offset: u64,
    record_index: Option<u64>,
    io_message: Option<String>,
    /// The offset counts bytes of an LZ4 capture's decompressed stream, not of the file.
    decompressed: bool,
}

/// What went wrong.
///
/// memray records carry no length prefix, so an unknown record byte cannot be skipped: it ends the
/// stream with [`ErrorKind::UnknownRecordType`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file is empty (a killed `--aggregate` run leaves such a file).
    Empty,
    /// The file starts with neither the LZ4 frame magic nor `memray\0`.
    BadMagic,
    /// The header names a format version this crate does not read.
    UnsupportedVersion {
        /// The version found in the header.
        found: i32,
    },
    /// The header's file-format byte is neither 0 (all allocations) nor 1 (aggregated).
    UnknownFileFormat {
        /// The byte found.
        found: u8,
    },
    /// The input ends inside the header.
    HeaderTruncated,
    /// The header is longer than any memray writes (a command line or path list of many
    /// megabytes): refused before it is read whole.
    HeaderTooLong {
        /// The most header bytes read.
        limit: u64,
    },
    /// A record starts with a byte that is not a record type of this format version.
    UnknownRecordType {
        /// The record-type byte.
        byte: u8,
    },
    /// An allocator id that memray never writes.
    UnknownAllocator {
        /// The allocator id.
        id: u8,
    },
    /// A varint continues past 64 bits.
    VarintOverflow,
    /// A SEGMENT record outside a SEGMENT_HEADER group, or a group cut short by another record.
    MisplacedSegment,
    /// A thread-specific record (allocation, frame push or pop) before any CONTEXT_SWITCH.
    NoCurrentThread,
    /// A FRAME_POP removes more frames than the thread's stack holds.
    StackUnderflow,
    /// A frame push or an aggregated index names a frame or node that was never defined.
    UndefinedReference,
    /// An aggregated PYTHON_FRAME_INDEX out of sequence or repeated.
    FrameIdMismatch,
    /// A field could not be parsed and no more specific kind applies. (Data that merely ends
    /// inside a record is a truncation, not this error.)
    UnexpectedEof,
    /// A single record claims more than 64 MiB (a corrupt length field); reading on would buffer
    /// the rest of the file.
    RecordTooLarge,
    /// The LZ4 frame is corrupt.
    Lz4Frame,
    /// The file ends inside its LZ4 frame before the header could be decoded (a capture cut
    /// while it was written, or copied in part).
    Lz4FrameCut,
    /// The gzip or zstd stream the capture was wrapped in is corrupt.
    WrappingCorrupt(crate::Wrapping),
    /// The file ends inside its gzip or zstd stream before the header could be decoded.
    WrappingCut(crate::Wrapping),
    /// Reading the file failed.
    Io(io::ErrorKind),
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, offset: u64) -> Error {
        Error { kind, offset, record_index: None, io_message: None, decompressed: false }
    }

    pub(crate) fn at_record(mut self, index: u64) -> Error {
        self.record_index = Some(index);
        self
    }

    pub(crate) fn io(err: &io::Error, offset: u64) -> Error {
        Error {
            kind: ErrorKind::Io(err.kind()),
            offset,
            record_index: None,
            io_message: Some(err.to_string()),
            decompressed: false,
        }
    }

    /// Marks the offset as one in an LZ4 capture's decompressed stream (when `lz4`).
    pub(crate) fn of_lz4(mut self, lz4: bool) -> Error {
        self.decompressed |= lz4;
        self
    }

    /// Whether [`Error::offset`] counts bytes of the decompressed stream of an LZ4 capture
    /// (else bytes of the file, which for a raw capture are the same).
    pub fn in_decompressed_stream(&self) -> bool {
        self.decompressed
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Byte offset in the decompressed stream where the failing item starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Index of the failing record in the body (0 = first record after the header), if the
    /// failure happened in the body.
    pub fn record_index(&self) -> Option<u64> {
        self.record_index
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Empty => write!(f, "empty file, expected a memray capture"),
            ErrorKind::BadMagic => {
                write!(f, "not a memray capture (expected \"memray\\0\" or an LZ4 frame)")
            }
            ErrorKind::UnsupportedVersion { found } => {
                // Name the memray that wrote it, so the user knows which tool reads it (spec §4).
                let writer = match found {
                    6 => "memray 1.0",
                    7 => "memray 1.1",
                    v if *v > 13 => "a memray newer than 1.20",
                    _ => "no released memray",
                };
                write!(
                    f,
                    "unsupported capture format version {found}, written by {writer} \
                     (memreport reads versions 8 to 13, from memray 1.2 to 1.20)"
                )
            }
            ErrorKind::UnknownFileFormat { found } => write!(f, "unknown file format {found}"),
            ErrorKind::HeaderTruncated => write!(f, "capture ends inside its header"),
            ErrorKind::HeaderTooLong { limit } => {
                write!(f, "header longer than {limit} bytes: not a capture memray writes")
            }
            ErrorKind::UnknownRecordType { byte } => write!(f, "unknown record type 0x{byte:02x}"),
            ErrorKind::UnknownAllocator { id } => write!(f, "unknown allocator id {id}"),
            ErrorKind::VarintOverflow => write!(f, "varint longer than 64 bits"),
            ErrorKind::MisplacedSegment => {
                write!(f, "SEGMENT record outside a SEGMENT_HEADER group")
            }
            ErrorKind::NoCurrentThread => {
                write!(f, "thread-specific record before any CONTEXT_SWITCH")
            }
            ErrorKind::StackUnderflow => {
                write!(f, "FRAME_POP pops more frames than the stack holds")
            }
            ErrorKind::UndefinedReference => write!(f, "reference to an undefined frame or node"),
            ErrorKind::FrameIdMismatch => write!(f, "frame index out of sequence"),
            ErrorKind::UnexpectedEof => write!(f, "unexpected end of data inside a record"),
            ErrorKind::RecordTooLarge => write!(f, "record longer than 64 MiB (corrupt length)"),
            ErrorKind::Lz4Frame => write!(f, "corrupt LZ4 frame"),
            ErrorKind::WrappingCorrupt(w) => write!(f, "corrupt {} stream", w.name()),
            ErrorKind::WrappingCut(w) => write!(
                f,
                "the {} stream is cut: the file ends before the capture's header could be decoded",
                w.name()
            ),
            ErrorKind::Lz4FrameCut => {
                write!(f, "the LZ4 frame is cut: the file ends before its header could be decoded")
            }
            ErrorKind::Io(kind) => write!(f, "read error ({kind})"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.io_message {
            Some(msg) => write!(f, "read error: {msg}")?,
            None => write!(f, "{}", self.kind)?,
        }
        write!(f, " at byte {}", self.offset)?;
        if self.decompressed {
            write!(f, " of the decompressed stream")?;
        }
        if let Some(index) = self.record_index {
            write!(f, " (record #{index})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
