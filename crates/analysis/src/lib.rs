//! Analyses of memray captures: what the record stream means.
//!
//! This crate turns the events of [`memreport_format`] into answers. It never does IO beyond
//! asking the format crate for a capture, and never prints.
//!
//! # Brief overview
//!
//! * [`info`] — one pass over a capture for its facts: format, truncation, counts, threads, times.
//!
//! # Example
//!
//! ```
//! # let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-basic/capture.bin");
//! let info = memreport_analysis::info::CaptureInfo::read(path)?;
//! assert_eq!(info.header.version, 13);
//! assert!(!info.truncated());
//! # Ok::<(), memreport_format::Error>(())
//! ```
#![deny(missing_docs)]

pub mod info;

pub use memreport_format as format;
