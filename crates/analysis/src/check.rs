//! The CI gate of `memreport check`: limits on what a capture (or a capture set) measured, and
//! which of them are crossed, each with the location responsible. This module owns the rule; the
//! report crate words it, and the command line only turns a crossed limit into exit status 1.
//!
//! Growth limits count only confident growth: findings that make the leak verdict `leak`
//! (confidence at least [`leaks::LEAK_CONFIDENCE`]), so that a gate does not flap on a rise the
//! detector itself calls unsteady. An inconclusive verdict crosses nothing; the report says so.

use crate::diff::{Threshold, ThresholdError};
use crate::group::{group, By, Group};
use crate::leaks::{self, Kind, Leaks, Verdict};
use crate::{Analysis, Mode, Threads, Unavailable};

/// The limits a capture must hold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Peak memory at most this many bytes.
    pub max_peak: Option<u64>,
    /// Bytes still live at the end at most this many.
    pub max_leaked: Option<u64>,
    /// No location may keep growing.
    pub no_growth: bool,
    /// No location may grow faster than this.
    pub max_growth: Option<Rate>,
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.max_peak.is_some()
            || self.max_leaked.is_some()
            || self.no_growth
            || self.max_growth.is_some()
    }
}

/// A growth rate, in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    /// Bytes per second.
    pub bytes_per_s: f64,
}

/// Why a rate could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateError {
    /// The size before the `/` is not one (`10MB`, `1.5GiB`, `512`).
    Size(ThresholdError),
    /// No `/` and unit of time after the size.
    NoPerTime,
    /// A unit of time other than `s`, `min`, `h` or `d`.
    UnknownTime(String),
}

impl std::fmt::Display for RateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RateError::Size(e) => write!(f, "{e}"),
            RateError::NoPerTime => write!(f, "not a rate: a size per unit of time, as 1MB/s"),
            RateError::UnknownTime(u) => write!(f, "unknown unit of time {u:?} (s, min, h or d)"),
        }
    }
}

impl std::error::Error for RateError {}

impl std::str::FromStr for Rate {
    type Err = RateError;

    /// Reads `1MB/s`, `10MB/h`, `512KiB/min`, `1GB/d` (sizes as [`Threshold`] reads them).
    fn from_str(text: &str) -> Result<Rate, RateError> {
        let (size, per) = text.trim().split_once('/').ok_or(RateError::NoPerTime)?;
        let bytes = match size.parse::<Threshold>().map_err(RateError::Size)? {
            Threshold::Bytes(b) => b as f64,
            Threshold::Percent(_) => return Err(RateError::Size(ThresholdError::NotASize)),
        };
        let seconds = match per.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hr" | "hour" => 3600.0,
            "d" | "day" => 86400.0,
            other => return Err(RateError::UnknownTime(other.to_string())),
        };
        Ok(Rate { bytes_per_s: bytes / seconds })
    }
}

/// A location and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `function:file:line` of the innermost frame.
    pub location: String,
    /// Bytes it holds.
    pub bytes: u64,
    /// The process, in a capture set.
    pub pid: Option<i32>,
}

/// A location that keeps growing.
#[derive(Debug, Clone, PartialEq)]
pub struct Growing {
    /// Where the memory is held (the program's own line).
    pub location: String,
    /// How fast its live bytes rise.
    pub rate: Rate,
    /// Growth or an unbounded container.
    pub kind: Kind,
    /// The process, in a capture set.
    pub pid: Option<i32>,
}

/// What the limits are checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Peak memory (a set's combined peak).
    pub peak_memory: u64,
    /// The location that held the most at the peak.
    pub peak_holder: Option<Holder>,
    /// Bytes still live at the end (a set's sum over its processes).
    pub leaked_bytes: u64,
    /// The location that leaked the most.
    pub leaked_holder: Option<Holder>,
    /// The leak verdict (a set's worst).
    pub verdict: Verdict,
    /// Confident growth, fastest first.
    pub growth: Vec<Growing>,
}

impl Measured {
    /// What a capture measured; `leaks` is [`leaks::detect`] of it.
    pub fn of(analysis: &Analysis, leaks: &Leaks) -> Result<Measured, Unavailable> {
        let peak = group(analysis, &analysis.entries(Mode::Peak, Threads::Merged)?, By::Line);
        let leaked = group(analysis, &analysis.entries(Mode::Leaks, Threads::Merged)?, By::Line);
        Ok(Measured::combine(analysis.peak_memory(), &peak, &leaked, &[(None, leaks)]))
    }

    /// What a set of processes measured together: their combined peak and what was live then
    /// (grouped by line, largest first), what they leaked (likewise, summed over the processes)
    /// and each one's leak findings with its pid.
    pub fn combine(
        peak_memory: u64,
        at_peak: &[Group],
        leaked: &[Group],
        leaks: &[(Option<i32>, &Leaks)],
    ) -> Measured {
        let holder = |groups: &[Group]| {
            groups
                .iter()
                .max_by_key(|g| (g.usage.bytes, std::cmp::Reverse(&g.location)))
                .map(|g| Holder { location: g.location.clone(), bytes: g.usage.bytes, pid: None })
        };
        let verdict = leaks
            .iter()
            .map(|(_, l)| l.verdict)
            .max_by_key(|v| match v {
                Verdict::Leak => 2,
                Verdict::Inconclusive => 1,
                Verdict::NoLeak => 0,
            })
            .unwrap_or(Verdict::Inconclusive);
        let mut growth: Vec<Growing> = leaks
            .iter()
            .flat_map(|(pid, l)| {
                l.findings
                    .iter()
                    .filter(|f| f.kind != Kind::AllocatorRetention)
                    .filter(|f| f.confidence >= leaks::LEAK_CONFIDENCE)
                    .map(move |f| Growing {
                        location: f.location.clone(),
                        rate: Rate { bytes_per_s: f.growth_rate_bytes_per_s },
                        kind: f.kind,
                        pid: *pid,
                    })
            })
            .collect();
        growth.sort_by(|a, b| b.rate.bytes_per_s.total_cmp(&a.rate.bytes_per_s));
        Measured {
            peak_memory,
            peak_holder: holder(at_peak),
            leaked_bytes: leaked.iter().map(|g| g.usage.bytes).sum(),
            leaked_holder: holder(leaked),
            verdict,
            growth,
        }
    }
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// `--max-peak`.
    MaxPeak,
    /// `--max-leaked`.
    MaxLeaked,
    /// `--no-growth`.
    NoGrowth,
    /// `--max-growth`.
    MaxGrowth,
}

