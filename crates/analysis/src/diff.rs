//! What changed between two captures, per location: bytes live at the peak, leaked at the end
//! and allocated in total, before and after, with a status per location and a verdict.
//!
//! Locations are matched by their symbolic frames, never by address. File paths are made
//! portable first, so that two hosts or two virtualenvs match: installed packages become
//! `<site-packages>/pkg/mod.py`, the standard library `<stdlib>/json/encoder.py`, and a file under
//! an entry of `sys.path` its path relative to that entry (memray 1.20 records the interpreter's
//! paths; older captures are recognised by path shape). `By::Function` (the default of `memreport
//! diff`, as in pprof) drops line numbers, so a fix that only moves lines still matches.
//!
//! The verdict: **regression** when peak memory or leaked bytes grew by more than
//! [`SIGNIFICANT_SHARE`] of their value before and by more than [`SIGNIFICANT_BYTES`], or when the
//! leak verdict became "leak"; **improvement** when one of them fell by that much (or the leak
//! verdict stopped being "leak") and nothing grew by that much; **no-change** otherwise.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use crate::analysis::{Analysis, Mode, Threads, Usage};
use crate::group::{By, CallTree, NodeKind};
use crate::leaks::{self, Verdict};

use crate::files::ModuleResolver;
use crate::stacks::{spell, Location, NO_STACK};

/// A change smaller than this share of the value before is noise.
pub const SIGNIFICANT_SHARE: f64 = 0.10;

/// A change smaller than this many bytes is noise.
pub const SIGNIFICANT_BYTES: u64 = 1024 * 1024;

/// A location changed when its bytes moved by more than this share of its bytes before …
const LOCATION_SHARE: f64 = 0.05;

/// … and by more than this many bytes.
const LOCATION_BYTES: u64 = 4 * 1024;

/// The answer of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Memory got worse.
    Regression,
    /// Memory got better.
    Improvement,
    /// Nothing moved beyond noise.
    NoChange,
}

impl Change {
    /// `regression`, `improvement` or `no-change`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Regression => "regression",
            Change::Improvement => "improvement",
            Change::NoChange => "no-change",
        }
    }
}

/// What happened to one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Only after.
    New,
    /// Only before.
    Gone,
    /// More bytes after.
    Grew,
    /// Fewer bytes after.
    Shrank,
    /// Within noise.
    Same,
}

impl Status {
    /// `new`, `gone`, `grew`, `shrank` or `same`.
    pub fn name(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Gone => "gone",
            Status::Grew => "grew",
            Status::Shrank => "shrank",
            Status::Same => "same",
        }
    }
}

/// One capture's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    /// Peak memory: with a view that keeps only some allocations, their bytes at the peak.
    pub peak_memory: u64,
    /// Still live at the end.
    pub leaked: Usage,
    /// Allocated over the run (`None` for aggregated captures).
    pub allocated: Option<Usage>,
    /// Run time in seconds.
    pub duration_s: f64,
    /// Format version of the capture.
    pub format_version: i32,
    /// Whether it is an aggregated capture.
    pub aggregated: bool,
    /// The leak verdict.
    pub leak_verdict: Verdict,
}

/// One location before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct LocationDiff {
    /// The location, spelled for the granularity, with portable paths.
    pub location: String,
    /// What happened to it.
    pub status: Status,
    /// Live at the peak, before and after.
    pub peak: (Usage, Usage),
    /// Leaked, before and after.
    pub leaked: (Usage, Usage),
    /// Allocated over the run, before and after (`None` where the capture does not say).
    pub allocated: (Option<Usage>, Option<Usage>),
    /// The stack holding most bytes there (after, else before), innermost first.
    pub stack: Vec<String>,
    /// Growth rate (bytes/s) of a leak finding there, before and after.
    pub growth: (Option<f64>, Option<f64>),
}

impl LocationDiff {
    /// Bytes at the peak, after minus before.
    pub fn peak_delta(&self) -> i128 {
        i128::from(self.peak.1.bytes) - i128::from(self.peak.0.bytes)
    }

    /// Leaked bytes, after minus before.
    pub fn leaked_delta(&self) -> i128 {
        i128::from(self.leaked.1.bytes) - i128::from(self.leaked.0.bytes)
    }
}

/// How one total moved, and whether the move is beyond noise ([`SIGNIFICANT_SHARE`] of its
/// value before and [`SIGNIFICANT_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Movement {
    /// The value before.
    pub before: u64,
    /// The value after.
    pub after: u64,
    /// 1 when it grew beyond noise, -1 when it fell beyond noise, 0 otherwise.
    pub significant: i8,
}

