//! Workspace integration tests: one binary, one module per concern. Every test compares memreport
//! with what memray itself wrote beside each capture in `fixtures/` (see fixtures/README.md), or
//! checks an invariant that must hold for any input.

mod common;

// `memreport records` against `memray parse`, byte for byte.
mod parse_equivalence;
// `memreport info --json` against memray's FileReader metadata, plus golden files.
mod info;
// Allocation events (address, size, allocator, thread, stack) against memray's FileReader.
mod events;
// Cut, flipped and foreign inputs: an error or a truncation warning, never a panic.
mod corrupt;
// Exit codes and one-line error messages of the binary's entry point.
mod cli;
// House rules: README/CI agreement, module docs, no ignored tests.
mod tidy;
// The public surface of the library crates, against golden lists.
mod api;
// Native frames named from ELF symbols and DWARF, against memray's hybrid stacks.
mod native;
// Runner and import frames hidden, and pprof's filters, against memray's records.
mod view;
// Round trips through the test-only CaptureBuilder.
mod synthetic;
// Peak, leaks, temporary allocations, stats and the timeline against memray.
mod analysis;
// Terminal and JSON outputs of stats, top and tree: golden files, and top --json against memray.
mod golden;
// The HTML pages in headless Chromium: no console error, no request, flame graphs that zoom.
mod browser;
// The HTML pages as files: golden pages, totals against memray, self-containment, size limit.
mod html;
// Inputs that once crashed memreport, through every command.
mod regressions;
// The leak detector over the labelled corpus of fixtures/workloads.
mod leaks;
// memreport diff on pairs of captures of two versions of one program.
mod diff;
// The pipelined pass against the single-threaded one, on every input.
mod pipeline;
// Sites merged across threads against sites kept per thread.
mod threads;
// Time windows against memray's temporal high-water marks and leaks.
mod windows;
// Capture sets (a parent and its forked workers) against memray's figures for each file.
mod sets;
// A capture whose names attack the terminal, through every command.
mod hostile;
// memreport check, the CI gate: limits against memray's figures, JSON, JUnit, sets, folders.
mod check;
// memreport export: every table in every format against memray's figures.
mod export;
// Captures wrapped in gzip or zstd, whole and cut short.
mod wrapped;
// Where -o writes: FIFOs, symlinks, hard links, modes, and never over an input.
mod output;
