//! The analysis commands over a capture set (`memreport top app.bin app.bin.*`): each capture is
//! read on its own, the processes are aligned on the wall clock (`memreport_analysis::set`), and
//! the answers are put together. A time window counts from the set's start: the first process's.

use std::io::Write;
use std::path::{Path, PathBuf};

use memreport_analysis::check::Measured;
use memreport_analysis::group::{group, CallTree};
use memreport_analysis::set::{combined_peak, merge_groups, CombinedPeak, Process};
use memreport_analysis::stats::Stats;
use memreport_analysis::{Analysis, Mode, Threads, Window};
use memreport_report::html::{self, SetPart, SetReport};
use memreport_report::set::{ProcessRow, SetView};

use super::{analyse_with, thresholds, unavailable, Pass, TopOptions};
use crate::output::{output, page_target, refuse_input_as_output, shown, write_page};
use crate::output::{Context, Failure};
use crate::EXIT_OK;

/// One process of the set.
struct Member {
    path: PathBuf,
    analysis: Analysis,
    process: Process,
}

/// The window asked for, moved to a process that started `offset_s` after the set.
fn shifted(window: Window, offset_s: f64) -> Window {
    if window.is_whole_run() {
        return window;
    }
    let shift = |t: Option<f64>| t.map(|t| t - offset_s);
    // A window that ends before the process started holds nothing of it: it never opens.
    if shift(window.to_s()).is_some_and(|t| t < 0.0) {
        return Window::new(Some(f64::MAX), None).unwrap_or(window);
    }
    // A start before the process's own start is its start.
    let from = shift(window.from_s()).filter(|&t| t > 0.0);
    Window::new(from, shift(window.to_s())).unwrap_or(window)
}

/// Reads every capture of the set once, in the order the processes started (then by pid).
fn read(
    cx: &Context,
    paths: &[PathBuf],
    thresholds: &[u64],
    series: bool,
    threads: Threads,
    stderr: &mut dyn Write,
) -> Result<Vec<Member>, Failure> {
    // The set's start is known only from the headers, before any window is applied.
    let mut starts = Vec::with_capacity(paths.len());
    for path in paths {
        let capture =
            memreport_analysis::Capture::open(path).map_err(|e| Failure::input(path, e))?;
        starts.push(capture.header().start_time_ms);
    }
    let set_start = starts.iter().copied().min().unwrap_or(0);
    let mut members = Vec::with_capacity(paths.len());
    for (path, start) in paths.iter().zip(starts) {
        let offset_s = (start as f64 - set_start as f64) / 1000.0;
        let window = shifted(cx.window, offset_s);
        let pass = Pass { thresholds, series, threads, window, warn: true };
        let analysis = analyse_with(cx, path, pass, stderr)?;
        if analysis.is_aggregated() {
            return Err(Failure::input(
                path,
                "a capture set needs streaming captures: an aggregated capture (memray run \
                 --aggregate) keeps no memory over time to align",
            ));
        }
        let process = Process::of(&analysis);
        members.push(Member { path: path.clone(), analysis, process });
    }
    members.sort_by_key(|m| (m.process.start_ms, m.process.pid));
    Ok(members)
}

/// The combined peak of the set, inside the window when there is one.
fn peak_of(cx: &Context, members: &[Member]) -> Option<CombinedPeak> {
    let analyses: Vec<&Analysis> = members.iter().map(|m| &m.analysis).collect();
    let start = set_start(members);
    let span = (!cx.window.is_whole_run()).then(|| {
        let at = |t: Option<f64>, default: f64| start as f64 + t.unwrap_or(default) * 1000.0;
        let from = at(cx.window.from_s(), 0.0).max(0.0) as u64;
        let to = at(cx.window.to_s(), 1e15).min(u64::MAX as f64) as u64;
        (from, to)
    });
    combined_peak(&analyses, span)
}

fn set_start(members: &[Member]) -> i64 {
    members.iter().map(|m| m.process.start_ms).min().unwrap_or(0)
}

/// What the table and headings show of each process.
fn view<'a>(members: &'a [Member], peak: Option<&CombinedPeak>) -> SetView<'a> {
    let start = set_start(members);
    SetView {
        processes: members
            .iter()
            .enumerate()
            .map(|(i, m)| ProcessRow {
                file: shown(&m.path),
                process: &m.process,
                at_peak: peak.map(|p| p.held[i].heap),
                verdict: None,
            })
            .collect(),
        peak: peak.map(|p| (p.bytes, (p.ms_since_epoch as f64 - start as f64) / 1000.0)),
    }
}

