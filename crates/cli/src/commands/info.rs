//! `memreport info` (a capture's facts) and `memreport records` (memray's `parse` text).

use std::io::Write;
use std::path::Path;

use memreport_analysis::info::CaptureInfo;
use memreport_format::dump::{self, DumpError};
use memreport_format::Capture;

use crate::output::{output, warn_truncated, Failure};
use crate::EXIT_OK;

pub(crate) fn info(
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

pub(crate) fn records(
    path: &Path,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let capture = Capture::open(path).map_err(|e| Failure::input(path, e))?;
    match dump::write_capture(out, capture) {
        Ok(end) => warn_truncated(stderr, path, end),
        Err(DumpError::Read(e)) => return Err(Failure::input(path, e)),
        Err(DumpError::Write(e)) => output(Err(e))?,
    }
    Ok(EXIT_OK)
}
