//! `memreport diff`: the verdict, the totals before and after, and the locations that changed,
//! as JSON (product.md's shape, plus a few keys) or as an aligned table for a terminal.

use std::io::{self, Write};

use memreport_analysis::diff::{
    Change, Crossed, Diff, LocationDiff, Movement, Note, Side, Status, Threshold, Total,
    SIGNIFICANT_BYTES, SIGNIFICANT_SHARE,
};
use serde::Serialize;
use serde_json::{json, Value};

use crate::terminal::visible;
use crate::text::{human_rate, human_size, Align, Style, Table};

/// `peak memory 1.00 MiB → 2.00 MiB (+100%)`.
fn movement_text(name: &str, m: &Movement) -> String {
    let pct = if m.before == 0 {
        String::new()
    } else {
        format!(" ({:+.0}%)", (m.after as f64 / m.before as f64 - 1.0) * 100.0)
    };
    format!("{name} {} → {}{pct}", human_size(m.before), human_size(m.after))
}

/// Why the verdict is what it is, in one sentence.
pub fn reason_text(diff: &Diff) -> String {
    let why = &diff.why;
    let mut parts = Vec::new();
    if why.peak.significant != 0 {
        parts.push(movement_text("peak memory", &why.peak));
    }
    if why.leaked.significant != 0 {
        parts.push(movement_text("leaked", &why.leaked));
    }
    let mut text = parts.join(", ");
    let mut clause = |words: String| {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&words);
    };
    match diff.verdict {
        Change::Regression => {
            if let Some(began) = &why.leak_began {
                clause(match &began.first_finding {
                    Some((location, rate)) => {
                        format!("after leaks: {location} grows by {}", human_rate(*rate))
                    }
                    None => "after leaks".to_string(),
                });
            }
        }
        Change::Improvement => {
            if why.leak_ended {
                clause("before leaked, after does not".to_string());
            }
        }
        Change::NoChange => {
            text = format!(
                "peak memory and leaked bytes moved by less than {:.0}% or {} (peak {} → {}, \
                 leaked {} → {})",
                SIGNIFICANT_SHARE * 100.0,
                human_size(SIGNIFICANT_BYTES),
                human_size(why.peak.before),
                human_size(why.peak.after),
                human_size(why.leaked.before),
                human_size(why.leaked.after)
            );
        }
    }
    text
}

/// The line a crossed `--fail-on-increase` gate prints: `peak memory grew by 1.6 MiB (134 KiB →
/// 1.77 MiB), more than 1.00 MiB`.
pub fn crossed_text(crossed: &Crossed) -> String {
    let name = match crossed.total {
        Total::PeakMemory => "peak memory",
        Total::LeakedBytes => "leaked bytes",
    };
    let limit = match crossed.threshold {
        Threshold::Bytes(limit) => human_size(limit),
        Threshold::Percent(pct) => format!("{pct}%"),
    };
    format!(
        "{name} grew by {} ({} → {}), more than {limit}",
        human_size(crossed.after.saturating_sub(crossed.before)),
        human_size(crossed.before),
        human_size(crossed.after)
    )
}

/// What a note says could not be compared, in one sentence.
pub fn note_text(note: &Note) -> String {
    match note {
        Note::FormatVersions(before, after) => format!(
            "the captures have different format versions ({before} and {after}): locations are \
             matched by their portable names"
        ),
        Note::Aggregated => "an aggregated capture keeps no allocation totals or memory over time \
                             per location: only bytes at the peak and leaked bytes are compared"
            .to_string(),
    }
}

#[derive(Serialize)]
struct LocationJson<'a> {
    location: &'a str,
    status: &'static str,
    peak_bytes_before: u64,
    peak_bytes_after: u64,
    peak_delta: i128,
    leaked_bytes_before: u64,
    leaked_bytes_after: u64,
    leaked_delta: i128,
    allocated_bytes_before: Option<u64>,
    allocated_bytes_after: Option<u64>,
    growth_rate_bytes_per_s_before: Option<f64>,
    growth_rate_bytes_per_s_after: Option<f64>,
    stack: &'a [String],
}

fn side_json(s: &Side) -> Value {
    json!({
        "peak_memory": s.peak_memory,
        "leaked_bytes": s.leaked.bytes,
        "leaked_blocks": s.leaked.count,
        "total_bytes_allocated": s.allocated.map(|u| u.bytes),
        "total_num_allocations": s.allocated.map(|u| u.count),
        "duration_s": (s.duration_s * 1000.0).round() / 1000.0,
        "format_version": s.format_version,
        "aggregated": s.aggregated,
        "leak_verdict": s.leak_verdict.name(),
    })
}

