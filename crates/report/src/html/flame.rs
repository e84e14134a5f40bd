//! Flame graphs: a call tree folded to a frame budget, laid out and coloured by inferno, and
//! rewritten into an inline SVG whose frames carry their place in the tree for the page's script
//! (zoom, search, details line) and their bytes, allocations and location for the browser's own
//! tooltip.
//!
//! Why the rewrite: inferno's SVG is a standalone document whose script uses global ids and
//! globals, so two of them cannot share a page, and its tooltips know only one number per frame.
//! inferno still decides the geometry, the colours and the text that fits each frame; this module
//! keeps those and replaces the rest.
//!
//! Why the folding: a capture can hold millions of distinct stacks, and a frame costs about
//! 350 bytes of HTML. The widest frames are kept (best first, so a kept frame's parent is always
//! kept); the children of a kept frame that did not make the cut become one grey "other" frame.
//! When the SVG is still over its byte budget (long names), the frame budget shrinks and the graph
//! is drawn again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Direction, Options};
use memreport_analysis::group::{CallTree, NodeKind};
use memreport_analysis::stacks::{Location, NO_STACK};
use memreport_analysis::Place;
use memreport_analysis::Usage;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::{escape, thousands};
use crate::text::human_size;

/// Frames deeper than this are folded into their ancestor's "other" frame. memray cuts stacks at
/// 400 frames; 256 is already 4,000 pixels of graph.
pub(super) const MAX_DEPTH: usize = 256;

/// Longest name or path drawn, in characters; longer ones are cut with an ellipsis.
const MAX_NAME: usize = 160;

/// Values handed to inferno stay below this (it sums them in a `u64`); larger byte counts are
/// scaled down, which only changes widths by less than a pixel.
const MAX_UNITS: u64 = 1 << 50;

/// Height of one frame row in pixels (inferno's default), the rectangle one pixel less.
const ROW: usize = 16;

/// How to draw one flame graph.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlameOptions<'a> {
    /// What the root stands for, for tooltips: "live at the peak", "leaked", ….
    pub whole: &'a str,
    /// Frames to keep before folding into "other" (the first try).
    pub max_frames: usize,
    /// Size of the SVG not to exceed: the frame budget shrinks until the graph fits.
    pub max_svg_bytes: usize,
}

/// A drawn flame graph.
#[derive(Debug, Clone)]
pub(super) struct FlameGraph {
    /// The inline SVG (no XML declaration), one frame per line.
    pub svg: String,
    /// Frames drawn, the root and "other" frames included.
    pub frames: usize,
    /// Frames of the tree (root excluded).
    pub tree_frames: usize,
    /// Frames of the tree folded into "other" frames.
    pub folded_frames: usize,
    /// Bytes and allocations inside "other" frames.
    pub folded: Usage,
    /// The root's total.
    pub total: Usage,
}

/// What a drawn frame stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Root,
    Thread,
    Frame,
    Other,
}

/// A frame of the folded tree.
#[derive(Debug, Clone)]
struct Drawn {
    /// Name handed to inferno and drawn in the frame.
    name: String,
    /// Tooltip text, one fact per line.
    title: String,
    class: Class,
    depth: usize,
    /// Value of the frame's own line (bytes not below any child), in units.
    own: u64,
    /// Start and width in units, once laid out.
    start: u64,
    width: u64,
    children: Vec<usize>,
    /// A colour replacing inferno's (differential graphs).
    fill: Option<String>,
}

/// How the frames of a graph are named and, for a differential graph, coloured and described.
/// A closure from [`NodeKind`] to a name is the plain case.
pub(super) trait Frames {
    /// The name of node `id` of the tree, of kind `kind` (see [`frame_name`]).
    fn name(&self, id: u32, kind: NodeKind) -> String;
    /// A fill colour replacing inferno's for node `id` of the tree.
    fn fill(&self, _id: u32) -> Option<String> {
        None
    }
    /// More tooltip text for node `id` of the tree.
    fn detail(&self, _id: u32) -> Option<String> {
        None
    }
}

