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
}

impl Stacks {
    /// Resolves every frame of the tables once.
    pub(crate) fn new(tables: StackTables, header: &Header) -> Stacks {
        let frames = (0..tables.n_frames() as u32).map(|f| tables.compute_location(f)).collect();
        Stacks {
            tables,
            frames,
            main_tid: header.has_main_tid().then_some(header.main_tid),
            skipped_on_main: usize::try_from(header.skipped_frames_on_main_tid)
                .unwrap_or(usize::MAX),
        }
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
        let mut node = node;
        std::iter::from_fn(move || {
            let n = self.tables.node(node)?;
            node = n.parent;
            self.frames.get(n.frame as usize)
        })
    }

    /// The innermost Python frame of a stack (no trimming), as `memray stats` attributes it.
    pub fn innermost(&self, node: u32) -> Option<&Location> {
        self.python_frames(node).next()
    }

    /// The Python stack of a record, innermost first, as memray presents a full stack: on the
    /// main thread the outermost `skipped_frames_on_main_tid` frames (memray's own) are dropped.
    pub fn python_stack(&self, node: u32, tid: u64) -> Vec<&Location> {
        let mut frames: Vec<&Location> = self.python_frames(node).collect();
        if self.main_tid == Some(tid) {
            frames.truncate(frames.len().saturating_sub(self.skipped_on_main));
        }
        frames
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

fn basename(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// A frame spelled as `memray stats` does: `function:file:line`.
pub fn spell(location: &Location) -> String {
    format!("{}:{}:{}", location.function, location.filename, location.lineno)
}
