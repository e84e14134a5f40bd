//! The command line's grammar: the commands, their options and how they are read (clap).
//! Parsing of values with meaning (a threshold, a granularity) is the libraries'; this module only
//! maps them onto the command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use memreport_analysis::diff::Threshold;
use memreport_analysis::group::By;
use memreport_analysis::{SymbolSource, View, Window, WindowError};

#[derive(Parser, Debug)]
#[command(
    name = "memreport",
    version,
    about = "Answers from memray captures: peak, leaks, growth, diffs"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// No progress on stderr.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Colour: auto (only on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(crate) color: ColorChoice,
    /// Work on one thread. By default a capture is decoded on a second thread while this one
    /// analyses it, the two captures of a diff are read at once, and the views of a report are
    /// built side by side. The results are the same either way.
    #[arg(long, global = true)]
    pub(crate) single_thread: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How coarse a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ByArg {
    /// function:file:line of the innermost frame.
    Line,
    /// function:file.
    Function,
    /// The file.
    File,
    /// The dotted module name of the file.
    Module,
}

impl From<ByArg> for By {
    fn from(by: ByArg) -> By {
        match by {
            ByArg::Line => By::Line,
            ByArg::Function => By::Function,
            ByArg::File => By::File,
            ByArg::Module => By::Module,
        }
    }
}

/// `--fail-on-increase`'s value, read by the analysis crate's parser.
fn parse_threshold(text: &str) -> Result<Threshold, String> {
    text.parse().map_err(|e| format!("{e}: {}", text.trim()))
}

/// How stacks are shown, and pprof's filters; each pattern is a regular expression searched in
/// every frame spelled `function:file:line`.
#[derive(clap::Args, Debug, Clone, Default)]
pub(crate) struct ViewArgs {
    /// Show every frame: memray's runner (`_run_tracker`, runpy) and the import system too.
    #[arg(long)]
    pub(crate) all_frames: bool,
    /// Keep only the allocations with a frame that matches.
    #[arg(long, value_name = "RE")]
    pub(crate) focus: Option<String>,
    /// Drop the allocations with a frame that matches.
    #[arg(long, value_name = "RE")]
    pub(crate) ignore: Option<String>,
    /// Remove the frames that match from every stack.
    #[arg(long, value_name = "RE")]
    pub(crate) hide: Option<String>,
    /// Keep only the frames that match in every stack.
    #[arg(long, value_name = "RE")]
    pub(crate) show: Option<String>,
    /// Where the ELF files named by a `--native` capture are: a copy of the profiled machine's
    /// filesystem (DIR/usr/lib/...), or a folder of the files themselves. Default: the paths
    /// the capture recorded.
    #[arg(long, value_name = "DIR")]
    pub(crate) symbols: Option<PathBuf>,
    /// Do not read native symbols: native frames are not shown.
    #[arg(long, conflicts_with = "symbols")]
    pub(crate) no_symbols: bool,
}

impl ViewArgs {
    /// The view these options ask for: the readable one unless `--all-frames`, then the filters.
    pub(crate) fn view(&self) -> Result<View, memreport_analysis::PatternError> {
        let mut view = if self.all_frames { View::memray() } else { View::readable() };
        if let Some(p) = &self.focus {
            view = view.focus(p)?;
        }
        if let Some(p) = &self.ignore {
            view = view.ignore(p)?;
        }
        if let Some(p) = &self.hide {
            view = view.hide(p)?;
        }
        if let Some(p) = &self.show {
            view = view.show(p)?;
        }
        Ok(view)
    }

    /// Where native symbols are read from, if they are.
    pub(crate) fn symbols(&self) -> Option<SymbolSource> {
        match (&self.symbols, self.no_symbols) {
            (_, true) => None,
            (Some(dir), false) => Some(SymbolSource::under(dir)),
            (None, false) => Some(SymbolSource::recorded()),
        }
    }
}

