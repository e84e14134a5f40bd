//! `memreport top` (locations ranked by bytes) and `memreport tree` (an indented call tree), as
//! JSON or terminal text.

use std::io::{self, Write};

use memreport_analysis::group::{CallTree, Group};
use memreport_analysis::{Analysis, Mode, Usage};
use serde::Serialize;

use crate::terminal::visible;
use crate::text::{human_size, percent, Align, Style, Table};

/// The `locations` of `top --json`, the first `view.limit` groups; `thread` names a group's
/// thread when threads are split.
pub(crate) fn locations_json<'a>(
    view: TopView<'a>,
    thread: impl Fn(u64) -> String,
) -> Vec<LocationJson<'a>> {
    (view.groups.iter().take(view.limit))
        .map(|g| LocationJson {
            location: &g.location,
            bytes: g.usage.bytes,
            count: g.usage.count,
            stack: view.with_stack.then_some(g.stack.as_slice()),
            thread: g.tid.map(&thread),
            n_stacks: g.n_stacks,
        })
        .collect()
}

#[derive(Serialize)]
pub(crate) struct LocationJson<'a> {
    location: &'a str,
    bytes: u64,
    count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread: Option<String>,
    n_stacks: usize,
}

#[derive(Serialize)]
struct TopJson<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    threshold: Option<u64>,
    peak_memory: u64,
    total_bytes: u64,
    total_count: u64,
    n_locations: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<crate::text::WindowJson>,
    locations: Vec<LocationJson<'a>>,
}

/// What a `top` view shows.
#[derive(Debug, Clone, Copy)]
pub struct TopView<'a> {
    /// Peak, leaks or temporary.
    pub mode: Mode,
    /// The groups, largest first (all of them; `limit` cuts the output).
    pub groups: &'a [Group],
    /// Rows to show.
    pub limit: usize,
    /// Whether groups carry their full stack (`--by line`).
    pub with_stack: bool,
}

fn totals(groups: &[Group]) -> Usage {
    Usage::sum(groups.iter().map(|g| g.usage))
}

