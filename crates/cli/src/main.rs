//! The `memreport` binary: parses arguments and hands over to [`memreport_cli::run`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let terminal = memreport_cli::Terminal::detect();
    let code = memreport_cli::run_on(
        std::env::args_os(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        terminal,
    );
    ExitCode::from(code)
}
