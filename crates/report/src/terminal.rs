//! What may reach a terminal. Every string in a capture (function, file, thread and module names,
//! the command line) is chosen by whoever controls the profiled program, and so is a path given
//! on the command line: printed raw, it could clear the screen, set the window title, write the
//! clipboard (OSC 52), ask the terminal for a reply (CSI 6n), hide text, fake output lines with a
//! carriage return or a newline, or reorder a line with a bidi override.
//!
//! Two layers keep it out, as `git` and `ripgrep` do, by showing such characters as visible
//! escapes (`\x1b`, `\n`, `\u{202e}`):
//!
//! * [`visible`] escapes one string from a capture before it is laid out (so tables align on what
//!   is shown); every text writer of this crate passes names through it.
//! * [`SafeWriter`] is the net under all text output: it escapes every control character that
//!   reaches it except the newline and the few colour sequences [`crate::text::Style`] writes,
//!   whatever code produced the bytes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Whether a character must not reach a terminal as itself: C0 controls (newline and tab
/// included), DEL, C1 controls, and the bidi embeddings, overrides, isolates and marks.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends the visible form of an unsafe character.
fn escape_into(out: &mut String, c: char) {
    let _ = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        '\t' => write!(out, "\\t"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

/// A string from a capture (or a path) with every unsafe character shown as an escape; borrowed
/// when there is none, which is nearly always.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The colour sequences [`crate::text::Style`] writes.
pub const STYLE_SEQUENCES: &[&[u8]] = &[b"\x1b[0m", b"\x1b[1m", b"\x1b[2m", b"\x1b[33m"];

/// What the progress line on stderr writes to redraw itself (back to the start, clear the line).
pub const PROGRESS_SEQUENCES: &[&[u8]] = &[b"\r\x1b[2K"];

/// A writer that escapes, in everything written through it, each control character except the
/// newline, each C1 control and bidi control (in UTF-8), and each escape sequence but the ones it
/// is told to let through ([`STYLE_SEQUENCES`] for coloured output, [`PROGRESS_SEQUENCES`] for a
/// progress line). Bytes that are not UTF-8 are shown as `\xNN`. A sequence cut between two
/// writes is held until the next one, and flushed as escaped text when the writer is flushed.
pub struct SafeWriter<W: Write> {
    inner: W,
    allowed: &'static [&'static [u8]],
    /// Escapes in JSON's form (`\u202e`), for JSON text: inside a string it means the same
    /// character, and JSON has no control character outside strings but the newline.
    json: bool,
    pending: Vec<u8>,
}

impl<W: Write> SafeWriter<W> {
    /// Wraps `inner`, letting the `allowed` sequences through (each starts with ESC or CR).
    pub fn new(inner: W, allowed: &'static [&'static [u8]]) -> SafeWriter<W> {
        SafeWriter { inner, allowed, json: false, pending: Vec::new() }
    }

    /// Wraps `inner` for JSON text: C1 and bidi controls, which JSON strings may hold raw, are
    /// written as `\uXXXX` escapes, so the values are the same and a terminal shows them.
    pub fn json(inner: W) -> SafeWriter<W> {
        SafeWriter { inner, allowed: &[], json: true, pending: Vec::new() }
    }

    fn escape(&self, out: &mut Vec<u8>, c: char) {
        let mut e = String::new();
        if self.json {
            let _ = write!(e, "\\u{:04x}", c as u32);
        } else {
            escape_into(&mut e, c);
        }
        out.extend_from_slice(e.as_bytes());
    }

    /// Escapes `bytes`; with `last`, nothing is held back for a following write.
    fn filter(&mut self, bytes: &[u8], last: bool) -> io::Result<()> {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(bytes);
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + 16);
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            if b == 0x1b || b == b'\r' {
                let rest = &data[i..];
                if let Some(s) = self.allowed.iter().find(|s| rest.starts_with(s)) {
                    out.extend_from_slice(s);
                    i += s.len();
                    continue;
                }
                if !last && self.allowed.iter().any(|s| s.starts_with(rest)) {
                    break;
                }
                out.extend_from_slice(if b == 0x1b { b"\\x1b" } else { b"\\r" });
                i += 1;
                continue;
            }
            if b < 0x80 {
                if b == b'\n' || !(b < 0x20 || b == 0x7f) {
                    out.push(b);
                } else {
                    self.escape(&mut out, char::from(b));
                }
                i += 1;
                continue;
            }
            // A multi-byte character: whole, cut at the end of this write, or not UTF-8.
            let len = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 0,
            };
            if len > 0 && i + len > data.len() && !last {
                break;
            }
            match std::str::from_utf8(&data[i..data.len().min(i + len.max(1))]) {
                Ok(s) if len > 0 => {
                    let c = s.chars().next().expect("one character");
                    if is_unsafe(c) {
                        self.escape(&mut out, c);
                    } else {
                        out.extend_from_slice(s.as_bytes());
                    }
                    i += len;
                }
                _ => {
                    out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                    i += 1;
                }
            }
        }
        self.pending = data[i..].to_vec();
        self.inner.write_all(&out)
    }
}