/// The leak that the after capture has and the before capture has not.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakBegan {
    /// The after capture's first leak finding (its location and growth rate in bytes per
    /// second), when the detector named one.
    pub first_finding: Option<(String, f64)>,
}

/// What the verdict rests on; `report::diff` words it.
#[derive(Debug, Clone, PartialEq)]
pub struct Why {
    /// Peak memory before and after.
    pub peak: Movement,
    /// Bytes still live at the end, before and after.
    pub leaked: Movement,
    /// The leak verdict became "leak".
    pub leak_began: Option<LeakBegan>,
    /// The leak verdict was "leak" and became "no-leak".
    pub leak_ended: bool,
}

/// Something that could not be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// The captures have different format versions (before, after); locations are matched by
    /// their portable names.
    FormatVersions(i32, i32),
    /// One of the captures is aggregated: no totals allocated and no series per location.
    Aggregated,
}

/// Two captures compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// The answer.
    pub verdict: Change,
    /// What the answer rests on.
    pub why: Why,
    /// Totals before.
    pub before: Side,
    /// Totals after.
    pub after: Side,
    /// Every location of either capture, by |Δ leaked| + |Δ peak|, largest first.
    pub locations: Vec<LocationDiff>,
    /// What could not be compared.
    pub notes: Vec<Note>,
}

fn label(location: Option<&Location>, by: By, modules: &ModuleResolver<'_>) -> String {
    let Some(l) = location else { return NO_STACK.to_string() };
    let file = modules.portable(&l.filename);
    match by {
        By::Line => format!("{}:{file}:{}", l.function, l.lineno),
        By::Function => format!("{}:{file}", l.function),
        By::File => file,
        By::Module => modules.classify(&l.filename).0,
    }
}

/// One capture's bytes by location.
#[derive(Default)]
struct Tally {
    peak: Usage,
    leaked: Usage,
    allocated: Option<Usage>,
    stack: Vec<String>,
    stack_bytes: u64,
    growth: Option<f64>,
}

/// One process of a side of a diff: its analysis, and where its rows at the peak come from.
///
/// A lone capture's rows at the peak are its own ([`Member::alone`]); a process of a capture
/// set holds, at the set's combined peak, what a second pass closed at that moment left live
/// ([`Member::at_combined_peak`], spec §5.11).
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    /// The process's analysis: leaks, allocations and the leak verdict.
    pub analysis: &'a Analysis,
    /// The analysis and mode whose rows are the process's part of the side's peak; `None` when
    /// it held nothing then.
    pub peak: Option<(&'a Analysis, Mode)>,
}

impl<'a> Member<'a> {
    /// A capture compared on its own.
    pub fn alone(analysis: &'a Analysis) -> Member<'a> {
        Member { analysis, peak: Some((analysis, Mode::Peak)) }
    }

    /// A process of a set, with `at_peak` its pass closed at the set's combined peak (its
    /// [`Mode::Leaks`] rows are what it held then).
    pub fn at_combined_peak(analysis: &'a Analysis, at_peak: Option<&'a Analysis>) -> Member<'a> {
        Member { analysis, peak: at_peak.map(|a| (a, Mode::Leaks)) }
    }
}

/// Adds one analysis's rows of `mode` to the tallies (`peak` or `leaked`, as `into_peak` says).
fn tally_rows(
    out: &mut BTreeMap<String, Tally>,
    raw_to_label: &mut BTreeMap<String, String>,
    analysis: &Analysis,
    mode: Mode,
    into_peak: bool,
    by: By,
) {
    let stacks = analysis.stacks();
    let modules = ModuleResolver::new(analysis.header());
    for e in analysis.entries(mode, Threads::Merged).unwrap_or_default() {
        let stack = stacks.python_stack(e.python_node, e.representative_tid);
        let key = label(stack.first().copied(), by, &modules);
        if let Some(l) = stack.first() {
            raw_to_label.entry(spell(l)).or_insert_with(|| key.clone());
        }
        let t = out.entry(key).or_default();
        if into_peak {
            t.peak.add(e.usage);
        } else {
            t.leaked.add(e.usage);
        }
        if t.stack.is_empty() || e.usage.bytes > t.stack_bytes {
            t.stack_bytes = e.usage.bytes;
            t.stack = stack.iter().map(|l| spell(l)).collect();
        }
    }
}

