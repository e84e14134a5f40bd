//! The `memreport` command line: argument parsing, dispatch, error lines and exit codes.
//!
//! Glue only: every answer is computed by `memreport-analysis` and rendered by `memreport-report`.
//! [`run`] takes its output streams as arguments so tests can drive the whole command in-process.
//!
//! Exit status: 0 success (a truncated capture is a warning, not a failure), 1 a gate or
//! threshold crossed, 2 bad input or usage. A closed stdout (`memreport … | head`) counts as
//! success.
#![deny(missing_docs)]

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use memreport_analysis::group::{group, By, CallTree};
use memreport_analysis::info::CaptureInfo;
use memreport_analysis::stats::Stats;
use memreport_analysis::{Analysis, Analyzer, Mode, Progress, Threads};
use memreport_format::{dump, Capture, StreamEnd};
use memreport_report::html::{self, FlamegraphView};
use memreport_report::terminal::{visible, SafeWriter, PROGRESS_SEQUENCES, STYLE_SEQUENCES};
use memreport_report::text::{human_size, Style};

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status when a gate or threshold is crossed.
pub const EXIT_GATE: u8 = 1;
/// Exit status for bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "memreport",
    version,
    about = "Answers from memray captures: peak, leaks, growth, diffs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Colour: auto (only on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Work on one thread. By default a capture is decoded on a second thread while this one
    /// analyses it, the two captures of a diff are read at once, and the views of a report are
    /// built side by side. The results are the same either way.
    #[arg(long, global = true)]
    single_thread: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How coarse a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ByArg {
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

/// A limit on growth: bytes, or a share of the value before.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Threshold {
    Bytes(u64),
    Percent(f64),
}

/// Parses `10MB`, `1.5GiB`, `512` (bytes; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024) or
/// `5%`.
fn parse_threshold(text: &str) -> Result<Threshold, String> {
    let text = text.trim();
    if let Some(pct) = text.strip_suffix('%') {
        let value: f64 = pct.trim().parse().map_err(|_| format!("not a percentage: {text}"))?;
        return if value.is_finite() && value >= 0.0 {
            Ok(Threshold::Percent(value))
        } else {
            Err(format!("not a percentage: {text}"))
        };
    }
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().map_err(|_| format!("not a size: {text}"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit {unit:?} in {text}")),
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("not a size: {text}"));
    }
    Ok(Threshold::Bytes(bytes.round() as u64))
}

#[derive(Subcommand, Debug)]
enum Command {
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
        /// The capture file (.bin).
        capture: PathBuf,
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
        /// The capture file (.bin).
        capture: PathBuf,
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
        /// The capture file (.bin).
        capture: PathBuf,
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
        /// The capture file (.bin).
        capture: PathBuf,
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
        /// The capture before the change.
        before: PathBuf,
        /// The capture after the change.
        after: PathBuf,
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
    /// A self-contained HTML flame graph of what was live at the peak (default), still live at
    /// the end (--leaks), or allocated and freed almost at once (--temporary).
    Flamegraph {
        /// The capture file (.bin).
        capture: PathBuf,
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
        /// One subtree per thread.
        #[arg(long)]
        split_threads: bool,
    },
    /// The incident report: one self-contained HTML file with the capture's facts, memory over
    /// time, flame graphs of the peak and of leaks, and the top locations.
    Report {
        /// The capture file (.bin).
        capture: PathBuf,
        /// Where to write the report; `-` for stdout. Default: memreport-report-NAME.html next
        /// to the capture.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// What the terminal can show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    /// stdout is a terminal (colour may be used).
    pub stdout: bool,
    /// stderr is a terminal (progress may be shown).
    pub stderr: bool,
}

impl Terminal {
    /// The terminal of this process.
    pub fn detect() -> Terminal {
        use std::io::IsTerminal;
        Terminal { stdout: io::stdout().is_terminal(), stderr: io::stderr().is_terminal() }
    }
}

/// Options that apply to every command.
struct Context {
    quiet: bool,
    style: Style,
    progress: bool,
    /// More than one thread may be used (`--single-thread` is off).
    parallel: bool,
}

/// A path as it may be printed: its control characters shown as escapes (a file name can hold
/// an escape sequence, or a newline that would fake a line of output).
fn shown(path: &Path) -> String {
    visible(&path.display().to_string()).into_owned()
}

/// A failure reported as one line on stderr.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn input(path: &Path, err: impl std::fmt::Display) -> Failure {
        Failure { message: format!("{}: {err}", shown(path)), code: EXIT_BAD_INPUT }
    }
}

