//! The records of a capture body, decoded: every delta applied, every cached pointer resolved.
//!
//! One enum covers the three body layouts: the streaming layout of v12+ (spec §2), the streaming
//! layout of v8–v11 (Appendix B) and the aggregated layouts (§3). Values are absolute, so a record
//! can be printed or analysed without the decoder's registers.

/// The allocator functions memray intercepts, numbered as since format version 12.
///
/// Versions 8–11 numbered them differently; the decoder maps the old ids to these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum Allocator {
    PymallocFree = 1,
    PymallocMalloc = 2,
    PymallocCalloc = 3,
    PymallocRealloc = 4,
    Free = 5,
    Malloc = 6,
    Realloc = 7,
    Calloc = 8,
    PosixMemalign = 9,
    AlignedAlloc = 10,
    Memalign = 11,
    Valloc = 12,
    Pvalloc = 13,
    Mmap = 14,
    Munmap = 15,
}

/// How an allocator changes the live heap (spec §2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Creates one block at an address (malloc, calloc, realloc, pymalloc_*, …).
    SimpleAllocator,
    /// Frees the block at an address (free, pymalloc_free).
    SimpleDeallocator,
    /// Maps a byte range (mmap).
    RangedAllocator,
    /// Unmaps a byte range, possibly part of a mapping (munmap).
    RangedDeallocator,
}

const ALL_ALLOCATORS: [Allocator; 15] = [
    Allocator::PymallocFree,
    Allocator::PymallocMalloc,
    Allocator::PymallocCalloc,
    Allocator::PymallocRealloc,
    Allocator::Free,
    Allocator::Malloc,
    Allocator::Realloc,
    Allocator::Calloc,
    Allocator::PosixMemalign,
    Allocator::AlignedAlloc,
    Allocator::Memalign,
    Allocator::Valloc,
    Allocator::Pvalloc,
    Allocator::Mmap,
    Allocator::Munmap,
];

impl Allocator {
    /// All allocators, in id order.
    pub fn all() -> &'static [Allocator; 15] {
        &ALL_ALLOCATORS
    }

    /// The allocator with a v12+ id.
    pub fn from_id(id: u8) -> Option<Allocator> {
        ALL_ALLOCATORS.get(usize::from(id).checked_sub(1)?).copied()
    }

    /// The allocator with a v7–v11 id (1 MALLOC … 15 PYMALLOC_FREE).
    pub fn from_legacy_id(id: u8) -> Option<Allocator> {
        use Allocator::*;
        Some(match id {
            1 => Malloc,
            2 => Free,
            3 => Calloc,
            4 => Realloc,
            5 => PosixMemalign,
            6 => AlignedAlloc,
            7 => Memalign,
            8 => Valloc,
            9 => Pvalloc,
            10 => Mmap,
            11 => Munmap,
            12 => PymallocMalloc,
            13 => PymallocCalloc,
            14 => PymallocRealloc,
            15 => PymallocFree,
            _ => return None,
        })
    }

    /// The v12+ id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The v7–v11 id.
    pub fn legacy_id(self) -> u8 {
        (1..=15).find(|&id| Allocator::from_legacy_id(id) == Some(self)).unwrap_or(0)
    }

    /// How this allocator changes the live heap.
    pub fn kind(self) -> AllocatorKind {
        match self {
            Allocator::Free | Allocator::PymallocFree => AllocatorKind::SimpleDeallocator,
            Allocator::Mmap => AllocatorKind::RangedAllocator,
            Allocator::Munmap => AllocatorKind::RangedDeallocator,
            _ => AllocatorKind::SimpleAllocator,
        }
    }

    /// Whether the allocator releases memory (free, pymalloc_free, munmap).
    pub fn is_deallocator(self) -> bool {
        matches!(self.kind(), AllocatorKind::SimpleDeallocator | AllocatorKind::RangedDeallocator)
    }

    /// Whether the record carries a size (every allocator but free and pymalloc_free).
    pub(crate) fn has_size(self) -> bool {
        self.kind() != AllocatorKind::SimpleDeallocator
    }

    /// The lower-case name `memray parse` prints (`malloc`, `pymalloc_free`, …).
    pub fn name(self) -> &'static str {
        use Allocator::*;
        match self {
            PymallocFree => "pymalloc_free",
            PymallocMalloc => "pymalloc_malloc",
            PymallocCalloc => "pymalloc_calloc",
            PymallocRealloc => "pymalloc_realloc",
            Free => "free",
            Malloc => "malloc",
            Realloc => "realloc",
            Calloc => "calloc",
            PosixMemalign => "posix_memalign",
            AlignedAlloc => "aligned_alloc",
            Memalign => "memalign",
            Valloc => "valloc",
            Pvalloc => "pvalloc",
            Mmap => "mmap",
            Munmap => "munmap",
        }
    }

    /// The upper-case name of memray's `AllocatorType` enum (`MALLOC`, `PYMALLOC_FREE`, …), used
    /// by `memray stats`.
    pub fn enum_name(self) -> &'static str {
        use Allocator::*;
        match self {
            PymallocFree => "PYMALLOC_FREE",
            PymallocMalloc => "PYMALLOC_MALLOC",
            PymallocCalloc => "PYMALLOC_CALLOC",
            PymallocRealloc => "PYMALLOC_REALLOC",
            Free => "FREE",
            Malloc => "MALLOC",
            Realloc => "REALLOC",
            Calloc => "CALLOC",
            PosixMemalign => "POSIX_MEMALIGN",
            AlignedAlloc => "ALIGNED_ALLOC",
            Memalign => "MEMALIGN",
            Valloc => "VALLOC",
            Pvalloc => "PVALLOC",
            Mmap => "MMAP",
            Munmap => "MUNMAP",
        }
    }
}

