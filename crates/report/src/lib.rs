//! Rendering of memreport's analysis results: JSON for scripts, aligned text for terminals.
//!
//! This crate sees only the output types of `memreport-analysis`; it never reads records itself.
//! Every renderer is deterministic: the same input gives the same bytes.
//!
//! # Brief overview
//!
//! * [`info`] — `memreport info` as JSON ([`info::to_json`]) or text ([`info::write_text`]).
//! * [`time`] — timestamps without a time-zone database (UTC, ISO 8601).
#![deny(missing_docs)]

pub mod info;
pub mod time;
