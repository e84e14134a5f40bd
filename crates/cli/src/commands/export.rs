//! `memreport export`: a capture's tables for pandas, polars and DuckDB. The tables are
//! `memreport_analysis::export`'s; the file formats are `memreport_report::export`'s (polars,
//! behind the default feature `export`). The output file appears only once it is complete.

use std::io::Write;
use std::path::Path;

use crate::output::{Context, Failure};

/// A table of `memreport export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TableArg {
    /// One row per innermost location: bytes and blocks at the peak, leaked and allocated.
    Locations,
    /// One row per memory sample: time, RSS and heap.
    Timeline,
    /// One row per allocation (frees excluded), with the index of the record that freed it.
    Allocations,
    /// One row per location and tick: its live bytes over time.
    Series,
}

/// A file format of `memreport export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    /// Apache Parquet.
    Parquet,
    /// CSV with a header line.
    Csv,
    /// JSON Lines, one object per row.
    Json,
}

#[cfg(feature = "export")]
pub(crate) fn export(
    cx: &Context,
    path: &Path,
    table: TableArg,
    format: FormatArg,
    target: &Path,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    use super::analyse;
    use crate::output::{refuse_input_as_output, write_streamed};
    use crate::EXIT_OK;
    use memreport_analysis::export as tables;
    use memreport_analysis::Threads;
    use memreport_report::export::{self as write, Format};
    let target = (target.as_os_str() != "-").then_some(target);
    refuse_input_as_output(target, &[path])?;
    let format = match format {
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    let fail = |e: &dyn std::fmt::Display| Failure::input(path, e);
    match table {
        TableArg::Allocations => {
            // Every allocation of the run, as memray recorded it: a window or a filter would
            // silently not apply, so they are refused (the rows carry time_s and location to
            // filter on).
            let filtered = cx.view.as_ref().is_some_and(|v| {
                v.filters().iter().any(|(name, _)| matches!(*name, "focus" | "ignore"))
            });
            if !cx.window.is_whole_run() || filtered {
                return Err(Failure {
                    message: "export --table allocations writes every allocation of the run: \
                              --from, --to, --focus and --ignore do not apply to it (filter on \
                              its time_s and location columns)"
                        .to_string(),
                    code: crate::EXIT_BAD_INPUT,
                });
            }
            // A pass of its own, streamed from the capture into the file. A corrupt capture
            // stops it: the error is the capture's, and no file is left.
            let mut capture = Some(memreport_analysis::Capture::open(path).map_err(|e| fail(&e))?);
            let mut capture_error = None;
            let mut end = None;
            let written = write_streamed(
                cx,
                target,
                &mut |w| {
                    let Some(capture) = capture.take() else { return Ok(()) };
                    let mut rows = write::AllocationsWriter::new(w, format);
                    let mut write_error = None;
                    let streamed = tables::allocations(capture, &mut |r| {
                        rows.row(r).map_err(|e| {
                            write_error = Some(e.to_string());
                            std::io::Error::other("writing the table")
                        })
                    });
                    match streamed {
                        Ok(stream_end) => end = stream_end,
                        Err(tables::ExportError::Capture(e)) => {
                            capture_error = Some(e);
                            return Err(std::io::Error::other("the capture is corrupt"));
                        }
                        Err(tables::ExportError::Write(e)) => {
                            return Err(write_error.map_or(e, std::io::Error::other));
                        }
                    }
                    rows.finish().map(|_| ()).map_err(std::io::Error::from)
                },
                out,
                stderr,
            );
            if let Some(e) = capture_error {
                return Err(fail(&e));
            }
            written?;
            crate::output::warn_truncated(stderr, path, end);
            Ok(EXIT_OK)
        }
        table => {
            let analysis =
                analyse(cx, path, &[], table == TableArg::Series, Threads::Merged, stderr)?;
            write_streamed(
                cx,
                target,
                &mut |w| {
                    let written = match table {
                        TableArg::Locations => {
                            let rows = tables::locations(&analysis).map_err(|why| {
                                std::io::Error::other(memreport_report::unavailable::reason(why))
                            })?;
                            write::write_locations(w, format, &rows)
                        }
                        TableArg::Timeline => {
                            write::write_timeline(w, format, &tables::timeline(&analysis))
                        }
                        _ => write::write_series(
                            w,
                            format,
                            tables::SeriesTable::of(&analysis).rows(),
                        ),
                    };
                    written.map(|_| ()).map_err(std::io::Error::from)
                },
                out,
                stderr,
            )?;
            Ok(EXIT_OK)
        }
    }
}

#[cfg(not(feature = "export"))]
pub(crate) fn export(
    _: &Context,
    _: &Path,
    _: TableArg,
    _: FormatArg,
    _: &Path,
    _: &mut dyn Write,
    _: &mut dyn Write,
) -> Result<u8, Failure> {
    Err(Failure {
        message: "this memreport was built without export (cargo feature `export`, on by \
                  default): rebuild it with `--features export`"
            .to_string(),
        code: crate::EXIT_BAD_INPUT,
    })
}
