//! The flame-graph page (`memreport flamegraph`): one view of one capture.

use std::io::{self, Write};

use askama::Template;
use memreport_analysis::{Analysis, Mode, Threads, Unavailable};

use super::common::{flame_section, header, render, FlameSection, Header, CSS, JS, PAGE_FLAME};

/// What `memreport flamegraph` draws.
#[derive(Debug, Clone, Copy)]
pub struct FlamegraphView {
    /// Peak, leaks or temporary allocations.
    pub mode: Mode,
    /// One subtree per thread.
    pub threads: Threads,
    /// Innermost frames at the root (memray's `--inverted`).
    pub inverted: bool,
}

#[derive(Template)]
#[template(path = "flamegraph.html")]
struct FlamePage {
    css: &'static str,
    js: &'static str,
    header: Header,
    flame: FlameSection,
}

/// Writes a page with one flame graph, or says why the view is not available for this capture
/// (temporary allocations of an aggregated capture, or not computed by the analysis).
pub fn write_flamegraph(
    out: &mut dyn Write,
    analysis: &Analysis,
    view: FlamegraphView,
    capture_name: &str,
) -> Result<io::Result<()>, Unavailable> {
    let flame =
        flame_section(analysis, view.mode, view.threads, view.inverted, PAGE_FLAME, "flame")?;
    let page = FlamePage {
        css: CSS,
        js: JS,
        header: header(analysis, capture_name, "Flame graph"),
        flame,
    };
    Ok(render(out, &page))
}