/// Runs the command line `args` (program name first) as if neither stream were a terminal, and
/// returns the exit status.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    run_on(args, stdout, stderr, Terminal::default())
}

/// Runs the command line `args` (program name first) on streams with the given terminal
/// capabilities, and returns the exit status.
pub fn run_on(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    terminal: Terminal,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { EXIT_OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                stderr.write_all(text.as_bytes())
            } else {
                stdout.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal.stdout && std::env::var_os("NO_COLOR").is_none(),
    };
    let cx = Context {
        quiet: cli.quiet,
        style: Style { color },
        progress: terminal.stderr,
        parallel: !cli.single_thread,
    };
    // Everything on stderr, and every text output on stdout, goes through the escaping net (see
    // memreport_report::terminal). JSON escapes its own C0 controls, and the net writes the C1
    // and bidi controls it leaves raw as \uXXXX (the same values); pages are HTML and go as they
    // are; `records` is memray's `parse` text, kept byte for byte in a file.
    let mut safe_err =
        SafeWriter::new(stderr, if terminal.stderr { PROGRESS_SEQUENCES } else { &[] });
    let stderr: &mut dyn Write = &mut safe_err;
    let text = match &cli.command {
        Command::Info { json, .. }
        | Command::Stats { json, .. }
        | Command::Top { json, .. }
        | Command::Diff { json, .. }
        | Command::Leaks { json, .. } => !json,
        Command::Records { .. } => terminal.stdout,
        Command::Tree { .. } => true,
        Command::Flamegraph { output, .. } | Command::Report { output, .. } => output.is_some(),
    };
    let json = matches!(
        &cli.command,
        Command::Info { json: true, .. }
            | Command::Stats { json: true, .. }
            | Command::Top { json: true, .. }
            | Command::Diff { json: true, .. }
            | Command::Leaks { json: true, .. }
    );
    let mut safe_out;
    let sink: &mut dyn Write = if text {
        safe_out = SafeWriter::new(stdout, if color { STYLE_SEQUENCES } else { &[] });
        &mut safe_out
    } else if json {
        safe_out = SafeWriter::json(stdout);
        &mut safe_out
    } else {
        stdout
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let result = match cli.command {
        Command::Info { capture, json } => info(&capture, json, &mut out, stderr),
        Command::Records { capture } => records(&capture, &mut out, stderr),
        Command::Stats { capture, json, n } => stats(&cx, &capture, json, n, &mut out, stderr),
        Command::Top { capture, leaks, temporary, json, n, by, split_threads } => {
            let mode = mode(leaks, temporary);
            let by = by.into();
            let threads = if split_threads { Threads::Split } else { Threads::Merged };
            let opts = TopOptions { mode, json, n, by, threads };
            top(&cx, &capture, opts, &mut out, stderr)
        }
        Command::Tree { capture, leaks, depth, min_share } => {
            let mode = if leaks { Mode::Leaks } else { Mode::Peak };
            tree(&cx, &capture, mode, depth, min_share, &mut out, stderr)
        }
        Command::Flamegraph { capture, output, leaks, temporary, inverted, split_threads } => {
            let mode = mode(leaks, temporary);
            let threads = if split_threads { Threads::Split } else { Threads::Merged };
            let view = FlamegraphView { mode, threads, inverted };
            flamegraph(&cx, &capture, output, view, &mut out, stderr)
        }
        Command::Diff { before, after, output, json, by, n, fail_on_increase } => {
            let opts = DiffOptions { output, json, by: by.into(), n, fail_on_increase };
            diff(&cx, &before, &after, opts, &mut out, stderr)
        }
        Command::Leaks { capture, json } => leaks(&cx, &capture, json, &mut out, stderr),
        Command::Report { capture, output } => report(&cx, &capture, output, &mut out, stderr),
    };
    let flushed = out.flush();
    match result {
        Ok(code) => match flushed {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                let _ = writeln!(stderr, "memreport: error: writing output: {e}");
                EXIT_BAD_INPUT
            }
            _ => code,
        },
        Err(f) => {
            let _ = writeln!(stderr, "memreport: error: {}", f.message);
            f.code
        }
    }
}

