//! The stack model: Python frames with their source lines, the trace tree that shares stack
//! prefixes, native frames (named once [`crate::Analysis::symbolize`] has read the capture's
//! images, else `image+offset`), and memray's stack presentation rules (spec §5.6).
//!
//! Every distinct frame is resolved to a [`Location`] once, when the pass ends; a stack is a
//! node of the trace tree, so stacks share their outer frames and cost one `u32` each wherever
//! they are referenced. Named native frames get frame ids after the Python ones, so a hybrid
//! stack is a list of frame ids like any other, and every view and call tree reads it as such.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use crate::symbols::{ImageError, ImageSymbols, NamedFrame, SymbolSource};

use memreport_format::events::StackTables;
use memreport_format::Header;

pub use memreport_format::events::Location;

/// The spelling of a location when there is no Python frame, as `memray stats` prints it.
pub const NO_STACK: &str = "<stack trace unavailable>";

/// A native frame, resolved against the memory maps of its generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFrame {
    /// The instruction pointer as recorded.
    pub ip: u64,
    /// File name (last path component) of the image holding `ip`, if any segment does.
    pub image: Option<String>,
    /// `ip` relative to the image's load address (or `ip` itself when unmapped).
    pub offset: u64,
}

impl std::fmt::Display for NativeFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.image {
            Some(image) => write!(f, "{image}+{:#x}", self.offset),
            None => write!(f, "{:#x}", self.ip),
        }
    }
}

/// Stacks and frames of one capture, shared by every analysis result.
#[derive(Debug)]
pub struct Stacks {
    tables: StackTables,
    frames: Vec<Location>,
    main_tid: Option<u64>,
    skipped_on_main: usize,
    /// Per frame id, what the analysis's [`crate::View`] decided (empty for memray's view).
    view_flags: Vec<u8>,
    /// The view keeps only some allocations (focus or ignore).
    filters_rows: bool,
    focus: bool,
    /// The view the flags were made with, to judge native frames named after it was set.
    view: Option<crate::View>,
    native: NativeNames,
}

/// Native frames named by [`crate::Analysis::symbolize`], as frame ids after the Python frames.
#[derive(Debug, Default)]
struct NativeNames {
    /// The frames of a native node's own return address in a memory-map generation, innermost
    /// first (an inlined call adds one): a range of `ids`.
    by_node: FxHashMap<(u64, u32), (u32, u32)>,
    ids: Vec<u32>,
    /// The first frame id of a native frame (the number of Python frames).
    first: u32,
    /// Per native frame (id − `first`): [`EVAL_LOOP`] and [`INTERPRETER`].
    kinds: Vec<u8>,
}

/// A native frame that is an interpreter eval loop (spec §5.6).
const EVAL_LOOP: u8 = 1;
/// A frame of the interpreter's own machinery, which memray hides as irrelevant (spec §5.8):
/// its call and eval functions, and its functions that have no name.
const INTERPRETER: u8 = 2;

/// What [`crate::Analysis::symbolize`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Symbolization {
    /// Images of the memory maps that hold a return address of a stack.
    pub images: usize,
    /// Of those, the recorded paths that were not found (or not read), sorted: their frames
    /// stay `image+offset`.
    pub missing: Vec<String>,
    /// Distinct return addresses named.
    pub addresses: usize,
}

impl Stacks {
    /// Resolves every frame of the tables once.
    pub(crate) fn new(tables: StackTables, header: &Header) -> Stacks {
        let frames = tables.all_locations();
        Stacks {
            tables,
            frames,
            main_tid: header.has_main_tid().then_some(header.main_tid),
            skipped_on_main: usize::try_from(header.skipped_frames_on_main_tid)
                .unwrap_or(usize::MAX),
            view_flags: Vec::new(),
            filters_rows: false,
            focus: false,
            view: None,
            native: NativeNames::default(),
        }
    }