impl<F: Fn(NodeKind) -> String> Frames for F {
    fn name(&self, _id: u32, kind: NodeKind) -> String {
        self(kind)
    }
}

/// The naming (and colouring) of a graph's frames.
pub(super) type Names<'a> = &'a dyn Frames;

/// Draws the flame graph of a call tree, naming nodes with `names`.
pub(super) fn draw(tree: &CallTree, names: Names<'_>, options: FlameOptions<'_>) -> FlameGraph {
    let mut budget = options.max_frames.max(1);
    loop {
        // Folding is cheap and its size estimate close, so the budget is settled before inferno
        // runs; the drawn size is still checked, in case the estimate fell short.
        let folded = fold(tree, names, budget, options.whole);
        let size = folded.estimate();
        if size > options.max_svg_bytes && budget > 1 {
            budget = shrink(budget, options.max_svg_bytes, size);
            continue;
        }
        let graph = folded.render(tree);
        if graph.svg.len() <= options.max_svg_bytes || budget == 1 {
            return graph;
        }
        budget = shrink(budget, options.max_svg_bytes, graph.svg.len());
    }
}

/// A smaller frame budget for a graph `size` bytes long to fit in `limit`: in proportion, with a
/// margin, so that one or two more tries are enough.
fn shrink(budget: usize, limit: usize, size: usize) -> usize {
    let scaled = budget as f64 * limit as f64 / size as f64 * 0.9;
    (scaled as usize).clamp(1, budget - 1)
}

/// A call tree folded to a frame budget, laid out, not yet drawn.
struct Folded {
    drawn: Vec<Drawn>,
    folded_frames: usize,
    folded: Usage,
    scale: u64,
}

impl Folded {
    /// About how many bytes the SVG will take: each frame's markup, tooltip and label.
    fn estimate(&self) -> usize {
        let frames: usize = self
            .drawn
            .iter()
            .filter(|d| d.width > 0)
            .map(|d| FRAME_MARKUP + d.title.len() + d.name.len())
            .sum();
        frames + 200
    }

    fn render(self, tree: &CallTree) -> FlameGraph {
        let lines = folded_lines(&self.drawn);
        let (svg, frames) = render(&self.drawn, &lines, self.scale);
        FlameGraph {
            svg,
            frames,
            tree_frames: tree.nodes.len() - 1,
            folded_frames: self.folded_frames,
            folded: self.folded,
            total: tree.nodes[0].usage,
        }
    }
}

/// Bytes of a frame's markup besides its tooltip and label (tags, attributes, numbers).
const FRAME_MARKUP: usize = 190;