/// A side's bytes by location, summed over its processes, with each process's leak findings.
fn tally(members: &[Member<'_>], by: By) -> (BTreeMap<String, Tally>, Vec<leaks::Leaks>) {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    let mut found_all = Vec::new();
    for m in members {
        let analysis = m.analysis;
        let stacks = analysis.stacks();
        let modules = ModuleResolver::new(analysis.header());
        // Raw innermost spelling → label, to place leak findings.
        let mut raw_to_label: BTreeMap<String, String> = BTreeMap::new();
        if let Some((source, mode)) = m.peak {
            tally_rows(&mut out, &mut raw_to_label, source, mode, true, by);
        }
        tally_rows(&mut out, &mut raw_to_label, analysis, Mode::Leaks, false, by);
        if !analysis.is_aggregated() {
            for site in analysis.sites().iter().filter(|s| stacks.keeps(s.python_node, s.tid)) {
                let stack = stacks.python_stack(site.python_node, site.tid);
                let key = label(stack.first().copied(), by, &modules);
                let t = out.entry(key).or_default();
                t.allocated.get_or_insert_with(Usage::default).add(site.allocated);
                if t.stack.is_empty() {
                    t.stack = stack.iter().map(|l| spell(l)).collect();
                }
            }
        }
        let found = leaks::detect(analysis);
        for f in &found.findings {
            if let Some(t) = raw_to_label.get(&f.allocated_at).and_then(|k| out.get_mut(k)) {
                *t.growth.get_or_insert(0.0) += f.growth_rate_bytes_per_s;
            }
        }
        found_all.push(found);
    }
    (out, found_all)
}

/// A side's totals: a lone capture's, or a set's (the combined peak given, the rest summed; the
/// worst leak verdict).
fn side(
    members: &[Member<'_>],
    found: &[leaks::Leaks],
    tallies: &BTreeMap<String, Tally>,
    combined_peak: Option<u64>,
) -> Side {
    let filters = members.iter().any(|m| m.analysis.stacks().filters_rows());
    let aggregated = members.iter().any(|m| m.analysis.is_aggregated());
    // With a view that keeps only some allocations, the totals are theirs: the bytes they held
    // at the peak, and what they allocated (the tallies hold each kept site once).
    let peak_memory = match (filters, combined_peak, members) {
        (false, None, [m]) => m.analysis.peak_memory(),
        (false, Some(peak), _) => peak,
        _ => Usage::sum(tallies.values().map(|t| t.peak)).bytes,
    };
    let allocated = if aggregated {
        None
    } else if filters {
        Some(Usage::sum(tallies.values().filter_map(|t| t.allocated)))
    } else {
        members.iter().map(|m| m.analysis.allocated()).collect::<Option<Vec<_>>>().map(Usage::sum)
    };
    let worst = |v: Verdict| match v {
        Verdict::Leak => 2,
        Verdict::Inconclusive => 1,
        Verdict::NoLeak => 0,
    };
    let first = members.first().map(|m| m.analysis);
    Side {
        peak_memory,
        leaked: Usage::sum(
            members.iter().map(|m| m.analysis.total(Mode::Leaks).unwrap_or_default()),
        ),
        allocated,
        duration_s: members.iter().map(|m| m.analysis.duration_s()).fold(0.0, f64::max),
        format_version: first.map_or(0, |a| a.header().version),
        aggregated,
        leak_verdict: found
            .iter()
            .map(|f| f.verdict)
            .max_by_key(|&v| worst(v))
            .unwrap_or(Verdict::NoLeak),
    }
}

/// Whether `after` differs from `before` beyond noise: +1 more, −1 less, 0 same.
fn significant(before: u64, after: u64) -> i8 {
    let delta = after as f64 - before as f64;
    let bar = (before as f64 * SIGNIFICANT_SHARE).max(SIGNIFICANT_BYTES as f64);
    if delta > bar {
        1
    } else if delta < -bar {
        -1
    } else {
        0
    }
}

/// Compares two analyses (made with per-site series, the default) location by location.
pub fn diff(before: &Analysis, after: &Analysis, by: By) -> Diff {
    diff_sides((&[Member::alone(before)], None), (&[Member::alone(after)], None), by)
}

/// Compares two capture sets (a worker pool before and after a deploy) location by location:
/// each side's rows are its processes' rows summed, its peak its combined peak (given with
/// the side), its leaks their leaks, its leak verdict the worst of theirs.
pub fn diff_sets(before: (&[Member<'_>], u64), after: (&[Member<'_>], u64), by: By) -> Diff {
    diff_sides((before.0, Some(before.1)), (after.0, Some(after.1)), by)
}

fn diff_sides(
    before: (&[Member<'_>], Option<u64>),
    after: (&[Member<'_>], Option<u64>),
    by: By,
) -> Diff {
    let (tb, found_b) = tally(before.0, by);
    let (ta, found_a) = tally(after.0, by);
    let sb = side(before.0, &found_b, &tb, before.1);
    let sa = side(after.0, &found_a, &ta, after.1);
    let mut keys: Vec<&String> = tb.keys().chain(ta.keys()).collect();
    keys.sort();
    keys.dedup();
    let empty = Tally::default();
    let mut locations: Vec<LocationDiff> = keys
        .into_iter()
        .map(|k| {
            let (b, a) = (tb.get(k).unwrap_or(&empty), ta.get(k).unwrap_or(&empty));
            let size = |t: &Tally| t.peak.bytes.saturating_add(t.leaked.bytes);
            let present =
                |t: &Tally| t.peak.count + t.leaked.count + t.allocated.map_or(0, |u| u.count) > 0;
            let delta = size(a) as f64 - size(b) as f64;
            let bar = (size(b) as f64 * LOCATION_SHARE).max(LOCATION_BYTES as f64);
            let status = match (present(b), present(a)) {
                (false, true) => Status::New,
                (true, false) => Status::Gone,
                _ if delta > bar => Status::Grew,
                _ if delta < -bar => Status::Shrank,
                _ => Status::Same,
            };
            LocationDiff {
                location: k.clone(),
                status,
                peak: (b.peak, a.peak),
                leaked: (b.leaked, a.leaked),
                allocated: (b.allocated, a.allocated),
                stack: if a.stack.is_empty() { b.stack.clone() } else { a.stack.clone() },
                growth: (b.growth, a.growth),
            }
        })
        .collect();
    locations.sort_by(|x, y| {
        let weight = |l: &LocationDiff| l.leaked_delta().abs() + l.peak_delta().abs();
        weight(y).cmp(&weight(x)).then(x.location.cmp(&y.location))
    });

    let mut notes = Vec::new();
    if sb.format_version != sa.format_version {
        notes.push(Note::FormatVersions(sb.format_version, sa.format_version));
    }
    if sb.aggregated || sa.aggregated {
        notes.push(Note::Aggregated);
    }

    let movement = |before: u64, after: u64| Movement {
        before,
        after,
        significant: significant(before, after),
    };
    let peak = movement(sb.peak_memory, sa.peak_memory);
    let leaked = movement(sb.leaked.bytes, sa.leaked.bytes);
    let leak_began =
        (sa.leak_verdict == Verdict::Leak && sb.leak_verdict != Verdict::Leak).then(|| LeakBegan {
            first_finding: found_a
                .iter()
                .find(|f| f.verdict == Verdict::Leak)
                .and_then(|f| f.findings.first())
                .map(|f| (f.location.clone(), f.growth_rate_bytes_per_s)),
        });
    let leak_ended = sb.leak_verdict == Verdict::Leak && sa.leak_verdict == Verdict::NoLeak;
    let verdict = if peak.significant > 0 || leaked.significant > 0 || leak_began.is_some() {
        Change::Regression
    } else if peak.significant < 0 || leaked.significant < 0 || leak_ended {
        Change::Improvement
    } else {
        Change::NoChange
    };
    let why = Why { peak, leaked, leak_began, leak_ended };
    Diff { verdict, why, before: sb, after: sa, locations, notes }
}

/// A limit on growth for a CI gate (`--fail-on-increase`): bytes, or a share of the value before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// More than this many bytes.
    Bytes(u64),
    /// More than this percentage of the value before.
    Percent(f64),
}

/// Why a threshold could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThresholdError {
    /// A `%` with no non-negative number before it.
    NotAPercentage,
    /// No non-negative number, or one too large for a byte count.
    NotASize,
    /// A unit other than B, KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB (powers of 1024).
    UnknownUnit(String),
}

impl std::fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThresholdError::NotAPercentage => write!(f, "not a percentage"),
            ThresholdError::NotASize => write!(f, "not a size"),
            ThresholdError::UnknownUnit(unit) => write!(f, "unknown unit {unit:?}"),
        }
    }
}

impl std::error::Error for ThresholdError {}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    /// Reads `10MB`, `1.5GiB`, `512` (bytes; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)
    /// or `5%`.
    fn from_str(text: &str) -> Result<Threshold, ThresholdError> {
        let text = text.trim();
        if let Some(pct) = text.strip_suffix('%') {
            return match pct.trim().parse::<f64>() {
                Ok(value) if value.is_finite() && value >= 0.0 => Ok(Threshold::Percent(value)),
                _ => Err(ThresholdError::NotAPercentage),
            };
        }
        let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let value: f64 = number.trim().parse().map_err(|_| ThresholdError::NotASize)?;
        let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "kb" | "k" => 1e3,
            "mb" | "m" => 1e6,
            "gb" | "g" => 1e9,
            "tb" | "t" => 1e12,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
            _ => return Err(ThresholdError::UnknownUnit(unit.trim().to_string())),
        };
        let bytes = value * scale;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(ThresholdError::NotASize);
        }
        Ok(Threshold::Bytes(bytes.round() as u64))
    }
}

