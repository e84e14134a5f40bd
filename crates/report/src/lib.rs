//! Rendering of memreport's analysis results: JSON for scripts, aligned text for terminals,
//! self-contained HTML for people.
//!
//! This crate sees only the output types of `memreport-analysis`; it never reads records itself.
//! Every renderer is deterministic: the same input gives the same bytes.
//!
//! # Brief overview
//!
//! * [`info`] — `memreport info` as JSON ([`info::to_json`]) or text ([`info::write_text`]).
//! * [`stats`] — `memreport stats`: memray's JSON keys and order, or text.
//! * [`leaks`] — `memreport leaks`: verdict, reason and findings.
//! * [`top`] — `memreport top` and `memreport tree`.
//! * [`diff`] — `memreport diff`: verdict, totals and changed locations.
//! * [`html`] — the incident report and flame graphs as self-contained HTML pages.
//! * [`text`] — human sizes, aligned tables, colour only on a terminal.
//! * [`terminal`] — what may reach a terminal: names from a capture with their control
//!   characters shown as escapes, and a writer that escapes whatever else would get through.
//! * [`time`] — timestamps without a time-zone database (UTC, ISO 8601).
//! * [`unavailable`] — why a view is missing, in words.
#![deny(missing_docs)]

pub mod check;
pub mod diff;
#[cfg(feature = "export")]
pub mod export;
pub mod html;
pub mod info;
pub mod leaks;
pub mod set;
pub mod stats;
pub mod terminal;
pub mod text;
pub mod time;
pub mod top;
pub mod unavailable;