fn fold(tree: &CallTree, names: Names<'_>, budget: usize, whole: &str) -> Folded {
    let nodes = &tree.nodes;
    let total = nodes[0].usage;
    let widest = nodes.iter().map(|n| n.usage.bytes).max().unwrap_or(0);
    let scale = widest.div_ceil(MAX_UNITS).max(1);
    let units = |u: Usage| u.bytes / scale;

    // Nodes are created after their parent, so ids ascend along every path: one forward pass
    // gives depths, one backward pass gives subtree sizes.
    let mut depth = vec![0usize; nodes.len()];
    for (id, n) in nodes.iter().enumerate() {
        for &c in &n.children {
            depth[c as usize] = depth[id] + 1;
        }
    }
    let mut subtree = vec![1usize; nodes.len()];
    for id in (0..nodes.len()).rev() {
        let below: usize = nodes[id].children.iter().map(|&c| subtree[c as usize]).sum();
        subtree[id] += below;
    }

    // Best first: the widest frame whose parent is kept, ties to the older node.
    let mut kept = vec![false; nodes.len()];
    kept[0] = true;
    let mut n_kept = 1;
    let mut queue: BinaryHeap<(u64, Reverse<u32>)> = BinaryHeap::new();
    let push_children = |queue: &mut BinaryHeap<(u64, Reverse<u32>)>, id: usize| {
        for &c in &nodes[id].children {
            queue.push((units(nodes[c as usize].usage), Reverse(c)));
        }
    };
    push_children(&mut queue, 0);
    while let Some((width, Reverse(id))) = queue.pop() {
        if n_kept >= budget || width == 0 {
            break;
        }
        if depth[id as usize] > MAX_DEPTH {
            continue;
        }
        kept[id as usize] = true;
        n_kept += 1;
        push_children(&mut queue, id as usize);
    }

    // The folded tree, in drawing order: children largest first, "other" last.
    let mut drawn: Vec<Drawn> = Vec::new();
    let mut folded_frames = 0;
    let mut folded = Usage::default();
    let mut stack: Vec<(usize, Option<usize>)> = vec![(0, None)];
    while let Some((id, parent)) = stack.pop() {
        let n = &nodes[id];
        let index = drawn.len();
        let name = clean(&names.name(id as u32, n.kind));
        let class = match n.kind {
            NodeKind::Root => Class::Root,
            NodeKind::Thread(_) => Class::Thread,
            NodeKind::Frame(_) | NodeKind::NoStack => Class::Frame,
        };
        let mut title = format!("{name}\n{}", usage_line(n.usage, total, whole));
        if let Some(detail) = names.detail(id as u32) {
            title.push('\n');
            title.push_str(&detail);
        }
        drawn.push(Drawn {
            title,
            name,
            class,
            depth: depth[id],
            own: 0,
            start: 0,
            width: 0,
            children: Vec::new(),
            fill: names.fill(id as u32),
        });
        if let Some(p) = parent {
            drawn[p].children.push(index);
        }
        let (keep, fold): (Vec<u32>, Vec<u32>) =
            n.children.iter().partition(|&&c| kept[c as usize]);
        let other = Usage::sum(fold.iter().map(|&c| nodes[c as usize].usage));
        let other_frames: usize = fold.iter().map(|&c| subtree[c as usize]).sum();
        folded_frames += other_frames;
        folded.add(other);
        let mut below = keep.iter().map(|&c| units(nodes[c as usize].usage)).sum::<u64>();
        if units(other) > 0 {
            below += units(other);
            let name = format!("other ({} frames)", thousands(other_frames as u64));
            let title = format!(
                "{name}\n{} smaller frames folded together\n{}",
                thousands(other_frames as u64),
                usage_line(other, total, whole)
            );
            let count = drawn.len();
            drawn.push(Drawn {
                name,
                title,
                class: Class::Other,
                depth: depth[id] + 1,
                own: units(other),
                start: 0,
                width: 0,
                children: Vec::new(),
                fill: None,
            });
            drawn[index].children.push(count);
        }
        drawn[index].own = units(n.usage).saturating_sub(below);
        // Children are visited in order: push them in reverse.
        for &c in keep.iter().rev() {
            stack.push((c as usize, Some(index)));
        }
    }
    // "other" frames were pushed before their kept siblings were visited; put them last.
    for i in 0..drawn.len() {
        let (mut others, mut rest): (Vec<usize>, Vec<usize>) =
            drawn[i].children.iter().partition(|&&c| drawn[c].class == Class::Other);
        rest.append(&mut others);
        drawn[i].children = rest;
    }
    layout(&mut drawn);
    Folded { drawn, folded_frames, folded, scale }
}

/// Widths bottom-up (a frame is as wide as its own line plus its children, exactly as inferno
/// will sum them), then starts top-down.
fn layout(drawn: &mut [Drawn]) {
    // Children always come after their parent in `drawn`.
    for i in (0..drawn.len()).rev() {
        let below: u64 = drawn[i].children.iter().map(|&c| drawn[c].width).sum();
        drawn[i].width = drawn[i].own + below;
    }
    for i in 0..drawn.len() {
        let mut at = drawn[i].start + drawn[i].own;
        for c in drawn[i].children.clone() {
            drawn[c].start = at;
            at += drawn[c].width;
        }
    }
}

