//! Time windows (`--from T`, `--to T`): a span of the run, in seconds from the capture's start,
//! that the peak, leaks, temporary allocations and stats of a pass are restricted to.
//!
//! A capture has no clock on its allocation records; only the memory samples carry a time. So a
//! window is resolved at the resolution of the samples (spec §5.10): an event's time is the time
//! of the last sample before it (0 before the first), and the window holds the events whose time
//! lies in `[from, to]`. It opens at the first sample at or after `from` (at the start when
//! `from` is 0) and closes at the first sample after `to` (at the end when there is none). Those
//! are the boundaries of memray's temporal snapshots, so a window's peak is memray's temporal
//! high-water mark over the snapshots it covers, and its leaks are memray's temporal leaks of
//! that range.

use std::fmt;

/// A span of the run asked for, in seconds from the capture's start; either end may be open.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Window {
    from_s: Option<f64>,
    to_s: Option<f64>,
    /// Closes at this memory sample (1-based) instead of at a time.
    at_sample: Option<u64>,
}

/// Why a window cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// A time that does not read as a number of seconds, milliseconds or minutes.
    NotATime(String),
    /// The window ends before it starts.
    Reversed,
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::NotATime(text) => {
                write!(f, "not a time (seconds from the start: 1.5, 1.5s, 250ms, 2m, 1h): {text}")
            }
            WindowError::Reversed => write!(f, "the window ends (--to) before it starts (--from)"),
        }
    }
}

impl std::error::Error for WindowError {}

impl Window {
    /// The window from `from_s` to `to_s` (seconds from the start; `None`: the start, the end).
    pub fn new(from_s: Option<f64>, to_s: Option<f64>) -> Result<Window, WindowError> {
        if let (Some(a), Some(b)) = (from_s, to_s) {
            if b < a {
                return Err(WindowError::Reversed);
            }
        }
        Ok(Window { from_s, to_s, at_sample: None })
    }

    /// The run up to the `n`-th memory sample (1-based), closed there: its leaks are what was
    /// live when that sample was taken (every allocation before it, none freed before it), the
    /// moment a capture set's combined peak names ([`crate::set::Held::samples`]).
    pub fn at_sample(n: u64) -> Window {
        Window { from_s: None, to_s: None, at_sample: Some(n) }
    }

    /// Where the window starts, seconds from the start, if it was given.
    pub fn from_s(&self) -> Option<f64> {
        self.from_s
    }

    /// Where the window ends, seconds from the start, if it was given.
    pub fn to_s(&self) -> Option<f64> {
        self.to_s
    }

    /// Whether neither end was given.
    pub fn is_whole_run(&self) -> bool {
        self.from_s.is_none() && self.to_s.is_none() && self.at_sample.is_none()
    }
}

/// Reads a time in seconds from the start: `1.5` or `1.5s` (seconds), `250ms`, `2m`, `1h`.
pub fn parse_time(text: &str) -> Result<f64, WindowError> {
    let bad = || WindowError::NotATime(text.trim().to_string());
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(bad());
    }
    Ok(seconds)
}

/// Where a window opened and closed in a capture, as the pass found it: the times of the samples
/// at its ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedWindow {
    /// The window asked for.
    pub asked: Window,
    /// When it opened, seconds from the start: the time of its opening sample, 0 when it opened
    /// at the start, the run's end when it never opened (it starts after the last sample).
    pub from_s: f64,
    /// When it closed, seconds from the start: the time of its closing sample, the run's end
    /// when it never closed.
    pub to_s: f64,
    /// Memory samples read when it opened (its opening sample included): the window holds
    /// memray's temporal snapshots `opened_after ..=` [`ResolvedWindow::closed_after`] (the
    /// snapshot of an event is the number of samples before it, spec §5.7).
    pub opened_after: u64,
    /// Memory samples read before it closed (its closing sample excluded); `None` when it ran to
    /// the end.
    pub closed_after: Option<u64>,
}

/// A window as the replay follows it: opened and closed by memory samples.
#[derive(Debug, Clone)]
pub(crate) struct WindowClock {
    asked: Window,
    start_ms: i64,
    pub(crate) phase: Phase,
    /// Index of the first allocation record inside the window.
    pub(crate) open_index: u64,
    opened_ms: Option<u64>,
    closed_ms: Option<u64>,
    opened_after: u64,
    closed_after: Option<u64>,
}

/// Where the replay stands against the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Before,
    Open,
    Closed,
}

/// What a memory sample does to the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    None,
    Opens,
    Closes,
    /// Opens and closes at once: a window that fits between two samples.
    OpensAndCloses,
}

impl WindowClock {
    pub(crate) fn new(asked: Window, start_ms: i64) -> WindowClock {
        let opens_at_start = asked.from_s.is_none_or(|f| f <= 0.0);
        WindowClock {
            asked,
            start_ms,
            phase: if opens_at_start { Phase::Open } else { Phase::Before },
            open_index: 0,
            opened_ms: None,
            closed_ms: None,
            opened_after: 0,
            closed_after: None,
        }
    }