/// The mode of `--leaks` / `--temporary[=N]` (the peak when neither is given).
fn mode(leaks: bool, temporary: Option<u64>) -> Mode {
    match (leaks, temporary) {
        (true, _) => Mode::Leaks,
        (false, Some(n)) => Mode::Temporary(n),
        (false, None) => Mode::Peak,
    }
}

/// The temporary-allocation thresholds a pass must compute for a mode.
fn thresholds(mode: Mode) -> Vec<u64> {
    match mode {
        Mode::Temporary(n) => vec![n],
        _ => Vec::new(),
    }
}

/// Maps an output error to success when the reader went away (`| head`).
fn output(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure { message: format!("writing output: {e}"), code: EXIT_BAD_INPUT })
        }
        _ => Ok(()),
    }
}

fn warn_truncated(stderr: &mut dyn Write, path: &Path, end: Option<StreamEnd>) {
    if let Some(StreamEnd::TrailerThenData { offset }) = end {
        let _ = writeln!(
            stderr,
            "memreport: warning: {}: bytes after the trailer from byte {offset} of the stream \
             (two captures concatenated?); they are not read",
            shown(path)
        );
    }
    if let Some(StreamEnd::Truncated(t)) = end {
        let _ = writeln!(
            stderr,
            "memreport: warning: {}: truncated capture (no trailer); read {} records up to byte {}",
            shown(path),
            t.records_read,
            t.offset
        );
    }
}

fn info(
    path: &Path,
    json: bool,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let info = CaptureInfo::read(path).map_err(|e| Failure::input(path, e))?;
    warn_truncated(stderr, path, Some(info.end));
    if json {
        let mut text = serde_json::to_string_pretty(&memreport_report::info::to_json(&info))
            .map_err(|e| Failure::input(path, e))?;
        text.push('\n');
        output(out.write_all(text.as_bytes()))?;
    } else {
        output(memreport_report::info::write_text(out, &info))?;
    }
    Ok(EXIT_OK)
}

fn records(path: &Path, out: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8, Failure> {
    let capture = Capture::open(path).map_err(|e| Failure::input(path, e))?;
    let header = capture.header().clone();
    output(dump::write_header(out, &header))?;
    let mut records = capture.records();
    for record in &mut records {
        let record = record.map_err(|e| Failure::input(path, e))?;
        output(dump::write_record(out, &header, &record))?;
    }
    // memray prints a record's name before its payload, so a record cut by the end of the data
    // leaves that name without a newline; print the same.
    if let Some(StreamEnd::Truncated(t)) = records.end() {
        if let Some(prefix) = t.partial_record_type.and_then(|b| dump::partial_prefix(&header, b)) {
            output(out.write_all(prefix.as_bytes()))?;
        }
    }
    warn_truncated(stderr, path, records.end());
    Ok(EXIT_OK)
}

/// Reads a capture once for the given temporary thresholds, with progress on a terminal;
/// `series` keeps the per-site timelines that charts draw.
fn analyse(
    cx: &Context,
    path: &Path,
    thresholds: &[u64],
    series: bool,
    threads: Threads,
    stderr: &mut dyn Write,
) -> Result<Analysis, Failure> {
    let show = cx.progress && !cx.quiet;
    let name = shown(path).to_string();
    let mut shown = false;
    let mut report = |p: Progress| {
        shown = true;
        let _ = write!(
            stderr,
            "\r\x1b[2Kreading {name}: {} of stream, {} records",
            human_size(p.bytes),
            p.records
        );
        let _ = stderr.flush();
    };
    let mut analyzer =
        // Sites are kept per thread only when a per-thread view is asked for: a thread-per-request
        // server would otherwise cost one site per thread and stack.
        Analyzer::new()
            .series(series)
            .temporary(thresholds.iter().copied())
            .threads(threads)
            .parallel(cx.parallel);
    if show {
        analyzer = analyzer.progress(&mut report);
    }
    let result = analyzer.run_path(path);
    if shown {
        let _ = write!(stderr, "\r\x1b[2K");
    }
    let analysis = result.map_err(|e| Failure::input(path, e))?;
    warn_truncated(stderr, path, Some(analysis.end()));
    Ok(analysis)
}

fn stats(
    cx: &Context,
    path: &Path,
    json: bool,
    n: usize,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &[], false, Threads::Merged, stderr)?;
    // memray's own refusal, word for word.
    let stats = Stats::compute(&analysis, n).ok_or_else(|| {
        Failure::input(
            path,
            "Can't compute statistics using a pre-aggregated capture file. \
             (`memreport top` and `memreport tree` read its peak and leaks.)",
        )
    })?;
    if json {
        output(memreport_report::stats::write_json(out, &analysis, &stats))?;
    } else {
        output(memreport_report::stats::write_text(out, &analysis, &stats, cx.style))?;
    }
    Ok(EXIT_OK)
}