/// Writes `memreport top --json`.
pub fn write_json(out: &mut dyn Write, analysis: &Analysis, view: TopView<'_>) -> io::Result<()> {
    let total = totals(view.groups);
    let stacks = analysis.stacks();
    let json = TopJson {
        mode: view.mode.name(),
        threshold: match view.mode {
            Mode::Temporary(n) => Some(n),
            _ => None,
        },
        peak_memory: analysis.peak_memory(),
        total_bytes: total.bytes,
        total_count: total.count,
        n_locations: view.groups.len(),
        window: crate::text::WindowJson::of(analysis),
        locations: locations_json(view, |t| stacks.thread_label(t)),
    };
    let text = serde_json::to_string_pretty(&json).expect("plain data serialises");
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// The one-line summary above a `top` or `tree` table.
fn headline(analysis: &Analysis, mode: Mode, total: Usage, n: usize, noun: &str) -> String {
    let windowed = analysis.window().is_some();
    let what = match mode {
        Mode::Peak if windowed => format!(
            "Live at the window's peak ({} peak memory inside it)",
            human_size(analysis.peak_memory())
        ),
        Mode::Peak => {
            format!("Live at the peak ({} peak memory)", human_size(analysis.peak_memory()))
        }
        Mode::Leaks if windowed => {
            "Allocated inside the window and still live at its end".to_string()
        }
        Mode::Leaks => "Still live at the end (leaked)".to_string(),
        Mode::Temporary(1) => {
            "Temporary allocations (freed after at most 1 other allocation on the same thread)"
                .to_string()
        }
        Mode::Temporary(n) => format!(
            "Temporary allocations (freed after at most {n} other allocations on the same thread)"
        ),
    };
    format!("{what}: {} in {} blocks at {n} {noun}", human_size(total.bytes), total.count)
}

/// Writes `memreport top` for a terminal.
pub fn write_text(
    out: &mut dyn Write,
    analysis: &Analysis,
    view: TopView<'_>,
    style: Style,
) -> io::Result<()> {
    let total = totals(view.groups);
    writeln!(
        out,
        "{}",
        style.bold(&headline(analysis, view.mode, total, view.groups.len(), "locations"))
    )?;
    if let Some(note) = crate::text::window_note(analysis) {
        writeln!(out, "{}", style.dim(&note))?;
    }
    let threads = view.groups.iter().any(|g| g.tid.is_some());
    let mut columns =
        vec![("bytes", Align::Right), ("share", Align::Right), ("blocks", Align::Right)];
    if threads {
        columns.push(("thread", Align::Left));
    }
    columns.push(("location", Align::Left));
    let mut table = Table::new(&columns);
    let stacks = analysis.stacks();
    for g in view.groups.iter().take(view.limit) {
        let mut row = vec![
            style.figure(&human_size(g.usage.bytes)),
            percent(g.usage.bytes, total.bytes),
            g.usage.count.to_string(),
        ];
        if let Some(tid) = g.tid {
            row.push(visible(&stacks.thread_label(tid)).into_owned());
        }
        row.push(visible(&g.location).into_owned());
        table.row(row);
    }
    out.write_all(table.render(style).as_bytes())?;
    let hidden = view.groups.len().saturating_sub(view.limit);
    if hidden > 0 {
        let rest = totals(&view.groups[view.limit..]);
        writeln!(
            out,
            "{}",
            style.dim(&format!(
                "… {hidden} more locations with {} in {} blocks (-n to show more)",
                human_size(rest.bytes),
                rest.count
            ))
        )?;
    }
    Ok(())
}

/// The deepest level a tree prints, whatever `--depth` says: it bounds the indentation (which
/// grows with depth) and the recursion of the printer on captures with pathological stacks.
pub const MAX_TREE_DEPTH: usize = 256;

/// Options of a tree view.
#[derive(Debug, Clone, Copy)]
pub struct TreeView {
    /// Peak or leaks.
    pub mode: Mode,
    /// Deepest level shown (1 = the outermost frames only).
    pub depth: usize,
    /// Children smaller than this share of the whole are folded into one "… n more" line.
    pub min_share: f64,
    /// Longest line, in characters: a longer name is cut with `…` (the terminal's width, or 100
    /// columns when the output is not a terminal).
    pub width: usize,
}

/// Writes `memreport tree` for a terminal: the call tree from the outermost frame in, with the
/// bytes, share and blocks under each frame.
pub fn write_tree(
    out: &mut dyn Write,
    analysis: &Analysis,
    tree: &CallTree,
    view: TreeView,
    style: Style,
) -> io::Result<()> {
    let root = &tree.nodes[0];
    let n_leaves = tree.nodes.iter().filter(|n| n.children.is_empty()).count();
    let line = headline(analysis, view.mode, root.usage, n_leaves, "call sites");
    writeln!(out, "{}", style.bold(&line))?;
    if let Some(note) = crate::text::window_note(analysis) {
        writeln!(out, "{}", style.dim(&note))?;
    }
    // Rows first, so sizes can be right-aligned to one width.
    let mut rows: Vec<TreeRow> = Vec::new();
    let whole = root.usage.bytes;
    let view = TreeView { depth: view.depth.min(MAX_TREE_DEPTH), ..view };
    Printer { analysis, tree, view, whole }.walk(0, "", 0, &mut rows);
    let w0 = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
    // What is left of the line for the label, after the three columns and their gaps.
    let room = view.width.saturating_sub(w0 + w1 + w2 + 6).max(20);
    for (size, share, blocks, label) in rows {
        let size = format!("{size:>w0$}");
        let label = crate::text::cut_to(&visible(&label), room);
        writeln!(
            out,
            "{}  {share:>w1$}  {blocks:>w2$}  {label}",
            if size.trim().is_empty() { size } else { style.figure(&size) },
        )?;
    }
    Ok(())
}

/// One printing of a tree: what stays the same on every level.
struct Printer<'a> {
    analysis: &'a Analysis,
    tree: &'a CallTree,
    view: TreeView,
    whole: u64,
}

type TreeRow = (String, String, String, String);

impl Printer<'_> {
    fn walk(&self, node: u32, prefix: &str, depth: usize, rows: &mut Vec<TreeRow>) {
        let (tree, whole) = (self.tree, self.whole);
        let n = &tree.nodes[node as usize];
        if depth >= self.view.depth {
            return;
        }
        let threshold = (whole as f64 * self.view.min_share) as u64;
        let (shown, folded): (Vec<u32>, Vec<u32>) = n
            .children
            .iter()
            .partition(|&&c| tree.nodes[c as usize].usage.bytes >= threshold.max(1));
        let last_index = shown.len() + usize::from(!folded.is_empty());
        for (i, &c) in shown.iter().enumerate() {
            let child = &tree.nodes[c as usize];
            let last = i + 1 == last_index;
            let branch = if last { "└─ " } else { "├─ " };
            rows.push((
                human_size(child.usage.bytes),
                percent(child.usage.bytes, whole),
                child.usage.count.to_string(),
                format!("{prefix}{branch}{}", tree.short_label(self.analysis, c)),
            ));
            let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
            self.walk(c, &deeper, depth + 1, rows);
        }
        if !folded.is_empty() {
            let usage = Usage::sum(folded.iter().map(|&c| tree.nodes[c as usize].usage));
            rows.push((
                human_size(usage.bytes),
                percent(usage.bytes, whole),
                usage.count.to_string(),
                match folded.len() {
                    1 => format!("{prefix}└─ … 1 smaller call"),
                    n => format!("{prefix}└─ … {n} smaller calls"),
                },
            ));
        }
    }
}
