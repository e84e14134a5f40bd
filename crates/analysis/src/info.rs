//! Capture facts for `memreport info`: the header plus what one full pass over the body counts.
//!
//! Header counts are not trusted (a killed process leaves them at zero, spec §1.3); every figure
//! here comes from the records actually read, as memray's own reader does (§5.1).

use std::path::Path;

use memreport_format::events::{Event, Events};
use memreport_format::{Capture, Header, Result, Storage, StreamEnd, Wrapping};

/// A thread seen in the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// memray thread id.
    pub tid: u64,
    /// Last name given to it, if any.
    pub name: Option<String>,
}

/// First and last memory-sample timestamps seen so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SampleSpan(Option<(u64, u64)>);

impl SampleSpan {
    pub(crate) fn add(&mut self, ms: u64) {
        self.0 = Some(match self.0 {
            None => (ms, ms),
            Some((first, _)) => (first, ms),
        });
    }
}

/// Everything `memreport info` reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaptureInfo {
    /// The header as stored.
    pub header: Header,
    /// LZ4 or raw.
    pub storage: Storage,
    /// The gzip or zstd stream put around the file after memray wrote it, if any.
    pub wrapping: Option<Wrapping>,
    /// Stream offset where the body starts.
    pub body_offset: u64,
    /// How the body ended.
    pub end: StreamEnd,
    /// All records read.
    pub n_records: u64,
    /// ALLOCATION records (frees included): memray's `total_allocations`.
    pub n_allocation_records: u64,
    /// Memory samples (MEMORY_RECORD or MEMORY_SNAPSHOT).
    pub n_memory_records: u64,
    /// AGGREGATED_ALLOCATION records (aggregated captures).
    pub n_aggregated_records: u64,
    /// Object-lifetime records.
    pub n_object_records: u64,
    /// Distinct Python frames.
    pub n_frames: u64,
    /// Distinct Python stacks (trace-tree nodes, the empty stack excluded).
    pub n_stacks: u64,
    /// Native trace nodes.
    pub n_native_nodes: u64,
    /// Memory maps (segment generations).
    pub n_memory_maps: u64,
    /// Threads, by id.
    pub threads: Vec<ThreadInfo>,
    /// First and last memory-sample timestamps (ms since the epoch).
    pub sample_span_ms: Option<(u64, u64)>,
    /// Bytes of the decompressed stream read.
    pub stream_bytes: u64,
}

impl CaptureInfo {
    /// Reads a capture file once, start to end.
    pub fn read(path: impl AsRef<Path>) -> Result<CaptureInfo> {
        CaptureInfo::from_capture(Capture::open(path)?)
    }

    /// Reads an opened capture once, start to end.
    pub fn from_capture(capture: Capture) -> Result<CaptureInfo> {
        let (storage, wrapping) = (capture.storage(), capture.wrapping());
        let body_offset = capture.body_offset();
        let (header, records) = capture.into_parts();
        let mut events = Events::new(header, records);
        let mut span = SampleSpan::default();
        for event in &mut events {
            if let Event::Memory(sample) = event? {
                span.add(sample.ms_since_epoch);
            }
        }
        Ok(CaptureInfo::after_pass(&events, (storage, wrapping), body_offset, span))
    }

    /// The facts of a capture whose events have all been read (by this module or by the
    /// analysis pass, which gathers them on the way).
    pub(crate) fn after_pass(
        events: &Events,
        (storage, wrapping): (Storage, Option<Wrapping>),
        body_offset: u64,
        span: SampleSpan,
    ) -> CaptureInfo {
        let end = events.end_or_here();
        let counts = events.counts();
        let tables = events.tables();
        let names = tables.thread_names();
        let mut tids = events.thread_ids();
        // Aggregated captures only name threads; their ids come from the allocation records.
        for tid in names.keys() {
            if !tids.contains(tid) {
                tids.push(*tid);
            }
        }
        tids.sort_unstable();
        let threads = tids
            .into_iter()
            .map(|tid| ThreadInfo { tid, name: names.get(&tid).cloned() })
            .collect();
        CaptureInfo {
            storage,
            wrapping,
            body_offset,
            end,
            n_records: counts.records,
            n_allocation_records: counts.allocation_records,
            n_memory_records: counts.memory_records,
            n_aggregated_records: counts.aggregated_records,
            n_object_records: counts.object_records,
            n_frames: tables.n_frames() as u64,
            n_stacks: tables.n_nodes() as u64 - 1,
            n_native_nodes: tables.n_native_nodes() as u64 - 1,
            n_memory_maps: u64::from(tables.n_generations()),
            threads,
            sample_span_ms: span.0,
            stream_bytes: events.offset(),
            header: events.header().clone(),
        }
    }

    /// Whether the capture ended without a trailer.
    pub fn truncated(&self) -> bool {
        matches!(self.end, StreamEnd::Truncated(_))
    }

    /// Run time in ms: header end − start for complete captures; for truncated ones (whose header
    /// end time was written at start) the time of the last memory sample.
    pub fn duration_ms(&self) -> i64 {
        let h = &self.header;
        // Saturating: a corrupt header can hold any two times.
        let from_header = h.end_time_ms.saturating_sub(h.start_time_ms);
        match (self.truncated(), self.sample_span_ms) {
            (true, Some((_, last))) => i64::try_from(last)
                .unwrap_or(i64::MAX)
                .saturating_sub(h.start_time_ms)
                .max(from_header),
            _ => from_header,
        }
    }
}