/// inferno's input: one `a;b;c value` line per frame with a value of its own, in drawing order
/// (a frame's own line first, then its children), skipping the root, which inferno adds itself.
fn folded_lines(drawn: &[Drawn]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut stack: Vec<(usize, String)> = vec![(0, String::new())];
    while let Some((i, path)) = stack.pop() {
        let d = &drawn[i];
        if i != 0 && d.own > 0 {
            lines.push(format!("{path} {}", d.own));
        }
        for &c in d.children.iter().rev() {
            if drawn[c].width == 0 {
                continue;
            }
            let child = if path.is_empty() {
                drawn[c].name.clone()
            } else {
                format!("{path};{}", drawn[c].name)
            };
            stack.push((c, child));
        }
    }
    lines
}

/// A frame as inferno drew it.
#[derive(Debug, Default)]
struct InfernoFrame {
    y: f64,
    x: String,
    width: String,
    fill: String,
    start: u64,
    text_x: String,
    text: String,
    title: String,
}

/// Runs inferno and rewrites its frames; returns the SVG and the number of frames.
fn render(drawn: &[Drawn], lines: &[String], scale: u64) -> (String, usize) {
    let total = drawn[0].width;
    let mut out = String::new();
    if total == 0 {
        out.push_str("<p class=\"empty\">Nothing to draw: no bytes in this view.</p>\n");
        return (out, 0);
    }
    let mut options = Options::default();
    options.colors = Palette::Basic(BasicPalette::Mem);
    options.hash = true;
    options.deterministic = true;
    options.direction = Direction::Inverted;
    options.image_width = Some(1200);
    options.min_width = 0.0;
    options.count_name = "bytes".to_string();
    options.font_type = "monospace".to_string();
    options.no_javascript = true;
    // The lines are in drawing order, which is not sorted order; flame-chart mode is inferno's
    // way of taking them as given (it reverses them first, hence the reversal here).
    options.flame_chart = true;
    let mut svg = Vec::new();
    let reversed: Vec<&str> = lines.iter().rev().map(String::as_str).collect();
    if flamegraph::from_lines(&mut options, reversed, &mut svg).is_err() {
        out.push_str("<p class=\"empty\">The flame graph could not be drawn.</p>\n");
        return (out, 0);
    }
    let frames = parse_frames(&String::from_utf8_lossy(&svg));

    // Rows: inferno's y of each depth, shallowest first.
    let mut ys: Vec<f64> = frames.iter().map(|f| f.y).collect();
    ys.sort_by(f64::total_cmp);
    ys.dedup();
    let by_place: HashMap<(usize, u64), usize> =
        drawn.iter().enumerate().map(|(i, d)| ((d.depth, d.start), i)).collect();
    let mut placed: Vec<(usize, u64, &InfernoFrame, Option<&Drawn>)> = frames
        .iter()
        .map(|f| {
            let depth = ys.partition_point(|&y| y < f.y);
            let ours = by_place.get(&(depth, f.start)).map(|&i| &drawn[i]);
            (depth, f.start, f, ours)
        })
        .collect();
    placed.sort_by_key(|&(depth, start, _, _)| (depth, start));
    // As tall as the deepest frame at least half a pixel wide on a 1200-pixel page: deeper rows
    // of slivers would only add blank space (the script re-measures when zooming).
    let visible = |d: &Drawn| d.width.saturating_mul(2400) >= total;
    let deepest = drawn.iter().filter(|d| visible(d)).map(|d| d.depth).max().unwrap_or(0);
    let height = (deepest + 1) * ROW;
    let _ = writeln!(
        out,
        "<svg class=\"fg\" width=\"100%\" height=\"{height}\" data-total=\"{total}\" \
         data-scale=\"{scale}\" role=\"img\">"
    );
    for (depth, start, f, ours) in &placed {
        let y = depth * ROW;
        let (class, title, width) = match ours {
            Some(d) => (
                match d.class {
                    Class::Root => " class=\"root\"",
                    Class::Thread => " class=\"thread\"",
                    Class::Frame => "",
                    Class::Other => " class=\"other\"",
                },
                d.title.as_str(),
                d.width,
            ),
            None => ("", f.title.as_str(), 0),
        };
        let fill = match ours {
            Some(Drawn { fill: Some(fill), .. }) => fill.as_str(),
            Some(Drawn { class: Class::Other, .. }) => "rgb(170,170,170)",
            Some(Drawn { class: Class::Thread, .. }) => "rgb(140,170,210)",
            _ => f.fill.as_str(),
        };
        let _ = writeln!(
            out,
            "<g{class} data-x=\"{start}\" data-w=\"{width}\" data-d=\"{depth}\"><title>{}</title>\
             <rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"{fill}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            // One frame per line keeps the page diffable; the browser still sees the line breaks.
            escape(title).replace('\n', "&#10;"),
            f.x,
            f.width,
            ROW - 1,
            f.text_x,
            y + 11,
            escape(&f.text),
        );
    }
    out.push_str("</svg>\n");
    (out, placed.len())
}