/// One allocator call (ALLOCATION, ALLOCATION_WITH_NATIVE in v8–v11).
///
/// v12+ wire layout: `1ppppaaa [svarint Δ(address>>3) if pppp=15] [u8 allocator if aaa=0]
/// [svarint Δnative_id if native && not free-like] [uvarint size if not free-like]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Address of the block (v12+: low 3 bits are always 0).
    pub address: u64,
    /// Size in bytes (0 for free and pymalloc_free, which carry none).
    pub size: u64,
    /// The allocator function.
    pub allocator: Allocator,
    /// Innermost native trace node, if the record carries the field (`--native`).
    pub native_frame_id: Option<u64>,
}

/// A code object (v12+): the function and file of the frames that name its id.
///
/// Wire layout: `0x0E uvarint id, cstr function, cstr filename, svarint Δfirstlineno,
/// uvarint table_len, table bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeObject {
    /// Id, unique per tracker.
    pub id: u64,
    /// `co_name`.
    pub function_name: String,
    /// `co_filename` (may be relative or `<frozen …>`).
    pub filename: String,
    /// `co_firstlineno`.
    pub firstlineno: i32,
    /// `co_linetable` (3.10+) or `co_lnotab` (≤ 3.9).
    pub linetable: Vec<u8>,
}

/// A frame definition of v8–v11 (FRAME_INDEX, or PYTHON_FRAME_INDEX of an aggregated v10–v11 file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFrame {
    /// Frame id.
    pub frame_id: u64,
    /// Function name.
    pub function_name: String,
    /// File name.
    pub filename: String,
    /// Line number.
    pub lineno: i32,
    /// Whether this frame has its own C-level eval call (matters for hybrid native stacks).
    pub is_entry_frame: bool,
}

