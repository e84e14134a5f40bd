//! House rules checked as tests: README.md and `.ci/run` run the same test command, every Rust
//! file says what it owns in a `//!` first line, no test is switched off, and every section of
//! docs/memray-format.md that a file cites exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn readme_and_ci_run_the_same_test_command() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    let command = "cargo test --workspace --locked";
    assert!(readme.contains(command), "README.md must show `{command}`");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run must run `{command}` on a line of its own"
    );
    let head: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(
        head.contains("cargo run --release -p memreport-cli -- "),
        "README opens with the main job"
    );
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["crates", "tests", "fuzz/fuzz_targets"] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 10);
    let mut bad = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        if !text.starts_with("//!") {
            bad.push(file.display().to_string());
        }
        let ignore = ["#[", "ignore]"].concat();
        let should_panic = ["#[", "should_panic"].concat();
        if text.contains(&ignore) || text.contains(&should_panic) {
            bad.push(format!("{} switches a test off or expects a panic", file.display()));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// The headings of `docs/memray-format.md` as the names the code cites them by: `1`, `1.4`,
/// `Appendix B`.
fn spec_sections() -> std::collections::BTreeSet<String> {
    let spec = std::fs::read_to_string(root().join("docs/memray-format.md")).unwrap();
    let mut sections = std::collections::BTreeSet::new();
    for line in spec.lines() {
        let Some(title) = line.strip_prefix("## ").or_else(|| line.strip_prefix("### ")) else {
            continue;
        };
        if let Some(rest) = title.strip_prefix("Appendix ") {
            sections.insert(format!("Appendix {}", rest.split('.').next().unwrap()));
        } else {
            let number = title.split(' ').next().unwrap().trim_end_matches('.');
            sections.insert(number.to_string());
        }
    }
    sections
}

/// Every numbered section (`§` then digits) and lettered appendix a file of the repository names.
fn cited_sections(text: &str) -> Vec<String> {
    let mut cited = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('§') {
        rest = &rest[at + '§'.len_utf8()..];
        let number: String =
            rest.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let number = number.trim_end_matches('.');
        if !number.is_empty() {
            cited.push(number.to_string());
        }
    }
    let mut rest = text;
    while let Some(at) = rest.find("Appendix ") {
        rest = &rest[at + "Appendix ".len()..];
        if let Some(letter) = rest.chars().next().filter(|c| c.is_ascii_uppercase()) {
            cited.push(format!("Appendix {letter}"));
        }
    }
    cited
}

#[test]
fn every_cited_section_of_the_format_spec_exists() {
    let sections = spec_sections();
    for expected in ["0", "1.4", "2.3", "3", "5.9", "6", "Appendix A", "Appendix B"] {
        assert!(sections.contains(expected), "the spec lost § {expected}: {sections:?}");
    }
    let mut files = Vec::new();
    for dir in ["crates", "tests", "fuzz/fuzz_targets"] {
        rust_files(&root().join(dir), &mut files);
    }
    for page in ["ARCHITECTURE.md", "README.md", "fixtures/README.md", "docs/performance.md"] {
        files.push(root().join(page));
    }
    files.push(root().join("docs/memray-format.md"));
    let mut missing = Vec::new();
    let mut count = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for section in cited_sections(&text) {
            count += 1;
            if !sections.contains(&section) {
                missing.push(format!("{}: § {section}", file.display()));
            }
        }
    }
    assert!(count > 40, "the code cites the spec {count} times; the scan lost them");
    assert!(missing.is_empty(), "cited sections the spec lacks: {missing:#?}");
    let lib = std::fs::read_to_string(root().join("crates/format/src/lib.rs")).unwrap();
    assert!(lib.contains("docs/memray-format.md"), "the format crate points at its spec");
}
