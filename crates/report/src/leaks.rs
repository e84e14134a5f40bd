//! `memreport leaks`: the verdict, its reason and the findings with their evidence, as JSON (the
//! shape of product.md, plus a few keys) or as text for a terminal.

use std::io::{self, Write};

use memreport_analysis::leaks::{Finding, Leaks};
use memreport_analysis::Analysis;
use serde::Serialize;

use crate::text::{human_size, Style};

#[derive(Serialize)]
struct FindingJson<'a> {
    kind: &'static str,
    location: &'a str,
    allocated_at: &'a str,
    stack: &'a [String],
    thread: Option<String>,
    live_bytes_end: u64,
    growth_bytes: u64,
    growth_rate_bytes_per_s: f64,
    growth_bytes_per_allocation: Option<f64>,
    confidence: f64,
    tau: f64,
    p_value: f64,
    evidence: &'a str,
    window_start_s: f64,
    window_end_s: f64,
}

#[derive(Serialize)]
struct LeaksJson<'a> {
    verdict: &'static str,
    reason: &'a str,
    findings: Vec<FindingJson<'a>>,
}

/// Rounds a float for output, so that JSON stays short and byte-identical across platforms.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Writes `memreport leaks --json`.
pub fn write_json(out: &mut dyn Write, analysis: &Analysis, leaks: &Leaks) -> io::Result<()> {
    let stacks = analysis.stacks();
    let json = LeaksJson {
        verdict: leaks.verdict.name(),
        reason: &leaks.reason,
        findings: leaks
            .findings
            .iter()
            .map(|f| FindingJson {
                kind: f.kind.name(),
                location: &f.location,
                allocated_at: &f.allocated_at,
                stack: &f.stack,
                thread: f.thread.map(|t| stacks.thread_label(t)),
                live_bytes_end: f.live_bytes_end,
                growth_bytes: f.growth_bytes,
                growth_rate_bytes_per_s: round(f.growth_rate_bytes_per_s, 1),
                growth_bytes_per_allocation: f.growth_bytes_per_allocation.map(|x| round(x, 1)),
                confidence: round(f.confidence, 3),
                tau: round(f.tau, 3),
                p_value: round(f.p_value, 6),
                evidence: &f.evidence,
                window_start_s: round(f.window_s.0, 3),
                window_end_s: round(f.window_s.1, 3),
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// A finding's numbers in one line: growth, rate, per allocation, live at the end.
pub fn finding_numbers(f: &Finding) -> String {
    let mut line = format!(
        "+{} over {:.2}–{:.2} s ({}/s)",
        human_size(f.growth_bytes),
        f.window_s.0,
        f.window_s.1,
        human_size(f.growth_rate_bytes_per_s.max(0.0) as u64)
    );
    if let Some(per) = f.growth_bytes_per_allocation {
        line.push_str(&format!(", {} per allocation", human_size(per.max(0.0) as u64)));
    }
    line.push_str(&format!(", {} at the end", human_size(f.live_bytes_end)));
    line
}

/// Writes `memreport leaks` for a terminal.
pub fn write_text(
    out: &mut dyn Write,
    analysis: &Analysis,
    leaks: &Leaks,
    style: Style,
) -> io::Result<()> {
    writeln!(
        out,
        "{} {}",
        style.bold(&format!("verdict: {}", leaks.verdict.name())),
        leaks.reason
    )?;
    let stacks = analysis.stacks();
    for (i, f) in leaks.findings.iter().enumerate() {
        writeln!(out)?;
        writeln!(
            out,
            "{}",
            style.bold(&format!(
                "{}. {} at {} (confidence {:.2})",
                i + 1,
                f.kind.name(),
                f.location,
                f.confidence
            ))
        )?;
        writeln!(out, "   {}", style.figure(&finding_numbers(f)))?;
        if let Some(t) = f.thread {
            writeln!(out, "   thread {}", stacks.thread_label(t))?;
        }
        writeln!(out, "   {}", f.evidence)?;
        for frame in f.stack.iter().take(8) {
            writeln!(out, "   {}", style.dim(&format!("  at {frame}")))?;
        }
        if f.stack.len() > 8 {
            writeln!(out, "   {}", style.dim(&format!("  … {} more frames", f.stack.len() - 8)))?;
        }
    }
    Ok(())
}
