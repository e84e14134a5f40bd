//! `memreport stats`: memray's statistics as JSON with memray's keys, in memray's key order (so
//! scripts written for `memray stats --json` keep working), or as text for a terminal.

use std::io::{self, Write};

use memreport_analysis::stats::{ModuleTotal, Ranked, Stats};
use memreport_analysis::Analysis;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::Value;

use crate::terminal::visible;
use crate::text::{human_size, Align, Style, Table};
use crate::time::python_datetime_utc;

#[derive(Serialize)]
struct Bin {
    min_bytes: u64,
    max_bytes: u64,
    count: u64,
}

#[derive(Serialize)]
struct BySize<'a> {
    location: &'a str,
    size: u64,
}

#[derive(Serialize)]
struct ByCount<'a> {
    location: &'a str,
    count: u64,
}

#[derive(Serialize)]
struct Module<'a> {
    module: &'a str,
    num_allocations: u64,
    total_bytes: u64,
}

/// Allocator name → count, in the order given (memray: most used first).
struct Ordered<'a>(&'a [(&'static str, u64)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Metadata<'a> {
    start_time: String,
    end_time: String,
    total_allocations: u64,
    total_frames: u64,
    peak_memory: u64,
    command_line: &'a str,
    pid: i32,
    main_thread_id: u64,
    python_allocator: &'a str,
    has_native_traces: bool,
    trace_python_allocators: bool,
    file_format: u8,
}

#[derive(Serialize)]
struct StatsJson<'a> {
    total_num_allocations: u64,
    total_bytes_allocated: u64,
    allocation_size_histogram: Vec<Bin>,
    allocator_type_distribution: Ordered<'a>,
    top_allocations_by_size: Vec<BySize<'a>>,
    top_allocations_by_count: Vec<ByCount<'a>>,
    top_modules_by_allocation_size: Vec<Module<'a>>,
    top_modules_by_allocation_count: Vec<Module<'a>>,
    metadata: Metadata<'a>,
    /// Not memray's: only with a time window, which memray's stats do not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<crate::text::WindowJson>,
}

fn modules(list: &[ModuleTotal]) -> Vec<Module<'_>> {
    list.iter()
        .map(|m| Module {
            module: &m.module,
            num_allocations: m.num_allocations,
            total_bytes: m.total_bytes,
        })
        .collect()
}

