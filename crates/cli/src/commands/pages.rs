//! `memreport flamegraph` and `memreport report`: the HTML pages of one capture.

use std::io::Write;
use std::path::{Path, PathBuf};

use memreport_analysis::Threads;
use memreport_report::html::{self, FlamegraphView};

use super::{analyse, thresholds, unavailable};
use crate::output::{capture_name, output, page_target, refuse_input_as_output, write_page};
use crate::output::{Context, Failure};
use crate::EXIT_OK;

pub(crate) fn flamegraph(
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
    let rendered = html::write_flamegraph(&mut page, &analysis, view, &capture_name(path))
        .map_err(|why| unavailable(path, why))?;
    output(rendered)?;
    write_page(cx, target.as_deref(), &page, out, stderr)?;
    Ok(EXIT_OK)
}

pub(crate) fn report(
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
