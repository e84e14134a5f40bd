//! `memreport top` (locations ranked) and `memreport tree` (the call tree as text).

use std::io::Write;
use std::path::Path;

use memreport_analysis::group::{group, By, CallTree};
use memreport_analysis::{Mode, Threads};

use super::{analyse, thresholds, unavailable};
use crate::output::{output, Context, Failure};
use crate::EXIT_OK;

pub(crate) struct TopOptions {
    pub(crate) mode: Mode,
    pub(crate) json: bool,
    pub(crate) n: usize,
    pub(crate) by: By,
    pub(crate) threads: Threads,
}

pub(crate) fn top(
    cx: &Context,
    path: &Path,
    opts: TopOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &thresholds(opts.mode), false, opts.threads, stderr)?;
    let rows = analysis.entries(opts.mode, opts.threads).map_err(|why| unavailable(path, why))?;
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

pub(crate) fn tree(
    cx: &Context,
    path: &Path,
    mode: Mode,
    depth: usize,
    min_share: f64,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &[], false, Threads::Merged, stderr)?;
    let rows = analysis.entries(mode, Threads::Merged).map_err(|why| unavailable(path, why))?;
    let call_tree = CallTree::build(&analysis, &rows);
    let view = memreport_report::top::TreeView {
        mode,
        depth,
        min_share: min_share / 100.0,
        width: cx.columns,
    };
    output(memreport_report::top::write_tree(out, &analysis, &call_tree, view, cx.style))?;
    Ok(EXIT_OK)
}
