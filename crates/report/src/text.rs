//! Terminal text: human sizes, aligned tables, and colour that is only used on a terminal.

use std::fmt::Write as _;

use memreport_analysis::Analysis;

use crate::terminal::visible;

/// Bytes in binary units (`512 B`, `1.50 KiB`, `12.3 MiB`, `1.02 GiB`), three significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("{text} {}", UNITS[unit])
}

/// A rate in bytes per second (`1.50 KiB/s`); negative rates read as 0.
pub fn human_rate(bytes_per_s: f64) -> String {
    format!("{}/s", human_size(bytes_per_s.max(0.0) as u64))
}

/// A share as a percentage with one decimal (`42.0%`); `-` when the whole is zero.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// `text` cut to `width` characters, its last one `…` when it was longer.
pub(crate) fn cut_to(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    text.chars().take(width.saturating_sub(1)).chain(['…']).collect()
}

/// `text` broken into lines of at most `width` characters at spaces, every line after the first
/// starting with `indent`. A word longer than a line is broken where the line ends, so that no
/// line is ever wider (a path or a name from a capture can be one long word).
pub(crate) fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let indent_len = indent.chars().count();
    // Never less than 20 characters of text on a line, however deep the indent.
    let width = width.max(indent_len + 20);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    // Whether the line holds a word yet (it may hold the indent alone).
    let mut fresh = true;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let gap = usize::from(!fresh);
            if len + gap + word.len() <= width {
                if !fresh {
                    line.push(' ');
                }
                line.extend(&word);
                len += gap + word.len();
                fresh = false;
                break;
            }
            // The word does not fit: it goes on a new line, or, when this line is empty, is
            // broken where the line ends.
            if fresh {
                let room = width - len;
                line.extend(&word[..room]);
                word.drain(..room);
            }
            lines.push(std::mem::take(&mut line));
            line.push_str(indent);
            len = indent_len;
            fresh = true;
        }
    }
    if !fresh || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// What a page or a text says when its analysis is seen through filters: a filtered answer is
/// attached to tickets and read without the command line that made it.
pub(crate) fn filter_note(analysis: &Analysis) -> Option<String> {
    let filters = analysis.view_filters();
    if filters.is_empty() {
        return None;
    }
    let list: Vec<String> =
        filters.iter().map(|(name, re)| format!("--{name} {}", visible(re))).collect();
    let rows = filters.iter().any(|(name, _)| matches!(*name, "focus" | "ignore"));
    Some(format!(
        "filtered view ({}): {}",
        list.join(", "),
        if rows {
            "totals, findings, graphs and tables cover only the allocations the filters keep"
        } else {
            "frames are hidden from the stacks; the totals are the capture's"
        }
    ))
}

/// What a page or a text says when its analysis is restricted to a time window: the span as it
/// resolved at the memory samples, and what the answers then mean.
pub(crate) fn window_note(analysis: &Analysis) -> Option<String> {
    let w = analysis.window()?;
    let asked: Vec<String> = [("--from", w.asked.from_s()), ("--to", w.asked.to_s())]
        .iter()
        .filter_map(|(flag, t)| t.map(|t| format!("{flag} {t}")))
        .collect();
    Some(format!(
        "time window {:.3} s to {:.3} s of the run ({}; its ends at the memory samples)",
        w.from_s,
        w.to_s,
        asked.join(" ")
    ))
}

/// A time window in JSON: its ends as they resolved, seconds from the start.
#[derive(serde::Serialize)]
pub(crate) struct WindowJson {
    from_s: f64,
    to_s: f64,
}

impl WindowJson {
    pub(crate) fn of(analysis: &Analysis) -> Option<WindowJson> {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        analysis.window().map(|w| WindowJson { from_s: round(w.from_s), to_s: round(w.to_s) })
    }
}

/// What a reader must know of a native capture's frames: not shown (symbols not read), or some
/// images not found ([`missing_images_note`]). `None` when every native frame was named, or the
/// capture has none.
pub(crate) fn native_note(analysis: &Analysis) -> Option<String> {
    if !analysis.header().native_traces {
        return None;
    }
    match analysis.symbolization() {
        None => Some(
            "native traces are recorded but not shown (native symbols were not read): stacks \
             are the Python frames only"
                .to_string(),
        ),
        Some(found) if found.missing.is_empty() => None,
        Some(found) => Some(missing_images_note(found)),
    }
}

/// One line for the images whose files were not found: a few of their names (escaped: a capture
/// names them), and what to do.
pub fn missing_images_note(found: &memreport_analysis::Symbolization) -> String {
    const LISTED: usize = 3;
    let names: Vec<String> = found
        .missing
        .iter()
        .take(LISTED)
        .map(|path| visible(path.rsplit('/').next().unwrap_or(path)).into_owned())
        .collect();
    let more = found.missing.len().saturating_sub(LISTED);
    format!(
        "{} of {} native images not found ({}{}): their frames show as image+offset; \
         --symbols DIR looks for them under another root",
        found.missing.len(),
        found.images,
        names.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}

/// Whether to colour output, and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours on.
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Headings.
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Secondary text.
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Sizes and other figures that matter.
    pub fn figure(self, text: &str) -> String {
        self.paint("33", text)
    }
}

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Left-aligned (text).
    Left,
    /// Right-aligned (numbers).
    Right,
}

/// A table whose columns are padded to their widest cell; the last column is never padded.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            header: columns.iter().map(|(t, _)| t.to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (as many cells as columns).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, the header styled.
    pub fn render(&self, style: Style) -> String {
        let n = self.header.len();
        let mut widths = vec![0; n];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (r, row) in std::iter::once(&self.header).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(n) {
                let pad = widths[i] - cell.chars().count();
                let last = i + 1 == n;
                if i > 0 {
                    line.push_str("  ");
                }
                match self.align[i] {
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if !last {
                            line.push_str(&" ".repeat(pad));
                        }
                    }
                }
            }
            let line = line.trim_end();
            let _ = writeln!(out, "{}", if r == 0 { style.bold(line) } else { line.to_string() });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_inside_words_longer_than_a_line() {
        let lines = wrap("one two three four five six seven", 24, "   ");
        assert_eq!(lines, ["one two three four five", "   six seven"]);
        let long = "x".repeat(50);
        let lines = wrap(&format!("at {long} end"), 24, "  ");
        assert!(lines.iter().all(|l| l.chars().count() <= 24), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("at{long}end"));
        assert_eq!(wrap("", 30, "  "), [""]);
        assert_eq!(cut_to("abcdef", 4), "abc…");
        assert_eq!(cut_to("abc", 4), "abc");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.00 KiB");
        assert_eq!(human_size(1536), "1.50 KiB");
        assert_eq!(human_size(4_194_368), "4.00 MiB");
        assert_eq!(human_size(150 * 1024 * 1024), "150 MiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn tables_align_numbers_right_and_text_left() {
        let mut t = Table::new(&[("BYTES", Align::Right), ("WHERE", Align::Left)]);
        t.row(vec!["1 B".into(), "a".into()]);
        t.row(vec!["100 KiB".into(), "bb".into()]);
        assert_eq!(t.render(Style::default()), "  BYTES  WHERE\n    1 B  a\n100 KiB  bb\n");
    }
}