/// Writes `memreport diff --json` with every location (`limit` cuts the list).
pub fn write_json(out: &mut dyn Write, diff: &Diff, limit: usize) -> io::Result<()> {
    let total = |f: fn(&Side) -> Option<u64>| -> Value {
        match (f(&diff.before), f(&diff.after)) {
            (Some(b), Some(a)) => json!(i128::from(a) - i128::from(b)),
            _ => Value::Null,
        }
    };
    let locations: Vec<LocationJson<'_>> = diff
        .locations
        .iter()
        .take(limit)
        .map(|l: &LocationDiff| LocationJson {
            location: &l.location,
            status: l.status.name(),
            peak_bytes_before: l.peak.0.bytes,
            peak_bytes_after: l.peak.1.bytes,
            peak_delta: l.peak_delta(),
            leaked_bytes_before: l.leaked.0.bytes,
            leaked_bytes_after: l.leaked.1.bytes,
            leaked_delta: l.leaked_delta(),
            allocated_bytes_before: l.allocated.0.map(|u| u.bytes),
            allocated_bytes_after: l.allocated.1.map(|u| u.bytes),
            growth_rate_bytes_per_s_before: l.growth.0.map(|g| g.round()),
            growth_rate_bytes_per_s_after: l.growth.1.map(|g| g.round()),
            stack: &l.stack,
        })
        .collect();
    let value = json!({
        "verdict": diff.verdict.name(),
        "reason": reason_text(diff),
        "notes": diff.notes.iter().map(note_text).collect::<Vec<_>>(),
        "before": side_json(&diff.before),
        "after": side_json(&diff.after),
        "delta": {
            "peak_memory": total(|s| Some(s.peak_memory)),
            "leaked_bytes": total(|s| Some(s.leaked.bytes)),
            "total_bytes_allocated": total(|s| s.allocated.map(|u| u.bytes)),
        },
        "n_locations": diff.locations.len(),
        "locations": locations,
    });
    let text = serde_json::to_string_pretty(&value).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// A byte delta with its sign: `+1.50 MiB`, `-512 B`, `0 B`.
pub fn signed_size(delta: i128) -> String {
    let size = human_size(u64::try_from(delta.unsigned_abs()).unwrap_or(u64::MAX));
    match delta.signum() {
        1 => format!("+{size}"),
        -1 => format!("-{size}"),
        _ => size,
    }
}

/// Writes `memreport diff` for a terminal: verdict, totals, then the `limit` locations that
/// changed most (locations that stayed the same are left out).
pub fn write_text(out: &mut dyn Write, diff: &Diff, limit: usize, style: Style) -> io::Result<()> {
    let verdict = format!("verdict: {}", diff.verdict.name());
    writeln!(out, "{} {}", style.bold(&verdict), visible(&reason_text(diff)))?;
    for note in &diff.notes {
        writeln!(out, "{}", style.dim(&format!("note: {}", visible(&note_text(note)))))?;
    }
    writeln!(out)?;
    let mut totals = Table::new(&[
        ("", Align::Left),
        ("before", Align::Right),
        ("after", Align::Right),
        ("change", Align::Right),
    ]);
    let (b, a) = (&diff.before, &diff.after);
    let row = |name: &str, before: u64, after: u64| {
        vec![
            name.to_string(),
            human_size(before),
            human_size(after),
            signed_size(i128::from(after) - i128::from(before)),
        ]
    };
    totals.row(row("peak memory", b.peak_memory, a.peak_memory));
    totals.row(row("leaked", b.leaked.bytes, a.leaked.bytes));
    if let (Some(x), Some(y)) = (b.allocated, a.allocated) {
        totals.row(row("allocated", x.bytes, y.bytes));
    }
    totals.row(vec![
        "leak verdict".to_string(),
        b.leak_verdict.name().to_string(),
        a.leak_verdict.name().to_string(),
        String::new(),
    ]);
    out.write_all(totals.render(style).as_bytes())?;
    writeln!(out)?;
    let changed: Vec<&LocationDiff> =
        diff.locations.iter().filter(|l| l.status != Status::Same).collect();
    if changed.is_empty() {
        writeln!(out, "No location changed beyond noise ({} compared).", diff.locations.len())?;
        return Ok(());
    }
    let mut table = Table::new(&[
        ("status", Align::Left),
        ("peak before", Align::Right),
        ("peak after", Align::Right),
        ("Δ peak", Align::Right),
        ("leaked before", Align::Right),
        ("leaked after", Align::Right),
        ("Δ leaked", Align::Right),
        ("location", Align::Left),
    ]);
    for l in changed.iter().take(limit) {
        table.row(vec![
            l.status.name().to_string(),
            human_size(l.peak.0.bytes),
            human_size(l.peak.1.bytes),
            style.figure(&signed_size(l.peak_delta())),
            human_size(l.leaked.0.bytes),
            human_size(l.leaked.1.bytes),
            style.figure(&signed_size(l.leaked_delta())),
            visible(&l.location).into_owned(),
        ]);
    }
    out.write_all(table.render(style).as_bytes())?;
    if changed.len() > limit {
        writeln!(
            out,
            "{}",
            style.dim(&format!(
                "… {} more changed locations (-n to show more)",
                changed.len() - limit
            ))
        )?;
    }
    Ok(())
}
