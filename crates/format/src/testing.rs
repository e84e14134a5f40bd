//! A writer of synthetic captures for tests and fuzz seeds (feature `testing`).
//!
//! It encodes exactly what the reader decodes (spec §1.4–§2.3, v12+ layouts), so round trips test
//! the decoder against the spec independently of memray's own files.

/// Builds a raw (uncompressed) capture byte by byte.
#[derive(Debug, Clone)]
pub struct CaptureBuilder {
    buf: Vec<u8>,
    last_ptr: u64,
    last_native: u64,
    last_firstlineno: i32,
    native: bool,
    /// Where the header's `skipped_frames_on_main_tid` lies.
    skipped_at: usize,
}

impl CaptureBuilder {
    /// A streaming (all-allocations) capture with a v13 header.
    pub fn new() -> CaptureBuilder {
        CaptureBuilder::with_header(13, false, 0)
    }

    /// A capture with a header of `version` (12 or 13), native traces on or off, and file format
    /// 0 (all allocations) or 1 (aggregated).
    pub fn with_header(version: i32, native: bool, file_format: u8) -> CaptureBuilder {
        let mut b = CaptureBuilder {
            buf: Vec::new(),
            last_ptr: 0,
            last_native: 0,
            last_firstlineno: 0,
            native,
            skipped_at: 0,
        };
        b.raw(b"memray\0");
        b.raw(&version.to_le_bytes());
        b.raw(&0x030B_07F0u32.to_le_bytes());
        b.byte(u8::from(native));
        b.byte(file_format);
        b.u64(0); // n_allocations
        b.u64(0); // n_frames
        b.u64(1_700_000_000_000); // start_time
        b.u64(1_700_000_000_100); // end_time
        b.cstr(b"python test.py");
        b.raw(&4242i32.to_le_bytes());
        b.u64(1); // main_tid
        b.skipped_at = b.buf.len();
        b.u64(0); // skipped frames
        b.byte(1); // pymalloc
        b.byte(0); // trace_python_allocators
        b.byte(0); // track_object_lifetimes
        if version >= 13 {
            b.cstr(b"/usr/lib/python3.11");
            b.cstr(b"");
            b.cstr(b"");
        }
        b
    }

    /// Sets the header's count of runner frames to trim from the main thread's stacks.
    pub fn skipped_frames_on_main(&mut self, n: u64) -> &mut Self {
        self.buf[self.skipped_at..self.skipped_at + 8].copy_from_slice(&n.to_le_bytes());
        self
    }

    /// Appends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> &mut Self {
        self.buf.push(b);
        self
    }

    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }

    /// Appends a NUL-terminated string.
    pub fn cstr(&mut self, s: &[u8]) -> &mut Self {
        self.raw(s).byte(0)
    }

    /// Appends an unsigned LEB128 varint.
    pub fn varint(&mut self, mut v: u64) -> &mut Self {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                return self.byte(b);
            }
            self.byte(b | 0x80);
        }
    }

    /// Appends a zig-zag varint.
    pub fn svarint(&mut self, v: i64) -> &mut Self {
        self.varint(((v << 1) ^ (v >> 63)) as u64)
    }

    /// CONTEXT_SWITCH.
    pub fn context_switch(&mut self, tid: u64) -> &mut Self {
        self.byte(0x0c).u64(tid)
    }

    /// ALLOCATION, always encoded as a pointer-cache miss with an explicit allocator byte.
    pub fn allocation(
        &mut self,
        address: u64,
        size: u64,
        allocator: u8,
        native_id: u64,
    ) -> &mut Self {
        self.byte(0x80 | (15 << 3));
        let shifted = address >> 3;
        let delta = shifted.wrapping_sub(self.last_ptr) as i64;
        self.last_ptr = shifted;
        self.svarint(delta).byte(allocator);
        let free_like = allocator == 1 || allocator == 5;
        if !free_like {
            if self.native {
                let d = native_id.wrapping_sub(self.last_native) as i64;
                self.last_native = native_id;
                self.svarint(d);
            }
            self.varint(size);
        }
        self
    }

    /// CODE_OBJECT.
    pub fn code_object(
        &mut self,
        id: u64,
        function: &str,
        file: &str,
        firstlineno: i32,
        table: &[u8],
    ) -> &mut Self {
        self.byte(0x0e).varint(id).cstr(function.as_bytes()).cstr(file.as_bytes());
        let d = firstlineno.wrapping_sub(self.last_firstlineno);
        self.last_firstlineno = firstlineno;
        self.svarint(i64::from(d)).varint(table.len() as u64).raw(table)
    }

    /// FRAME_PUSH.
    pub fn frame_push(&mut self, code_object_id: u64, offset: i32, entry: bool) -> &mut Self {
        self.byte(0x40 | u8::from(entry)).varint(code_object_id).svarint(i64::from(offset))
    }

    /// FRAME_POP of 1 to 16 frames.
    pub fn frame_pop(&mut self, count: u8) -> &mut Self {
        self.byte(0x10 | (count - 1))
    }

    /// MEMORY_RECORD, `dt` ms after start.
    pub fn memory(&mut self, rss: u64, dt: u64) -> &mut Self {
        self.byte(0x02).varint(rss).varint(dt)
    }

    /// THREAD_RECORD.
    pub fn thread_name(&mut self, name: &str) -> &mut Self {
        self.byte(0x0a).cstr(name.as_bytes())
    }

    /// TRAILER.
    pub fn trailer(&mut self) -> &mut Self {
        self.byte(0x01)
    }

    /// The bytes written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The finished capture.
    pub fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

impl Default for CaptureBuilder {
    fn default() -> Self {
        CaptureBuilder::new()
    }
}
