//! One module per command. Each reads its captures through [`analyse`], asks the analysis crate
//! for its answer, hands it to the report crate, and returns an exit status; none holds a rule of
//! its own about memory.

mod check;
pub(crate) mod diff;
pub(crate) mod export;
mod info;
mod leaks;
mod pages;
pub(crate) mod set;
mod stats;
mod top;

use std::io::Write;
use std::path::Path;

use memreport_analysis::{Analysis, Analyzer, Mode, Progress, Threads, Unavailable};
use memreport_report::text::human_size;

use crate::output::{shown, warn_truncated, Context, Failure};

pub(crate) use check::{check, CheckOptions};
pub(crate) use diff::{diff, DiffOptions};
pub(crate) use export::export;
pub(crate) use info::{info, records};
pub(crate) use leaks::leaks;
pub(crate) use pages::{flamegraph, report};
pub(crate) use stats::stats;
pub(crate) use top::{top, tree, TopOptions};

/// The mode of `--leaks` / `--temporary[=N]` (the peak when neither is given).
pub(crate) fn mode(leaks: bool, temporary: Option<u64>) -> Mode {
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

/// A view the capture cannot give, as the error line of its command.
fn unavailable(path: &Path, why: Unavailable) -> Failure {
    Failure::input(path, memreport_report::unavailable::reason(why))
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
    let pass = Pass { thresholds, series, threads, window: cx.window, warn: true };
    analyse_with(cx, path, pass, stderr)
}

/// What one pass over a capture computes.
struct Pass<'a> {
    thresholds: &'a [u64],
    series: bool,
    threads: Threads,
    window: memreport_analysis::Window,
    /// Whether to warn about a truncated capture (a second pass over a capture does not).
    warn: bool,
}

/// Reads a capture once as `pass` says (see [`analyse`]).
fn analyse_with(
    cx: &Context,
    path: &Path,
    pass: Pass<'_>,
    stderr: &mut dyn Write,
) -> Result<Analysis, Failure> {
    let Pass { thresholds, series, threads, window, warn } = pass;
    let show = cx.progress && !cx.quiet;
    let name = shown(path);
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
            .window(window)
            .parallel(cx.parallel);
    if show {
        analyzer = analyzer.progress(&mut report);
    }
    let result = analyzer.run_path(path);
    if shown {
        let _ = write!(stderr, "\r\x1b[2K");
    }
    let mut analysis = result.map_err(|e| Failure::input(path, e))?;
    if analysis.is_aggregated() && !window.is_whole_run() {
        return Err(unavailable(path, Unavailable::AggregatedWindow));
    }
    if warn {
        warn_truncated(stderr, path, Some(analysis.end()));
    }
    present(cx, path, &mut analysis, stderr);
    Ok(analysis)
}

/// Makes an analysis show its stacks as the command line asks: native frames named (with one
/// note when some images were not found), then the view.
fn present(cx: &Context, path: &Path, analysis: &mut Analysis, stderr: &mut dyn Write) {
    if let Some(source) = &cx.symbols {
        let found = analysis.symbolize(source);
        if !found.missing.is_empty() && !cx.quiet {
            let _ = writeln!(
                stderr,
                "memreport: note: {}: {}",
                shown(path),
                memreport_report::text::missing_images_note(&found)
            );
        }
    }
    if let Some(view) = &cx.view {
        analysis.set_view(view);
    }
}
