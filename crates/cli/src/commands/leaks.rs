//! `memreport leaks`: is something leaking, where, how fast and how sure.

use std::io::Write;
use std::path::Path;

use memreport_analysis::Threads;

use super::analyse;
use crate::output::{output, Context, Failure};
use crate::EXIT_OK;

pub(crate) fn leaks(
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
        output(memreport_report::leaks::write_text(out, &analysis, &found, cx.style, cx.columns))?;
    }
    Ok(EXIT_OK)
}