struct TopOptions {
    mode: Mode,
    json: bool,
    n: usize,
    by: By,
    threads: Threads,
}

/// The rows of a mode, or the reason the capture cannot give them.
fn entries(
    analysis: &Analysis,
    path: &Path,
    mode: Mode,
    threads: Threads,
) -> Result<Vec<memreport_analysis::Entry>, Failure> {
    analysis.entries(mode, threads).ok_or_else(|| unavailable(path))
}

/// Why a view cannot be computed: the only one a pass does not give is temporary allocations of
/// an aggregated capture.
fn unavailable(path: &Path) -> Failure {
    Failure::input(
        path,
        "temporary allocations need every allocation event; an aggregated capture \
         (memray run --aggregate) only stores peak and leak totals",
    )
}

fn top(
    cx: &Context,
    path: &Path,
    opts: TopOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &thresholds(opts.mode), false, opts.threads, stderr)?;
    let rows = entries(&analysis, path, opts.mode, opts.threads)?;
    let groups = group(&analysis, &rows, opts.by);
    let view = memreport_report::top::TopView {
        mode: opts.mode,
        groups: &groups,
        limit: opts.n,
        with_stack: opts.by == By::Line,
    };
    if opts.json {
        output(memreport_report::top::write_json(out, &analysis, view))?;
    } else {
        output(memreport_report::top::write_text(out, &analysis, view, cx.style))?;
    }
    Ok(EXIT_OK)
}

fn tree(
    cx: &Context,
    path: &Path,
    mode: Mode,
    depth: usize,
    min_share: f64,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &[], false, Threads::Merged, stderr)?;
    let rows = entries(&analysis, path, mode, Threads::Merged)?;
    let call_tree = CallTree::build(&analysis, &rows);
    let view = memreport_report::top::TreeView { mode, depth, min_share: min_share / 100.0 };
    output(memreport_report::top::write_tree(out, &analysis, &call_tree, view, cx.style))?;
    Ok(EXIT_OK)
}

/// Where a page goes: the file given, stdout for `-`, or `memreport-KIND-NAME.html` next to the
/// capture (as memray names its reports).
fn page_target(capture: &Path, output: Option<PathBuf>, kind: &str) -> Option<PathBuf> {
    match output {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p),
        None => {
            // A capture read from stdin (`-`) names its page after that.
            let stem = if capture.as_os_str() == "-" {
                "stdin".into()
            } else {
                capture.file_stem().unwrap_or(capture.as_os_str()).to_string_lossy()
            };
            Some(capture.with_file_name(format!("memreport-{kind}-{stem}.html")))
        }
    }
}

