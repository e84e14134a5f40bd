//! The `memreport` command line: argument parsing, dispatch, error lines and exit codes.
//!
//! Glue only: every answer is computed by `memreport-analysis` and rendered by `memreport-report`.
//! [`run`] takes its output streams as arguments so tests can drive the whole command in-process.
//! `args` holds the grammar, `output` where output goes (stderr lines, pages written to files),
//! and `commands` one module per command.
//!
//! Exit status: 0 success (a truncated capture is a warning, not a failure), 1 a gate or
//! threshold crossed, 2 bad input or usage. A closed stdout (`memreport … | head`) counts as
//! success.
#![deny(missing_docs)]

mod args;
mod commands;
mod output;

use std::ffi::OsString;
use std::io::{self, BufWriter, Write};

use clap::Parser;
use memreport_analysis::{Mode, Threads};
use memreport_report::html::FlamegraphView;
use memreport_report::terminal::{visible, SafeWriter, PROGRESS_SEQUENCES, STYLE_SEQUENCES};
use memreport_report::text::Style;

use args::{Cli, ColorChoice, Command};
use commands::{DiffOptions, TopOptions};
use output::Context;

/// Exit status of a successful run.
pub const EXIT_OK: u8 = 0;
/// Exit status when a gate or threshold is crossed.
pub const EXIT_GATE: u8 = 1;
/// Exit status for bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;

/// What the terminal can show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    /// stdout is a terminal (colour may be used).
    pub stdout: bool,
    /// stderr is a terminal (progress may be shown).
    pub stderr: bool,
}

impl Terminal {
    /// The terminal of this process.
    pub fn detect() -> Terminal {
        use std::io::IsTerminal;
        Terminal { stdout: io::stdout().is_terminal(), stderr: io::stderr().is_terminal() }
    }
}

/// Runs the command line `args` (program name first) as if neither stream were a terminal, and
/// returns the exit status.
pub fn run(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    run_on(args, stdout, stderr, Terminal::default())
}

