//! The byte source under the parsers: file probing (LZ4 frame or raw), memray's readable-length rule
//! for raw files, and a refillable window over the decompressed stream.
//!
//! The window never holds the whole stream: it keeps the unread tail of the last read plus one more
//! chunk, and grows only when a single record (a long string or line table) needs more.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};
use crate::wrapping::{CutFlag, Wrapping, WrappingFault};

/// The seven bytes every raw capture starts with.
pub(crate) const MEMRAY_MAGIC: &[u8; 7] = b"memray\0";

/// Bytes requested from the underlying reader per refill.
const CHUNK: usize = 256 * 1024;

/// How a capture file is stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// One LZ4 frame around the raw capture (memray's default after an orderly exit).
    Lz4,
    /// The raw capture, usually followed by zero padding.
    Raw,
}

/// Decides from the first bytes of a file how it is stored.
pub(crate) fn detect(prefix: &[u8]) -> std::result::Result<Storage, ErrorKind> {
    match prefix {
        [] => Err(ErrorKind::Empty),
        [0x04, 0x22, 0x4D, 0x18, ..] => Ok(Storage::Lz4),
        p if p.len() >= 7 && &p[..7] == MEMRAY_MAGIC => Ok(Storage::Raw),
        // A prefix of the magic that ends early is a capture cut inside its header.
        p if p.len() < 7 && MEMRAY_MAGIC.starts_with(p) => Err(ErrorKind::HeaderTruncated),
        _ => Err(ErrorKind::BadMagic),
    }
}

/// memray's readable-length rule for raw files: 1 + the offset of the last non-zero byte.
///
/// The mmap sink pre-grows files with zeros and never shrinks them; no record type byte is zero, so
/// the zeros after the last record are padding. Reads the file backwards in chunks.
pub(crate) fn readable_len_of_file(file: &mut File) -> io::Result<u64> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(pos) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The same rule over bytes in memory.
pub(crate) fn readable_len_of_slice(bytes: &[u8]) -> u64 {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p as u64 + 1)
}

/// What the byte window reads from: the decoded stream of a capture and how to bound it.
pub(crate) struct Source {
    /// How memray stored the capture (inside any wrapping).
    pub(crate) storage: Storage,
    /// A gzip or zstd stream put around the file after memray wrote it, and the flag its
    /// decoder raises when the file is cut.
    pub(crate) wrapping: Option<(Wrapping, CutFlag)>,
    /// The capture's bytes, with LZ4 and any wrapping taken off.
    pub(crate) reader: Box<dyn Read + Send>,
    /// Where the capture's bytes end.
    pub(crate) limit: Limit,
}

/// Where a raw capture's bytes end: memray's readable-length rule (spec §1.1), known up front for
/// a file that can seek, applied as the bytes stream past otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The stream's own end (an LZ4 frame has one).
    None,
    /// The readable length of a raw file, applied after the header.
    Readable(u64),
    /// A raw stream that cannot seek: a run of zeros is held back until a non-zero byte follows
    /// it, so the zeros at the very end are never seen, in constant memory.
    TrailingZeros,
}

/// Opens a file and returns how it is stored and a reader of its capture from the start.
///
/// `-` is standard input. Standard input, a pipe, a FIFO or a device (anything that is not a
/// regular file, such as `/dev/stdin` or `<(zstdcat x.bin.zst)`) cannot seek, so it is read as a
/// stream. So is a capture in a gzip or zstd wrapping, whose decoded bytes arrive in order.
pub(crate) fn open_file(path: &Path) -> Result<Source> {
    if path.as_os_str() == "-" {
        return open_stream(Box::new(io::stdin()), None);
    }
    #[cfg(target_os = "linux")]
    if let Some(fifo) = fifo::open(path) {
        return open_stream(Box::new(fifo.map_err(|e| Error::io(&e, 0))?), None);
    }
    let mut file = File::open(path).map_err(|e| Error::io(&e, 0))?;
    let regular = file.metadata().map(|m| m.is_file()).map_err(|e| Error::io(&e, 0))?;
    if !regular {
        return open_stream(Box::new(file), None);
    }
    let mut prefix = [0u8; 7];
    let n = read_up_to(&mut file, &mut prefix).map_err(|e| Error::io(&e, 0))?;
    if let Some(wrapping) = Wrapping::detect(&prefix[..n]) {
        file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&e, 0))?;
        let (reader, cut) = wrapping.unwrap(Box::new(file));
        return open_stream(reader, Some((wrapping, cut)));
    }
    let storage = detect(&prefix[..n]).map_err(|k| Error::new(k, 0))?;
    match storage {
        Storage::Lz4 => {
            file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&e, 0))?;
            let reader = io::BufReader::with_capacity(CHUNK, file);
            let reader = Box::new(lz4_flex::frame::FrameDecoder::new(reader));
            Ok(Source { storage, wrapping: None, reader, limit: Limit::None })
        }
        Storage::Raw => {
            let limit = readable_len_of_file(&mut file).map_err(|e| Error::io(&e, 0))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&e, 0))?;
            Ok(Source {
                storage,
                wrapping: None,
                reader: Box::new(file),
                limit: Limit::Readable(limit),
            })
        }
    }
}

