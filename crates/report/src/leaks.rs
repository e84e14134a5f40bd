//! `memreport leaks`: the detector's verdict, reason and findings in words, as JSON (the shape of
//! product.md, plus the evidence as fields) or as text for a terminal. The analysis crate returns
//! numbers and enums; every sentence about a leak is made here, with one size formatter.

use std::io::{self, Write};

use memreport_analysis::leaks::{self, Finding, Kind, Leaks, Reason, Verdict};
use memreport_analysis::Analysis;
use serde::Serialize;

use crate::terminal::visible;
use crate::text::{cut_to, human_rate, human_size, wrap, Style};

#[derive(Serialize)]
struct RetentionJson {
    climbing: bool,
    began_s: f64,
    heap_max_bytes: u64,
    rss_end_bytes: u64,
    heap_end_bytes: u64,
    rss_to_heap_ratio: f64,
    baseline_gap_bytes: u64,
}

#[derive(Serialize)]
struct FindingJson<'a> {
    kind: &'static str,
    location: &'a str,
    allocated_at: &'a str,
    holds: Option<&'a str>,
    stack: &'a [String],
    thread: Option<String>,
    live_bytes_end: u64,
    growth_bytes: u64,
    growth_rate_bytes_per_s: f64,
    growth_per_hour_bytes: f64,
    allocations: u64,
    growth_bytes_per_1000_allocations: Option<f64>,
    rises: u32,
    confidence: f64,
    tau: f64,
    p_value: f64,
    window_start_s: f64,
    window_end_s: f64,
    retention: Option<RetentionJson>,
    evidence: String,
}

#[derive(Serialize)]
struct LeaksJson<'a> {
    verdict: &'static str,
    reason_kind: &'static str,
    reason: String,
    window_start_s: Option<f64>,
    window_end_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_window: Option<crate::text::WindowJson>,
    findings: Vec<FindingJson<'a>>,
}

/// Findings in the live heap that `memreport leaks` prints; the rest are summed in one line.
const MAX_TEXT_FINDINGS: usize = 5;

/// Rounds a float for output, so that JSON stays short and byte-identical across platforms.
fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// A p-value as text: `< 0.001` when tiny.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_string()
    } else {
        format!("{p:.3}")
    }
}

/// Why the verdict is what it is, in one sentence.
pub fn reason_text(found: &Leaks) -> String {
    let window = found
        .window_s
        .map(|(a, b)| format!("{a:.2} s to {b:.2} s"))
        .unwrap_or_else(|| "the run".to_string());
    match &found.reason {
        Reason::Growing { locations } => {
            let fastest = found.findings.iter().find(|f| f.kind != Kind::AllocatorRetention);
            let what = if *locations == 1 { "location keeps" } else { "locations keep" };
            match fastest {
                Some(f) => format!(
                    "{locations} {what} growing after the warm-up; the fastest, {}, by {} (+{} \
                     an hour at this rate)",
                    f.location,
                    human_rate(f.growth_rate_bytes_per_s),
                    human_size(f.growth_per_hour() as u64)
                ),
                None => format!("{locations} {what} growing after the warm-up"),
            }
        }
        Reason::Unsteady => format!(
            "some locations rise between {window}, but not consistently enough to call it a \
             leak (confidence below {:.2}); a longer capture would tell",
            leaks::LEAK_CONFIDENCE
        ),
        Reason::MinorRises { bytes } => format!(
            "no location keeps rising steadily after the warm-up ({window}); the rises below, \
             +{} in all, are too irregular to call a leak and under {:.0}% of the peak heap",
            human_size(*bytes),
            leaks::MATERIAL_SHARE * 100.0
        ),
        Reason::ArenaGrowth { bytes } => format!(
            "python allocators not traced: the heap grows by {} in pymalloc arenas, which memray \
             attributes to whichever line opened them; capture again with \
             --trace-python-allocators or PYTHONMALLOC=malloc",
            human_size(*bytes)
        ),
        Reason::SpreadGrowth { bytes, rate_bytes_per_s, largest_step } => {
            let largest = match largest_step {
                Some(s) => format!(
                    "; the largest rise, +{} at {}, is a step rather than a steady climb \
                     (Kendall's τ {:.2})",
                    human_size(s.bytes),
                    s.location,
                    s.tau
                ),
                None => "; the growth is spread thin over many locations".to_string(),
            };
            format!(
                "the heap grows by {} ({}) after the warm-up, but no location rises steadily{largest}",
                human_size(*bytes),
                human_rate(*rate_bytes_per_s)
            )
        }
        Reason::RssOnly => "the live heap does not grow, but the resident set size stays above \
                            it: see the allocator-retention finding"
            .to_string(),
        Reason::Steady => {
            format!("no location's live bytes keep rising after the warm-up ({window})")
        }
        Reason::Aggregated => "aggregated capture (memray run --aggregate): it keeps no memory \
                               over time per location, so growth cannot be told from a plateau; \
                               capture without --aggregate"
            .to_string(),
        Reason::TooShort { samples, ticks, duration_s, python_allocators_traced } => format!(
            "too short: {samples} memory samples and {ticks} ticks of the allocation clock after \
             the warm-up over {duration_s:.2} s; a trend needs at least {}{}",
            leaks::MIN_TICKS,
            if *python_allocators_traced {
                ""
            } else {
                " (python allocators not traced: pymalloc's small objects, and their allocation \
                 events, are not in the capture; --trace-python-allocators would show them)"
            }
        ),
    }
}