/// The rows of one process, and the second pass they came from when they did.
struct Part {
    member: usize,
    second: Option<Analysis>,
    rows: Vec<memreport_analysis::Entry>,
}

impl Part {
    fn analysis<'a>(&'a self, members: &'a [Member]) -> &'a Analysis {
        self.second.as_ref().unwrap_or(&members[self.member].analysis)
    }
}

/// Each process's rows of `mode`: at the combined peak, the live heap of each process then (a
/// second pass per process, closed at its sample of that moment; a process that held nothing
/// then has no part); otherwise its own rows, from the first pass.
fn parts(
    cx: &Context,
    members: &[Member],
    mode: Mode,
    threads: Threads,
    peak: Option<&CombinedPeak>,
    stderr: &mut dyn Write,
) -> Result<Vec<Part>, Failure> {
    let mut out = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let part = match mode {
            Mode::Peak => {
                let Some(samples) = peak.and_then(|p| p.held[i].samples) else { continue };
                let window = Window::at_sample(samples);
                let pass = Pass { thresholds: &[], series: false, threads, window, warn: false };
                let second = analyse_with(cx, &m.path, pass, stderr)?;
                let rows = second
                    .entries(Mode::Leaks, threads)
                    .map_err(|why| unavailable(&m.path, why))?;
                Part { member: i, second: Some(second), rows }
            }
            mode => {
                let rows =
                    m.analysis.entries(mode, threads).map_err(|why| unavailable(&m.path, why))?;
                Part { member: i, second: None, rows }
            }
        };
        out.push(part);
    }
    Ok(out)
}

pub(crate) fn top(
    cx: &Context,
    paths: &[PathBuf],
    opts: TopOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    // Threads mean nothing across processes: a set's rows merge them.
    let threads = Threads::Merged;
    let members = read(cx, paths, &thresholds(opts.mode), false, threads, stderr)?;
    let peak = peak_of(cx, &members);
    let parts = parts(cx, &members, opts.mode, threads, peak.as_ref(), stderr)?;
    let per_process = parts.iter().map(|p| group(p.analysis(&members), &p.rows, opts.by)).collect();
    let groups = merge_groups(per_process);
    let set = view(&members, peak.as_ref());
    let top = memreport_report::top::TopView {
        mode: opts.mode,
        groups: &groups,
        limit: opts.n,
        with_stack: opts.by == memreport_analysis::group::By::Line,
    };
    if opts.json {
        output(memreport_report::set::write_top_json(out, &set, top))?;
    } else {
        output(memreport_report::set::write_top_text(out, &set, top, cx.style, cx.columns))?;
    }
    Ok(EXIT_OK)
}

pub(crate) fn tree(
    cx: &Context,
    paths: &[PathBuf],
    mode: Mode,
    depth: usize,
    min_share: f64,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let threads = Threads::Merged;
    let members = read(cx, paths, &[], false, threads, stderr)?;
    let peak = if mode == Mode::Peak { peak_of(cx, &members) } else { None };
    let set = view(&members, peak.as_ref());
    output(memreport_report::set::write_processes(out, &set, cx.style, cx.columns))?;
    // One tree per process, under a heading with its pid: the process level above the stacks.
    for part in parts(cx, &members, mode, threads, peak.as_ref(), stderr)? {
        let row = &set.processes[part.member];
        output(memreport_report::set::write_process_heading(out, row, cx.style, cx.columns))?;
        let analysis = part.analysis(&members);
        let call_tree = CallTree::build(analysis, &part.rows);
        let tree = memreport_report::top::TreeView {
            mode,
            depth,
            min_share: min_share / 100.0,
            width: cx.columns,
        };
        output(memreport_report::top::write_tree(out, analysis, &call_tree, tree, cx.style))?;
    }
    Ok(EXIT_OK)
}

pub(crate) fn leaks(
    cx: &Context,
    paths: &[PathBuf],
    json: bool,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let members = read(cx, paths, &[], true, Threads::Merged, stderr)?;
    let found: Vec<_> =
        members.iter().map(|m| memreport_analysis::leaks::detect(&m.analysis)).collect();
    let mut set = view(&members, None);
    for (row, f) in set.processes.iter_mut().zip(&found) {
        row.verdict = Some(f.verdict);
    }
    if json {
        let per: Vec<_> = members
            .iter()
            .zip(&found)
            .map(|(m, f)| memreport_report::leaks::to_json(&m.analysis, f))
            .collect();
        output(memreport_report::set::write_leaks_json(out, &set, &per))?;
    } else {
        let verdict = memreport_report::set::set_verdict(found.iter().map(|f| f.verdict));
        let line = format!("verdict: {} over {} processes", verdict.name(), members.len());
        output(writeln!(out, "{}", cx.style.bold(&line)))?;
        output(memreport_report::set::write_processes(out, &set, cx.style, cx.columns))?;
        for ((m, f), row) in members.iter().zip(&found).zip(&set.processes) {
            output(memreport_report::set::write_process_heading(out, row, cx.style, cx.columns))?;
            output(memreport_report::leaks::write_text(out, &m.analysis, f, cx.style, cx.columns))?;
        }
    }
    Ok(EXIT_OK)
}

