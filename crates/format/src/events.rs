//! Allocation events with their stacks: the reader state memray keeps while it reads a body
//! (spec §2.4–§2.6, §3, §5.1).
//!
//! [`Events`] follows FRAME_PUSH/FRAME_POP per thread over a shared trace tree, registers frames,
//! code objects, native trace nodes, memory-map generations and thread names in [`StackTables`],
//! and yields one [`Event`] per ALLOCATION, MEMORY_RECORD, object record or aggregated record.
//! Stack numbering (frame ids, trace nodes) is created exactly when memray creates it, so node
//! numbers match memray's and can be used to reproduce its orderings.
//!
//! Memory stays proportional to the number of distinct frames, stacks and native nodes; nothing is
//! kept per event.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::header::Header;
use crate::linetable::{self, CharSignedness};
use crate::record::{AggregatedAllocation, Allocation, Allocator, CodeObject, Record};
use crate::records::{Hot, Records, StreamEnd};

/// A Python source location: `(function, filename, lineno)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    /// Function name (`co_name`).
    pub function: String,
    /// File name as recorded (relative, absolute or `<frozen …>`).
    pub filename: String,
    /// Line number (0 when unknown).
    pub lineno: i32,
}

/// What a frame id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FrameKey {
    /// v12+: a code object at an instruction.
    Code { code_object_id: u64, instruction_offset: i32, is_entry_frame: bool },
    /// v8–v11: an index into `legacy_locations`.
    Legacy { index: u32, is_entry_frame: bool },
}

/// The key of a v12+ child: the parent node, `code object << 1 | entry flag` (code object ids
/// below 2³¹; larger ones go through the frame registry) and the offset. Three 4-byte words, so
/// that an entry of the table is 16 bytes and a tree of 100,000 nodes keeps it within 2 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct CodeChild {
    parent: u32,
    code_entry: u32,
    offset: i32,
}

/// A trace-tree node: a frame on top of a parent node (node 0 is the empty stack).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceNode {
    /// Frame id (index into the frame registry).
    pub frame: u32,
    /// Parent node.
    pub parent: u32,
}

/// One loaded image of a memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Path of the image (raw OS bytes).
    pub filename: Vec<u8>,
    /// Load address.
    pub load_address: u64,
    /// `(vaddr, memsz)` of each segment, relative to the load address.
    pub segments: Vec<(u64, u64)>,
}

/// The tables built while reading: frames, trace tree, native nodes, maps, threads.
#[derive(Debug)]
pub struct StackTables {
    python_version: u32,
    chars: CharSignedness,
    code_objects: FxHashMap<u64, CodeObject>,
    frames: Vec<FrameKey>,
    frame_ids: FxHashMap<FrameKey, u32>,
    /// v8–v11 frame ids as written in the file → index into `frames`.
    legacy_frame_ids: FxHashMap<u64, u32>,
    legacy_locations: Vec<Location>,
    nodes: Vec<TraceNode>,
    /// `(parent << 32) | frame` → child node (v8–v11 pushes, aggregated trace indexes).
    children: FxHashMap<u64, u32>,
    /// v12+ pushes: (parent, code object, entry flag, offset) → child node.
    code_children: FxHashMap<CodeChild, u32>,
    native_nodes: Vec<(u64, u64)>,
    generations: Vec<Vec<Image>>,
    thread_names: BTreeMap<u64, String>,
    locations: Vec<Option<Location>>,
}

impl StackTables {
    fn new(header: &Header) -> StackTables {
        StackTables {
            python_version: header.python_version.unwrap_or(0),
            chars: CharSignedness::default(),
            code_objects: FxHashMap::default(),
            frames: Vec::new(),
            frame_ids: FxHashMap::default(),
            legacy_frame_ids: FxHashMap::default(),
            legacy_locations: Vec::new(),
            nodes: vec![TraceNode { frame: u32::MAX, parent: 0 }],
            children: FxHashMap::default(),
            code_children: FxHashMap::default(),
            native_nodes: vec![(0, 0)],
            generations: vec![Vec::new()],
            thread_names: BTreeMap::new(),
            locations: Vec::new(),
        }
    }