/// What a finding rests on, in one or two sentences a person can check against the charts.
pub fn evidence_text(f: &Finding) -> String {
    if let Some(r) = &f.retention {
        let remedies = "the allocator keeps freed memory (glibc malloc arenas, pymalloc arenas \
                        with a few live objects each) or the heap is fragmented: try \
                        malloc_trim(0) after the burst (ctypes.CDLL(\"libc.so.6\").malloc_trim(0)), \
                        MALLOC_ARENA_MAX=2, jemalloc or mimalloc via LD_PRELOAD, or \
                        PYTHONMALLOC=malloc";
        return if r.climbing {
            format!(
                "RSS climbed to {} by {:.2} s while the live heap stayed near {}; the gap grew by \
                 {} ({}): memory memray does not see (a native library's own allocator, or a C \
                 extension calling malloc directly), or {remedies}",
                human_size(r.rss_end),
                f.window_s.1,
                human_size(r.heap_end),
                human_size(f.growth_bytes),
                human_rate(f.growth_rate_bytes_per_s)
            )
        } else {
            format!(
                "from {:.2} s the live heap fell from {} to {}, but RSS stayed at {} ({:.1}× the \
                 heap), keeping {} above its baseline; {remedies}",
                r.began_s,
                human_size(r.heap_max),
                human_size(r.heap_end),
                human_size(r.rss_end),
                r.ratio,
                human_size(f.growth_bytes)
            )
        };
    }
    let mut text = match (&f.holds, f.kind) {
        (Some(held), _) => format!(
            "a container grown at {} holds objects allocated at {held}; together their live \
             bytes",
            f.location
        ),
        (None, Kind::UnboundedContainer) => {
            "one block reallocated ever larger (a list, dict or bytearray appended to and never \
             shrunk); its live bytes"
                .to_string()
        }
        (None, _) if f.allocated_at != f.location => {
            format!("allocated at {}, live bytes", f.allocated_at)
        }
        (None, _) => "live bytes".to_string(),
    };
    text.push_str(&format!(
        " rose by {} in {} increments between {:.2} s and {:.2} s (Kendall's τ {:.2}, p {})",
        human_size(f.growth_bytes),
        f.rises,
        f.window_s.0,
        f.window_s.1,
        f.tau,
        p_text(f.p_value)
    ));
    text
}

/// A finding's numbers in one line: growth, rate, projections, live at the end.
pub fn finding_numbers(f: &Finding) -> String {
    if let Some(r) = &f.retention {
        return format!(
            "RSS {} over a live heap of {} ({:.1}×) since {:.2} s",
            human_size(r.rss_end),
            human_size(r.heap_end),
            r.ratio,
            r.began_s
        );
    }
    let mut line = format!(
        "+{} over {:.2}–{:.2} s ({}; at this rate +{} per hour",
        human_size(f.growth_bytes),
        f.window_s.0,
        f.window_s.1,
        human_rate(f.growth_rate_bytes_per_s),
        human_size(f.growth_per_hour() as u64)
    );
    if let Some(per) = f.growth_per_1000_allocations() {
        line.push_str(&format!(", +{} per 1,000 allocations there", human_size(per as u64)));
    }
    line.push_str(&format!("), {} live at the end", human_size(f.live_bytes_end)));
    line
}