    fn seconds(&self, ms: u64) -> f64 {
        ((ms as f64 - self.start_ms as f64) / 1000.0).max(0.0)
    }

    /// A memory sample at `ms`, the `samples`-th read (this one included); `next_index` is the
    /// index of the next allocation record.
    pub(crate) fn sample(&mut self, ms: u64, samples: u64, next_index: u64) -> Turn {
        let t = self.seconds(ms);
        let mut turn = Turn::None;
        if self.phase == Phase::Before && self.asked.from_s.is_none_or(|f| t >= f) {
            self.phase = Phase::Open;
            self.open_index = next_index;
            self.opened_ms = Some(ms);
            self.opened_after = samples;
            turn = Turn::Opens;
        }
        let past_end = self.asked.to_s.is_some_and(|to| t > to);
        // At the n-th sample itself: the live heap then is the heap the sample recorded.
        let at_sample = self.asked.at_sample.is_some_and(|n| samples >= n);
        if self.phase == Phase::Open && (past_end || at_sample) {
            self.phase = Phase::Closed;
            self.closed_ms = Some(ms);
            self.closed_after = Some(samples - 1);
            turn = if turn == Turn::Opens { Turn::OpensAndCloses } else { Turn::Closes };
        }
        turn
    }

    /// Whether the window, as it turned out, covered the whole run: it opened at the start and
    /// never closed, so every result is the one of no window.
    pub(crate) fn whole_run(&self) -> bool {
        self.open_index == 0 && self.phase == Phase::Open && self.opened_ms.is_none()
    }

    /// Whether leaks differ from the live heap at the end: the window opened after an allocation
    /// or closed.
    pub(crate) fn restricts_leaks(&self) -> bool {
        self.open_index > 0 || self.phase != Phase::Open
    }

    /// The window as it resolved; `duration_s` is the run's end.
    pub(crate) fn resolve(&self, duration_s: f64) -> ResolvedWindow {
        // A window that never opened is empty, at the end of the run.
        let unopened = if self.phase == Phase::Before { duration_s } else { 0.0 };
        ResolvedWindow {
            asked: self.asked,
            from_s: self.opened_ms.map_or(unopened, |ms| self.seconds(ms)),
            to_s: self.closed_ms.map_or(duration_s, |ms| self.seconds(ms)),
            opened_after: self.opened_after,
            closed_after: self.closed_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_every_unit() {
        assert_eq!(parse_time("1.5"), Ok(1.5));
        assert_eq!(parse_time("1.5s"), Ok(1.5));
        assert_eq!(parse_time(" 250ms "), Ok(0.25));
        assert_eq!(parse_time("2m"), Ok(120.0));
        assert_eq!(parse_time("1h"), Ok(3600.0));
        for bad in ["", "s", "-1", "1.5x", "NaN", "inf", "1e400"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert_eq!(Window::new(Some(2.0), Some(1.0)), Err(WindowError::Reversed));
        assert!(Window::new(Some(1.0), Some(1.0)).is_ok());
    }

    #[test]
    fn a_window_opens_at_the_first_sample_from_its_start_and_closes_after_its_end() {
        let window = Window::new(Some(1.0), Some(2.0)).unwrap();
        let mut clock = WindowClock::new(window, 10_000);
        assert_eq!(clock.phase, Phase::Before);
        assert_eq!(clock.sample(10_500, 1, 5), Turn::None);
        assert_eq!(clock.sample(11_000, 2, 9), Turn::Opens);
        assert_eq!(clock.open_index, 9);
        // A sample at the end itself stays inside; the first one after closes.
        assert_eq!(clock.sample(12_000, 3, 20), Turn::None);
        assert_eq!(clock.sample(12_010, 4, 21), Turn::Closes);
        assert_eq!(clock.sample(13_000, 5, 30), Turn::None);
        let r = clock.resolve(3.0);
        assert_eq!((r.from_s, r.to_s, r.opened_after, r.closed_after), (1.0, 2.01, 2, Some(3)));
        assert!(!clock.whole_run() && clock.restricts_leaks());
    }

    #[test]
    fn a_window_past_both_ends_is_the_whole_run() {
        let window = Window::new(Some(0.0), Some(100.0)).unwrap();
        let mut clock = WindowClock::new(window, 10_000);
        for (i, ms) in [10_010, 10_020, 10_030].into_iter().enumerate() {
            assert_eq!(clock.sample(ms, i as u64 + 1, i as u64 * 10), Turn::None);
        }
        assert!(clock.whole_run() && !clock.restricts_leaks());
        // A window between two samples opens and closes on the same one.
        let mut clock = WindowClock::new(Window::new(Some(0.5), Some(0.6)).unwrap(), 0);
        assert_eq!(clock.sample(1_000, 1, 3), Turn::OpensAndCloses);
    }
}
