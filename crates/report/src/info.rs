//! `memreport info`: the facts of a capture, as JSON or as aligned text.

use std::io::{self, Write};

use memreport_analysis::group::thread_name_shape;
use memreport_analysis::info::{CaptureInfo, ThreadInfo};
use memreport_analysis::{Storage, StreamEnd, Truncation};
use serde_json::{json, Value};

use crate::terminal::visible;
use crate::text::cut_to;
use crate::time::iso8601_ms;

/// `major.minor.micro` of a `PY_VERSION_HEX` (only major.minor are reliable, spec §1.5).
pub(crate) fn python_version(hex: u32) -> String {
    format!("{}.{}.{}", hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
}

/// Why a capture ended early, in a few words: the file was cut inside a compressed stream (a
/// partial copy), or memray never wrote the trailer (the process was killed).
pub fn truncation_cause(t: &Truncation) -> &'static str {
    if t.wrapping_cut {
        "the compressed file is cut short"
    } else if t.lz4_cut {
        "the LZ4 frame is cut short"
    } else {
        "no trailer"
    }
}

/// Warnings a reader of this capture should see.
pub fn warnings(info: &CaptureInfo) -> Vec<String> {
    let mut out = Vec::new();
    if let StreamEnd::Truncated(t) = info.end {
        let why = match truncation_cause(&t) {
            "no trailer" => "no trailer: the traced process did not exit normally",
            cause => cause,
        };
        out.push(format!(
            "truncated capture ({why}); read {} records up to byte {}",
            t.records_read, t.offset
        ));
    }
    if let StreamEnd::TrailerThenData { offset } = info.end {
        out.push(format!(
            "bytes after the trailer from byte {offset} of the stream (two captures \
             concatenated?); they are not read"
        ));
    }
    if info.header.is_streaming()
        && !info.header.trace_python_allocators
        && !info.header.python_allocator.is_malloc()
    {
        out.push(
            "python allocators not traced: pymalloc arenas are attributed to whichever line opened them"
                .to_string(),
        );
    }
    out
}

/// The JSON object of `memreport info --json` (keys sorted).
pub fn to_json(info: &CaptureInfo) -> Value {
    let h = &info.header;
    let threads: Vec<Value> =
        info.threads.iter().map(|t| json!({"tid": t.tid, "name": t.name})).collect();
    json!({
        "format_version": h.version,
        "file_format": h.file_format.name(),
        "compressed": info.storage == Storage::Lz4,
        "wrapping": info.wrapping.map(|w| w.name()),
        "truncated": info.truncated(),
        "command_line": h.command_line,
        "pid": h.pid,
        "python_version": h.python_version.map(python_version),
        "python_allocator": h.python_allocator.name(),
        "native_traces": h.native_traces,
        "trace_python_allocators": h.trace_python_allocators,
        "track_object_lifetimes": h.track_object_lifetimes,
        "main_tid": if h.has_main_tid() { Some(h.main_tid) } else { None },
        "start_time_ms": h.start_time_ms,
        "end_time_ms": h.end_time_ms,
        "start_time": iso8601_ms(h.start_time_ms),
        "end_time": iso8601_ms(h.start_time_ms.saturating_add(info.duration_ms())),
        "duration_ms": info.duration_ms(),
        "header_n_allocations": h.n_allocations,
        "n_allocation_records": info.n_allocation_records,
        "n_memory_records": info.n_memory_records,
        "n_aggregated_records": info.n_aggregated_records,
        "n_object_records": info.n_object_records,
        "n_records": info.n_records,
        "n_frames": info.n_frames,
        "n_stacks": info.n_stacks,
        "n_native_nodes": info.n_native_nodes,
        "n_memory_maps": info.n_memory_maps,
        "stream_bytes": info.stream_bytes,
        "threads": threads,
        "warnings": warnings(info),
    })
}

/// How the file is compressed, in words: memray's LZ4, and any gzip or zstd stream around it.
fn compression(info: &CaptureInfo) -> String {
    match (info.storage == Storage::Lz4, info.wrapping) {
        (false, None) => "no".to_string(),
        (true, None) => "lz4".to_string(),
        (false, Some(w)) => w.name().to_string(),
        (true, Some(w)) => format!("lz4 inside {}", w.name()),
    }
}

/// `memreport info` for a terminal: one aligned `name  value` line per fact.
pub fn write_text(out: &mut dyn Write, info: &CaptureInfo) -> io::Result<()> {
    let h = &info.header;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut rows: Vec<(&str, String)> = vec![
        ("format version", h.version.to_string()),
        ("file format", h.file_format.name().to_string()),
        ("compressed", compression(info)),
        ("truncated", yes_no(info.truncated()).to_string()),
        ("command line", h.command_line.clone()),
        ("pid", h.pid.to_string()),
    ];
    if let Some(v) = h.python_version {
        rows.push(("python version", python_version(v)));
    }
    rows.extend([
        ("python allocator", h.python_allocator.name().to_string()),
        ("native traces", yes_no(h.native_traces).to_string()),
        ("python allocators traced", yes_no(h.trace_python_allocators).to_string()),
        ("start time", iso8601_ms(h.start_time_ms)),
        ("duration", format!("{:.3} s", info.duration_ms() as f64 / 1000.0)),
        ("allocation records", info.n_allocation_records.to_string()),
        ("memory samples", info.n_memory_records.to_string()),
    ]);
    if !h.is_streaming() {
        rows.push(("aggregated records", info.n_aggregated_records.to_string()));
    }
    rows.push(("distinct stacks", info.n_stacks.to_string()));
    if h.native_traces {
        rows.push(("native nodes", info.n_native_nodes.to_string()));
        rows.push(("memory maps", info.n_memory_maps.to_string()));
    }
    rows.push(("threads", thread_summary(info)));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        writeln!(out, "{k:<width$}  {}", visible(&v))?;
    }
    for w in warnings(info) {
        writeln!(out, "warning: {}", visible(&w))?;
    }
    Ok(())
}

/// Threads listed in `info`'s text before the rest are summarised.
const THREADS_LISTED: usize = 5;
/// Characters of a thread name shown in `info`'s text.
const THREAD_NAME_CHARS: usize = 60;

/// The count, the first few threads, and "… and N more", naming the commonest shape of the
/// others' names (digits as `N`), so that a thread-per-request server's thousands of threads
/// make one short line.
fn thread_summary(info: &CaptureInfo) -> String {
    let label = |t: &ThreadInfo| match &t.name {
        Some(name) => format!("{} ({})", t.tid, cut_to(name, THREAD_NAME_CHARS)),
        None => t.tid.to_string(),
    };
    let threads = &info.threads;
    let listed: Vec<String> = threads.iter().take(THREADS_LISTED).map(label).collect();
    let mut line = format!("{}: {}", threads.len(), listed.join(", "));
    let rest = threads.get(THREADS_LISTED..).unwrap_or(&[]);
    if !rest.is_empty() {
        let mut shapes: std::collections::BTreeMap<String, usize> = Default::default();
        for t in rest {
            if let Some(name) = &t.name {
                *shapes.entry(thread_name_shape(name)).or_default() += 1;
            }
        }
        line.push_str(&format!(" … and {} more", rest.len()));
        if let Some((shape, n)) =
            shapes.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        {
            if n > 1 {
                line.push_str(&format!(
                    " ({n} named like \"{}\")",
                    cut_to(&shape, THREAD_NAME_CHARS)
                ));
            }
        }
    }
    line
}