    /// Shows stacks through `view` from now on (each frame is judged once, here).
    pub(crate) fn set_view(&mut self, view: &crate::View) {
        self.view_flags = if view.is_memray() {
            Vec::new()
        } else {
            (0..self.frames.len() as u32).map(|f| self.judge(view, f)).collect()
        };
        self.focus = view.has_focus();
        self.filters_rows = view.filters_rows();
        self.view = Some(view.clone());
    }

    /// The view's flags for one frame id.
    fn judge(&self, view: &crate::View, frame: u32) -> u8 {
        let flags = crate::view::flags(view, &self.frames[frame as usize]);
        match frame.checked_sub(self.native.first).filter(|_| self.is_symbolized()) {
            Some(k) => {
                flags
                    | crate::view::native_flags(
                        view,
                        self.native.kinds[k as usize] & INTERPRETER != 0,
                    )
            }
            None => flags,
        }
    }

    /// Whether native frames were named ([`crate::Analysis::symbolize`]): call trees then show
    /// hybrid stacks.
    pub fn is_symbolized(&self) -> bool {
        !self.native.by_node.is_empty()
    }

    /// Whether a frame id is a named native frame.
    pub fn is_native(&self, frame: u32) -> bool {
        self.is_symbolized() && frame >= self.native.first
    }

    /// Names the native frames of these stacks (native node, memory-map generation) from the
    /// ELF files the capture's memory maps name, found through `source` (see
    /// [`crate::symbols`]). Each return address is looked up once, each image read once.
    pub(crate) fn symbolize(
        &mut self,
        stacks: impl Iterator<Item = (u64, u32)>,
        source: &SymbolSource,
    ) -> Symbolization {
        if !self.is_symbolized() {
            self.native.first = self.frames.len() as u32;
        }
        let mut resolver = Resolver::new(source);
        for (node, generation) in stacks {
            let chain: Vec<(u64, u64)> = self
                .native_chain(node)
                // Once a node is named, its callers are too: chains are named whole.
                .take_while(|&(n, _)| !self.native.by_node.contains_key(&(n, generation)))
                .collect();
            for (n, ip) in chain {
                let range = resolver.resolve(self, ip, generation);
                self.native.by_node.insert((n, generation), range);
            }
        }
        if let Some(view) = self.view.take() {
            self.set_view(&view);
        }
        resolver.finish()
    }

    /// The stack a call tree shows for a row: hybrid when native frames are named and the row
    /// has a native stack, else the Python stack; through the view unless `every_frame`.
    pub(crate) fn tree_stack_ids_into(
        &self,
        row: (u32, u64, u32),
        tid: u64,
        every_frame: bool,
        frames: &mut Vec<u32>,
    ) {
        let (python_node, native_node, generation) = row;
        if self.is_symbolized() && native_node != 0 {
            self.hybrid_ids_into(python_node, native_node, generation, tid, frames);
            if !every_frame && !self.view_flags.is_empty() {
                crate::view::present(frames, &self.view_flags);
            }
        } else if every_frame {
            self.memray_stack_ids_into(python_node, tid, frames);
        } else {
            self.python_stack_ids_into(python_node, tid, frames);
        }
    }

    /// The frame ids a call tree shows for a row, innermost first: its hybrid stack when native
    /// frames are named ([`Stacks::is_symbolized`]) and it has a native stack, else its Python
    /// stack; through the analysis's view, or as memray records it with `every_frame`.
    pub fn row_stack_ids(&self, entry: &crate::Entry, every_frame: bool) -> Vec<u32> {
        let mut frames = Vec::new();
        let row = (entry.python_node, entry.native_node, entry.generation);
        self.tree_stack_ids_into(row, entry.representative_tid, every_frame, &mut frames);
        frames
    }

    /// A native stack's nodes with their return addresses, innermost first (a malformed chain,
    /// whose parent does not precede its child, ends there).
    fn native_chain(&self, node: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut next = Some(node);
        std::iter::from_fn(move || {
            let n = next?;
            let (ip, parent) = self.tables.native_node(n)?;
            next = (parent < n).then_some(parent);
            Some((n, ip))
        })
    }

    /// How many outermost frames memray trims from a full stack of this thread.
    fn skipped_for(&self, tid: u64) -> usize {
        if self.main_tid == Some(tid) {
            self.skipped_on_main
        } else {
            0
        }
    }