    fn register_frame(&mut self, key: FrameKey) -> u32 {
        if let Some(&id) = self.frame_ids.get(&key) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(key);
        self.frame_ids.insert(key, id);
        id
    }

    /// memray's `FrameTree::getTraceIndex`: the child of `parent` for `frame`, created on demand.
    #[inline]
    fn child(&mut self, parent: u32, frame: u32) -> u32 {
        let key = u64::from(parent) << 32 | u64::from(frame);
        if let Some(&node) = self.children.get(&key) {
            return node;
        }
        let node = self.nodes.len() as u32;
        self.nodes.push(TraceNode { frame, parent });
        self.children.insert(key, node);
        node
    }

    /// The child of `parent` for a v12+ frame, created (and the frame registered) on demand. A
    /// push onto a known stack, nearly every push, costs one probe of `code_children`, not one of
    /// the frame registry and one of `children`.
    #[inline]
    fn code_child(&mut self, parent: u32, key: FrameKey) -> u32 {
        let FrameKey::Code { code_object_id, instruction_offset, is_entry_frame } = key else {
            let frame = self.register_frame(key);
            return self.child(parent, frame);
        };
        if code_object_id >= 1 << 31 {
            let frame = self.register_frame(key);
            return self.child(parent, frame);
        }
        let probe = CodeChild {
            parent,
            code_entry: (code_object_id as u32) << 1 | u32::from(is_entry_frame),
            offset: instruction_offset,
        };
        if let Some(&node) = self.code_children.get(&probe) {
            return node;
        }
        let frame = self.register_frame(key);
        let node = self.nodes.len() as u32;
        self.nodes.push(TraceNode { frame, parent });
        self.code_children.insert(probe, node);
        node
    }

    /// Number of trace-tree nodes, the root included.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of distinct frames.
    pub fn n_frames(&self) -> usize {
        self.frames.len()
    }

    /// Number of native trace nodes (node 0, "no stack", included).
    pub fn n_native_nodes(&self) -> usize {
        self.native_nodes.len()
    }

    /// A trace-tree node (`None` for 0 or an unknown node).
    pub fn node(&self, node: u32) -> Option<TraceNode> {
        if node == 0 {
            return None;
        }
        self.nodes.get(node as usize).copied()
    }

    /// The frame ids of a node's stack, innermost first.
    pub fn frames_of(&self, mut node: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(n) = self.node(node) {
            out.push(n.frame);
            node = n.parent;
        }
        out
    }

    /// Whether a frame has its own eval call (for hybrid native stacks).
    pub fn is_entry_frame(&self, frame: u32) -> bool {
        match self.frames.get(frame as usize) {
            Some(
                FrameKey::Code { is_entry_frame, .. } | FrameKey::Legacy { is_entry_frame, .. },
            ) => *is_entry_frame,
            None => true,
        }
    }

    /// The source location of a frame, computed once per frame id.
    pub fn location(&mut self, frame: u32) -> &Location {
        let i = frame as usize;
        if self.locations.len() <= i {
            self.locations.resize(self.frames.len().max(i + 1), None);
        }
        if self.locations[i].is_none() {
            let loc = self.compute_location(frame);
            self.locations[i] = Some(loc);
        }
        self.locations[i].as_ref().expect("filled above")
    }

    /// The source location of a frame, without caching.
    pub fn compute_location(&self, frame: u32) -> Location {
        match self.frames.get(frame as usize) {
            Some(key) => self.location_of(key, |code, offset| {
                linetable::line_number(
                    self.python_version,
                    &code.linetable,
                    code.firstlineno,
                    offset,
                    self.chars,
                )
            }),
            None => Location { function: String::new(), filename: String::new(), lineno: 0 },
        }
    }

    /// The source location of every frame, in frame-id order. Each code object's line table is
    /// decoded once (a line index per code object), so a function with many distinct lines costs its
    /// table once rather than once per line.
    pub fn all_locations(&self) -> Vec<Location> {
        let mut indexes: FxHashMap<u64, linetable::LineIndex> = FxHashMap::default();
        let mut line = |code: &CodeObject, offset: i32| {
            let index = indexes.entry(code.id).or_insert_with(|| {
                linetable::LineIndex::new(
                    self.python_version,
                    &code.linetable,
                    code.firstlineno,
                    self.chars,
                )
            });
            index.line(offset)
        };
        self.frames.iter().map(|key| self.location_of(key, &mut line)).collect()
    }

