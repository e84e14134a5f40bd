//! `memreport check` in words: a line per crossed limit (the figure, the limit, the location
//! responsible), a line per capture that holds, its JSON, and a JUnit XML report in which each
//! capture is a test case, so that CI systems show a crossed limit as a failed test.
//!
//! Names in a capture are chosen by whoever controls the profiled program: in XML they are made
//! visible ([`visible`]) before they are escaped, since XML 1.0 cannot carry most controls at all.

use std::io::{self, Write};

use memreport_analysis::check::{Crossed, Limit, Limits, Measured};
use serde::Serialize;

use crate::terminal::visible;
use crate::text::{human_rate, human_size, Style};

/// One test case: a capture, or the captures of one program's processes.
#[derive(Debug)]
pub struct Case {
    /// The case's name (the capture's file name without `.bin`).
    pub name: String,
    /// The files read.
    pub files: Vec<String>,
    /// What was measured, unless the input could not be read.
    pub outcome: Result<Outcome, String>,
}

/// What a case measured and the limits it crossed.
#[derive(Debug)]
pub struct Outcome {
    /// The figures.
    pub measured: Measured,
    /// The limits crossed.
    pub crossed: Vec<Crossed>,
    /// Whether a capture of the case was cut short.
    pub truncated: bool,
}

impl Case {
    fn passed(&self) -> bool {
        matches!(&self.outcome, Ok(o) if o.crossed.is_empty())
    }
}

/// How a crossed limit reads: the figure, the limit and the location responsible.
pub fn crossed_text(crossed: &Crossed) -> String {
    let pid = |pid: Option<i32>| pid.map(|p| format!(" in pid {p}")).unwrap_or_default();
    match crossed {
        Crossed::Size { limit, bytes, max, holder } => {
            let what = if *limit == Limit::MaxPeak { "peak memory" } else { "leaked" };
            let at = if *limit == Limit::MaxPeak { "at the peak" } else { "at the end" };
            let mut line = format!(
                "{what} {} is over the limit of {} (--{})",
                human_size(*bytes),
                human_size(*max),
                limit.name()
            );
            if let Some(h) = holder {
                line += &format!(
                    "; {} held {} {at}{}",
                    visible(&h.location),
                    human_size(h.bytes),
                    pid(h.pid)
                );
            }
            line
        }
        Crossed::Growth { limit, growing, max } => {
            let kind = if growing.kind == memreport_analysis::leaks::Kind::UnboundedContainer {
                "an unbounded container at "
            } else {
                ""
            };
            let over = max.map(|m| format!(", over {}", human_rate(m.bytes_per_s)));
            format!(
                "{kind}{} grows by {}{}{} (--{})",
                visible(&growing.location),
                human_rate(growing.rate.bytes_per_s),
                over.unwrap_or_default(),
                pid(growing.pid),
                limit.name()
            )
        }
    }
}

/// The figures of a case that held, against the limits set.
fn held_text(o: &Outcome, limits: &Limits) -> String {
    let mut parts = Vec::new();
    if let Some(max) = limits.max_peak {
        parts.push(format!("peak {} ≤ {}", human_size(o.measured.peak_memory), human_size(max)));
    }
    if let Some(max) = limits.max_leaked {
        parts.push(format!("leaked {} ≤ {}", human_size(o.measured.leaked_bytes), human_size(max)));
    }
    if limits.no_growth || limits.max_growth.is_some() {
        let growth = match o.measured.verdict {
            memreport_analysis::leaks::Verdict::Inconclusive => {
                "growth not judged (leak verdict inconclusive)".to_string()
            }
            _ if o.measured.growth.is_empty() => "no growth".to_string(),
            _ => format!("{} growing, within the limit", o.measured.growth.len()),
        };
        parts.push(growth);
    }
    parts.join(", ")
}