pub(crate) fn stats(
    cx: &Context,
    paths: &[PathBuf],
    json: bool,
    n: usize,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let members = read(cx, paths, &[], false, Threads::Merged, stderr)?;
    let peak = peak_of(cx, &members);
    let set = view(&members, peak.as_ref());
    let mut all = Vec::new();
    for m in &members {
        all.push(Stats::compute(&m.analysis, n).map_err(|why| unavailable(&m.path, why))?);
    }
    if json {
        let per = members
            .iter()
            .zip(&all)
            .map(|(m, s)| memreport_report::stats::to_json(&m.analysis, s))
            .collect();
        output(memreport_report::set::write_stats_json(out, &set, per))?;
    } else {
        if let Some((bytes, t)) = set.peak {
            let line = format!(
                "Combined peak of {} processes: {} at {t:.2} s",
                members.len(),
                memreport_report::text::human_size(bytes)
            );
            output(writeln!(out, "{}", cx.style.bold(&line)))?;
        }
        output(memreport_report::set::write_processes(out, &set, cx.style, cx.columns))?;
        for ((m, s), row) in members.iter().zip(&all).zip(&set.processes) {
            output(memreport_report::set::write_process_heading(out, row, cx.style, cx.columns))?;
            output(memreport_report::stats::write_text(out, &m.analysis, s, cx.style))?;
        }
    }
    Ok(EXIT_OK)
}

/// The parts of a set as its pages draw them.
fn drawn<'a>(members: &'a [Member], parts: &'a [Part]) -> Vec<SetPart<'a>> {
    parts
        .iter()
        .map(|p| SetPart { analysis: p.analysis(members), entries: &p.rows, process: p.member })
        .collect()
}

pub(crate) fn flamegraph(
    cx: &Context,
    paths: &[PathBuf],
    target: Option<PathBuf>,
    view: memreport_report::html::FlamegraphView,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let target = page_target(&paths[0], target, "flamegraph");
    let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    refuse_input_as_output(target.as_deref(), &inputs)?;
    let threads = Threads::Merged;
    let members = read(cx, paths, &thresholds(view.mode), false, threads, stderr)?;
    let peak = if view.mode == Mode::Peak { peak_of(cx, &members) } else { None };
    let parts = parts(cx, &members, view.mode, threads, peak.as_ref(), stderr)?;
    let set = self::view(&members, peak.as_ref());
    let drawn = drawn(&members, &parts);
    let mut page = Vec::new();
    output(html::write_set_flamegraph(&mut page, &set, &drawn, view.mode, view.inverted))?;
    write_page(cx, target.as_deref(), &page, out, stderr)?;
    Ok(EXIT_OK)
}

pub(crate) fn report(
    cx: &Context,
    paths: &[PathBuf],
    target: Option<PathBuf>,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let target = page_target(&paths[0], target, "report");
    let inputs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    refuse_input_as_output(target.as_deref(), &inputs)?;
    let threads = Threads::Merged;
    let members = read(cx, paths, &[], true, threads, stderr)?;
    let peak = peak_of(cx, &members);
    let at_peak = parts(cx, &members, Mode::Peak, threads, peak.as_ref(), stderr)?;
    let leaked = parts(cx, &members, Mode::Leaks, threads, None, stderr)?;
    let mut set = self::view(&members, peak.as_ref());
    for (row, m) in set.processes.iter_mut().zip(&members) {
        row.verdict = Some(memreport_analysis::leaks::detect(&m.analysis).verdict);
    }
    let analyses: Vec<&Analysis> = members.iter().map(|m| &m.analysis).collect();
    let combined = memreport_analysis::set::combined_timeline(&analyses);
    let report = SetReport {
        peak: drawn(&members, &at_peak),
        leaks: drawn(&members, &leaked),
        combined: &combined,
        analyses,
    };
    let mut page = Vec::new();
    output(html::write_set_report(&mut page, &set, &report))?;
    write_page(cx, target.as_deref(), &page, out, stderr)?;
    Ok(EXIT_OK)
}

/// A set's name: its folder and its parent's file name.
type Family = (Option<PathBuf>, String);

