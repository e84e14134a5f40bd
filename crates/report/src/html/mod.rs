//! Self-contained HTML: the incident report (`memreport report`), single flame graphs
//! (`memreport flamegraph`) and the diff page (`memreport diff -o`).
//!
//! A page is one file: the style sheet and the script (real files under `assets/`, included at
//! compile time) are inlined, fonts are the system's, and nothing is fetched when it opens.
//! Templates are askama's (`templates/`), checked when this crate compiles. Charts and flame
//! graphs are drawn here as SVG, so a page shows everything without script; the script adds zoom,
//! search, read-outs and sorting. The same analysis gives the same bytes: nothing here reads a
//! clock or iterates a hash map.
//!
//! Size: a page stays under 2 MB whatever the capture, because flame graphs fold their long tail
//! (`flame.rs`), charts merge samples into at most 720 points (`chart::MAX_POINTS`) and the table keeps
//! the top [`MAX_ROWS`] locations of each view.

mod chart;
mod common;
mod diff;
mod flame;
mod flamegraph;
mod report;
mod set;

pub use common::MAX_ROWS;
pub use diff::write_diff;
pub use flamegraph::{write_flamegraph, FlamegraphView};
pub use report::write_report;
pub use set::{write_set_flamegraph, write_set_report, SetPart, SetReport};

/// Text escaped for HTML and SVG, in element content and in quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An integer with thousands separators: `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn separates_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }
}
