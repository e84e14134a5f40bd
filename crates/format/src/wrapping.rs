//! Captures as they travel: a gzip or zstd stream put around a capture after memray wrote it (to
//! attach it to a ticket, or to keep it). This module owns the detection of such a wrapping by its
//! magic bytes and the streaming decoders that take it off, and it says which of two things went
//! wrong when one fails: the wrapped file ends early (a cut upload, a partial copy: the capture is
//! truncated, not corrupt), or its bytes are corrupt.
//!
//! Either way the decoders keep no more than their own window (gzip's 32 KiB, zstd's frame
//! window, capped by `ruzstd`), so a wrapped capture streams like a bare one.

use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A compression put around a whole capture file after memray wrote it.
///
/// memray's own LZ4 framing is a [`Storage`](crate::Storage), inside the wrapping: a
/// `capture.bin.zst` is usually a zstd stream around an LZ4 frame around the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrapping {
    /// A gzip stream (`gzip capture.bin`), one member or several.
    Gzip,
    /// A zstd stream (`zstd capture.bin`), one frame or several.
    Zstd,
}

impl Wrapping {
    /// The wrapping whose magic bytes start `prefix`, if any.
    pub(crate) fn detect(prefix: &[u8]) -> Option<Wrapping> {
        match prefix {
            [0x28, 0xB5, 0x2F, 0xFD, ..] => Some(Wrapping::Zstd),
            [0x1F, 0x8B, ..] => Some(Wrapping::Gzip),
            _ => None,
        }
    }

    /// The usual name of the tool (`gzip`, `zstd`).
    pub fn name(self) -> &'static str {
        match self {
            Wrapping::Gzip => "gzip",
            Wrapping::Zstd => "zstd",
        }
    }

    /// A reader of the unwrapped bytes of `source`, which starts with this wrapping's magic, and
    /// the flag it raises if the file turns out to be cut.
    pub(crate) fn unwrap(self, source: Box<dyn Read + Send>) -> (Box<dyn Read + Send>, CutFlag) {
        let ended = Arc::new(AtomicBool::new(false));
        let cut = CutFlag::default();
        let source = io::BufReader::with_capacity(
            256 * 1024,
            Watched { inner: source, ended: ended.clone() },
        );
        let decoder: Box<dyn Read + Send> = match self {
            Wrapping::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(source)),
            Wrapping::Zstd => Box::new(ZstdFrames::new(source)),
        };
        (Box::new(Unwrapped { decoder, ended, failed: false, cut: cut.clone() }), cut)
    }
}

/// Why reading through a wrapping failed; the payload of the [`io::Error`] an unwrapped reader
/// returns, so that the byte window can tell it from a failure of the file or of LZ4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WrappingFault {
    /// The wrapped file ended before the compressed stream did.
    Cut,
    /// The compressed stream is corrupt.
    Corrupt,
}

impl std::fmt::Display for WrappingFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WrappingFault::Cut => "the compressed stream is cut",
            WrappingFault::Corrupt => "the compressed stream is corrupt",
        })
    }
}

impl std::error::Error for WrappingFault {}

impl WrappingFault {
    /// The fault an [`io::Error`] carries, if it came from a wrapping.
    pub(crate) fn of(err: &io::Error) -> Option<WrappingFault> {
        err.get_ref().and_then(|e| e.downcast_ref::<WrappingFault>()).copied()
    }

    fn into_io(self) -> io::Error {
        let kind = match self {
            WrappingFault::Cut => io::ErrorKind::UnexpectedEof,
            WrappingFault::Corrupt => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }
}

/// Raised when a wrapped file ends before its compressed stream does. LZ4's decoder, reading
/// the unwrapped bytes, takes a cut that falls between its blocks for the end of its input, so the
/// byte window asks this flag, not only the errors it sees.
#[derive(Debug, Clone, Default)]
pub(crate) struct CutFlag(Arc<AtomicBool>);

impl CutFlag {
    /// Whether the wrapped file was cut.
    pub(crate) fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The compressed file, noting when it has no more bytes: a decoder that fails after that failed
/// because the file was cut.
struct Watched {
    inner: Box<dyn Read + Send>,
    ended: Arc<AtomicBool>,
}

impl Read for Watched {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended.store(true, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// A decoder whose errors are turned into [`WrappingFault`]s. An error of the file itself (a
/// failing disk) passes through unchanged.
struct Unwrapped {
    decoder: Box<dyn Read + Send>,
    ended: Arc<AtomicBool>,
    /// After a fault the decoder's state is unknown: every later read repeats the fault.
    failed: bool,
    cut: CutFlag,
}

impl Read for Unwrapped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(WrappingFault::Corrupt.into_io());
        }
        match self.decoder.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) if e.get_ref().is_none() && !self.ended.load(Ordering::Relaxed) => {
                // A plain io::Error the decoder did not make: the file could not be read.
                Err(e)
            }
            Err(_) => {
                self.failed = true;
                let cut = self.ended.load(Ordering::Relaxed);
                self.cut.0.store(cut, Ordering::Relaxed);
                Err(if cut { WrappingFault::Cut } else { WrappingFault::Corrupt }.into_io())
            }
        }
    }
}