/// A size limit (`512MB`, `1.5GiB`, bytes), read by the analysis crate's parser.
fn parse_size(text: &str) -> Result<u64, String> {
    match text.parse::<Threshold>() {
        Ok(Threshold::Bytes(b)) => Ok(b),
        Ok(Threshold::Percent(_)) => Err(format!("a size, not a share: {}", text.trim())),
        Err(e) => Err(format!("{e}: {}", text.trim())),
    }
}

/// A growth rate (`1MB/s`, `10MB/h`), read by the analysis crate's parser.
fn parse_rate(text: &str) -> Result<memreport_analysis::check::Rate, String> {
    text.parse().map_err(|e| format!("{e}: {}", text.trim()))
}

/// `--from` and `--to`'s values, read by the analysis crate's parser.
fn parse_time(text: &str) -> Result<f64, String> {
    memreport_analysis::parse_time(text).map_err(|e| e.to_string())
}

/// A span of the run that the answer is restricted to, at the resolution of the memory samples.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub(crate) struct WindowArgs {
    /// Start of the time window, from the capture's start: `1.5`, `1.5s`, `250ms`, `2m`. Peak
    /// answers are the highest heap inside the window; leaks, what was allocated inside it and
    /// still live at its end.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) from: Option<f64>,
    /// End of the time window (`--leaks --to T` is what was live at T).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) to: Option<f64>,
}