/// Writes `memreport leaks --json`.
pub fn write_json(out: &mut dyn Write, analysis: &Analysis, found: &Leaks) -> io::Result<()> {
    let text = with_json(analysis, found, |j| {
        serde_json::to_string_pretty(j).expect("plain data serialises")
    });
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// The JSON of `memreport leaks --json` as a value (keys sorted; [`write_json`] keeps the
/// documented order).
pub fn to_json(analysis: &Analysis, found: &Leaks) -> serde_json::Value {
    with_json(analysis, found, |j| serde_json::to_value(j).expect("plain data serialises"))
}

fn with_json<T>(analysis: &Analysis, found: &Leaks, f: impl FnOnce(&LeaksJson<'_>) -> T) -> T {
    let stacks = analysis.stacks();
    let json = LeaksJson {
        verdict: found.verdict.name(),
        reason_kind: found.reason.name(),
        reason: reason_text(found),
        window_start_s: found.window_s.map(|w| round(w.0, 3)),
        window_end_s: found.window_s.map(|w| round(w.1, 3)),
        time_window: crate::text::WindowJson::of(analysis),
        findings: found
            .findings
            .iter()
            .map(|f| FindingJson {
                kind: f.kind.name(),
                location: &f.location,
                allocated_at: &f.allocated_at,
                holds: f.holds.as_deref(),
                stack: &f.stack,
                thread: f.thread.map(|t| stacks.thread_label(t)),
                live_bytes_end: f.live_bytes_end,
                growth_bytes: f.growth_bytes,
                growth_rate_bytes_per_s: round(f.growth_rate_bytes_per_s, 1),
                growth_per_hour_bytes: round(f.growth_per_hour(), 0),
                allocations: f.allocations,
                growth_bytes_per_1000_allocations: f
                    .growth_per_1000_allocations()
                    .map(|x| round(x, 1)),
                rises: f.rises,
                confidence: round(f.confidence, 3),
                tau: round(f.tau, 3),
                p_value: round(f.p_value, 6),
                window_start_s: round(f.window_s.0, 3),
                window_end_s: round(f.window_s.1, 3),
                retention: f.retention.map(|r| RetentionJson {
                    climbing: r.climbing,
                    began_s: round(r.began_s, 3),
                    heap_max_bytes: r.heap_max,
                    rss_end_bytes: r.rss_end,
                    heap_end_bytes: r.heap_end,
                    rss_to_heap_ratio: round(r.ratio, 2),
                    baseline_gap_bytes: r.baseline_gap,
                }),
                evidence: evidence_text(f),
            })
            .collect(),
    };
    f(&json)
}

/// The heading of a finding: kind, location and, when one thread owns the growth, the thread.
pub fn finding_title(analysis: &Analysis, f: &Finding) -> String {
    let mut title = format!("{} at {}", f.kind.name(), f.location);
    if let Some(t) = f.thread {
        title.push_str(&format!(" on thread {}", analysis.stacks().thread_label(t)));
    }
    title
}

/// What the live-at-the-end view is called under a verdict: "leaked" only when something leaks.
pub fn live_at_end_label(verdict: Verdict) -> &'static str {
    if verdict == Verdict::Leak {
        "Leaked"
    } else {
        "Still live at the end"
    }
}

/// Writes `memreport leaks` for a terminal.
pub fn write_text(
    out: &mut dyn Write,
    analysis: &Analysis,
    found: &Leaks,
    style: Style,
    width: usize,
) -> io::Result<()> {
    // Every line is passed through `visible` before it is styled: locations, stacks and
    // thread names come from the capture. Prose is wrapped to the width, frames are cut to it.
    let verdict = format!("verdict: {}", found.verdict.name());
    let head = format!("{verdict} {}", visible(&reason_text(found)));
    for line in wrap(&head, width, "  ") {
        // The verdict's own words are bold, the reason beside them is not.
        match line.strip_prefix(verdict.as_str()) {
            Some(rest) => writeln!(out, "{}{rest}", style.bold(&verdict))?,
            None => writeln!(out, "{line}")?,
        }
    }
    let notes = crate::text::window_note(analysis).into_iter();
    for note in notes.chain(crate::text::filter_note(analysis)) {
        for line in wrap(&note, width, "  ") {
            writeln!(out, "{}", style.dim(&line))?;
        }
    }
    // The terminal shows the fastest few; JSON and the page have them all.
    let heap: Vec<&Finding> =
        found.findings.iter().filter(|f| f.kind != Kind::AllocatorRetention).collect();
    let shown: Vec<&Finding> = heap
        .iter()
        .take(MAX_TEXT_FINDINGS)
        .copied()
        .chain(found.findings.iter().filter(|f| f.kind == Kind::AllocatorRetention))
        .collect();
    const INDENT: &str = "   ";
    for (i, f) in shown.iter().enumerate() {
        writeln!(out)?;
        let title =
            format!("{}. {} (confidence {:.2})", i + 1, finding_title(analysis, f), f.confidence);
        for line in wrap(&visible(&title), width, INDENT) {
            writeln!(out, "{}", style.bold(&line))?;
        }
        // The body is indented under the title, every line of it.
        let body = width.saturating_sub(INDENT.len());
        for line in wrap(&finding_numbers(f), body, "") {
            writeln!(out, "{INDENT}{}", style.figure(&line))?;
        }
        for line in wrap(&visible(&evidence_text(f)), body, "") {
            writeln!(out, "{INDENT}{line}")?;
        }
        for frame in f.stack_portable.iter().take(8) {
            let line = cut_to(&format!("  at {}", visible(frame)), body);
            writeln!(out, "{INDENT}{}", style.dim(&line))?;
        }
        if f.stack_portable.len() > 8 {
            let more = format!("  … {} more frames", f.stack_portable.len() - 8);
            writeln!(out, "{INDENT}{}", style.dim(&more))?;
        }
    }
    if heap.len() > MAX_TEXT_FINDINGS {
        let rest = &heap[MAX_TEXT_FINDINGS..];
        let bytes: u64 = rest.iter().map(|f| f.growth_bytes).sum();
        writeln!(out)?;
        let more = format!(
            "… and {} slower growing locations (+{} in all; --json lists them)",
            rest.len(),
            human_size(bytes)
        );
        for line in wrap(&more, width, "  ") {
            writeln!(out, "{}", style.dim(&line))?;
        }
    }
    Ok(())
}