    /// A frame's location, with `line` finding the line of an instruction in a code object.
    fn location_of(&self, key: &FrameKey, line: impl FnOnce(&CodeObject, i32) -> i32) -> Location {
        match key {
            FrameKey::Code { code_object_id, instruction_offset, .. } => {
                match self.code_objects.get(code_object_id) {
                    Some(code) => Location {
                        function: code.function_name.clone(),
                        filename: code.filename.clone(),
                        lineno: line(code, *instruction_offset),
                    },
                    // memray resolves an unknown code object to an empty location.
                    None => {
                        Location { function: String::new(), filename: String::new(), lineno: 0 }
                    }
                }
            }
            FrameKey::Legacy { index, .. } => self.legacy_locations[*index as usize].clone(),
        }
    }

    /// The Python stack of a node, innermost first.
    pub fn stack(&mut self, node: u32) -> Vec<Location> {
        self.frames_of(node).into_iter().map(|f| self.location(f).clone()).collect()
    }

    /// A native trace node: `(ip, parent)`; node 0 is "no native stack".
    pub fn native_node(&self, node: u64) -> Option<(u64, u64)> {
        if node == 0 {
            return None;
        }
        self.native_nodes.get(usize::try_from(node).ok()?).copied()
    }

    /// The instruction pointers of a native stack, innermost first.
    pub fn native_stack(&self, mut node: u64) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some((ip, parent)) = self.native_node(node) {
            out.push(ip);
            if parent >= node {
                break; // Parents always precede children; stop on a malformed chain.
            }
            node = parent;
        }
        out
    }

    /// The images of a memory-map generation (generation 0 has none).
    pub fn images(&self, generation: u32) -> &[Image] {
        self.generations.get(generation as usize).map_or(&[], Vec::as_slice)
    }

    /// Number of memory-map generations seen.
    pub fn n_generations(&self) -> u32 {
        (self.generations.len() - 1) as u32
    }

    /// Thread names seen so far, by memray thread id (the last name given wins).
    pub fn thread_names(&self) -> &BTreeMap<u64, String> {
        &self.thread_names
    }

    /// Selects how the ≤ 3.9 line decoder treats bytecode deltas ≥ 128.
    pub fn set_char_signedness(&mut self, chars: CharSignedness) {
        self.chars = chars;
        self.locations.clear();
    }
}

/// One allocator call with its attribution (spec §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationEvent {
    /// Index among ALLOCATION records (0-based).
    pub index: u64,
    /// memray thread id.
    pub tid: u64,
    /// Address.
    pub address: u64,
    /// Size in bytes (0 for free and pymalloc_free).
    pub size: u64,
    /// Allocator.
    pub allocator: Allocator,
    /// Python trace node (0 for deallocations and empty stacks).
    pub python_node: u32,
    /// Native trace node (0 for deallocations and without `--native`).
    pub native_node: u64,
    /// Memory-map generation (0 for deallocations).
    pub generation: u32,
}

/// A memory sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    /// ms since the epoch.
    pub ms_since_epoch: u64,
    /// Resident set size.
    pub rss: u64,
    /// Live heap, when stored (aggregated captures); streaming captures compute it by replay.
    pub heap: Option<u64>,
}

/// An event of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An allocator call.
    Allocation(AllocationEvent),
    /// A memory sample (MEMORY_RECORD, or MEMORY_SNAPSHOT of an aggregated capture).
    Memory(MemorySample),
    /// A Python object created or destroyed (object-lifetime tracking).
    Object {
        /// memray thread id.
        tid: u64,
        /// `PyObject*`.
        address: u64,
        /// Creation or destruction.
        created: bool,
        /// Python node for creations.
        python_node: u32,
    },
    /// Totals of one location in an aggregated capture.
    Aggregated(AggregatedAllocation),
    /// A thread was given a name (THREAD_RECORD), from here on in the stream; a later name
    /// replaces it. The name is also kept in [`StackTables::thread_names`], which a consumer
    /// on another thread than the decoder cannot read while the pass runs.
    ThreadName {
        /// memray thread id.
        tid: u64,
        /// The name, invalid UTF-8 replaced.
        name: Box<str>,
    },
}