impl WindowArgs {
    /// The window these options ask for.
    pub(crate) fn window(&self) -> Result<Window, WindowError> {
        Window::new(self.from, self.to)
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Header and stream facts: version, format, truncation, counts, threads, times.
    Info {
        /// The capture file (.bin).
        capture: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every record, one per line, in the text of `memray parse` (for diffing against it).
    Records {
        /// The capture file (.bin).
        capture: PathBuf,
    },
    /// The numbers of `memray stats`: totals, size histogram, allocators, top locations and
    /// modules. `--json` keeps memray's key names.
    Stats {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        window: WindowArgs,
        /// Print memray's JSON instead of text.
        #[arg(long)]
        json: bool,
        /// How many top locations and modules to list.
        #[arg(short = 'n', long = "num-largest", default_value_t = 5)]
        n: usize,
    },
    /// Locations ranked by the bytes they held at the peak (default), still held at the end
    /// (--leaks), or allocated and freed almost at once (--temporary).
    Top {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// What was still live when the capture ended.
        #[arg(long, conflicts_with = "temporary")]
        leaks: bool,
        /// Allocations freed after at most N other allocations on the same thread (default 1).
        #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
        temporary: Option<u64>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// How many locations to list.
        #[arg(short = 'n', long = "num-largest", default_value_t = 20)]
        n: usize,
        /// How coarse a location is.
        #[arg(long, value_enum, default_value_t = ByArg::Line)]
        by: ByArg,
        /// Keep threads apart.
        #[arg(long)]
        split_threads: bool,
    },
    /// What was live at the peak (or at the end, with --leaks) as a call tree, outermost frame
    /// first.
    Tree {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// What was still live when the capture ended.
        #[arg(long)]
        leaks: bool,
        /// Deepest level shown (at most 256).
        #[arg(long, short, default_value_t = usize::MAX, hide_default_value = true)]
        depth: usize,
        /// Fold calls under this share of the total, in percent.
        #[arg(long, default_value_t = 1.0)]
        min_share: f64,
    },
    /// Is something leaking, where, how fast, and how sure: growth, unbounded containers and
    /// allocator retention, each with evidence.
    Leaks {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// What changed between two captures, per location: bytes at the peak, leaked and allocated,
    /// before and after.
    ///
    /// Verdict: regression when peak memory or leaked bytes grew by more than 10% and more than
    /// 1 MiB, or the leak verdict became "leak"; improvement when one fell by that much (or the
    /// leak verdict stopped being "leak") and nothing grew by that much; no-change otherwise.
    /// Locations match by function and file (no line numbers, with --by function), with paths
    /// made portable (site-packages, stdlib and sys.path prefixes dropped).
    Diff {
        /// The capture before the change, then the capture after it. Or two capture sets, each
        /// a parent's capture and its children's (`memray run --follow-fork`): `before.bin
        /// before.bin.* after.bin after.bin.*`, told apart by name (`NAME` and `NAME.PID` in one
        /// folder are one set).
        #[arg(required = true, num_args = 2.., value_name = "CAPTURES")]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Also write the diff page (a differential flame graph, both heaps over time, the
        /// changed locations) to this file.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// How coarse a location is.
        #[arg(long, value_enum, default_value_t = ByArg::Function)]
        by: ByArg,
        /// How many changed locations to list.
        #[arg(short = 'n', long = "num-largest", default_value_t = 20)]
        n: usize,
        /// Exit 1 when peak memory or leaked bytes grew by more than this: bytes (`10MB`,
        /// `1.5GiB`, `512`) or a share of the value before (`5%`).
        #[arg(long, value_name = "THRESHOLD", value_parser = parse_threshold)]
        fail_on_increase: Option<Threshold>,
    },
    /// The CI gate: exit 1 when a capture crosses a limit, with a line per limit crossed naming
    /// the figure and the location responsible; 0 when every limit holds; 2 on bad input.
    ///
    /// Each capture is a case; a folder stands for the captures in it (pytest-memray's
    /// per-test captures: one case per test), and `NAME` with its `NAME.PID` files is one case,
    /// its processes checked together (the combined peak, their leaks summed). Growth limits
    /// count only confident growth, the findings that make `leaks` say "leak".
    Check {
        /// Captures, capture sets (app.bin app.bin.*) or folders of captures.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Peak memory at most this: `512MB`, `1.5GiB`, bytes.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_peak: Option<u64>,
        /// Bytes still live at the end at most this.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_leaked: Option<u64>,
        /// No location may keep growing (the leak verdict must not be "leak").
        #[arg(long)]
        no_growth: bool,
        /// No location may grow faster than this: `1MB/s`, `10MB/h`.
        #[arg(long, value_name = "RATE", value_parser = parse_rate)]
        max_growth: Option<memreport_analysis::check::Rate>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Also write a JUnit XML report (one test case per capture) to this file.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Tables for pandas, polars and DuckDB: per location (peak, leaked, allocated), per memory
    /// sample, per allocation (with the record that freed it), or per location over time.
    ///
    /// `--format json` writes JSON Lines (one object per row). Allocation rows come in the order
    /// their fate is known (freed, or still live at the end); sort by `index` for record order.
    Export {
        /// The capture file (.bin).
        capture: PathBuf,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// The file format.
        #[arg(long, value_enum)]
        format: crate::commands::export::FormatArg,
        /// The table.
        #[arg(long, value_enum, default_value_t = crate::commands::export::TableArg::Locations)]
        table: crate::commands::export::TableArg,
        /// Where to write it; `-` for stdout.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// A self-contained HTML flame graph of what was live at the peak (default), still live at
    /// the end (--leaks), or allocated and freed almost at once (--temporary).
    Flamegraph {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Where to write the page; `-` for stdout. Default: memreport-flamegraph-NAME.html
        /// next to the capture.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// What was still live when the capture ended.
        #[arg(long, conflicts_with = "temporary")]
        leaks: bool,
        /// Allocations freed after at most N other allocations on the same thread (default 1).
        #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
        temporary: Option<u64>,
        /// Put the frames that allocated at the root, their callers below.
        #[arg(long)]
        inverted: bool,
        /// One subtree per thread; threads whose names differ only in their numbers
        /// (`Thread-N (process_request_thread)`) share one.
        #[arg(long)]
        split_threads: bool,
    },
    /// The incident report: one self-contained HTML file with the capture's facts, memory over
    /// time, flame graphs of the peak and of leaks, and the top locations.
    Report {
        /// The capture file (.bin), or the captures of one program's processes (`memray run
        /// --follow-fork` writes app.bin and app.bin.PID): `app.bin app.bin.*`.
        #[arg(required = true, num_args = 1..)]
        captures: Vec<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        window: WindowArgs,
        /// Where to write the report; `-` for stdout. Default: memreport-report-NAME.html next
        /// to the capture.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}