/// One location's totals in an aggregated capture (a 72-byte struct on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggregatedAllocation {
    /// memray thread id.
    pub tid: u64,
    /// Allocator of the location key.
    pub allocator: Allocator,
    /// Innermost native trace node (0 = none).
    pub native_frame_id: u64,
    /// Python trace-tree node (0 = no Python stack).
    pub python_node: u64,
    /// Memory-map generation the native stack resolves in.
    pub native_segment_generation: u64,
    /// Blocks live at the heap's peak.
    pub n_allocations_in_high_water_mark: u64,
    /// Blocks live at the end.
    pub n_allocations_leaked: u64,
    /// Bytes live at the heap's peak.
    pub bytes_in_high_water_mark: u64,
    /// Bytes live at the end.
    pub bytes_leaked: u64,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// An allocator call by the current thread.
    Allocation(Allocation),
    /// v12+: a frame entered (or re-entered at a new instruction) on the current thread.
    /// Wire: `01uuuuue uvarint code_object_id, svarint instruction_offset`.
    FramePush {
        /// Code object of the frame.
        code_object_id: u64,
        /// Last instruction (byte offset; code units on Python 3.10; −1 before the first).
        instruction_offset: i32,
        /// Whether the frame has its own eval call.
        is_entry_frame: bool,
    },
    /// v8–v11: a frame entered on the current thread. Wire: `0x04 svarint Δframe_id`.
    LegacyFramePush {
        /// Frame id defined by a previous [`Record::LegacyFrameIndex`].
        frame_id: u64,
    },
    /// Frames left on the current thread. Wire: `0001nnnn` (v12+) or `nnnn1001` (v8–v11),
    /// pops n+1.
    FramePop {
        /// Number of frames (1 to 16).
        count: u8,
    },
    /// v12+: a Python object created or destroyed (object-lifetime tracking).
    /// Wire: `001ppppc [svarint Δ(address>>3) if pppp=15] [svarint Δnative if native && c]`.
    ObjectRecord {
        /// `PyObject*`.
        address: u64,
        /// Creation (true) or destruction.
        created: bool,
        /// Innermost native node for creations with native tracing.
        native_frame_id: Option<u64>,
    },
    /// End of the streaming body (`0x01`; `0x10` in v8–v11).
    Trailer,
    /// A resident-set-size sample. Wire: `0x02 uvarint rss, uvarint (ms − start_time)`.
    MemoryRecord {
        /// Resident set size in bytes.
        rss: u64,
        /// Wall-clock time in ms since the epoch (start_time + stored delta, wrapping).
        ms_since_epoch: u64,
    },
    /// A native stack node. Wire: `0x05 svarint Δip, svarint Δparent`.
    NativeTraceIndex {
        /// Return address.
        ip: u64,
        /// Parent node (0 = outermost); nodes are numbered 1, 2, 3… in order of appearance.
        parent: u64,
    },
    /// Begins a new set of memory maps (a new segment generation).
    MemoryMapStart,
    /// A loaded image. Wire: `0x07 cstr filename, uvarint num_segments, u64 load_address`.
    SegmentHeader {
        /// Path of the image (raw OS bytes).
        filename: Vec<u8>,
        /// Number of SEGMENT records that follow.
        num_segments: u64,
        /// Load address (bias).
        load_address: u64,
    },
    /// A loaded segment of the preceding image. Wire: `0x08 u64 vaddr, uvarint memsz`.
    Segment {
        /// Segment address relative to the load address.
        vaddr: u64,
        /// Segment size in memory.
        memsz: u64,
    },
    /// Name of the current thread. Wire: `0x0A cstr name`.
    ThreadRecord {
        /// Thread name (raw bytes).
        name: Vec<u8>,
    },
    /// Switches the current thread. Wire: `0x0C u64 tid`.
    ContextSwitch {
        /// memray thread id (v9+) or `pthread_self()` value (v8).
        tid: u64,
    },
    /// v12+: a code object.
    CodeObject(Box<CodeObject>),
    /// v8–v11: a frame definition. Wire: `nnnn0011 svarint Δframe_id, cstr, cstr, svarint Δline`,
    /// flag bit 0 = not an entry frame.
    LegacyFrameIndex(Box<LegacyFrame>),
    /// Aggregated: a memory sample with the aggregator's heap size. Wire: `0x01 u64 ×3`.
    MemorySnapshot {
        /// ms since the epoch.
        ms_since_epoch: u64,
        /// Resident set size.
        rss: u64,
        /// Live heap bytes at that moment.
        heap: u64,
    },
    /// Aggregated: totals of one location.
    AggregatedAllocation(Box<AggregatedAllocation>),
    /// Aggregated v12+: a frame (code object and instruction).
    PythonFrameIndex {
        /// Frame id (0, 1, 2… in order).
        frame_id: u64,
        /// Code object.
        code_object_id: u64,
        /// Instruction offset.
        instruction_offset: i32,
        /// Entry-frame flag.
        is_entry_frame: bool,
    },
    /// Aggregated v10–v11: a frame with its strings (stored in hash order).
    LegacyPythonFrameIndex(Box<LegacyFrame>),
    /// Aggregated: trace-tree node k (k = 1, 2, 3… in order) = (frame, parent node).
    PythonTraceIndex {
        /// Frame id.
        frame_id: u64,
        /// Parent node (0 = root).
        parent_index: u64,
    },
    /// Aggregated v12+: a Python object alive at the end.
    SurvivingObject {
        /// `PyObject*`.
        address: u64,
        /// Native node, with native tracing.
        native_frame_id: Option<u64>,
    },
    /// Aggregated: end of the body (`0x0F`).
    AggregatedTrailer,
}