/// A capture that cannot seek: its first bytes decide the wrapping (unless `wrapping` says it
/// was already taken off) and the storage, then they are read again in front of the rest.
fn open_stream(
    mut reader: Box<dyn Read + Send>,
    wrapping: Option<(Wrapping, CutFlag)>,
) -> Result<Source> {
    let mut prefix = [0u8; 7];
    let n = read_up_to(&mut reader, &mut prefix)
        .map_err(|e| opening_error(&e, wrapping.as_ref().map(|w| w.0)))?;
    let whole = Box::new(io::Cursor::new(prefix[..n].to_vec()).chain(reader));
    if wrapping.is_none() {
        if let Some(found) = Wrapping::detect(&prefix[..n]) {
            let (reader, cut) = found.unwrap(whole);
            return open_stream(reader, Some((found, cut)));
        }
    }
    let storage = detect(&prefix[..n]).map_err(|k| Error::new(k, 0))?;
    match storage {
        Storage::Lz4 => {
            let reader = io::BufReader::with_capacity(CHUNK, whole);
            let reader = Box::new(lz4_flex::frame::FrameDecoder::new(reader));
            Ok(Source { storage, wrapping, reader, limit: Limit::None })
        }
        Storage::Raw => {
            Ok(Source { storage, wrapping, reader: whole, limit: Limit::TrailingZeros })
        }
    }
}

/// An error reading a stream's first bytes: through a wrapping, a fault of that wrapping.
fn opening_error(err: &io::Error, wrapping: Option<Wrapping>) -> Error {
    match (WrappingFault::of(err), wrapping) {
        (Some(WrappingFault::Cut), Some(w)) => Error::new(ErrorKind::WrappingCut(w), 0),
        (Some(WrappingFault::Corrupt), Some(w)) => Error::new(ErrorKind::WrappingCorrupt(w), 0),
        _ => Error::io(err, 0),
    }
}