/// The frames of inferno's SVG: every `<g>` inside `<svg id="frames">`.
fn parse_frames(svg: &str) -> Vec<InfernoFrame> {
    let mut reader = Reader::from_str(svg);
    let mut frames = Vec::new();
    let mut inside = false;
    let mut current: Option<InfernoFrame> = None;
    // Which text is being collected: the title or the frame's label.
    let mut collecting: Option<bool> = None;
    loop {
        let event = match reader.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(e) => e,
        };
        match event {
            Event::Start(e) => match e.name().as_ref() {
                b"svg" => {
                    inside = attribute(&e, b"id").as_deref() == Some("frames");
                }
                b"g" if inside => current = Some(InfernoFrame::default()),
                b"title" => collecting = Some(true),
                b"text" => {
                    if let Some(f) = current.as_mut() {
                        f.text_x = attribute(&e, b"x").unwrap_or_default();
                    }
                    collecting = Some(false);
                }
                _ => {}
            },
            Event::Empty(e) if e.name().as_ref() == b"rect" => {
                if let Some(f) = current.as_mut() {
                    f.x = attribute(&e, b"x").unwrap_or_default();
                    f.width = attribute(&e, b"width").unwrap_or_default();
                    f.fill = attribute(&e, b"fill").unwrap_or_default();
                    f.y = attribute(&e, b"y").and_then(|v| v.parse().ok()).unwrap_or(0.0);
                    f.start = attribute(&e, b"fg:x").and_then(|v| v.parse().ok()).unwrap_or(0);
                }
            }
            Event::Text(t) => {
                if let (Some(f), Some(title)) = (current.as_mut(), collecting) {
                    let text = t.decode().map(|c| c.into_owned()).unwrap_or_default();
                    if title {
                        f.title.push_str(&text)
                    } else {
                        f.text.push_str(&text)
                    }
                }
            }
            Event::GeneralRef(r) => {
                if let (Some(f), Some(title)) = (current.as_mut(), collecting) {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        _ => match r.decode().as_deref() {
                            Ok("lt") => Some('<'),
                            Ok("gt") => Some('>'),
                            Ok("amp") => Some('&'),
                            Ok("quot") => Some('"'),
                            Ok("apos") => Some('\''),
                            _ => None,
                        },
                    };
                    if let Some(c) = c {
                        if title {
                            f.title.push(c)
                        } else {
                            f.text.push(c)
                        }
                    }
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"title" | b"text" => collecting = None,
                b"g" => frames.extend(current.take()),
                b"svg" => inside = false,
                _ => {}
            },
            _ => {}
        }
    }
    frames
}

fn attribute(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok().map(|v| v.into_owned())
}

/// A name fit to be a frame of inferno's input: no `;` (its separator), control and bidi
/// characters shown as escapes (`\x1b`, `\u{202e}`; see [`crate::terminal::visible`]), not
/// empty, not longer than [`MAX_NAME`].
fn clean(name: &str) -> String {
    let mut out: String =
        crate::terminal::visible(name).chars().map(|c| if c == ';' { ',' } else { c }).collect();
    out = out.trim().to_string();
    if out.chars().count() > MAX_NAME {
        out = out.chars().take(MAX_NAME - 1).collect::<String>() + "…";
    }
    if out.is_empty() {
        out.push('?');
    }
    out
}

