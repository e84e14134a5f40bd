//! Capture sets in words: the table of processes, and `top`, `leaks` and `stats` over several
//! captures of one program, as JSON or terminal text. Every string of a capture (its file name,
//! command line, locations) goes through `visible` before it reaches a terminal.

use std::io::{self, Write};

use memreport_analysis::group::Group;
use memreport_analysis::leaks::Verdict;
use memreport_analysis::set::Process;
use memreport_analysis::Mode;
use serde::Serialize;
use serde_json::{json, Value};

use crate::terminal::visible;
use crate::text::{cut_to, human_size, percent, Align, Style, Table};
use crate::top::TopView;

/// One process of a set as its table shows it.
#[derive(Debug, Clone)]
pub struct ProcessRow<'a> {
    /// Its capture file, as given on the command line.
    pub file: String,
    /// Its facts.
    pub process: &'a Process,
    /// Its heap at the combined peak, when the output is about the peak.
    pub at_peak: Option<u64>,
    /// Its leak verdict, when the output is about leaks.
    pub verdict: Option<Verdict>,
}

/// A set as its outputs show it.
#[derive(Debug, Clone)]
pub struct SetView<'a> {
    /// The processes, in the order of their start.
    pub processes: Vec<ProcessRow<'a>>,
    /// The combined peak: its bytes and its time in seconds from the set's start.
    pub peak: Option<(u64, f64)>,
}

#[derive(Serialize)]
struct ProcessJson<'a> {
    pid: i32,
    file: &'a str,
    peak_memory: u64,
    truncated: bool,
}

#[derive(Serialize)]
struct TopSetJson<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<u64>,
    peak_memory: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_time_s: Option<f64>,
    total_bytes: u64,
    total_count: u64,
    n_locations: usize,
    processes: Vec<ProcessJson<'a>>,
    locations: Vec<crate::top::LocationJson<'a>>,
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn processes_json<'a>(set: &'a SetView<'a>) -> Vec<ProcessJson<'a>> {
    set.processes
        .iter()
        .map(|r| ProcessJson {
            pid: r.process.pid,
            file: &r.file,
            peak_memory: r.process.peak_memory,
            truncated: r.process.truncated,
        })
        .collect()
}

/// Writes `memreport top --json` over a set: the lone capture's shape, with `processes`, and
/// `peak_memory` the combined peak.
pub fn write_top_json(out: &mut dyn Write, set: &SetView<'_>, view: TopView<'_>) -> io::Result<()> {
    let total = memreport_analysis::Usage::sum(view.groups.iter().map(|g| g.usage));
    let json = TopSetJson {
        mode: view.mode.name(),
        threshold: match view.mode {
            Mode::Temporary(n) => Some(n),
            _ => None,
        },
        peak_memory: set.peak.map_or(0, |p| p.0),
        peak_time_s: set.peak.map(|p| round3(p.1)),
        total_bytes: total.bytes,
        total_count: total.count,
        n_locations: view.groups.len(),
        processes: processes_json(set),
        // Groups of a set merge threads: no group names one.
        locations: crate::top::locations_json(view, |_| String::new()),
    };
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes the table of a set's processes: pid, peak, held at the combined peak or leaked, leak
/// verdict, truncation and command line.
pub fn write_processes(
    out: &mut dyn Write,
    set: &SetView<'_>,
    style: Style,
    width: usize,
) -> io::Result<()> {
    let at_peak = set.processes.iter().any(|r| r.at_peak.is_some());
    let verdicts = set.processes.iter().any(|r| r.verdict.is_some());
    let mut columns = vec![("pid", Align::Right), ("peak", Align::Right)];
    if at_peak {
        columns.push(("at combined peak", Align::Right));
    }
    columns.push(("leaked", Align::Right));
    if verdicts {
        columns.push(("verdict", Align::Left));
    }
    columns.push(("truncated", Align::Left));
    columns.push(("file", Align::Left));
    columns.push(("command", Align::Left));
    let mut table = Table::new(&columns);
    for r in &set.processes {
        let p = r.process;
        let mut row = vec![p.pid.to_string(), style.figure(&human_size(p.peak_memory))];
        if at_peak {
            row.push(r.at_peak.map_or_else(|| "-".to_string(), human_size));
        }
        row.push(human_size(p.leaked.bytes));
        if verdicts {
            row.push(r.verdict.map_or("-", Verdict::name).to_string());
        }
        row.push(if p.truncated { "yes" } else { "no" }.to_string());
        row.push(visible(&r.file).into_owned());
        row.push(cut_to(&visible(&p.command), width / 2));
        table.row(row);
    }
    out.write_all(table.render(style).as_bytes())
}

/// Writes `memreport top` over a set for a terminal: the processes, then the locations of all
/// of them together.
pub fn write_top_text(
    out: &mut dyn Write,
    set: &SetView<'_>,
    view: TopView<'_>,
    style: Style,
    width: usize,
) -> io::Result<()> {
    let total = memreport_analysis::Usage::sum(view.groups.iter().map(|g| g.usage));
    let n = set.processes.len();
    let what = match (view.mode, set.peak) {
        (Mode::Peak, Some((bytes, t))) => format!(
            "Live at the combined peak of {n} processes ({} at {t:.2} s)",
            human_size(bytes)
        ),
        (Mode::Peak, None) => format!("Live at the combined peak of {n} processes"),
        (Mode::Leaks, _) => format!("Still live at the end of each of {n} processes"),
        (Mode::Temporary(k), _) => format!(
            "Temporary allocations of {n} processes (freed after at most {k} other allocations \
             on the same thread)"
        ),
    };
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "{what}: {} in {} blocks at {} locations",
            human_size(total.bytes),
            total.count,
            view.groups.len()
        ))
    )?;
    write_processes(out, set, style, width)?;
    writeln!(out)?;
    write_groups(out, view.groups, view.limit, style)
}

