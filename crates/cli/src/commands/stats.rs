//! `memreport stats`: the numbers of `memray stats`.

use std::io::Write;
use std::path::Path;

use memreport_analysis::stats::Stats;
use memreport_analysis::Threads;

use super::{analyse, unavailable};
use crate::output::{output, Context, Failure};
use crate::EXIT_OK;

pub(crate) fn stats(
    cx: &Context,
    path: &Path,
    json: bool,
    n: usize,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let analysis = analyse(cx, path, &[], false, Threads::Merged, stderr)?;
    let stats = Stats::compute(&analysis, n).map_err(|why| unavailable(path, why))?;
    if json {
        output(memreport_report::stats::write_json(out, &analysis, &stats))?;
    } else {
        output(memreport_report::stats::write_text(out, &analysis, &stats, cx.style))?;
    }
    Ok(EXIT_OK)
}