/// Counts of what was read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// All records.
    pub records: u64,
    /// ALLOCATION records (frees included): memray's `total_allocations`.
    pub allocation_records: u64,
    /// MEMORY_RECORD / MEMORY_SNAPSHOT records.
    pub memory_records: u64,
    /// AGGREGATED_ALLOCATION records.
    pub aggregated_records: u64,
    /// CONTEXT_SWITCH records.
    pub context_switches: u64,
    /// OBJECT_RECORD records.
    pub object_records: u64,
}

/// A thread's Python stack as trace-tree nodes.
#[derive(Debug, Clone, Default)]
struct ThreadState {
    /// The nodes of the stack, outermost first; the last is the stack's node. (Keeping popped
    /// levels to re-enter them without a probe was measured to hit under 0.2% of the pushes of
    /// real captures: the writer re-pushes a frame whenever its line changed, at a new offset.)
    stack: Vec<u32>,
}

impl ThreadState {
    /// The node of the stack (0: empty).
    #[inline]
    fn top(&self) -> u32 {
        self.stack.last().copied().unwrap_or(0)
    }

    /// Pops `count` frames, or says the stack holds fewer.
    #[inline]
    fn pop(&mut self, count: u8) -> bool {
        let count = usize::from(count);
        match self.stack.len().checked_sub(count) {
            Some(depth) => {
                self.stack.truncate(depth);
                true
            }
            None => false,
        }
    }
}

/// Where the stream stands when an allocation is read: its index among the allocations, the
/// segment generation and the current thread's stack.
#[derive(Clone, Copy)]
struct Here {
    index: u64,
    generation: u32,
    top: u32,
}

/// The event of an ALLOCATION record.
#[inline(always)]
fn allocation_event(a: Allocation, tid: u64, at: Here, legacy: bool) -> AllocationEvent {
    // memray drops stack data for deallocations (spec §2.3), even when the record carries a
    // native id (MUNMAP). v8–v11: a record without native id has segment generation 0.
    let (python_node, native_node, generation) = if a.allocator.is_deallocator() {
        (0, 0, 0)
    } else if legacy && a.native_frame_id.is_none() {
        (at.top, 0, 0)
    } else {
        (at.top, a.native_frame_id.unwrap_or(0), at.generation)
    };
    AllocationEvent {
        index: at.index,
        tid,
        address: a.address,
        size: a.size,
        allocator: a.allocator,
        python_node,
        native_node,
        generation,
    }
}

/// The event stream of a capture.
pub struct Events {
    header: Header,
    records: Records,
    tables: StackTables,
    threads: FxHashMap<u64, ThreadState>,
    current_tid: Option<u64>,
    /// The current thread's stack. It lives here rather than in `threads` while the thread runs,
    /// so pushes, pops and allocations touch no map; a context switch stores it back.
    current: ThreadState,
    counts: Counts,
    aggregated_frames_pending: bool,
    legacy_aggregated_frames: BTreeMap<u64, (u32, bool)>,
    failed: bool,
}

impl Events {
    /// Follows the records of a capture body.
    pub fn new(header: Header, records: Records) -> Events {
        let tables = StackTables::new(&header);
        Events {
            header,
            records,
            tables,
            threads: FxHashMap::default(),
            current_tid: None,
            current: ThreadState::default(),
            counts: Counts::default(),
            aggregated_frames_pending: false,
            legacy_aggregated_frames: BTreeMap::new(),
            failed: false,
        }
    }

    /// The capture header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The tables built so far.
    pub fn tables(&self) -> &StackTables {
        &self.tables
    }

    /// The tables, mutable (location caching).
    pub fn tables_mut(&mut self) -> &mut StackTables {
        &mut self.tables
    }

    /// Consumes the reader, keeping its tables.
    pub fn into_tables(self) -> StackTables {
        self.tables
    }

    /// Thread ids seen in CONTEXT_SWITCH records, sorted.
    pub fn thread_ids(&self) -> Vec<u64> {
        let mut tids: Vec<u64> = self.threads.keys().copied().collect();
        tids.sort_unstable();
        tids
    }

    /// Counts of records read so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How the body ended, once iteration is over.
    pub fn end(&self) -> Option<StreamEnd> {
        self.records.end()
    }