/// A zstd stream of any number of frames (what `zstd -T0` and `pzstd` write), skippable frames
/// skipped, decoded block by block with `ruzstd`.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    /// A frame is being decoded (its header was read and it has not been drained).
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames { source, decoder: ruzstd::decoding::FrameDecoder::new(), in_frame: false }
    }

    /// Starts the next frame; false at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped < u64::from(length) {
                        return Err(io::Error::other("skippable frame cut"));
                    }
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use ruzstd::decoding::BlockDecodingStrategy;
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if !self.next_frame()? {
                    return Ok(0);
                }
                self.in_frame = true;
            }
            while self.decoder.can_collect() < buf.len() && !self.decoder.is_finished() {
                let want = buf.len() - self.decoder.can_collect();
                let decoded = self
                    .decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(want));
                if let Err(e) = decoded {
                    // The blocks decoded before the failure are given out first; the failure
                    // comes back on the next read, which finds no whole block either.
                    if self.decoder.can_collect() == 0 {
                        return Err(io::Error::other(e.to_string()));
                    }
                    break;
                }
            }
            let n = self.decoder.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if self.decoder.is_finished() {
                self.in_frame = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut enc, bytes).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest)
    }

    fn read_all(wrapping: Wrapping, bytes: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        wrapping.unwrap(Box::new(io::Cursor::new(bytes))).0.read_to_end(&mut out)?;
        Ok(out)
    }

    fn sample() -> Vec<u8> {
        (0..300_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect()
    }

    #[test]
    fn both_wrappings_are_detected_and_taken_off() {
        let data = sample();
        for (wrapping, packed) in [(Wrapping::Gzip, gzip(&data)), (Wrapping::Zstd, zstd(&data))] {
            assert_eq!(Wrapping::detect(&packed), Some(wrapping));
            assert_eq!(read_all(wrapping, packed).unwrap(), data);
        }
        assert_eq!(Wrapping::detect(b"memray\0"), None);
        assert_eq!(Wrapping::detect(&[0x04, 0x22, 0x4D, 0x18]), None);
    }

    #[test]
    fn several_frames_and_members_are_one_stream() {
        let data = sample();
        let (a, b) = data.split_at(123_457);
        let zst = [zstd(a), vec![0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3], zstd(b)].concat();
        assert_eq!(read_all(Wrapping::Zstd, zst).unwrap(), data);
        let gz = [gzip(a), gzip(b)].concat();
        assert_eq!(read_all(Wrapping::Gzip, gz).unwrap(), data);
    }

    #[test]
    fn a_cut_file_is_a_cut_and_a_damaged_one_is_corrupt() {
        let data = sample();
        for (wrapping, packed) in [(Wrapping::Gzip, gzip(&data)), (Wrapping::Zstd, zstd(&data))] {
            let cut = packed[..packed.len() / 2].to_vec();
            let err = read_all(wrapping, cut).unwrap_err();
            assert_eq!(WrappingFault::of(&err), Some(WrappingFault::Cut), "{wrapping:?}: {err}");
            let mut damaged = packed.clone();
            for b in &mut damaged[20..packed.len() - 20] {
                *b ^= 0x5A;
            }
            match read_all(wrapping, damaged) {
                Err(err) => assert_eq!(WrappingFault::of(&err), Some(WrappingFault::Corrupt)),
                Ok(out) => assert_ne!(out, data, "{wrapping:?}: damage went unnoticed"),
            }
        }
    }
}
