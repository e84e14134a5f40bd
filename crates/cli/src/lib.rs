//! The `memreport` command line: argument parsing, dispatch, error lines and exit codes.
//!
//! Glue only: every answer is computed by `memreport-analysis` and rendered by `memreport-report`.
//! [`run`] takes its output streams as arguments so tests can drive the whole command in-process.
//!
//! Exit status: 0 success (a truncated capture is a warning, not a failure), 1 a gate or
//! threshold crossed, 2 bad input or usage. A closed stdout (`memreport … | head`) counts as
//! success.
#![deny(missing_docs)]

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use memreport_analysis::info::CaptureInfo;
use memreport_format::{dump, Capture, StreamEnd};

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status when a gate or threshold is crossed.
pub const EXIT_GATE: u8 = 1;
/// Exit status for bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "memreport",
    version,
    about = "Answers from memray captures: peak, leaks, growth, diffs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Header and stream facts: version, format, truncation, counts, threads, times.
    Info {
        /// The capture file (.bin).
        capture: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every record, one per line, in the text of `memray parse` (for diffing against it).
    Records {
        /// The capture file (.bin).
        capture: PathBuf,
    },
}

/// A failure reported as one line on stderr.
struct Failure {
    message: String,
    code: u8,
}

impl Failure {
    fn input(path: &Path, err: impl std::fmt::Display) -> Failure {
        Failure { message: format!("{}: {err}", path.display()), code: EXIT_BAD_INPUT }
    }
}

/// Runs the command line `args` (program name first) and returns the exit status.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { EXIT_OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                stderr.write_all(text.as_bytes())
            } else {
                stdout.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let result = match cli.command {
        Command::Info { capture, json } => info(&capture, json, &mut out, stderr),
        Command::Records { capture } => records(&capture, &mut out, stderr),
    };
    let flushed = out.flush();
    match result {
        Ok(code) => match flushed {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                let _ = writeln!(stderr, "memreport: error: writing output: {e}");
                EXIT_BAD_INPUT
            }
            _ => code,
        },
        Err(f) => {
            let _ = writeln!(stderr, "memreport: error: {}", f.message);
            f.code
        }
    }
}

/// Maps an output error to success when the reader went away (`| head`).
fn output(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure { message: format!("writing output: {e}"), code: EXIT_BAD_INPUT })
        }
        _ => Ok(()),
    }
}

fn warn_truncated(stderr: &mut dyn Write, path: &Path, end: Option<StreamEnd>) {
    if let Some(StreamEnd::Truncated(t)) = end {
        let _ = writeln!(
            stderr,
            "memreport: warning: {}: truncated capture (no trailer); read {} records up to byte {}",
            path.display(),
            t.records_read,
            t.offset
        );
    }
}

fn info(
    path: &Path,
    json: bool,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, Failure> {
    let info = CaptureInfo::read(path).map_err(|e| Failure::input(path, e))?;
    warn_truncated(stderr, path, Some(info.end));
    if json {
        let mut text = serde_json::to_string_pretty(&memreport_report::info::to_json(&info))
            .map_err(|e| Failure::input(path, e))?;
        text.push('\n');
        output(out.write_all(text.as_bytes()))?;
    } else {
        output(memreport_report::info::write_text(out, &info))?;
    }
    Ok(EXIT_OK)
}

fn records(path: &Path, out: &mut dyn Write, stderr: &mut dyn Write) -> Result<u8, Failure> {
    let capture = Capture::open(path).map_err(|e| Failure::input(path, e))?;
    let header = capture.header().clone();
    output(dump::write_header(out, &header))?;
    let mut records = capture.records();
    for record in &mut records {
        let record = record.map_err(|e| Failure::input(path, e))?;
        output(dump::write_record(out, &header, &record))?;
    }
    // memray prints a record's name before its payload, so a record cut by the end of the data
    // leaves that name without a newline; print the same.
    if let Some(StreamEnd::Truncated(t)) = records.end() {
        if let Some(prefix) = t.partial_record_type.and_then(|b| dump::partial_prefix(&header, b)) {
            output(out.write_all(prefix.as_bytes()))?;
        }
    }
    warn_truncated(stderr, path, records.end());
    Ok(EXIT_OK)
}