/// The locations table of a set.
fn write_groups(
    out: &mut dyn Write,
    groups: &[Group],
    limit: usize,
    style: Style,
) -> io::Result<()> {
    let total = memreport_analysis::Usage::sum(groups.iter().map(|g| g.usage));
    let mut table = Table::new(&[
        ("bytes", Align::Right),
        ("share", Align::Right),
        ("blocks", Align::Right),
        ("location", Align::Left),
    ]);
    for g in groups.iter().take(limit) {
        table.row(vec![
            style.figure(&human_size(g.usage.bytes)),
            percent(g.usage.bytes, total.bytes),
            g.usage.count.to_string(),
            visible(&g.location).into_owned(),
        ]);
    }
    out.write_all(table.render(style).as_bytes())?;
    let hidden = groups.len().saturating_sub(limit);
    if hidden > 0 {
        writeln!(out, "{}", style.dim(&format!("… {hidden} more locations (-n to show more)")))?;
    }
    Ok(())
}

/// The worst verdict of several: a leak anywhere is a leak of the set.
pub fn set_verdict(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
    let rank = |v: Verdict| match v {
        Verdict::Leak => 2,
        Verdict::Inconclusive => 1,
        Verdict::NoLeak => 0,
    };
    verdicts.into_iter().max_by_key(|&v| rank(v)).unwrap_or(Verdict::NoLeak)
}

/// Writes `memreport leaks --json` over a set: the set's verdict (the worst of its processes),
/// each process with its own verdict, and every finding with the `pid` of its process.
/// `per_process` holds each process's lone-capture JSON ([`crate::leaks::to_json`]).
pub fn write_leaks_json(
    out: &mut dyn Write,
    set: &SetView<'_>,
    per_process: &[Value],
) -> io::Result<()> {
    let verdict = set_verdict(set.processes.iter().filter_map(|r| r.verdict));
    let mut findings = Vec::new();
    let mut processes = Vec::new();
    for (r, found) in set.processes.iter().zip(per_process) {
        for f in found["findings"].as_array().into_iter().flatten() {
            let mut f = f.clone();
            f["pid"] = json!(r.process.pid);
            findings.push(f);
        }
        processes.push(json!({
            "pid": r.process.pid,
            "file": r.file,
            "command": r.process.command,
            "peak_memory": r.process.peak_memory,
            "leaked_bytes": r.process.leaked.bytes,
            "truncated": r.process.truncated,
            "verdict": found["verdict"],
            "reason_kind": found["reason_kind"],
            "reason": found["reason"],
        }));
    }
    let json = json!({
        "verdict": verdict.name(),
        "processes": processes,
        "findings": findings,
    });
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes the heading of one process's part of a text output.
pub fn write_process_heading(
    out: &mut dyn Write,
    row: &ProcessRow<'_>,
    style: Style,
    width: usize,
) -> io::Result<()> {
    let line = format!("process {} ({})", row.process.pid, visible(&row.file));
    writeln!(out, "\n{}", style.bold(&cut_to(&line, width)))
}

/// Writes `memreport stats --json` over a set: each process's memray-shaped stats with its pid
/// and file, and the combined peak. `per_process` holds [`crate::stats::to_json`] of each.
pub fn write_stats_json(
    out: &mut dyn Write,
    set: &SetView<'_>,
    per_process: Vec<Value>,
) -> io::Result<()> {
    let processes: Vec<Value> = set
        .processes
        .iter()
        .zip(per_process)
        .map(|(r, stats)| json!({"pid": r.process.pid, "file": r.file, "stats": stats}))
        .collect();
    let json = json!({
        "combined_peak_memory": set.peak.map_or(0, |p| p.0),
        "combined_peak_time_s": set.peak.map(|p| round3(p.1)),
        "processes": processes,
    });
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}