impl Limit {
    /// The option's name without dashes: `max-peak`, `max-leaked`, `no-growth`, `max-growth`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::MaxPeak => "max-peak",
            Limit::MaxLeaked => "max-leaked",
            Limit::NoGrowth => "no-growth",
            Limit::MaxGrowth => "max-growth",
        }
    }
}

/// A limit crossed, with the figure that crossed it and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Crossed {
    /// Peak memory or leaked bytes above the limit.
    Size {
        /// Which.
        limit: Limit,
        /// The figure measured.
        bytes: u64,
        /// The limit.
        max: u64,
        /// The largest contributor.
        holder: Option<Holder>,
    },
    /// A location that grows (faster than the limit, with `--max-growth`).
    Growth {
        /// Which.
        limit: Limit,
        /// The location and its rate.
        growing: Growing,
        /// The limit on the rate (none for `--no-growth`).
        max: Option<Rate>,
    },
}

impl Crossed {
    /// Which limit.
    pub fn limit(&self) -> Limit {
        match self {
            Crossed::Size { limit, .. } | Crossed::Growth { limit, .. } => *limit,
        }
    }
}

impl Limits {
    /// The limits `measured` crosses, in the order of [`Limit`]: one per size limit, and one
    /// per growing location for a growth limit (the fastest first).
    pub fn check(&self, measured: &Measured) -> Vec<Crossed> {
        let mut out = Vec::new();
        let sizes = [
            (Limit::MaxPeak, self.max_peak, measured.peak_memory, &measured.peak_holder),
            (Limit::MaxLeaked, self.max_leaked, measured.leaked_bytes, &measured.leaked_holder),
        ];
        for (limit, max, bytes, holder) in sizes {
            if let Some(max) = max.filter(|&max| bytes > max) {
                out.push(Crossed::Size { limit, bytes, max, holder: holder.clone() });
            }
        }
        if self.no_growth {
            for g in &measured.growth {
                out.push(Crossed::Growth { limit: Limit::NoGrowth, growing: g.clone(), max: None });
            }
        }
        if let Some(max) = self.max_growth {
            for g in measured.growth.iter().filter(|g| g.rate.bytes_per_s > max.bytes_per_s) {
                let growing = g.clone();
                out.push(Crossed::Growth { limit: Limit::MaxGrowth, growing, max: Some(max) });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_sizes_per_unit_of_time() {
        let rate = |t: &str| t.parse::<Rate>().map(|r| r.bytes_per_s);
        assert_eq!(rate("1MB/s"), Ok(1e6));
        assert_eq!(rate("36MB/h"), Ok(1e4));
        assert_eq!(rate(" 1KiB / min "), Ok(1024.0 / 60.0));
        assert_eq!(rate("10MB"), Err(RateError::NoPerTime));
        assert!(matches!(rate("10MB/week"), Err(RateError::UnknownTime(_))));
        assert!(matches!(rate("5%/s"), Err(RateError::Size(_))));
    }

    fn measured() -> Measured {
        let growing = |location: &str, rate: f64| Growing {
            location: location.to_string(),
            rate: Rate { bytes_per_s: rate },
            kind: Kind::Growth,
            pid: None,
        };
        Measured {
            peak_memory: 1000,
            peak_holder: None,
            leaked_bytes: 300,
            leaked_holder: None,
            verdict: Verdict::Leak,
            growth: vec![growing("a", 50.0), growing("b", 5.0)],
        }
    }

    #[test]
    fn a_limit_is_crossed_only_when_the_figure_is_above_it() {
        let m = measured();
        let at = |max_peak, max_leaked| Limits { max_peak, max_leaked, ..Limits::default() };
        assert!(at(Some(1000), Some(300)).check(&m).is_empty());
        let crossed = at(Some(999), Some(299)).check(&m);
        let limits: Vec<Limit> = crossed.iter().map(Crossed::limit).collect();
        assert_eq!(limits, [Limit::MaxPeak, Limit::MaxLeaked]);
        let max_growth = Some(Rate { bytes_per_s: 10.0 });
        let crossed = Limits { max_growth, ..Limits::default() }.check(&m);
        assert_eq!(crossed.len(), 1, "only the location faster than the limit: {crossed:?}");
        let crossed = Limits { no_growth: true, ..Limits::default() }.check(&m);
        assert_eq!(crossed.len(), 2);
        let calm = Measured { growth: Vec::new(), verdict: Verdict::NoLeak, ..m };
        assert!(Limits { no_growth: true, max_growth, ..Limits::default() }
            .check(&calm)
            .is_empty());
    }
}