/// The capture's file name, for page titles (never its directory, which says nothing about the
/// capture and would make pages differ by where they were made).
fn capture_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".to_string();
    }
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// Refuses an output that is one of the inputs (the same file, by device and inode, whatever
/// the path says): the capture would be destroyed. Checked before the analysis.
fn refuse_input_as_output(output: Option<&Path>, inputs: &[&Path]) -> Result<(), Failure> {
    let Some(output) = output.filter(|p| p.as_os_str() != "-") else { return Ok(()) };
    let Ok(target) = std::fs::metadata(output) else { return Ok(()) };
    for input in inputs {
        if std::fs::metadata(input).is_ok_and(|m| same_file(&m, &target)) {
            return Err(Failure {
                message: format!(
                    "{}: the output is the input {}; refusing to write over the capture",
                    shown(output),
                    shown(input)
                ),
                code: EXIT_BAD_INPUT,
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Writes a rendered page to its target, as the target is:
///
/// * `-` or none: stdout;
/// * a FIFO, a device or anything else that is not a regular file: written through, as `cat`
///   would (`-o /dev/null` leaves `/dev/null` alone, a FIFO gets the page);
/// * a symlink: its target, which is then handled as below (the link stays a link);
/// * a regular file with other hard links: rewritten in place, so every name sees the page;
/// * otherwise (a regular file, or nothing yet): a temporary file beside it, renamed over it
///   once complete, so a failure never leaves a partial page; an existing file keeps its mode.
///
/// Pages are rendered before this is called, so a refusal never leaves a file either.
fn write_page(
    cx: &Context,
    target: Option<&Path>,
    page: &[u8],
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    let Some(given) = target else {
        return output(out.write_all(page));
    };
    let fail = |e: io::Error| Failure {
        message: format!("{}: writing output: {e}", shown(given)),
        code: EXIT_BAD_INPUT,
    };
    let path = resolve_links(given).map_err(fail)?;
    let existing = std::fs::metadata(&path).ok();
    let written = match &existing {
        Some(m) if !m.is_file() || hard_linked(m) => (|| {
            let mut file =
                std::fs::OpenOptions::new().write(true).truncate(m.is_file()).open(&path)?;
            file.write_all(page)?;
            file.flush()
        })(),
        _ => replace_atomically(&path, page, existing.as_ref()),
    };
    written.map_err(fail)?;
    if !cx.quiet {
        let _ = writeln!(stderr, "wrote {} ({})", shown(given), human_size(page.len() as u64));
    }
    Ok(())
}

/// The file a path names once symlinks are followed (a dangling link names the file it points
/// to, which is then created).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

#[cfg(unix)]
fn hard_linked(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.is_file() && m.nlink() > 1
}

#[cfg(not(unix))]
fn hard_linked(_: &std::fs::Metadata) -> bool {
    false
}

/// Writes `page` to a temporary file beside `path` and renames it over `path`, with the mode of
/// the file it replaces.
fn replace_atomically(
    path: &Path,
    page: &[u8],
    existing: Option<&std::fs::Metadata>,
) -> io::Result<()> {
    let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(page)?;
        file.sync_all()?;
        if let Some(m) = existing {
            std::fs::set_permissions(&temporary, m.permissions())?;
        }
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

fn flamegraph(
    cx: &Context,
    path: &Path,
    target: Option<PathBuf>,
    view: FlamegraphView,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let target = page_target(path, target, "flamegraph");
    refuse_input_as_output(target.as_deref(), &[path])?;
    let analysis = analyse(cx, path, &thresholds(view.mode), false, view.threads, stderr)?;
    let mut page = Vec::new();
    match html::write_flamegraph(&mut page, &analysis, view, &capture_name(path)) {
        Some(rendered) => output(rendered)?,
        None => return Err(unavailable(path)),
    }
    write_page(cx, target.as_deref(), &page, out, stderr)?;
    Ok(EXIT_OK)
}

fn report(
    cx: &Context,
    path: &Path,
    target: Option<PathBuf>,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let target = page_target(path, target, "report");
    refuse_input_as_output(target.as_deref(), &[path])?;
    let analysis = analyse(cx, path, &[], true, Threads::Merged, stderr)?;
    let mut page = Vec::new();
    let name = capture_name(path);
    let render = |page: &mut Vec<u8>| html::write_report(page, &analysis, &name);
    output(if cx.parallel { render(&mut page) } else { on_one_thread(|| render(&mut page)) })?;
    write_page(cx, target.as_deref(), &page, out, stderr)?;
    Ok(EXIT_OK)
}

/// Runs `f` in a rayon pool of one thread, for `--single-thread`: what `f` would build side by
/// side is built one part after another.
fn on_one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

fn leaks(
    cx: &Context,
    path: &Path,
    json: bool,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &[], true, Threads::Merged, stderr)?;
    let found = memreport_analysis::leaks::detect(&analysis);
    if json {
        output(memreport_report::leaks::write_json(out, &analysis, &found))?;
    } else {
        output(memreport_report::leaks::write_text(out, &analysis, &found, cx.style))?;
    }
    Ok(EXIT_OK)
}

struct DiffOptions {
    output: Option<PathBuf>,
    json: bool,
    by: By,
    n: usize,
    fail_on_increase: Option<Threshold>,
}

fn diff(
    cx: &Context,
    before: &Path,
    after: &Path,
    opts: DiffOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    refuse_input_as_output(opts.output.as_deref(), &[before, after])?;
    if before.as_os_str() == "-" && after.as_os_str() == "-" {
        return Err(Failure {
            message: "only one side of a diff can be read from stdin (-)".to_string(),
            code: EXIT_BAD_INPUT,
        });
    }
    // Both captures are read at once, each on its own thread (and each pipelined). On two cores
    // this measured faster than reading each capture single-threaded side by side (3.4–3.9 s
    // against 4.3–4.6 s for a 10M-record capture against itself, docs/performance.md); with more
    // cores a diff takes about as long as its larger capture alone.
    let read =
        |path: &Path| Analyzer::new().threads(Threads::Merged).parallel(cx.parallel).run_path(path);
    let (b, a) = if cx.parallel {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| read(before));
            let a = read(after);
            (other.join().expect("the analysis of BEFORE does not panic"), a)
        })
    } else {
        (read(before), read(after))
    };
    let b = b.map_err(|e| Failure::input(before, e))?;
    let a = a.map_err(|e| Failure::input(after, e))?;
    warn_truncated(stderr, before, Some(b.end()));
    warn_truncated(stderr, after, Some(a.end()));
    let result = memreport_analysis::diff::diff(&b, &a, opts.by);
    if let Some(target) = &opts.output {
        let mut page = Vec::new();
        // Two captures of one name (`capture.bin` in two folders) are told apart by folder.
        let mut names = (capture_name(before), capture_name(after));
        if names.0 == names.1 {
            let with_folder = |p: &Path| {
                let folder = p.parent().and_then(Path::file_name).map(|f| f.to_string_lossy());
                folder.map_or_else(|| capture_name(p), |f| format!("{f}/{}", capture_name(p)))
            };
            names = (with_folder(before), with_folder(after));
        }
        output(html::write_diff(&mut page, &b, &a, &result, (&names.0, &names.1)))?;
        let target = (target.as_os_str() != "-").then_some(target.as_path());
        write_page(cx, target, &page, out, stderr)?;
    }
    if opts.json {
        output(memreport_report::diff::write_json(out, &result, usize::MAX))?;
    } else {
        output(memreport_report::diff::write_text(out, &result, opts.n, cx.style))?;
    }
    let Some(threshold) = opts.fail_on_increase else { return Ok(EXIT_OK) };
    let checks = [
        ("peak memory", result.before.peak_memory, result.after.peak_memory),
        ("leaked bytes", result.before.leaked.bytes, result.after.leaked.bytes),
    ];
    for (name, was, now) in checks {
        let grew = now.saturating_sub(was);
        let (crossed, limit) = match threshold {
            Threshold::Bytes(limit) => (grew > limit, human_size(limit)),
            Threshold::Percent(pct) => {
                (grew as f64 > was as f64 * pct / 100.0 && grew > 0, format!("{pct}%"))
            }
        };
        if crossed {
            let _ = writeln!(
                stderr,
                "memreport: {name} grew by {} ({} → {}), more than {limit}",
                human_size(grew),
                human_size(was),
                human_size(now)
            );
            return Ok(EXIT_GATE);
        }
    }
    Ok(EXIT_OK)
}