    /// How the body ended, or — when iteration has not reached the end — a truncation at the
    /// current offset, with what was read so far.
    pub fn end_or_here(&self) -> StreamEnd {
        self.end().unwrap_or(StreamEnd::Truncated(crate::records::Truncation {
            offset: self.offset(),
            records_read: self.counts.records,
            partial_record_type: None,
            lz4_cut: false,
            wrapping_cut: false,
        }))
    }

    /// Current stream offset.
    pub fn offset(&self) -> u64 {
        self.records.offset()
    }

    /// The current thread's top node and thread id, or an error.
    fn thread(&mut self, offset: u64) -> Result<(u64, &mut ThreadState)> {
        match self.current_tid {
            Some(tid) => Ok((tid, &mut self.current)),
            None => Err(Error::new(ErrorKind::NoCurrentThread, offset)
                .at_record(self.records.records_read().saturating_sub(1))
                .of_lz4(self.records.is_decompressed())),
        }
    }

    fn corrupt(&self, kind: ErrorKind, offset: u64) -> Error {
        Error::new(kind, offset)
            .at_record(self.records.records_read().saturating_sub(1))
            .of_lz4(self.records.is_decompressed())
    }

    fn handle(&mut self, record: Record, offset: u64) -> Result<Option<Event>> {
        self.counts.records += 1;
        match record {
            Record::Allocation(a) => {
                let (tid, _) = self.thread(offset)?;
                Ok(Some(Event::Allocation(self.allocation_event(a, tid))))
            }
            Record::FramePush { code_object_id, instruction_offset, is_entry_frame } => {
                let key = FrameKey::Code { code_object_id, instruction_offset, is_entry_frame };
                self.push_code(key, offset)?;
                Ok(None)
            }
            Record::LegacyFramePush { frame_id } => {
                let Some(&frame) = self.tables.legacy_frame_ids.get(&frame_id) else {
                    return Err(self.corrupt(ErrorKind::UndefinedReference, offset));
                };
                self.push(frame, offset)?;
                Ok(None)
            }
            Record::FramePop { count } => {
                if self.current_tid.is_none() {
                    return Err(self.corrupt(ErrorKind::NoCurrentThread, offset));
                }
                // The pass stops at the error, so checking before popping changes nothing.
                if !self.current.pop(count) {
                    return Err(self.corrupt(ErrorKind::StackUnderflow, offset));
                }
                Ok(None)
            }
            Record::ObjectRecord { address, created, .. } => {
                self.counts.object_records += 1;
                let (tid, state) = self.thread(offset)?;
                let python_node = if created { state.top() } else { 0 };
                Ok(Some(Event::Object { tid, address, created, python_node }))
            }
            Record::MemoryRecord { rss, ms_since_epoch } => {
                self.counts.memory_records += 1;
                Ok(Some(Event::Memory(MemorySample { ms_since_epoch, rss, heap: None })))
            }
            Record::MemorySnapshot { ms_since_epoch, rss, heap } => {
                self.counts.memory_records += 1;
                Ok(Some(Event::Memory(MemorySample { ms_since_epoch, rss, heap: Some(heap) })))
            }
            Record::NativeTraceIndex { ip, parent } => {
                if parent >= self.tables.native_nodes.len() as u64 {
                    return Err(self.corrupt(ErrorKind::UndefinedReference, offset));
                }
                self.tables.native_nodes.push((ip, parent));
                Ok(None)
            }
            Record::MemoryMapStart => {
                self.tables.generations.push(Vec::new());
                Ok(None)
            }
            Record::SegmentHeader { filename, load_address, .. } => {
                let images = self.tables.generations.last_mut().expect("generation 0 exists");
                images.push(Image { filename, load_address, segments: Vec::new() });
                Ok(None)
            }
            Record::Segment { vaddr, memsz } => {
                let images = self.tables.generations.last_mut().expect("generation 0 exists");
                if let Some(image) = images.last_mut() {
                    image.segments.push((vaddr, memsz));
                }
                Ok(None)
            }
            Record::ThreadRecord { name } => {
                let tid = match self.current_tid {
                    Some(tid) => tid,
                    None => return Err(self.corrupt(ErrorKind::NoCurrentThread, offset)),
                };
                let name = String::from_utf8_lossy(&name).into_owned();
                self.tables.thread_names.insert(tid, name.clone());
                Ok(Some(Event::ThreadName { tid, name: name.into_boxed_str() }))
            }
            Record::ContextSwitch { tid } => {
                self.counts.context_switches += 1;
                if let Some(old) = self.current_tid.replace(tid) {
                    self.threads.insert(old, std::mem::take(&mut self.current));
                }
                // The map keeps an entry for the running thread too, so it lists every thread.
                self.current = std::mem::take(self.threads.entry(tid).or_default());
                Ok(None)
            }
            Record::CodeObject(code) => {
                self.tables.code_objects.insert(code.id, *code);
                Ok(None)
            }
            Record::LegacyFrameIndex(f) => {
                let index = self.tables.legacy_locations.len() as u32;
                self.tables.legacy_locations.push(Location {
                    function: f.function_name,
                    filename: f.filename,
                    lineno: f.lineno,
                });
                let frame = self.tables.frames.len() as u32;
                self.tables
                    .frames
                    .push(FrameKey::Legacy { index, is_entry_frame: f.is_entry_frame });
                self.tables.legacy_frame_ids.insert(f.frame_id, frame);
                Ok(None)
            }
            Record::PythonFrameIndex {
                frame_id,
                code_object_id,
                instruction_offset,
                is_entry_frame,
            } => {
                if frame_id != self.tables.frames.len() as u64 {
                    return Err(self.corrupt(ErrorKind::FrameIdMismatch, offset));
                }
                let key = FrameKey::Code { code_object_id, instruction_offset, is_entry_frame };
                self.tables.frames.push(key);
                self.tables.frame_ids.entry(key).or_insert(frame_id as u32);
                Ok(None)
            }
            Record::LegacyPythonFrameIndex(f) => {
                // v10–v11 store frames in hash order: collect them, number them at the first
                // trace index (every frame is written before any trace).
                if self.legacy_aggregated_frames.contains_key(&f.frame_id) {
                    return Err(self.corrupt(ErrorKind::FrameIdMismatch, offset));
                }
                let index = self.tables.legacy_locations.len() as u32;
                self.tables.legacy_locations.push(Location {
                    function: f.function_name,
                    filename: f.filename,
                    lineno: f.lineno,
                });
                self.legacy_aggregated_frames.insert(f.frame_id, (index, f.is_entry_frame));
                self.aggregated_frames_pending = true;
                Ok(None)
            }
            Record::PythonTraceIndex { frame_id, parent_index } => {
                if self.aggregated_frames_pending {
                    self.number_legacy_aggregated_frames();
                }
                let frame = if self.header.has_modern_records() {
                    frame_id
                } else {
                    match self.tables.legacy_frame_ids.get(&frame_id) {
                        Some(&f) => u64::from(f),
                        None => return Err(self.corrupt(ErrorKind::UndefinedReference, offset)),
                    }
                };
                if frame >= self.tables.frames.len() as u64
                    || parent_index >= self.tables.nodes.len() as u64
                {
                    return Err(self.corrupt(ErrorKind::UndefinedReference, offset));
                }
                let (frame, parent) = (frame as u32, parent_index as u32);
                let node = self.tables.nodes.len() as u32;
                self.tables.nodes.push(TraceNode { frame, parent });
                self.tables
                    .children
                    .entry(u64::from(parent) << 32 | u64::from(frame))
                    .or_insert(node);
                Ok(None)
            }
            Record::SurvivingObject { .. } => {
                self.counts.object_records += 1;
                Ok(None)
            }
            Record::AggregatedAllocation(a) => {
                self.counts.aggregated_records += 1;
                // Aggregated captures have no context switches: their threads are known from
                // the records that carry them.
                self.threads.entry(a.tid).or_default();
                Ok(Some(Event::Aggregated(*a)))
            }
            Record::Trailer | Record::AggregatedTrailer => Ok(None),
        }
    }