/// Runs the command line `args` (program name first) on streams with the given terminal
/// capabilities, and returns the exit status.
pub fn run_on(
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    terminal: Terminal,
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
    let color = match cli.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal.stdout && std::env::var_os("NO_COLOR").is_none(),
    };
    // The commands that present stacks show them through a view (the runner and the import
    // system hidden unless --all-frames, and the filters); the others read the capture as memray.
    let (view, symbols) = match &cli.command {
        Command::Top { view, .. }
        | Command::Tree { view, .. }
        | Command::Flamegraph { view, .. }
        | Command::Leaks { view, .. }
        | Command::Diff { view, .. }
        | Command::Check { view, .. }
        | Command::Export { view, .. }
        | Command::Report { view, .. } => match view.view() {
            Ok(v) => (Some(v), view.symbols()),
            Err(e) => {
                let _ = writeln!(stderr, "memreport: error: {}", visible(&e.to_string()));
                return EXIT_BAD_INPUT;
            }
        },
        _ => (None, None),
    };
    let window = match &cli.command {
        Command::Top { window, .. }
        | Command::Tree { window, .. }
        | Command::Flamegraph { window, .. }
        | Command::Leaks { window, .. }
        | Command::Diff { window, .. }
        | Command::Report { window, .. }
        | Command::Check { window, .. }
        | Command::Export { window, .. }
        | Command::Stats { window, .. } => match window.window() {
            Ok(w) => w,
            Err(e) => {
                let _ = writeln!(stderr, "memreport: error: {e}");
                return EXIT_BAD_INPUT;
            }
        },
        _ => Default::default(),
    };
    let cx = Context {
        window,
        quiet: cli.quiet,
        style: Style { color },
        progress: terminal.stderr,
        parallel: !cli.single_thread,
        view,
        symbols,
        // A terminal's width as the shell exports it; 100 columns otherwise, so that a file or a
        // ticket gets lines that read without scrolling.
        columns: std::env::var("COLUMNS")
            .ok()
            .filter(|_| terminal.stdout)
            .and_then(|c| c.trim().parse::<usize>().ok())
            .filter(|&c| c >= 40)
            .unwrap_or(100),
    };
    // Everything on stderr, and every text output on stdout, goes through the escaping net (see
    // memreport_report::terminal). JSON escapes its own C0 controls, and the net writes the C1
    // and bidi controls it leaves raw as \uXXXX (the same values); pages are HTML and go as they
    // are; `records` is memray's `parse` text, kept byte for byte in a file.
    let mut safe_err =
        SafeWriter::new(stderr, if terminal.stderr { PROGRESS_SEQUENCES } else { &[] });
    let stderr: &mut dyn Write = &mut safe_err;
    let text = match &cli.command {
        Command::Info { json, .. }
        | Command::Stats { json, .. }
        | Command::Top { json, .. }
        | Command::Diff { json, .. }
        | Command::Check { json, .. }
        | Command::Leaks { json, .. } => !json,
        Command::Records { .. } => terminal.stdout,
        // A table goes to stdout only with `-o -`: shown on a terminal, it is escaped there.
        Command::Export { .. } => terminal.stdout,
        Command::Tree { .. } => true,
        Command::Flamegraph { output, .. } | Command::Report { output, .. } => output.is_some(),
    };
    let json = matches!(
        &cli.command,
        Command::Info { json: true, .. }
            | Command::Stats { json: true, .. }
            | Command::Top { json: true, .. }
            | Command::Diff { json: true, .. }
            | Command::Check { json: true, .. }
            | Command::Leaks { json: true, .. }
    );
    let mut safe_out;
    let sink: &mut dyn Write = if text {
        safe_out = SafeWriter::new(stdout, if color { STYLE_SEQUENCES } else { &[] });
        &mut safe_out
    } else if json {
        safe_out = SafeWriter::json(stdout);
        &mut safe_out
    } else {
        stdout
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let result = match cli.command {
        Command::Info { capture, json } => commands::info(&capture, json, &mut out, stderr),
        Command::Records { capture } => commands::records(&capture, &mut out, stderr),
        Command::Stats { captures, json, n, .. } => match captures.as_slice() {
            [capture] => commands::stats(&cx, capture, json, n, &mut out, stderr),
            set => commands::set::stats(&cx, set, json, n, &mut out, stderr),
        },
        Command::Top {
            captures,
            view: _,
            window: _,
            leaks,
            temporary,
            json,
            n,
            by,
            split_threads,
        } => {
            let mode = commands::mode(leaks, temporary);
            let by = by.into();
            let threads = if split_threads { Threads::Split } else { Threads::Merged };
            let opts = TopOptions { mode, json, n, by, threads };
            match captures.as_slice() {
                [capture] => commands::top(&cx, capture, opts, &mut out, stderr),
                set => commands::set::top(&cx, set, opts, &mut out, stderr),
            }
        }
        Command::Tree { captures, view: _, window: _, leaks, depth, min_share } => {
            let mode = if leaks { Mode::Leaks } else { Mode::Peak };
            match captures.as_slice() {
                [capture] => commands::tree(&cx, capture, mode, depth, min_share, &mut out, stderr),
                set => commands::set::tree(&cx, set, mode, depth, min_share, &mut out, stderr),
            }
        }
        Command::Flamegraph {
            captures,
            view: _,
            window: _,
            output,
            leaks,
            temporary,
            inverted,
            split_threads,
        } => {
            let mode = commands::mode(leaks, temporary);
            let threads = if split_threads { Threads::Split } else { Threads::Merged };
            let view = FlamegraphView { mode, threads, inverted };
            match captures.as_slice() {
                [capture] => commands::flamegraph(&cx, capture, output, view, &mut out, stderr),
                set => commands::set::flamegraph(&cx, set, output, view, &mut out, stderr),
            }
        }
        Command::Diff { captures, view: _, window: _, output, json, by, n, fail_on_increase } => {
            let opts = DiffOptions { output, json, by: by.into(), n, fail_on_increase };
            match captures.as_slice() {
                [before, after] => commands::diff(&cx, before, after, opts, &mut out, stderr),
                sets => commands::set::diff(&cx, sets, opts, &mut out, stderr),
            }
        }
        Command::Leaks { captures, view: _, window: _, json } => match captures.as_slice() {
            [capture] => commands::leaks(&cx, capture, json, &mut out, stderr),
            set => commands::set::leaks(&cx, set, json, &mut out, stderr),
        },
        Command::Check {
            captures,
            view: _,
            window: _,
            max_peak,
            max_leaked,
            no_growth,
            max_growth,
            json,
            junit,
        } => {
            let limits =
                memreport_analysis::check::Limits { max_peak, max_leaked, no_growth, max_growth };
            let opts = commands::CheckOptions { limits, json, junit };
            commands::check(&cx, &captures, opts, &mut out, stderr)
        }
        Command::Export { capture, view: _, window: _, format, table, output } => {
            commands::export(&cx, &capture, table, format, &output, &mut out, stderr)
        }
        Command::Report { captures, view: _, window: _, output } => match captures.as_slice() {
            [capture] => commands::report(&cx, capture, output, &mut out, stderr),
            set => commands::set::report(&cx, set, output, &mut out, stderr),
        },
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
