//! `memreport check`: the CI gate. Each capture given (or found in a folder given, as
//! pytest-memray leaves one per test) is a case; `NAME` and `NAME.PID` are one case, a capture
//! set. The limits are `memreport_analysis::check`'s; this module only gathers the cases, hands
//! them to the report crate and picks the exit status.

use std::io::Write;
use std::path::{Path, PathBuf};

use memreport_analysis::check::{Limits, Measured};
use memreport_analysis::set::Process;
use memreport_analysis::Threads;
use memreport_report::check::{Case, Outcome};

use super::{analyse, set};
use crate::output::{output, refuse_input_as_output, shown, write_page, Context, Failure};
use crate::{EXIT_BAD_INPUT, EXIT_GATE, EXIT_OK};

/// What `memreport check` was asked.
pub(crate) struct CheckOptions {
    pub(crate) limits: Limits,
    pub(crate) json: bool,
    pub(crate) junit: Option<PathBuf>,
}

/// The captures of a folder: its files whose name holds `.bin` (memray's and pytest-memray's
/// names, compressed or not), sorted by name; hidden files and subfolders are left alone.
fn captures_in(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::input(dir, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            !name.starts_with('.') && name.contains(".bin")
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Failure::input(dir, "no capture (*.bin) in this folder"));
    }
    Ok(out)
}

/// A case's name: its (first) capture's file name, without `.bin` and what follows.
fn case_name(files: &[PathBuf]) -> String {
    let name = shown(&files[0]);
    match name.find(".bin") {
        Some(at) if at > 0 => name[..at].to_string(),
        _ => name,
    }
}

/// Measures one case: a lone capture, or a set.
fn measure(
    cx: &Context,
    files: &[PathBuf],
    stderr: &mut dyn Write,
) -> Result<(Measured, bool), Failure> {
    if let [path] = files {
        let analysis = analyse(cx, path, &[], true, Threads::Merged, stderr)?;
        let leaks = memreport_analysis::leaks::detect(&analysis);
        let measured =
            Measured::of(&analysis, &leaks).map_err(|why| super::unavailable(path, why))?;
        return Ok((measured, Process::of(&analysis).truncated));
    }
    set::measure(cx, files, stderr)
}

pub(crate) fn check(
    cx: &Context,
    paths: &[PathBuf],
    opts: CheckOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    if !opts.limits.any() {
        return Err(Failure {
            message: "check needs a limit: --max-peak SIZE, --max-leaked SIZE, --no-growth or \
                      --max-growth RATE"
                .to_string(),
            code: EXIT_BAD_INPUT,
        });
    }
    let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    refuse_input_as_output(opts.junit.as_deref(), &inputs)?;
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(captures_in(path)?);
        } else {
            files.push(path.clone());
        }
    }
    let mut cases = Vec::new();
    for family in set::families(&files) {
        let outcome = match measure(cx, &family, stderr) {
            Ok((measured, truncated)) => {
                let crossed = opts.limits.check(&measured);
                Ok(Outcome { measured, crossed, truncated })
            }
            // With one case the error is the answer; among several, one unreadable capture is
            // a case in error and the others are still checked.
            Err(f) if files.len() == 1 => return Err(f),
            Err(f) => Err(f.message),
        };
        let names = family.iter().map(|p| shown(p)).collect();
        cases.push(Case { name: case_name(&family), files: names, outcome });
    }
    if let Some(target) = &opts.junit {
        let mut page = Vec::new();
        output(memreport_report::check::write_junit(&mut page, &cases, &opts.limits))?;
        let target = (target.as_os_str() != "-").then_some(target.as_path());
        write_page(cx, target, &page, out, stderr)?;
    }
    if opts.json {
        output(memreport_report::check::write_json(out, &cases, &opts.limits))?;
    } else {
        output(memreport_report::check::write_text(out, &cases, &opts.limits, cx.style))?;
    }
    Ok(if cases.iter().any(|c| c.outcome.is_err()) {
        EXIT_BAD_INPUT
    } else if cases.iter().any(|c| c.outcome.as_ref().is_ok_and(|o| !o.crossed.is_empty())) {
        EXIT_GATE
    } else {
        EXIT_OK
    })
}