    /// The hybrid stack of a record as frame ids, innermost first (spec §5.6).
    fn hybrid_ids_into(
        &self,
        python_node: u32,
        native_node: u64,
        generation: u32,
        tid: u64,
        frames: &mut Vec<u32>,
    ) {
        let mut native: Vec<(u32, bool)> = Vec::new();
        for (n, _) in self.native_chain(native_node) {
            if let Some(&(start, len)) = self.native.by_node.get(&(n, generation)) {
                for &id in &self.native.ids[start as usize..(start + len) as usize] {
                    let kind = self.native.kinds[(id - self.native.first) as usize];
                    native.push((id, kind & EVAL_LOOP != 0));
                }
            }
        }
        let python: Vec<(u32, bool)> = self
            .frame_ids(python_node)
            .filter(|&f| (f as usize) < self.frames.len())
            .map(|f| (f, self.tables.is_entry_frame(f)))
            .collect();
        let to_skip = self.skipped_for(tid);
        frames.clear();
        frames.extend(merge_hybrid(native, &python, to_skip));
    }

    /// Whether the view keeps only some allocations (a focus or an ignore).
    pub(crate) fn filters_rows(&self) -> bool {
        self.filters_rows
    }

    /// Whether the view keeps an allocation with this stack (always, without focus or ignore).
    pub(crate) fn keeps(&self, node: u32, tid: u64) -> bool {
        if !self.filters_rows {
            return true;
        }
        let mut frames = Vec::new();
        self.memray_stack_ids_into(node, tid, &mut frames);
        crate::view::keeps(&frames, &self.view_flags, self.focus)
    }

    /// Number of distinct Python frames.
    pub fn n_frames(&self) -> usize {
        self.frames.len()
    }

    /// The location of a frame id.
    pub fn frame(&self, frame: u32) -> Option<&Location> {
        self.frames.get(frame as usize)
    }

