//! Where output goes and how failures are said: the per-run context, error lines and warnings on
//! stderr, and pages written to files (`-o`) without ever destroying a capture or leaving a partial
//! page.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use memreport_format::StreamEnd;
use memreport_report::terminal::visible;
use memreport_report::text::{human_size, Style};

use crate::EXIT_BAD_INPUT;

/// Options that apply to every command.
pub(crate) struct Context {
    pub(crate) quiet: bool,
    pub(crate) style: Style,
    pub(crate) progress: bool,
    /// More than one thread may be used (`--single-thread` is off).
    pub(crate) parallel: bool,
    /// How stacks are shown, for the commands that show them.
    pub(crate) view: Option<memreport_analysis::View>,
    /// Where native symbols are read from, for the commands that show stacks (`None`: native
    /// frames are not named).
    pub(crate) symbols: Option<memreport_analysis::SymbolSource>,
    /// The width text output fits in.
    pub(crate) columns: usize,
    /// The span of the run the analysis commands are restricted to (`--from`, `--to`).
    pub(crate) window: memreport_analysis::Window,
}

/// A path as it may be printed: its control characters shown as escapes (a file name can hold
/// an escape sequence, or a newline that would fake a line of output).
pub(crate) fn shown(path: &Path) -> String {
    visible(&path.display().to_string()).into_owned()
}

/// A failure reported as one line on stderr.
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl Failure {
    pub(crate) fn input(path: &Path, err: impl std::fmt::Display) -> Failure {
        Failure { message: format!("{}: {err}", shown(path)), code: EXIT_BAD_INPUT }
    }
}

/// Maps an output error to success when the reader went away (`| head`).
pub(crate) fn output(result: io::Result<()>) -> Result<(), Failure> {
    match result {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(Failure { message: format!("writing output: {e}"), code: EXIT_BAD_INPUT })
        }
        _ => Ok(()),
    }
}

/// Warns about a capture that ended without its trailer, or with data after it.
pub(crate) fn warn_truncated(stderr: &mut dyn Write, path: &Path, end: Option<StreamEnd>) {
    if let Some(StreamEnd::TrailerThenData { offset }) = end {
        let _ = writeln!(
            stderr,
            "memreport: warning: {}: bytes after the trailer from byte {offset} of the stream \
             (two captures concatenated?); they are not read",
            shown(path)
        );
    }
    if let Some(StreamEnd::Truncated(t)) = end {
        let _ = writeln!(
            stderr,
            "memreport: warning: {}: truncated capture ({}); read {} records up to byte {}",
            shown(path),
            memreport_report::info::truncation_cause(&t),
            t.records_read,
            t.offset
        );
    }
}

/// Where a page goes: the file given, stdout for `-`, or `memreport-KIND-NAME.html` next to the
/// capture (as memray names its reports).
pub(crate) fn page_target(capture: &Path, output: Option<PathBuf>, kind: &str) -> Option<PathBuf> {
    match output {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p),
        None => {
            // A capture read from stdin (`-`) names its page after that.
            let stem = if capture.as_os_str() == "-" {
                "stdin".into()
            } else {
                capture.file_stem().unwrap_or(capture.as_os_str()).to_string_lossy()
            };
            Some(capture.with_file_name(format!("memreport-{kind}-{stem}.html")))
        }
    }
}

/// The capture's file name, for page titles (never its directory, which says nothing about the
/// capture and would make pages differ by where they were made).
pub(crate) fn capture_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".to_string();
    }
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}

/// Refuses an output that is one of the inputs (the same file, by device and inode, whatever
/// the path says): the capture would be destroyed. Checked before the analysis.
pub(crate) fn refuse_input_as_output(
    output: Option<&Path>,
    inputs: &[&Path],
) -> Result<(), Failure> {
    let Some(output) = output.filter(|p| p.as_os_str() != "-") else { return Ok(()) };
    let Ok(target) = std::fs::metadata(output) else { return Ok(()) };
    for input in inputs {
        if std::fs::metadata(input).is_ok_and(|m| same_file(&m, &target)) {
            return Err(Failure {
                message: format!(
                    "{}: the output is the input {}; refusing to write over the capture",
                    shown(output),
                    shown(input)
                ),
                code: EXIT_BAD_INPUT,
            });
        }
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::Metadata, _: &std::fs::Metadata) -> bool {
    false
}

/// Writes a rendered page to its target, as the target is:
///
/// * `-` or none: stdout;
/// * a FIFO, a device or anything else that is not a regular file: written through, as `cat`
///   would (`-o /dev/null` leaves `/dev/null` alone, a FIFO gets the page);
/// * a symlink: its target, which is then handled as below (the link stays a link);
/// * a regular file with other hard links: rewritten in place, so every name sees the page;
/// * otherwise (a regular file, or nothing yet): a temporary file beside it, renamed over it
///   once complete, so a failure never leaves a partial page; an existing file keeps its mode.
///
/// Pages are rendered before this is called, so a refusal never leaves a file either.
pub(crate) fn write_page(
    cx: &Context,
    target: Option<&Path>,
    page: &[u8],
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    write_streamed(cx, target, &mut |w| w.write_all(page), out, stderr)
}

/// Writes an output produced as it is written (an export of any length) to its target, as
/// [`write_page`] does: through a temporary file renamed once `fill` succeeded, so a failure or
/// an interruption never leaves a partial file.
pub(crate) fn write_streamed(
    cx: &Context,
    target: Option<&Path>,
    fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    out: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), Failure> {
    let Some(given) = target else {
        return output(fill(out));
    };
    let fail = |e: io::Error| Failure {
        message: format!("{}: writing output: {e}", shown(given)),
        code: EXIT_BAD_INPUT,
    };
    let path = resolve_links(given).map_err(fail)?;
    let existing = std::fs::metadata(&path).ok();
    let mut written = 0u64;
    let mut counted = |w: &mut dyn Write| {
        let mut counting = Counting { inner: w, bytes: 0 };
        let result = fill(&mut counting);
        written = counting.bytes;
        result
    };
    let result = match &existing {
        Some(m) if !m.is_file() || hard_linked(m) => (|| {
            let mut file =
                std::fs::OpenOptions::new().write(true).truncate(m.is_file()).open(&path)?;
            counted(&mut file)?;
            file.flush()
        })(),
        _ => replace_atomically(&path, &mut counted, existing.as_ref()),
    };
    result.map_err(fail)?;
    if !cx.quiet {
        let _ = writeln!(stderr, "wrote {} ({})", shown(given), human_size(written));
    }
    Ok(())
}

/// A writer that counts what goes through it.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The file a path names once symlinks are followed (a dangling link names the file it points
/// to, which is then created).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

#[cfg(unix)]
fn hard_linked(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.is_file() && m.nlink() > 1
}

#[cfg(not(unix))]
fn hard_linked(_: &std::fs::Metadata) -> bool {
    false
}

/// Writes `fill`'s output to a temporary file beside `path` and renames it over `path`, with the mode of
/// the file it replaces.
fn replace_atomically(
    path: &Path,
    fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    existing: Option<&std::fs::Metadata>,
) -> io::Result<()> {
    let name = path.file_name().unwrap_or(path.as_os_str()).to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&temporary)?);
        fill(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        if let Some(m) = existing {
            std::fs::set_permissions(&temporary, m.permissions())?;
        }
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