/// Which total crossed a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Peak memory.
    PeakMemory,
    /// Bytes still live at the end.
    LeakedBytes,
}

/// A total that grew by more than a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crossed {
    /// Which total.
    pub total: Total,
    /// Its value before.
    pub before: u64,
    /// Its value after.
    pub after: u64,
    /// The threshold it crossed.
    pub threshold: Threshold,
}

impl Diff {
    /// The first total (peak memory, then leaked bytes) that grew by more than `threshold`; a
    /// share is of the value before, and a total that did not grow never crosses.
    pub fn gate(&self, threshold: Threshold) -> Option<Crossed> {
        let totals = [
            (Total::PeakMemory, self.before.peak_memory, self.after.peak_memory),
            (Total::LeakedBytes, self.before.leaked.bytes, self.after.leaked.bytes),
        ];
        totals.into_iter().find_map(|(total, before, after)| {
            let grew = after.saturating_sub(before);
            let crossed = match threshold {
                Threshold::Bytes(limit) => grew > limit,
                Threshold::Percent(pct) => grew > 0 && grew as f64 > before as f64 * pct / 100.0,
            };
            crossed.then_some(Crossed { total, before, after, threshold })
        })
    }
}

/// For each node of `after_tree` (a call tree of `after`), the total of the node at the same path
/// in `before_tree` (a call tree of `before`); paths are compared by portable frame names with
/// their lines. `None` where `before` has no such path (the stack is new).
pub fn match_tree(
    before: &Analysis,
    before_tree: &CallTree,
    after: &Analysis,
    after_tree: &CallTree,
) -> Vec<Option<Usage>> {
    fn keys(analysis: &Analysis, tree: &CallTree) -> Vec<u64> {
        let stacks = analysis.stacks();
        let modules = ModuleResolver::new(analysis.header());
        // Parents come before their children, so one pass hashes every path.
        let mut keys = vec![0u64; tree.nodes.len()];
        for (id, node) in tree.nodes.iter().enumerate() {
            for &c in &node.children {
                let label = match tree.nodes[c as usize].kind {
                    NodeKind::Root => String::new(),
                    NodeKind::Thread(tid) => stacks.thread_label(tid),
                    NodeKind::Frame(f) => {
                        stacks.frame(f).map_or_else(String::new, |l| modules.spell_portable(l))
                    }
                    NodeKind::NoStack => NO_STACK.to_string(),
                };
                let mut h = DefaultHasher::new();
                (keys[id], label).hash(&mut h);
                keys[c as usize] = h.finish();
            }
        }
        keys
    }
    let before_keys: HashMap<u64, Usage> = keys(before, before_tree)
        .into_iter()
        .zip(&before_tree.nodes)
        .map(|(k, n)| (k, n.usage))
        .collect();
    keys(after, after_tree).into_iter().map(|k| before_keys.get(&k).copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_not_a_change() {
        assert_eq!(significant(100 << 20, 105 << 20), 0);
        assert_eq!(significant(100 << 20, 120 << 20), 1);
        assert_eq!(significant(100 << 20, 80 << 20), -1);
        // Small captures: 1 MiB at least.
        assert_eq!(significant(1000, 500_000), 0);
        assert_eq!(significant(1000, 2 << 20), 1);
    }

    #[test]
    fn thresholds_read_sizes_and_shares() {
        let read = |t: &str| t.parse::<Threshold>();
        assert_eq!(read("512"), Ok(Threshold::Bytes(512)));
        assert_eq!(read("10MB"), Ok(Threshold::Bytes(10_000_000)));
        assert_eq!(read(" 1.5 GiB "), Ok(Threshold::Bytes(1_610_612_736)));
        assert_eq!(read("5%"), Ok(Threshold::Percent(5.0)));
        assert_eq!(read("-5%"), Err(ThresholdError::NotAPercentage));
        assert_eq!(read("lots"), Err(ThresholdError::NotASize));
        assert_eq!(read("99999999999TB"), Err(ThresholdError::NotASize));
        assert_eq!(read("5 parsecs"), Err(ThresholdError::UnknownUnit("parsecs".into())));
    }
}