/// Files grouped into capture sets: `NAME` and `NAME.PID` in one folder are one set, the sets in
/// the order their first file was given.
pub(crate) fn families(paths: &[PathBuf]) -> Vec<Vec<PathBuf>> {
    let family = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let base = match name.rsplit_once('.') {
            Some((base, pid)) if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) => {
                base.to_string()
            }
            _ => name,
        };
        (p.parent().map(Path::to_path_buf), base)
    };
    let mut sets: Vec<(Family, Vec<PathBuf>)> = Vec::new();
    for p in paths {
        let key = family(p);
        match sets.iter_mut().find(|(k, _)| *k == key) {
            Some((_, files)) => files.push(p.clone()),
            None => sets.push((key, vec![p.clone()])),
        }
    }
    sets.into_iter().map(|(_, files)| files).collect()
}

/// The two sets of a diff's files (see [`families`]).
fn two_sets(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Failure> {
    let sets = families(paths);
    match <[_; 2]>::try_from(sets) {
        Ok([before, after]) => Ok((before, after)),
        Err(sets) => Err(Failure {
            message: format!(
                "a diff compares two captures, or two capture sets (before.bin before.bin.* \
                 after.bin after.bin.*); these {} files make {} sets",
                paths.len(),
                sets.len()
            ),
            code: crate::EXIT_BAD_INPUT,
        }),
    }
}

/// A side of a set diff: each process with its pass at the side's combined peak.
fn diff_members<'a>(
    members: &'a [Member],
    parts: &'a [Part],
) -> Vec<memreport_analysis::diff::Member<'a>> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let at_peak = parts.iter().find(|p| p.member == i).and_then(|p| p.second.as_ref());
            memreport_analysis::diff::Member::at_combined_peak(&m.analysis, at_peak)
        })
        .collect()
}

/// `memreport diff` of two capture sets: each side's processes summed, its peak its combined
/// peak, its leak verdict the worst of its processes'.
pub(crate) fn diff(
    cx: &Context,
    paths: &[PathBuf],
    opts: super::DiffOptions,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let (before, after) = two_sets(paths)?;
    if opts.output.is_some() {
        return Err(Failure {
            message: "the diff page (-o) compares two captures; for two capture sets, use the \
                      text or --json"
                .to_string(),
            code: crate::EXIT_BAD_INPUT,
        });
    }
    let threads = Threads::Merged;
    let side = |paths: &[PathBuf], stderr: &mut dyn Write| -> Result<_, Failure> {
        let members = read(cx, paths, &[], true, threads, stderr)?;
        let peak = peak_of(cx, &members);
        let parts = parts(cx, &members, Mode::Peak, threads, peak.as_ref(), stderr)?;
        Ok((members, peak.map_or(0, |p| p.bytes), parts))
    };
    let (mb, peak_b, parts_b) = side(&before, stderr)?;
    let (ma, peak_a, parts_a) = side(&after, stderr)?;
    let (b, a) = (diff_members(&mb, &parts_b), diff_members(&ma, &parts_a));
    let result = memreport_analysis::diff::diff_sets((&b, peak_b), (&a, peak_a), opts.by);
    super::diff::answer(cx, &result, &opts, out, stderr)
}

/// What a capture set measured for `memreport check`: its combined peak and what each process
/// held then, what each leaked, and each one's leak findings with its pid; and whether a capture
/// was cut short.
pub(crate) fn measure(
    cx: &Context,
    paths: &[PathBuf],
    stderr: &mut dyn Write,
) -> Result<(Measured, bool), Failure> {
    let threads = Threads::Merged;
    let by = memreport_analysis::group::By::Line;
    let members = read(cx, paths, &[], true, threads, stderr)?;
    let peak = peak_of(cx, &members);
    let grouped = |parts: &[Part]| {
        merge_groups(parts.iter().map(|p| group(p.analysis(&members), &p.rows, by)).collect())
    };
    let at_peak = grouped(&parts(cx, &members, Mode::Peak, threads, peak.as_ref(), stderr)?);
    let leaked = grouped(&parts(cx, &members, Mode::Leaks, threads, None, stderr)?);
    let found: Vec<_> =
        members.iter().map(|m| memreport_analysis::leaks::detect(&m.analysis)).collect();
    let per: Vec<_> = members.iter().zip(&found).map(|(m, f)| (Some(m.process.pid), f)).collect();
    let peak_bytes = peak.as_ref().map_or(0, |p| p.bytes);
    let measured = Measured::combine(peak_bytes, &at_peak, &leaked, &per);
    let truncated = members.iter().any(|m| m.process.truncated);
    Ok((measured, truncated))
}