    /// The frames of a Python stack, innermost first, untrimmed.
    pub fn python_frames(&self, node: u32) -> impl Iterator<Item = &Location> + '_ {
        self.frame_ids(node).filter_map(|f| self.frames.get(f as usize))
    }

    /// The frame ids of a Python stack, innermost first.
    fn frame_ids(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let mut node = node;
        std::iter::from_fn(move || {
            let n = self.tables.node(node)?;
            node = n.parent;
            Some(n.frame)
        })
    }

    /// Number of Python trace-tree nodes (node ids are `0..n_nodes`).
    pub(crate) fn n_nodes(&self) -> usize {
        self.tables.n_nodes()
    }

    /// A node's own frame id and its parent node (`None` for node 0 or an unknown node).
    pub(crate) fn frame_and_parent(&self, node: u32) -> Option<(u32, u32)> {
        self.tables.node(node).map(|n| (n.frame, n.parent))
    }

    /// The innermost Python frame of a stack (no trimming), as `memray stats` attributes it.
    pub fn innermost(&self, node: u32) -> Option<&Location> {
        self.python_frames(node).next()
    }

    /// The Python stack of a record, innermost first, as memray presents a full stack: on the
    /// main thread the outermost `skipped_frames_on_main_tid` frames (memray's own) are dropped.
    pub fn python_stack(&self, node: u32, tid: u64) -> Vec<&Location> {
        self.python_stack_ids(node, tid).into_iter().filter_map(|f| self.frame(f)).collect()
    }

    /// The frame ids of [`Stacks::python_stack`] (see [`Stacks::frame`]), innermost first.
    pub fn python_stack_ids(&self, node: u32, tid: u64) -> Vec<u32> {
        let mut frames = Vec::new();
        self.python_stack_ids_into(node, tid, &mut frames);
        frames
    }

    /// [`Stacks::python_stack_ids`] into a buffer the caller reuses (it is cleared first).
    pub(crate) fn python_stack_ids_into(&self, node: u32, tid: u64, frames: &mut Vec<u32>) {
        self.memray_stack_ids_into(node, tid, frames);
        if !self.view_flags.is_empty() {
            crate::view::present(frames, &self.view_flags);
        }
    }

    /// The Python stack as memray shows it, whatever the analysis's view, innermost first: what
    /// leak detection reads.
    pub(crate) fn memray_stack(&self, node: u32, tid: u64) -> Vec<&Location> {
        let mut frames = Vec::new();
        self.memray_stack_ids_into(node, tid, &mut frames);
        frames.into_iter().filter_map(|f| self.frame(f)).collect()
    }

    /// The stack as memray shows it (main-thread trimming only), whatever the view.
    pub(crate) fn memray_stack_ids_into(&self, node: u32, tid: u64, frames: &mut Vec<u32>) {
        frames.clear();
        frames.extend(self.frame_ids(node).filter(|&f| (f as usize) < self.frames.len()));
        frames.truncate(frames.len().saturating_sub(self.skipped_for(tid)));
    }

    /// The native frames of a record, innermost first, each located in the images of its
    /// memory-map generation. Symbols are not resolved: a frame is `image+offset`.
    pub fn native_stack(&self, native_node: u64, generation: u32) -> Vec<NativeFrame> {
        let images = self.tables.images(generation);
        self.tables
            .native_stack(native_node)
            .into_iter()
            .map(|ip| {
                let hit = images.iter().find(|image| {
                    image.segments.iter().any(|&(vaddr, memsz)| {
                        let start = image.load_address.wrapping_add(vaddr);
                        ip >= start && ip - start < memsz
                    })
                });
                match hit {
                    Some(image) => NativeFrame {
                        ip,
                        image: Some(basename(&String::from_utf8_lossy(&image.filename))),
                        offset: ip.wrapping_sub(image.load_address),
                    },
                    None => NativeFrame { ip, image: None, offset: ip },
                }
            })
            .collect()
    }

    /// The hybrid stack of a native-mode record (spec §5.6), innermost first: native frames with
    /// each interpreter eval-loop frame replaced by the Python frames it was evaluating.
    ///
    /// memreport does not read debug information itself, so the caller names native frames
    /// (`symbol`); a frame it cannot name stays `image+offset`. When the eval-loop frames cannot
    /// all be recognised (a stripped interpreter, or no symbols at all), the result is the
    /// Python stack alone, untrimmed, as memray does.
    pub fn hybrid_stack(
        &self,
        python_node: u32,
        native_node: u64,
        generation: u32,
        tid: u64,
        symbol: &dyn Fn(&NativeFrame) -> Option<String>,
    ) -> Vec<HybridFrame<'_>> {
        let native: Vec<(HybridFrame<'_>, bool)> = self
            .native_stack(native_node, generation)
            .into_iter()
            .map(|f| {
                let name = symbol(&f);
                let eval_loop = name.as_deref().is_some_and(is_eval_loop);
                (HybridFrame::Native(f, name), eval_loop)
            })
            .collect();
        let python: Vec<(HybridFrame<'_>, bool)> = self
            .frame_ids(python_node)
            .filter_map(|f| {
                Some((
                    HybridFrame::Python(self.frames.get(f as usize)?),
                    self.tables.is_entry_frame(f),
                ))
            })
            .collect();
        let to_skip = self.skipped_for(tid);
        merge_hybrid(native, &python, to_skip)
    }

    /// Thread names by thread id (the last name given wins).
    pub fn thread_names(&self) -> &BTreeMap<u64, String> {
        self.tables.thread_names()
    }

    /// memray's thread label: `hex(tid)`, plus ` (name)` when the thread was named.
    pub fn thread_label(&self, tid: u64) -> String {
        match self.thread_names().get(&tid) {
            Some(name) => format!("{tid:#x} ({name})"),
            None => format!("{tid:#x}"),
        }
    }

    /// The thread id whose stacks memray trims, if the header has one.
    pub fn main_tid(&self) -> Option<u64> {
        self.main_tid
    }
}

