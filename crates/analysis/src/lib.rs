//! Analyses of memray captures: what the record stream means.
//!
//! This crate turns the events of [`memreport_format`] into the answers memray's reporters give,
//! computed as spec §5 defines them, in one pass: peak memory and what was live at the peak,
//! leaks (live at the end), temporary allocations, the numbers of `memray stats`, and the memory
//! timeline with per-site live bytes over time. It never does IO beyond asking the format crate
//! for a capture, and never prints.
//!
//! Memory grows with the live heap and the number of distinct stacks, never with the number of
//! records: the pass keeps the live blocks, one entry per site and bounded time series.
//!
//! # Brief overview
//!
//! * [`Analyzer`] / [`Analysis`] — one pass over a capture and its results.
//! * [`stats`] — what `memray stats` computes.
//! * [`group`] — results grouped by line, function, file or module, and as a call tree.
//! * [`stacks`] — frames and stacks, with memray's presentation rules.
//! * [`timeline`] — memory over time, for the whole heap and per site.
//! * [`diff`] — two captures compared, location by location, with a verdict.
//! * [`leaks`] — is something leaking: growth, unbounded containers, allocator retention.
//! * [`info`] — a capture's facts (format, truncation, counts, threads, times).
//! * [`View`] — how stacks are shown: memray's runner and the import system hidden, pprof's
//!   filters (focus, ignore, hide, show).
//!
//! # Example
//!
//! ```
//! use memreport_analysis::{Analyzer, Mode, Threads};
//! use memreport_analysis::group::{group, By};
//!
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-basic/capture.bin");
//! let analysis = Analyzer::new().temporary([1]).run_path(path)?;
//! println!("peak: {} bytes", analysis.peak_memory());
//!
//! // What held memory at the peak, by innermost line, largest first.
//! let peak = analysis.entries(Mode::Peak, Threads::Merged).expect("peak is always available");
//! for g in group(&analysis, &peak, By::Line).iter().take(3) {
//!     println!("{:>10} B  {:>5} blocks  {}", g.usage.bytes, g.usage.count, g.location);
//! }
//! let at_peak: u64 = peak.iter().map(|e| e.usage.bytes).sum();
//! assert!(at_peak <= analysis.peak_memory());
//!
//! // Still live at the end, and freed right after being allocated.
//! assert!(analysis.entries(Mode::Leaks, Threads::Split).is_ok());
//! assert!(analysis.entries(Mode::Temporary(1), Threads::Merged).is_ok());
//! # Ok::<(), memreport_format::Error>(())
//! ```
#![deny(missing_docs)]

mod analysis;
pub mod check;
pub mod diff;
pub mod export;
mod files;
pub mod group;
mod heap;
pub mod info;
pub mod leaks;
mod replay;
pub mod set;
pub mod stacks;
pub mod stats;
pub mod symbols;
pub mod threads;
pub mod timeline;
mod view;
pub mod window;

pub use analysis::{Analysis, Analyzer, Entry, Mode, Progress, Site, Threads, Unavailable, Usage};
/// The format crate's types that appear in this crate's answers (a capture's header, how its
/// stream ended, the allocator of a row, the errors of a pass), so that an embedder needs this
/// crate alone. The records themselves stay in `memreport-format`.
pub use memreport_format::{
    Allocator, Capture, Error, ErrorKind, FileFormat, Header, PythonAllocator, Storage, StreamEnd,
    Truncation, Wrapping,
};
pub use stacks::Symbolization;
pub use symbols::SymbolSource;
pub use view::{PatternError, Place, View};
pub use window::{parse_time, ResolvedWindow, Window, WindowError};

/// Entry points for the criterion benchmarks of this workspace, which need to time the live-heap
/// replay apart from decoding. Not part of the API: hidden, and free to change.
#[doc(hidden)]
pub mod bench_support {
    use memreport_format::events::AllocationEvent;

    /// Replays allocation events (live heap, peak, per-site totals, stats accumulators) as the
    /// pass does, and returns the peak and the number of sites.
    pub fn replay(events: &[AllocationEvent]) -> (u64, usize) {
        replay_with(events, crate::Threads::Split)
    }

    /// [`replay`] with sites kept per thread or merged (main thread 1), as
    /// `Analyzer::threads` chooses.
    pub fn replay_with(events: &[AllocationEvent], threads: crate::Threads) -> (u64, usize) {
        let threads = match threads {
            crate::Threads::Split => crate::replay::SiteThreads::Split,
            crate::Threads::Merged | crate::Threads::Grouped => {
                crate::replay::SiteThreads::Merged { main_tid: Some(1) }
            }
        };
        let mut replay = crate::replay::Replay::new(&[], false, threads, None);
        for e in events {
            replay.allocation(e);
        }
        (replay.peak, replay.sites.len())
    }
}

/// Entry points for the fuzz targets (`fuzz/`) into parsers that are not public. Not part of
/// the API: hidden, and free to change.
#[doc(hidden)]
pub mod fuzz_support {
    /// Reads an object file's symbols and DWARF as symbolization does, then names a few
    /// addresses; returns the frames found. Any bytes must end in a result, never a panic.
    pub fn image_symbols(bytes: &[u8], addresses: &[u64]) -> usize {
        let Ok(image) = crate::symbols::ImageSymbols::parse(bytes) else { return 0 };
        let mut frames = Vec::new();
        let mut found = 0;
        for &address in addresses {
            image.frames(address, &mut frames);
            found += frames.len();
        }
        found
    }
}
