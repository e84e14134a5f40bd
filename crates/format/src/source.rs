//! The byte source under the parsers: file probing (LZ4 frame or raw), memray's readable-length rule
//! for raw files, and a refillable window over the decompressed stream.
//!
//! The window never holds the whole stream: it keeps the unread tail of the last read plus one more
//! chunk, and grows only when a single record (a long string or line table) needs more.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

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

/// Opens a file and returns its storage kind and a reader positioned at its start.
///
/// `-` is standard input. Standard input, a pipe, a FIFO or a device (anything that is not a
/// regular file, such as `/dev/stdin` or `<(zstdcat x.bin.zst)`) cannot seek, so it is read as a
/// stream: an LZ4 capture (memray's default) is decoded as it arrives, and a raw one is read
/// into memory first, because memray's readable-length rule needs its end.
pub(crate) fn open_file(path: &Path) -> Result<(Storage, Box<dyn Read + Send>, Option<u64>)> {
    if path.as_os_str() == "-" {
        return open_stream(Box::new(io::stdin()));
    }
    #[cfg(target_os = "linux")]
    if let Some(fifo) = fifo::open(path) {
        return open_stream(Box::new(fifo.map_err(|e| Error::io(&e, 0))?));
    }
    let mut file = File::open(path).map_err(|e| Error::io(&e, 0))?;
    let regular = file.metadata().map(|m| m.is_file()).map_err(|e| Error::io(&e, 0))?;
    if !regular {
        return open_stream(Box::new(file));
    }
    let mut prefix = [0u8; 7];
    let n = read_up_to(&mut file, &mut prefix).map_err(|e| Error::io(&e, 0))?;
    let storage = detect(&prefix[..n]).map_err(|k| Error::new(k, 0))?;
    match storage {
        Storage::Lz4 => {
            file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&e, 0))?;
            let reader = io::BufReader::with_capacity(CHUNK, file);
            Ok((storage, Box::new(lz4_flex::frame::FrameDecoder::new(reader)), None))
        }
        Storage::Raw => {
            let limit = readable_len_of_file(&mut file).map_err(|e| Error::io(&e, 0))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| Error::io(&e, 0))?;
            Ok((storage, Box::new(file), Some(limit)))
        }
    }
}

/// A capture that cannot seek: its first bytes decide the storage, then they are read again
/// in front of the rest.
fn open_stream(
    mut reader: Box<dyn Read + Send>,
) -> Result<(Storage, Box<dyn Read + Send>, Option<u64>)> {
    let mut prefix = [0u8; 7];
    let n = read_up_to(&mut reader, &mut prefix).map_err(|e| Error::io(&e, 0))?;
    let storage = detect(&prefix[..n]).map_err(|k| Error::new(k, 0))?;
    let whole = io::Cursor::new(prefix[..n].to_vec()).chain(reader);
    match storage {
        Storage::Lz4 => {
            let reader = io::BufReader::with_capacity(CHUNK, whole);
            Ok((storage, Box::new(lz4_flex::frame::FrameDecoder::new(reader)), None))
        }
        Storage::Raw => {
            let mut bytes = Vec::new();
            let mut whole = whole;
            whole.read_to_end(&mut bytes).map_err(|e| Error::io(&e, 0))?;
            open_bytes(bytes)
        }
    }
}

/// Wraps bytes in memory the same way [`open_file`] wraps a file.
pub(crate) fn open_bytes(bytes: Vec<u8>) -> Result<(Storage, Box<dyn Read + Send>, Option<u64>)> {
    let storage = detect(&bytes[..bytes.len().min(7)]).map_err(|k| Error::new(k, 0))?;
    match storage {
        Storage::Lz4 => Ok((
            storage,
            Box::new(lz4_flex::frame::FrameDecoder::new(io::Cursor::new(bytes))),
            None,
        )),
        Storage::Raw => {
            let limit = readable_len_of_slice(&bytes);
            Ok((storage, Box::new(io::Cursor::new(bytes)), Some(limit)))
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
    /// Total bytes pulled from the reader so far.
    pulled: u64,
    /// The LZ4 frame ended early (the file was cut): the stream is treated as truncated.
    cut: bool,
    /// The reader decompresses an LZ4 frame, so its errors mean a corrupt frame.
    lz4: bool,
}

impl ByteStream {
    /// A window without a readable-length limit; [`ByteStream::set_limit`] adds it after the header.
    pub(crate) fn new(storage: Storage, inner: Box<dyn Read + Send>) -> ByteStream {
        ByteStream {
            inner,
            buf: vec![0; CHUNK * 2],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            limit: None,
            pulled: 0,
            cut: false,
            lz4: storage == Storage::Lz4,
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

    /// Whether the underlying LZ4 frame ended before its end mark.
    pub(crate) fn is_lz4(&self) -> bool {
        self.lz4
    }

    pub(crate) fn was_cut(&self) -> bool {
        self.cut
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
            match self.inner.read(&mut self.buf[self.end..self.end + room]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    self.pulled += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    // An LZ4 frame cut short: keep what was decoded, report truncation later.
                    self.eof = true;
                    self.cut = true;
                    break;
                }
                Err(e) => {
                    let offset = self.base + self.end as u64;
                    return Err(if self.lz4 {
                        Error::new(ErrorKind::Lz4Frame, offset)
                    } else {
                        Error::io(&e, offset)
                    });
                }
            }
        }
        Ok(self.end > before)
    }

    /// Applies memray's readable length from now on. The header is read without it, because its
    /// last fields (flags, empty path lists) may be zeros that the rule would cut; the rule is
    /// meant for the padding after the body.
    pub(crate) fn set_limit(&mut self, limit: Option<u64>) {
        let Some(limit) = limit else { return };
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