/// Names return addresses for [`Stacks::symbolize`]: the images of each generation sorted by
/// address, each image read once, each address looked up once.
struct Resolver<'s> {
    source: &'s SymbolSource,
    /// Per generation: `(start, end, image, load address)` of every segment, sorted.
    segments: FxHashMap<u32, Vec<(u64, u64, u32, u64)>>,
    /// Images by recorded path, and what reading them gave.
    image_ids: FxHashMap<Vec<u8>, u32>,
    images: Vec<(String, Option<Result<ImageSymbols, ImageError>>)>,
    by_address: FxHashMap<(u32, u64), (u32, u32)>,
    by_location: FxHashMap<Location, u32>,
    scratch: Vec<NamedFrame>,
}

impl<'s> Resolver<'s> {
    fn new(source: &'s SymbolSource) -> Resolver<'s> {
        Resolver {
            source,
            segments: FxHashMap::default(),
            image_ids: FxHashMap::default(),
            images: Vec::new(),
            by_address: FxHashMap::default(),
            by_location: FxHashMap::default(),
            scratch: Vec::new(),
        }
    }

    /// The frames of one return address in a generation, as a range of `stacks.native.ids`
    /// (empty when no image holds it: memray gives no frame then).
    fn resolve(&mut self, stacks: &mut Stacks, ip: u64, generation: u32) -> (u32, u32) {
        let segments = match self.segments.get(&generation) {
            Some(s) => s,
            None => {
                let mut list = Vec::new();
                for image in stacks.tables.images(generation) {
                    let id = match self.image_ids.get(&image.filename) {
                        Some(&id) => id,
                        None => {
                            let id = self.images.len() as u32;
                            let path = String::from_utf8_lossy(&image.filename).into_owned();
                            self.images.push((path, None));
                            self.image_ids.insert(image.filename.clone(), id);
                            id
                        }
                    };
                    for &(vaddr, memsz) in &image.segments {
                        let start = image.load_address.wrapping_add(vaddr);
                        list.push((start, start.saturating_add(memsz), id, image.load_address));
                    }
                }
                list.sort_unstable();
                self.segments.entry(generation).or_insert(list)
            }
        };
        let i = segments.partition_point(|s| s.0 <= ip);
        let Some(&(_, _, image, load)) = segments[..i].iter().rev().find(|s| ip < s.1) else {
            return (0, 0);
        };
        // A return address: the call is the instruction before it.
        let address = ip.wrapping_sub(1).wrapping_sub(load);
        if let Some(&range) = self.by_address.get(&(image, address)) {
            return range;
        }
        let (path, symbols) = &mut self.images[image as usize];
        let symbols = symbols.get_or_insert_with(|| ImageSymbols::find(self.source, path));
        let interpreter = is_interpreter_image(path);
        let mut named: Vec<Location> = Vec::new();
        match symbols {
            Ok(symbols) => {
                symbols.frames(address, &mut self.scratch);
                named.extend(self.scratch.drain(..).map(|f| Location {
                    function: f.function.unwrap_or_else(|| "<unknown>".to_string()),
                    filename: f.file.unwrap_or_else(|| path.clone()),
                    lineno: i32::try_from(f.line).unwrap_or(i32::MAX),
                }));
            }
            Err(_) => named.push(Location {
                function: format!("{}+{:#x}", basename(path), ip.wrapping_sub(load)),
                filename: path.clone(),
                lineno: 0,
            }),
        }
        let start = stacks.native.ids.len() as u32;
        for location in named {
            let id = match self.by_location.get(&location) {
                Some(&id) => id,
                None => {
                    let id = stacks.frames.len() as u32;
                    let mut kind = 0;
                    if is_eval_loop(&location.function) {
                        kind |= EVAL_LOOP;
                    }
                    if is_interpreter_internal(&location, interpreter) {
                        kind |= INTERPRETER;
                    }
                    stacks.native.kinds.push(kind);
                    stacks.frames.push(location.clone());
                    self.by_location.insert(location, id);
                    id
                }
            };
            stacks.native.ids.push(id);
        }
        let range = (start, stacks.native.ids.len() as u32 - start);
        self.by_address.insert((image, address), range);
        range
    }

    fn finish(self) -> Symbolization {
        let looked_up: Vec<&(String, Option<Result<ImageSymbols, ImageError>>)> =
            self.images.iter().filter(|(_, s)| s.is_some()).collect();
        let mut missing: Vec<String> = looked_up
            .iter()
            .filter(|(_, s)| matches!(s, Some(Err(_))))
            .map(|(path, _)| path.clone())
            .collect();
        missing.sort();
        Symbolization { images: looked_up.len(), missing, addresses: self.by_address.len() }
    }
}

/// An image of the interpreter itself: the `python3.x` executable or `libpython`.
fn is_interpreter_image(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("python") || name.starts_with("libpython")
}

/// memray's CPython-internal rule (spec §5.8) on the function name; its file rule (a CPython
/// source file) is met by DWARF, or without DWARF by the frame being in the interpreter's own
/// image. The interpreter's unnamed (static) functions count too.
fn is_interpreter_internal(location: &Location, interpreter_image: bool) -> bool {
    let f = location.function.as_str();
    let internal_name = f.contains("PyEval_EvalFrameEx")
        || f.contains("_PyEval_EvalFrameDefault")
        || (f.starts_with("_TAIL_CALL_") && f.contains(".llvm."))
        || f.starts_with("PyEval")
        || f.starts_with("_Py")
        || f.to_ascii_lowercase().contains("vectorcall")
        || INTERNAL_CALLS.contains(&f)
        || location.filename.contains("Objects/call.c");
    let cpython_file = {
        let file = location.filename.as_str();
        (file.ends_with(".c") || file.ends_with(".h"))
            && ["Include", "Objects", "Modules", "Python", "cpython"]
                .iter()
                .any(|d| file.contains(d))
    };
    (internal_name && (cpython_file || interpreter_image))
        || (interpreter_image && f == "<unknown>")
}

/// The call helpers memray names as CPython internals (spec §5.8).
const INTERNAL_CALLS: [&str; 19] = [
    "PyObject_Call",
    "call_function",
    "classmethoddescr_call",
    "cmpwrapper_call",
    "do_call_core",
    "fast_function",
    "function_call",
    "function_code_fastcall",
    "instance_call",
    "instancemethod_call",
    "methoddescr_call",
    "proxy_call",
    "slot_tp_call",
    "trace_call_function",
    "type_call",
    "weakref_call",
    "wrap_call",
    "wrapper_call",
    "wrapperdescr_call",
];

/// A frame of a hybrid stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HybridFrame<'a> {
    /// A Python frame.
    Python(&'a Location),
    /// A native frame, with its symbol when the caller could name it.
    Native(NativeFrame, Option<String>),
}

/// Whether a native symbol is an interpreter eval loop: `_PyEval_EvalFrameDefault`, or a function
/// of the 3.14 tail-calling interpreter.
fn is_eval_loop(symbol: &str) -> bool {
    symbol.contains("_PyEval_EvalFrameDefault") || symbol.starts_with("_TAIL_CALL_")
}

/// Merges a native stack and a Python stack (both innermost first) into a hybrid stack,
/// innermost first (spec §5.6). Native frames come with whether they are an interpreter eval
/// loop, Python frames with their entry flag.
///
/// Pairing runs from the outermost frames in, because an eval loop may allocate before its
/// Python frame is pushed (3.11): each eval-loop frame takes the next Python frame and every
/// following frame that is not an entry frame (they share the caller's eval loop). On the main
/// thread, the frames outside the first kept Python frame (memray's own) are dropped. Python
/// frames left over mean the eval loops were not all recognised: the Python stack is returned
/// alone, untrimmed [quirk].
pub(crate) fn merge_hybrid<T: Clone>(
    native: Vec<(T, bool)>,
    python: &[(T, bool)],
    to_skip: usize,
) -> Vec<T> {
    // `remaining` Python frames are still unpaired: python[..remaining], the outermost last.
    let mut remaining = python.len();
    let first_kept = python.len().checked_sub(1 + to_skip);
    let mut out: Vec<T> = Vec::new(); // outermost first
    for (frame, eval_loop) in native.into_iter().rev() {
        if remaining > 0 && eval_loop {
            loop {
                let p = remaining - 1;
                if to_skip != 0 && Some(p) == first_kept {
                    out.clear();
                }
                out.push(python[p].0.clone());
                remaining -= 1;
                if remaining == 0 || python[remaining - 1].1 {
                    break;
                }
            }
        } else {
            out.push(frame);
        }
    }
    if remaining > 0 {
        return python.iter().map(|(f, _)| f.clone()).collect();
    }
    out.reverse();
    out
}

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// A frame spelled as `memray stats` does: `function:file:line`.
pub fn spell(location: &Location) -> String {
    format!("{}:{}:{}", location.function, location.filename, location.lineno)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(name: &str) -> Location {
        Location { function: name.to_string(), filename: "app.py".to_string(), lineno: 1 }
    }

    fn native(symbols: &[&str]) -> Vec<(HybridFrame<'static>, bool)> {
        symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let frame = NativeFrame { ip: i as u64, image: None, offset: i as u64 };
                let name = (!s.is_empty()).then(|| s.to_string());
                (HybridFrame::Native(frame, name), is_eval_loop(s))
            })
            .collect()
    }

    fn python<'a>(frames: &[(&'a Location, bool)]) -> Vec<(HybridFrame<'a>, bool)> {
        frames.iter().map(|&(l, entry)| (HybridFrame::Python(l), entry)).collect()
    }

    fn names(stack: &[HybridFrame<'_>]) -> Vec<String> {
        stack
            .iter()
            .map(|f| match f {
                HybridFrame::Python(l) => l.function.clone(),
                HybridFrame::Native(_, s) => format!("[{}]", s.as_deref().unwrap_or("?")),
            })
            .collect()
    }

    #[test]
    fn eval_loops_take_an_entry_frame_and_the_frames_that_share_it() {
        // Innermost first. Python: inner (not entry, shares outer's eval loop), outer (entry),
        // main (entry). Native: malloc, eval (inner+outer), call, eval (main), start.
        let (inner, outer, main) = (loc("inner"), loc("outer"), loc("main"));
        let python = python(&[(&inner, false), (&outer, true), (&main, true)]);
        let n = native(&[
            "malloc",
            "_PyEval_EvalFrameDefault",
            "PyObject_Call",
            "_PyEval_EvalFrameDefault",
            "_start",
        ]);
        let got = merge_hybrid(n, &python, 0);
        assert_eq!(
            names(&got),
            ["[malloc]", "inner", "outer", "[PyObject_Call]", "main", "[_start]"]
        );
    }

    #[test]
    fn main_thread_drops_everything_outside_the_first_kept_frame() {
        let (user, runner, cli) = (loc("user"), loc("runner"), loc("cli"));
        let python = python(&[(&user, true), (&runner, true), (&cli, true)]);
        let n = native(&[
            "malloc",
            "_PyEval_EvalFrameDefault",
            "_PyEval_EvalFrameDefault",
            "_PyEval_EvalFrameDefault",
            "main",
        ]);
        // Skip the outermost frame (memray's CLI): the eval loop of `runner` is the first kept.
        let got = merge_hybrid(n, &python, 1);
        assert_eq!(names(&got), ["[malloc]", "user", "runner"]);
    }

    #[test]
    fn unrecognised_eval_loops_give_the_python_stack_alone() {
        let (a, b) = (loc("a"), loc("b"));
        let python = python(&[(&a, true), (&b, true)]);
        let n = native(&["malloc", "", "_PyEval_EvalFrameDefault", "main"]);
        assert_eq!(names(&merge_hybrid(n, &python, 1)), ["a", "b"]);
        // A 3.14 tail-calling interpreter frame counts as an eval loop.
        let n = native(&["malloc", "_TAIL_CALL_LOAD_ATTR.llvm.1", "_PyEval_EvalFrameDefault"]);
        assert_eq!(names(&merge_hybrid(n, &python, 0)), ["[malloc]", "a", "b"]);
    }
}
