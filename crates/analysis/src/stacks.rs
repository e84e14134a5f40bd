//! The stack model: Python frames with their source lines, the trace tree that shares stack
//! prefixes, native frames as `image+offset`, and memray's stack presentation rules (spec §5.6).
//!
//! Every distinct frame is resolved to a [`Location`] once, when the pass ends; a stack is a
//! node of the trace tree, so stacks share their outer frames and cost one `u32` each wherever
//! they are referenced.

use std::collections::BTreeMap;

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
        }
    }

    /// Shows stacks through `view` from now on (each frame is judged once, here).
    pub(crate) fn set_view(&mut self, view: &crate::View) {
        self.view_flags = if view.is_memray() {
            Vec::new()
        } else {
            self.frames.iter().map(|l| crate::view::flags(view, l)).collect()
        };
        self.focus = view.has_focus();
        self.filters_rows = view.filters_rows();
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
        if self.main_tid == Some(tid) {
            frames.truncate(frames.len().saturating_sub(self.skipped_on_main));
        }
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
        let native: Vec<(NativeFrame, Option<String>)> = self
            .native_stack(native_node, generation)
            .into_iter()
            .map(|f| {
                let name = symbol(&f);
                (f, name)
            })
            .collect();
        let python: Vec<(&Location, bool)> = self
            .frame_ids(python_node)
            .filter_map(|f| Some((self.frames.get(f as usize)?, self.tables.is_entry_frame(f))))
            .collect();
        let to_skip = if self.main_tid == Some(tid) { self.skipped_on_main } else { 0 };
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

/// Merges a native stack and a Python stack (both innermost first; Python frames with their
/// entry flag) into a hybrid stack, innermost first (spec §5.6).
///
/// Pairing runs from the outermost frames in, because an eval loop may allocate before its
/// Python frame is pushed (3.11): each eval-loop frame takes the next Python frame and every
/// following frame that is not an entry frame (they share the caller's eval loop). On the main
/// thread, the frames outside the first kept Python frame (memray's own) are dropped. Python
/// frames left over mean the eval loops were not all recognised: the Python stack is returned
/// alone, untrimmed [quirk].
pub(crate) fn merge_hybrid<'a>(
    native: Vec<(NativeFrame, Option<String>)>,
    python: &[(&'a Location, bool)],
    to_skip: usize,
) -> Vec<HybridFrame<'a>> {
    // `remaining` Python frames are still unpaired: python[..remaining], the outermost last.
    let mut remaining = python.len();
    let first_kept = python.len().checked_sub(1 + to_skip);
    let mut out: Vec<HybridFrame<'a>> = Vec::new(); // outermost first
    for (frame, symbol) in native.into_iter().rev() {
        let boundary = symbol.as_deref().is_some_and(is_eval_loop);
        if remaining > 0 && boundary {
            loop {
                let p = remaining - 1;
                if to_skip != 0 && Some(p) == first_kept {
                    out.clear();
                }
                out.push(HybridFrame::Python(python[p].0));
                remaining -= 1;
                if remaining == 0 || python[remaining - 1].1 {
                    break;
                }
            }
        } else {
            out.push(HybridFrame::Native(frame, symbol));
        }
    }
    if remaining > 0 {
        return python.iter().map(|(l, _)| HybridFrame::Python(l)).collect();
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

    fn native(symbols: &[&str]) -> Vec<(NativeFrame, Option<String>)> {
        symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let frame = NativeFrame { ip: i as u64, image: None, offset: i as u64 };
                (frame, (!s.is_empty()).then(|| s.to_string()))
            })
            .collect()
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
        let python = [(&inner, false), (&outer, true), (&main, true)];
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
        let python = [(&user, true), (&runner, true), (&cli, true)];
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
        let python = [(&a, true), (&b, true)];
        let n = native(&["malloc", "", "_PyEval_EvalFrameDefault", "main"]);
        assert_eq!(names(&merge_hybrid(n, &python, 1)), ["a", "b"]);
        // A 3.14 tail-calling interpreter frame counts as an eval loop.
        let n = native(&["malloc", "_TAIL_CALL_LOAD_ATTR.llvm.1", "_PyEval_EvalFrameDefault"]);
        assert_eq!(names(&merge_hybrid(n, &python, 0)), ["[malloc]", "a", "b"]);
    }
}
