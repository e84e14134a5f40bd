//! `memreport diff`: two captures compared, with the page, the JSON or text, and the CI gate.

use std::io::Write;
use std::path::{Path, PathBuf};

use memreport_analysis::diff::Threshold;
use memreport_analysis::group::By;
use memreport_analysis::{Analyzer, Threads};
use memreport_report::html;

use crate::output::{capture_name, output, refuse_input_as_output, warn_truncated, write_page};
use crate::output::{Context, Failure};
use crate::{EXIT_BAD_INPUT, EXIT_GATE, EXIT_OK};

pub(crate) struct DiffOptions {
    pub(crate) output: Option<PathBuf>,
    pub(crate) json: bool,
    pub(crate) by: By,
    pub(crate) n: usize,
    pub(crate) fail_on_increase: Option<Threshold>,
}

pub(crate) fn diff(
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
    // A window applies to each capture, counted from its own start.
    let read = |path: &Path| {
        Analyzer::new()
            .threads(Threads::Merged)
            .window(cx.window)
            .parallel(cx.parallel)
            .run_path(path)
    };
    let (b, a) = if cx.parallel {
        std::thread::scope(|scope| {
            let other = scope.spawn(|| read(before));
            let a = read(after);
            (other.join().expect("the analysis of BEFORE does not panic"), a)
        })
    } else {
        (read(before), read(after))
    };
    let mut b = b.map_err(|e| Failure::input(before, e))?;
    let mut a = a.map_err(|e| Failure::input(after, e))?;
    for (path, analysis) in [(before, &b), (after, &a)] {
        if analysis.is_aggregated() && !cx.window.is_whole_run() {
            return Err(super::unavailable(
                path,
                memreport_analysis::Unavailable::AggregatedWindow,
            ));
        }
    }
    warn_truncated(stderr, before, Some(b.end()));
    warn_truncated(stderr, after, Some(a.end()));
    super::present(cx, before, &mut b, stderr);
    super::present(cx, after, &mut a, stderr);
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
    answer(cx, &result, &opts, out, stderr)
}

/// Writes a diff's answer (JSON or text) and applies `--fail-on-increase`: the exit status.
pub(crate) fn answer(
    cx: &Context,
    result: &memreport_analysis::diff::Diff,
    opts: &DiffOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    if opts.json {
        output(memreport_report::diff::write_json(out, result, usize::MAX))?;
    } else {
        output(memreport_report::diff::write_text(out, result, opts.n, cx.style))?;
    }
    match opts.fail_on_increase.and_then(|threshold| result.gate(threshold)) {
        Some(crossed) => {
            let _ =
                writeln!(stderr, "memreport: {}", memreport_report::diff::crossed_text(&crossed));
            Ok(EXIT_GATE)
        }
        None => Ok(EXIT_OK),
    }
}