fn with_json<T>(analysis: &Analysis, stats: &Stats, f: impl FnOnce(&StatsJson<'_>) -> T) -> T {
    let h = analysis.header();
    let allocators: Vec<(&'static str, u64)> =
        stats.allocators.iter().map(|(a, c)| (a.enum_name(), *c)).collect();
    let ranked_size = |r: &[Ranked]| -> Vec<(String, u64)> {
        r.iter().map(|x| (x.location.clone(), x.value)).collect()
    };
    let by_size = ranked_size(&stats.top_by_size);
    let by_count = ranked_size(&stats.top_by_count);
    let json = StatsJson {
        total_num_allocations: stats.total.count,
        total_bytes_allocated: stats.total.bytes,
        allocation_size_histogram: stats
            .histogram
            .iter()
            .map(|b| Bin { min_bytes: b.min_bytes, max_bytes: b.max_bytes, count: b.count })
            .collect(),
        allocator_type_distribution: Ordered(&allocators),
        top_allocations_by_size: by_size
            .iter()
            .map(|(l, v)| BySize { location: l, size: *v })
            .collect(),
        top_allocations_by_count: by_count
            .iter()
            .map(|(l, v)| ByCount { location: l, count: *v })
            .collect(),
        top_modules_by_allocation_size: modules(&stats.top_modules_by_size),
        top_modules_by_allocation_count: modules(&stats.top_modules_by_count),
        metadata: Metadata {
            start_time: python_datetime_utc(h.start_time_ms),
            end_time: python_datetime_utc(h.end_time_ms),
            total_allocations: stats.n_allocation_records,
            total_frames: h.n_frames,
            peak_memory: stats.peak_memory,
            command_line: &h.command_line,
            pid: h.pid,
            main_thread_id: h.main_tid,
            python_allocator: h.python_allocator.name(),
            has_native_traces: h.native_traces,
            trace_python_allocators: h.trace_python_allocators,
            file_format: h.file_format as u8,
        },
        window: crate::text::WindowJson::of(analysis),
    };
    f(&json)
}

/// The JSON of `memreport stats --json` as a value (key order is lost; use [`write_json`] for
/// memray's order).
pub fn to_json(analysis: &Analysis, stats: &Stats) -> Value {
    with_json(analysis, stats, |j| serde_json::to_value(j).expect("plain data serialises"))
}

/// Writes `memreport stats --json`: memray's keys in memray's order, indented by two spaces.
pub fn write_json(out: &mut dyn Write, analysis: &Analysis, stats: &Stats) -> io::Result<()> {
    let text = with_json(analysis, stats, |j| {
        serde_json::to_string_pretty(j).expect("plain data serialises")
    });
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes `memreport stats` for a terminal.
pub fn write_text(
    out: &mut dyn Write,
    analysis: &Analysis,
    stats: &Stats,
    style: Style,
) -> io::Result<()> {
    let mut facts = Table::new(&[("", Align::Left), ("", Align::Right)]);
    facts.row(vec!["Total allocations".into(), stats.total.count.to_string()]);
    facts.row(vec!["Total memory allocated".into(), human_size(stats.total.bytes)]);
    facts.row(vec!["Peak memory usage".into(), human_size(stats.peak_memory)]);
    facts.row(vec!["Allocation records read".into(), analysis.n_allocation_records().to_string()]);
    let facts = facts.render(Style::default());
    if let Some(note) = crate::text::window_note(analysis) {
        writeln!(out, "{}", style.dim(&note))?;
    }
    // The empty header row renders as a blank line; drop it.
    for line in facts.lines().skip(1) {
        writeln!(out, "{line}")?;
    }

    writeln!(out, "\n{}", style.bold("Allocation sizes"))?;
    let widest = stats.histogram.iter().map(|b| b.count).max().unwrap_or(0);
    let mut hist =
        Table::new(&[("size", Align::Right), ("count", Align::Right), ("", Align::Left)]);
    let last = stats.histogram.len().saturating_sub(1);
    for (i, b) in stats.histogram.iter().enumerate() {
        let label = if i == last {
            format!("<= {}", human_size(b.max_bytes))
        } else {
            format!("< {}", human_size(b.max_bytes.wrapping_add(1)))
        };
        let bar = if widest == 0 { 0 } else { (b.count * 25).div_ceil(widest) as usize };
        hist.row(vec![label, b.count.to_string(), "▇".repeat(bar)]);
    }
    write_indented(out, &hist.render(Style::default()))?;

    writeln!(out, "\n{}", style.bold("Allocators"))?;
    let mut alloc = Table::new(&[("allocator", Align::Left), ("count", Align::Right)]);
    for (a, c) in &stats.allocators {
        alloc.row(vec![a.enum_name().to_string(), c.to_string()]);
    }
    write_indented(out, &alloc.render(Style::default()))?;

    let n = stats.top_by_size.len().max(stats.top_by_count.len());
    writeln!(out, "\n{}", style.bold(&format!("Top {n} locations by bytes allocated")))?;
    let mut t = Table::new(&[("bytes", Align::Right), ("location", Align::Left)]);
    for r in &stats.top_by_size {
        t.row(vec![human_size(r.value), visible(&r.location).into_owned()]);
    }
    write_indented(out, &t.render(Style::default()))?;

    writeln!(out, "\n{}", style.bold(&format!("Top {n} locations by number of allocations")))?;
    let mut t = Table::new(&[("count", Align::Right), ("location", Align::Left)]);
    for r in &stats.top_by_count {
        t.row(vec![r.value.to_string(), visible(&r.location).into_owned()]);
    }
    write_indented(out, &t.render(Style::default()))?;

    writeln!(out, "\n{}", style.bold("Top modules by bytes allocated"))?;
    let mut t = Table::new(&[
        ("bytes", Align::Right),
        ("allocations", Align::Right),
        ("module", Align::Left),
    ]);
    for m in &stats.top_modules_by_size {
        t.row(vec![
            human_size(m.total_bytes),
            m.num_allocations.to_string(),
            visible(&m.module).into_owned(),
        ]);
    }
    write_indented(out, &t.render(Style::default()))
}

fn write_indented(out: &mut dyn Write, text: &str) -> io::Result<()> {
    for line in text.lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}