/// Writes the text answer: `FAIL` lines per crossed limit, `ok` per case that holds, `ERROR`
/// per case that could not be read, then a summary when there are several cases.
pub fn write_text(
    out: &mut dyn Write,
    cases: &[Case],
    limits: &Limits,
    style: Style,
) -> io::Result<()> {
    for case in cases {
        let name = visible(&case.name);
        match &case.outcome {
            Err(message) => writeln!(out, "{} {name}: {message}", style.bold("ERROR"))?,
            Ok(o) if o.crossed.is_empty() => {
                writeln!(out, "ok   {name}: {}", held_text(o, limits))?;
            }
            Ok(o) => {
                for c in &o.crossed {
                    writeln!(out, "{} {name}: {}", style.bold("FAIL"), crossed_text(c))?;
                }
            }
        }
        if let Ok(o) = &case.outcome {
            if o.truncated {
                writeln!(
                    out,
                    "     {name}: a capture is truncated; its figures cover what was read"
                )?;
            }
        }
    }
    if cases.len() > 1 {
        let failed = cases.iter().filter(|c| matches!(&c.outcome, Ok(o) if !o.crossed.is_empty()));
        let errors = cases.iter().filter(|c| c.outcome.is_err()).count();
        writeln!(
            out,
            "{} cases: {} passed, {} failed, {errors} unreadable",
            cases.len(),
            cases.iter().filter(|c| c.passed()).count(),
            failed.count()
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct LimitsJson {
    max_peak: Option<u64>,
    max_leaked: Option<u64>,
    no_growth: bool,
    max_growth_bytes_per_s: Option<f64>,
}

#[derive(Serialize)]
struct CrossedJson {
    limit: &'static str,
    /// Bytes, or bytes per second for a growth limit.
    value: f64,
    max: Option<f64>,
    location: Option<String>,
    pid: Option<i32>,
    message: String,
}

#[derive(Serialize)]
struct CaseJson<'a> {
    name: &'a str,
    files: &'a [String],
    passed: bool,
    error: Option<&'a str>,
    peak_memory: Option<u64>,
    leaked_bytes: Option<u64>,
    verdict: Option<&'static str>,
    truncated: Option<bool>,
    crossed: Vec<CrossedJson>,
}

#[derive(Serialize)]
struct CheckJson<'a> {
    passed: bool,
    limits: LimitsJson,
    cases: Vec<CaseJson<'a>>,
}

fn crossed_json(c: &Crossed) -> CrossedJson {
    let message = crossed_text(c);
    match c {
        Crossed::Size { limit, bytes, max, holder } => CrossedJson {
            limit: limit.name(),
            value: *bytes as f64,
            max: Some(*max as f64),
            location: holder.as_ref().map(|h| h.location.clone()),
            pid: holder.as_ref().and_then(|h| h.pid),
            message,
        },
        Crossed::Growth { limit, growing, max } => CrossedJson {
            limit: limit.name(),
            value: growing.rate.bytes_per_s,
            max: max.map(|m| m.bytes_per_s),
            location: Some(growing.location.clone()),
            pid: growing.pid,
            message,
        },
    }
}

/// Writes `memreport check --json`.
pub fn write_json(out: &mut dyn Write, cases: &[Case], limits: &Limits) -> io::Result<()> {
    let json = CheckJson {
        passed: cases.iter().all(Case::passed),
        limits: LimitsJson {
            max_peak: limits.max_peak,
            max_leaked: limits.max_leaked,
            no_growth: limits.no_growth,
            max_growth_bytes_per_s: limits.max_growth.map(|r| r.bytes_per_s),
        },
        cases: cases
            .iter()
            .map(|c| {
                let o = c.outcome.as_ref().ok();
                CaseJson {
                    name: &c.name,
                    files: &c.files,
                    passed: c.passed(),
                    error: c.outcome.as_ref().err().map(String::as_str),
                    peak_memory: o.map(|o| o.measured.peak_memory),
                    leaked_bytes: o.map(|o| o.measured.leaked_bytes),
                    verdict: o.map(|o| o.measured.verdict.name()),
                    truncated: o.map(|o| o.truncated),
                    crossed: o
                        .map(|o| o.crossed.iter().map(crossed_json).collect())
                        .unwrap_or_default(),
                }
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Text for XML: controls shown as escapes, then the five markup characters escaped, and the two
/// non-characters XML forbids replaced.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in visible(text).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes a JUnit XML report: one `testsuite` named `memreport check`, one `testcase` per case,
/// a `failure` per crossed limit and an `error` for a case that could not be read.
pub fn write_junit(out: &mut dyn Write, cases: &[Case], limits: &Limits) -> io::Result<()> {
    let failures = cases.iter().filter(|c| matches!(&c.outcome, Ok(o) if !o.crossed.is_empty()));
    let failures = failures.count();
    let errors = cases.iter().filter(|c| c.outcome.is_err()).count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="memreport check" tests="{}" failures="{failures}" errors="{errors}">"#,
        cases.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="memreport check" tests="{}" failures="{failures}" errors="{errors}" skipped="0">"#,
        cases.len()
    )?;
    for case in cases {
        write!(out, r#"    <testcase classname="memreport.check" name="{}""#, xml(&case.name))?;
        match &case.outcome {
            Err(message) => {
                writeln!(out, ">")?;
                let m = xml(message);
                writeln!(out, r#"      <error message="{m}" type="unreadable">{m}</error>"#)?;
                writeln!(out, "    </testcase>")?;
            }
            Ok(o) if o.crossed.is_empty() => {
                writeln!(out, ">")?;
                writeln!(out, "      <system-out>{}</system-out>", xml(&held_text(o, limits)))?;
                writeln!(out, "    </testcase>")?;
            }
            Ok(o) => {
                writeln!(out, ">")?;
                for c in &o.crossed {
                    let m = xml(&crossed_text(c));
                    let kind = c.limit().name();
                    writeln!(out, r#"      <failure message="{m}" type="{kind}">{m}</failure>"#)?;
                }
                writeln!(out, "    </testcase>")?;
            }
        }
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_escapes_markup_and_shows_controls() {
        assert_eq!(xml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml("x\u{1b}]0;t\u{7}"), "x\\x1b]0;t\\x07");
        assert_eq!(xml("\u{fffe}"), "\u{fffd}");
    }
}