impl<W: Write> Write for SafeWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.filter(bytes, false)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.filter(&[], true)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for SafeWriter<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let _ = self.filter(&[], true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json as serde_json_check;

    fn through(chunks: &[&[u8]], colour: bool) -> String {
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::new(&mut out, if colour { STYLE_SEQUENCES } else { &[] });
            for c in chunks {
                w.write_all(c).unwrap();
            }
            w.flush().unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn names_show_their_control_characters() {
        assert_eq!(visible("plain:app.py:3"), "plain:app.py:3");
        assert!(matches!(visible("plain"), Cow::Borrowed(_)));
        assert_eq!(visible("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(visible("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(visible("evil\u{202e}gnp.exe"), "evil\\u{202e}gnp.exe");
        assert_eq!(visible("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(visible("é ✓ 日本"), "é ✓ 日本");
    }

    #[test]
    fn the_writer_escapes_everything_but_newlines_and_its_own_colours() {
        let attack = "\x1b[2J\x1b]52;c;eA==\x07\x1b[6n\x1b[8mx\u{202e}y\u{9b}\r\n";
        let shown = through(&[attack.as_bytes()], false);
        assert_eq!(shown, "\\x1b[2J\\x1b]52;c;eA==\\x07\\x1b[6n\\x1b[8mx\\u{202e}y\\u{9b}\\r\n");
        assert_eq!(through(&[b"\x1b[1mbold\x1b[0m"], true), "\x1b[1mbold\x1b[0m");
        assert_eq!(through(&[b"\x1b[1mbold\x1b[0m"], false), "\\x1b[1mbold\\x1b[0m");
        assert_eq!(through(&[b"\x1b[8mhidden"], true), "\\x1b[8mhidden");
        assert_eq!(through(&[b"bad \xff byte"], false), "bad \\xff byte");
    }

    #[test]
    fn sequences_cut_between_writes_are_judged_whole() {
        let bidi = "\u{202e}".as_bytes();
        assert_eq!(through(&[&bidi[..1], &bidi[1..]], false), "\\u{202e}");
        assert_eq!(through(&[b"\x1b[3", b"3mfig\x1b", b"[0m"], true), "\x1b[33mfig\x1b[0m");
        let e = "é".as_bytes();
        assert_eq!(through(&[&e[..1], &e[1..]], false), "é");
        // Cut at the very end: flushed as it is, escaped.
        assert_eq!(through(&[b"x\x1b["], true), "x\\x1b[");
    }

    #[test]
    fn json_keeps_its_values_and_shows_bidi_and_c1_escaped() {
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::json(&mut out);
            w.write_all("{\"name\": \"evil\u{202e}gnp \u{9b}x é\"}\n".as_bytes()).unwrap();
            w.flush().unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "{\"name\": \"evil\\u202egnp \\u009bx é\"}\n");
        let value: serde_json_check::Value = serde_json_check::from_str(&text).unwrap();
        assert_eq!(value["name"], "evil\u{202e}gnp \u{9b}x é");
    }

    #[test]
    fn a_progress_line_may_redraw_itself_and_nothing_else() {
        let mut out = Vec::new();
        {
            let mut w = SafeWriter::new(&mut out, PROGRESS_SEQUENCES);
            w.write_all(b"\r\x1b[2Kreading a\rb\x1b[2J").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "\r\x1b[2Kreading a\\rb\\x1b[2J");
    }
}