/// How a flame graph names a frame: `function (file:line)`, so that the name alone says where
/// it is; `thread LABEL` for threads; `all` for the root. Names are cut at `MAX_NAME`
/// characters when drawn.
pub(super) fn frame_name(
    location: Option<&Location>,
    kind: NodeKind,
    thread_label: &str,
) -> String {
    match (kind, location) {
        (NodeKind::Root, _) => "all".to_string(),
        (NodeKind::Thread(_), _) => format!("thread {thread_label}"),
        (NodeKind::Frame(_), Some(l)) => {
            // The file's last component: a label must fit its frame; the tooltip has the path.
            let file = l.filename.rsplit('/').next().unwrap_or(&l.filename);
            format!("{} ({})", clean(&l.function), clean(&with_line(file, l.lineno)))
        }
        (NodeKind::Frame(_), None) => "?".to_string(),
        (NodeKind::NoStack, _) => NO_STACK.to_string(),
    }
}

/// The whole path of a frame whose label shows only its file's last component.
pub(super) fn frame_path(location: Option<&Location>) -> Option<String> {
    let l = location?;
    l.filename.contains('/').then(|| clean(&with_line(&l.filename, l.lineno)))
}

/// `file:line`, or the file alone when the line is unknown (0: a native frame named from a
/// symbol table).
fn with_line(file: &str, line: i32) -> String {
    if line == 0 {
        file.to_string()
    } else {
        format!("{file}:{line}")
    }
}

/// The fill of a frame by where its code comes from, its shade varied by its name so that
/// neighbours stay apart (a deterministic hash: the same page gives the same bytes).
pub(super) fn place_fill(place: Place, name: &str) -> String {
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let v = (hash % 40) as u8;
    match place {
        Place::Program => format!("rgb(250,{},{})", 150 + v, 60 + v / 2),
        Place::Stdlib => format!("rgb({},{},235)", 120 + v, 170 + v / 2),
        Place::Package => format!("rgb({},{},{})", 110 + v, 195 + v / 2, 110 + v / 2),
        Place::Runner | Place::ImportSystem => format!("rgb({0},{0},{0})", 195 + v / 2),
        Place::Native => format!("rgb({},{},240)", 185 + v, 150 + v),
    }
}