/// Wraps bytes in memory the same way [`open_file`] wraps a file.
pub(crate) fn open_bytes(bytes: Vec<u8>) -> Result<Source> {
    if Wrapping::detect(&bytes).is_some() {
        return open_stream(Box::new(io::Cursor::new(bytes)), None);
    }
    let storage = detect(&bytes[..bytes.len().min(7)]).map_err(|k| Error::new(k, 0))?;
    match storage {
        Storage::Lz4 => {
            let reader = Box::new(lz4_flex::frame::FrameDecoder::new(io::Cursor::new(bytes)));
            Ok(Source { storage, wrapping: None, reader, limit: Limit::None })
        }
        Storage::Raw => {
            let limit = Limit::Readable(readable_len_of_slice(&bytes));
            Ok(Source { storage, wrapping: None, reader: Box::new(io::Cursor::new(bytes)), limit })
        }
    }
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// A window over the decompressed stream.
pub(crate) struct ByteStream {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// First unconsumed byte in `buf`.
    pos: usize,
    /// End of valid bytes in `buf`.
    end: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// The reader is exhausted (or the readable length is reached).
    eof: bool,
    /// Bytes past this stream offset are never exposed (raw files: memray's readable length).
    limit: Option<u64>,
    /// A raw stream's trailing zeros, held back as they arrive (`Limit::TrailingZeros`).
    trim: Option<ZeroTrim>,
    /// Total bytes pulled from the reader so far.
    pulled: u64,
    /// The LZ4 frame ended early (the file was cut): the stream is treated as truncated.
    cut: bool,
    /// The gzip or zstd wrapping ended early.
    wrapping_cut: bool,
    /// The reader decompresses an LZ4 frame, so its errors mean a corrupt frame.
    lz4: bool,
    /// The wrapping the reader takes off, whose faults are named after it.
    wrapping: Option<(Wrapping, CutFlag)>,
}

impl ByteStream {
    /// A window over `source`. A readable length is applied only once the header is read
    /// ([`ByteStream::set_limit`]); trailing zeros of a stream are held back from the start.
    pub(crate) fn new(
        storage: Storage,
        wrapping: Option<(Wrapping, CutFlag)>,
        inner: Box<dyn Read + Send>,
        limit: Limit,
    ) -> ByteStream {
        ByteStream {
            inner,
            buf: vec![0; CHUNK * 2],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            limit: None,
            trim: (limit == Limit::TrailingZeros).then(ZeroTrim::default),
            pulled: 0,
            cut: false,
            wrapping_cut: false,
            lz4: storage == Storage::Lz4,
            wrapping,
        }
    }

    /// The unconsumed bytes currently in the window.
    #[inline]
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Stream offset of the first unconsumed byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.end);
        self.pos += n;
    }

    /// Whether the reader has nothing more to give.
    #[inline]
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Whether offsets count bytes of a decompressed stream (LZ4, gzip or zstd) rather than
    /// bytes of the file.
    pub(crate) fn is_decompressed(&self) -> bool {
        self.lz4 || self.wrapping.is_some()
    }

    /// Whether the LZ4 frame ended before its end mark.
    pub(crate) fn was_cut(&self) -> bool {
        self.cut
    }

    /// Whether the gzip or zstd wrapping ended before its end.
    pub(crate) fn wrapping_was_cut(&self) -> bool {
        self.wrapping_cut
    }

    /// Pulls more bytes so that at least `want` are available, unless the stream ends first.
    /// Returns whether any byte was added.
    pub(crate) fn fill(&mut self, want: usize) -> Result<bool> {
        if self.eof {
            return Ok(false);
        }
        // Move the unread tail to the front, then grow the buffer if one record needs more room.
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        let needed = want.max(self.end + CHUNK);
        if self.buf.len() < needed {
            self.buf.resize(needed.next_power_of_two(), 0);
        }
        let before = self.end;
        while self.end - self.pos < want || self.end == before {
            let mut room = self.buf.len() - self.end;
            if let Some(limit) = self.limit {
                room = room.min(limit.saturating_sub(self.pulled) as usize);
            }
            if room == 0 {
                self.eof = true;
                break;
            }
            let dst = &mut self.buf[self.end..self.end + room];
            let read = match &mut self.trim {
                Some(trim) => trim.read(&mut self.inner, dst),
                None => self.inner.read(dst),
            };
            match read {
                Ok(0) => {
                    self.eof = true;
                    self.wrapping_cut = self.wrapping.as_ref().is_some_and(|w| w.1.is_raised());
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    self.pulled += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if WrappingFault::of(&e) == Some(WrappingFault::Cut) => {
                    // A gzip or zstd file cut short: keep what was decoded, a truncation.
                    self.eof = true;
                    self.wrapping_cut = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // An LZ4 frame cut short: keep what was decoded, report truncation later.
                    self.eof = true;
                    self.cut = true;
                    break;
                }
                Err(e) => {
                    let offset = self.base + self.end as u64;
                    let kind = match (WrappingFault::of(&e), &self.wrapping) {
                        (Some(_), Some((w, _))) => ErrorKind::WrappingCorrupt(*w),
                        _ if self.lz4 => ErrorKind::Lz4Frame,
                        _ => return Err(Error::io(&e, offset)),
                    };
                    return Err(Error::new(kind, offset));
                }
            }
        }
        Ok(self.end > before)
    }

    /// Applies memray's readable length from now on. The header is read without it, because its
    /// last fields (flags, empty path lists) may be zeros that the rule would cut; the rule is
    /// meant for the padding after the body.
    pub(crate) fn set_limit(&mut self, limit: Limit) {
        let Limit::Readable(limit) = limit else { return };
        let limit = limit.max(self.offset());
        self.limit = Some(limit);
        if self.pulled > limit {
            let excess = (self.pulled - limit) as usize;
            self.end -= excess;
            self.pulled = limit;
            self.eof = true;
        } else if self.pulled == limit {
            self.eof = true;
        }
    }

    /// For a stream whose header is cut by the trailing-zero rule: puts back the zeros held at
    /// its end (up to `max` bytes in the window) and returns whether there were any. The file
    /// case reads its header without the rule; this gives a stream the same header.
    pub(crate) fn restore_trailing_zeros(&mut self, max: usize) -> bool {
        let Some(trim) = &mut self.trim else { return false };
        let room = max.saturating_sub(self.end - self.pos) as u64;
        let n = trim.before.min(room) as usize;
        if n == 0 || !self.eof {
            return false;
        }
        trim.before = 0;
        if self.buf.len() < self.end + n {
            self.buf.resize((self.end + n).next_power_of_two(), 0);
        }
        self.buf[self.end..self.end + n].fill(0);
        self.end += n;
        true
    }

    /// Ends the stream where it is: whatever follows is never seen (the zeros put back for a
    /// header, which the file case's readable length cuts too).
    pub(crate) fn end_here(&mut self) {
        self.end = self.pos;
        self.eof = true;
    }

    /// Reads ahead to the end of the stream and reports whether everything left is zero.
    ///
    /// Used when a zero record byte appears: trailing zero padding (no trailer) is a clean end,
    /// a zero followed by data is corruption.
    pub(crate) fn rest_is_zero(&mut self) -> Result<bool> {
        loop {
            if self.available().iter().any(|&b| b != 0) {
                return Ok(false);
            }
            let n = self.available().len();
            self.consume(n);
            if !self.fill(1)? {
                return Ok(true);
            }
        }
    }
}