    fn number_legacy_aggregated_frames(&mut self) {
        self.aggregated_frames_pending = false;
        for (&file_id, &(index, is_entry_frame)) in &self.legacy_aggregated_frames {
            if self.tables.legacy_frame_ids.contains_key(&file_id) {
                continue;
            }
            let frame = self.tables.frames.len() as u32;
            self.tables.frames.push(FrameKey::Legacy { index, is_entry_frame });
            self.tables.legacy_frame_ids.insert(file_id, frame);
        }
    }

    /// The event of an ALLOCATION record of thread `tid` (the current one).
    #[inline]
    fn allocation_event(&mut self, a: Allocation, tid: u64) -> AllocationEvent {
        let legacy = !self.header.has_modern_records();
        let at = Here {
            index: self.counts.allocation_records,
            generation: self.tables.n_generations(),
            top: self.current.top(),
        };
        self.counts.allocation_records += 1;
        allocation_event(a, tid, at, legacy)
    }

    /// Appends events to `out` until it holds `max` of them or the stream ends, and says whether
    /// more may follow. An error ends the stream after the events that came before it, as
    /// [`Iterator::next`] would give them; it is returned once, and then nothing more.
    ///
    /// This is the pass's hot loop: the three records that make up nearly all of a v12+ body
    /// (ALLOCATION, FRAME_PUSH, FRAME_POP) are taken straight from the window and handled here,
    /// without the general [`Record`] and its dispatch; everything else goes through `next`.
    pub fn fill(&mut self, out: &mut Vec<Event>, max: usize) -> Result<bool> {
        let modern = self.header.has_modern_records();
        while out.len() < max {
            if let Some(tid) = self.current_tid.filter(|_| !self.failed && modern) {
                // The fields the run touches, borrowed apart from the record reader.
                let (tables, current, counts) =
                    (&mut self.tables, &mut self.current, &mut self.counts);
                let generation = tables.n_generations();
                let mut underflow = None;
                let decoded = self.records.hot_run(|hot, offset| {
                    counts.records += 1;
                    match hot {
                        Hot::Allocation(a) => {
                            let at = Here {
                                index: counts.allocation_records,
                                generation,
                                top: current.top(),
                            };
                            counts.allocation_records += 1;
                            out.push(Event::Allocation(allocation_event(a, tid, at, false)));
                            out.len() < max
                        }
                        Hot::Push { code_object_id, instruction_offset, is_entry_frame } => {
                            let key = FrameKey::Code {
                                code_object_id,
                                instruction_offset,
                                is_entry_frame,
                            };
                            let node = tables.code_child(current.top(), key);
                            current.stack.push(node);
                            true
                        }
                        Hot::Pop { count } => {
                            let popped = current.pop(count);
                            if !popped {
                                underflow = Some(offset);
                            }
                            popped
                        }
                    }
                });
                if let Some(offset) = underflow {
                    self.failed = true;
                    return Err(self.corrupt(ErrorKind::StackUnderflow, offset));
                }
                if decoded > 0 {
                    continue;
                }
            }
            match self.next() {
                Some(Ok(event)) => out.push(event),
                Some(Err(e)) => return Err(e),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Pushes the frame `frame` (a v8–v11 frame id) on the current thread.
    fn push(&mut self, frame: u32, offset: u64) -> Result<()> {
        if self.current_tid.is_none() {
            return Err(self.corrupt(ErrorKind::NoCurrentThread, offset));
        }
        let node = self.tables.child(self.current.top(), frame);
        self.current.stack.push(node);
        Ok(())
    }

    /// Pushes a v12+ frame (a code object at an instruction) on the current thread.
    #[inline]
    fn push_code(&mut self, key: FrameKey, offset: u64) -> Result<()> {
        if self.current_tid.is_none() {
            return Err(self.corrupt(ErrorKind::NoCurrentThread, offset));
        }
        let node = self.tables.code_child(self.current.top(), key);
        self.current.stack.push(node);
        Ok(())
    }
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.failed {
            return None;
        }
        loop {
            let offset = self.records.offset();
            let record = match self.records.next_hot() {
                Some(r) => r,
                None => match self.records.next()? {
                    Ok(r) => r,
                    Err(e) => return Some(Err(e)),
                },
            };
            match self.handle(record, offset) {
                Ok(Some(event)) => return Some(Ok(event)),
                Ok(None) => {}
                Err(e) => {
                    // Stop after the first error, like the record iterator does.
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