/// The last line of every tooltip: size, allocations and share.
fn usage_line(usage: Usage, total: Usage, whole: &str) -> String {
    let share = if total.bytes == 0 {
        String::new()
    } else {
        format!(", {:.2}% of {whole}", usage.bytes as f64 * 100.0 / total.bytes as f64)
    };
    format!(
        "{} ({} bytes) in {} allocations{share}",
        human_size(usage.bytes),
        thousands(usage.bytes),
        thousands(usage.count)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use memreport_analysis::group::TreeNode;

    fn node(kind: NodeKind, bytes: u64, children: Vec<u32>) -> TreeNode {
        TreeNode { kind, usage: Usage { bytes, count: 1 }, children }
    }

    fn frame(id: u32) -> NodeKind {
        NodeKind::Frame(id)
    }

    /// Frame ids 0.. are named a, b, c, … in app.py.
    fn names(kind: NodeKind) -> String {
        let location = |id: u32| Location {
            function: ((b'a' + id as u8) as char).to_string(),
            filename: "app.py".to_string(),
            lineno: 1,
        };
        match kind {
            NodeKind::Frame(id) => frame_name(Some(&location(id)), kind, ""),
            _ => frame_name(None, kind, "0x1"),
        }
    }

    /// root(100) → a(60) → {b(40), c(15)}, d(30), e(10)
    fn tree() -> CallTree {
        CallTree {
            nodes: vec![
                node(NodeKind::Root, 100, vec![1, 4, 5]),
                node(frame(0), 60, vec![2, 3]),
                node(frame(1), 40, vec![]),
                node(frame(2), 15, vec![]),
                node(frame(3), 30, vec![]),
                node(frame(4), 10, vec![]),
            ],
            thread_groups: Default::default(),
        }
    }

    const OPTIONS: FlameOptions<'static> =
        FlameOptions { whole: "the peak", max_frames: 1000, max_svg_bytes: 1 << 20 };

    fn frames_of(svg: &str) -> Vec<String> {
        svg.lines().filter(|l| l.starts_with("<g")).map(str::to_string).collect()
    }

    #[test]
    fn every_frame_is_drawn_with_its_place_and_numbers() {
        let g = draw(&tree(), &names, OPTIONS);
        assert_eq!(g.frames, 6);
        assert_eq!(g.folded_frames, 0);
        let frames = frames_of(&g.svg);
        assert!(frames[0].contains("class=\"root\" data-x=\"0\" data-w=\"100\" data-d=\"0\""));
        // Largest child first; a's own 5 bytes come before its children.
        assert!(frames[1].contains("data-x=\"0\" data-w=\"60\" data-d=\"1\""), "{}", frames[1]);
        assert!(frames[1].contains("<title>a (app.py:1)&#10;60 B (60 bytes) in 1 allocations"));
        assert!(frames[2].contains("data-x=\"60\" data-w=\"30\" data-d=\"1\""), "{}", frames[2]);
        assert!(frames[4].contains("data-x=\"5\" data-w=\"40\" data-d=\"2\""), "{}", frames[4]);
        assert!(frames[4].contains("<title>b (app.py:1)&#10;"), "{}", frames[4]);
    }

    #[test]
    fn the_long_tail_folds_into_other() {
        let g = draw(&tree(), &names, FlameOptions { max_frames: 3, ..OPTIONS });
        // Kept: root, a, b; folded: c (under a) and d, e (under root).
        assert_eq!(g.folded_frames, 3);
        assert_eq!(g.folded.bytes, 55);
        let others: Vec<String> =
            frames_of(&g.svg).into_iter().filter(|f| f.contains("class=\"other\"")).collect();
        assert_eq!(others.len(), 2);
        assert!(others[0].contains("data-x=\"60\" data-w=\"40\" data-d=\"1\""), "{}", others[0]);
        assert!(others[0].contains("2 smaller frames folded together"));
        assert!(others[1].contains("data-x=\"45\" data-w=\"15\" data-d=\"2\""), "{}", others[1]);
    }

    #[test]
    fn a_byte_budget_shrinks_the_frame_budget() {
        let full = draw(&tree(), &names, OPTIONS);
        let small =
            draw(&tree(), &names, FlameOptions { max_svg_bytes: full.svg.len() - 1, ..OPTIONS });
        assert!(small.svg.len() < full.svg.len());
        assert!(small.folded_frames > 0);
    }

    #[test]
    fn names_are_escaped_and_cleaned() {
        let odd = |kind: NodeKind| match kind {
            NodeKind::Frame(2) => "<lambda>;x".to_string(),
            other => names(other),
        };
        let g = draw(&tree(), &odd, OPTIONS);
        assert!(g.svg.contains("&lt;lambda&gt;,x"), "{}", g.svg);
        assert!(!g.svg.contains("<lambda>"));
    }

    #[test]
    fn huge_sizes_are_scaled_not_overflowed() {
        let mut t = tree();
        for n in &mut t.nodes {
            n.usage.bytes = n.usage.bytes.saturating_mul(1 << 60);
        }
        let g = draw(&t, &names, OPTIONS);
        assert_eq!(g.frames, 6);
    }

    #[test]
    fn an_empty_tree_says_so() {
        let t = CallTree {
            nodes: vec![node(NodeKind::Root, 0, vec![])],
            thread_groups: Default::default(),
        };
        let g = draw(&t, &names, OPTIONS);
        assert_eq!(g.frames, 0);
        assert!(g.svg.contains("Nothing to draw"));
    }
}