/// memray's readable-length rule applied to a stream as it passes: runs of zeros are counted,
/// not stored, and given out only once a non-zero byte follows them. At the end of the stream the
/// last run is dropped, which is exactly "1 + the offset of the last non-zero byte", in memory of
/// one chunk however long the padding.
#[derive(Default)]
struct ZeroTrim {
    /// Zeros owed before `pending`.
    before: u64,
    /// Bytes read that end with a non-zero byte, given out from `at`.
    pending: Vec<u8>,
    at: usize,
    /// Zeros read after `pending`, owed once it is given out.
    after: u64,
    /// The reader is exhausted.
    ended: bool,
}

impl ZeroTrim {
    fn read(&mut self, inner: &mut dyn Read, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.at < self.pending.len() {
                if self.before > 0 {
                    let n = self.before.min(dst.len() as u64) as usize;
                    dst[..n].fill(0);
                    self.before -= n as u64;
                    return Ok(n);
                }
                let n = (self.pending.len() - self.at).min(dst.len());
                dst[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
                self.at += n;
                if self.at == self.pending.len() {
                    self.pending.clear();
                    self.at = 0;
                    self.before = std::mem::take(&mut self.after);
                }
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            self.pending.resize(CHUNK, 0);
            let n = match inner.read(&mut self.pending) {
                Ok(n) => n,
                Err(e) => {
                    self.pending.clear();
                    return Err(e);
                }
            };
            match self.pending[..n].iter().rposition(|&b| b != 0) {
                None => {
                    self.before += n as u64;
                    self.pending.clear();
                    self.ended = n == 0;
                }
                Some(last) => {
                    self.after = (n - last - 1) as u64;
                    self.pending.truncate(last + 1);
                    self.at = 0;
                }
            }
        }
    }
}

/// A named FIFO, opened without waiting for a writer (a plain open blocks until one comes, for
/// ever if none does): reads wait for the first bytes up to [`fifo::WAIT_FOR_WRITER`], then
/// follow the writer until it closes.
#[cfg(target_os = "linux")]
mod fifo {
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::path::Path;
    use std::time::{Duration, Instant};

    /// How long a FIFO may stay without a writer before the read gives up.
    pub(crate) const WAIT_FOR_WRITER: Duration = Duration::from_secs(10);

    /// Linux's `O_NONBLOCK`.
    const O_NONBLOCK: i32 = 0o4000;

    pub(crate) struct Fifo {
        file: File,
        started: bool,
        opened: Instant,
    }

    /// `None` when `path` is not a FIFO.
    pub(crate) fn open(path: &Path) -> Option<io::Result<Fifo>> {
        let meta = std::fs::metadata(path).ok()?;
        if !meta.file_type().is_fifo() {
            return None;
        }
        let file = std::fs::OpenOptions::new().read(true).custom_flags(O_NONBLOCK).open(path);
        Some(file.map(|file| Fifo { file, started: false, opened: Instant::now() }))
    }

    impl Read for Fifo {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                match self.file.read(buf) {
                    // No writer yet (or one that has not written): wait for it, for a while.
                    Ok(0) if !self.started => {
                        if self.opened.elapsed() > WAIT_FOR_WRITER {
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "no writer opened the FIFO within 10 s",
                            ));
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Ok(n) => {
                        self.started = true;
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that gives its bytes in irregular pieces, as a pipe does.
    struct Pieces {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl Read for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.step = (self.step * 7 + 3) % 9_001 + 1;
            let n = self.step.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// The trailing-zero rule on a stream gives exactly the bytes the readable length keeps,
    /// whatever the runs of zeros inside and however long the padding.
    #[test]
    fn held_zeros_equal_the_readable_length_rule() {
        let mut seed = 12345u64;
        for case in 0..60u64 {
            let mut bytes = Vec::new();
            for _ in 0..(case % 13) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let run = (seed >> 33) as usize % 700_000;
                let zeros = seed % 3 == 0;
                bytes.extend((0..run).map(|i| if zeros { 0 } else { (i % 255) as u8 + 1 }));
            }
            bytes.resize(bytes.len() + (case as usize * 37_000) % 900_000, 0);
            let want = &bytes[..readable_len_of_slice(&bytes) as usize];
            let mut trim = ZeroTrim::default();
            let mut reader = Pieces { bytes: bytes.clone(), at: 0, step: case as usize };
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 + (case as usize * 4_099) % 300_000];
            loop {
                let n = trim.read(&mut reader, &mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got == want, "case {case}: {} bytes, want {}", got.len(), want.len());
        }
    }
}
