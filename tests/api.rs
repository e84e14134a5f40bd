//! The public surface of each library crate, locked by golden lists in `tests/api/`: a new public
//! item, a removed one or one that moved shows up as a diff to review (and bless with
//! `MEMREPORT_BLESS=1`), so the API grows only on purpose.
//!
//! The scan is textual and follows the crates' conventions: it starts at `lib.rs`, enters
//! `pub mod` files (never private ones, whose items are public only through a `pub use`, which
//! it records), stops at a file's `#[cfg(test)]` module and skips `#[doc(hidden)]` modules. It
//! records items, the methods of `impl` blocks, public fields and enum variants by name, and,
//! for an item re-exported from a private module, its members.

use std::path::{Path, PathBuf};

use crate::common::{check_golden, finish};

/// The source file of module `name` declared in `file`.
fn module_file(file: &Path, name: &str) -> PathBuf {
    let dir = if file.ends_with("lib.rs") || file.ends_with("mod.rs") {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// The name after `pub fn`, `pub struct`… (up to the first character that ends a name).
fn item_name(rest: &str) -> &str {
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    &rest[..end]
}

fn scan(file: &Path, path: &str, out: &mut Vec<String>) {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // What an indented line belongs to: an impl (methods), a struct (fields) or an enum
    // (variants), each only when the enclosing item is public.
    let mut inside: Option<String> = None;
    let mut hidden = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        if line.starts_with("#[doc(hidden)]") {
            hidden = true;
            continue;
        }
        if line.starts_with("#[") || line.starts_with("//") || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            let was_hidden = std::mem::take(&mut hidden);
            inside = None;
            if let Some(rest) = line.strip_prefix("pub mod ") {
                let name = item_name(rest);
                if !was_hidden && rest.trim_end().ends_with(';') {
                    out.push(format!("{path}::{name}: mod"));
                    scan(&module_file(file, name), &format!("{path}::{name}"), out);
                }
                continue;
            }
            if line.starts_with("pub use ") {
                // A re-export may span lines: join them up to the `;`.
                let mut statement = line.to_string();
                while !statement.trim_end().ends_with(';') && i < lines.len() {
                    statement.push(' ');
                    statement.push_str(lines[i].trim());
                    i += 1;
                }
                let statement = statement.split_whitespace().collect::<Vec<_>>().join(" ");
                out.push(format!("{path}: {}", statement.replace("{ ", "{").replace(", }", "}")));
                reexported(file, path, &statement, &text, out);
                continue;
            }
            if line.starts_with("impl") {
                // Only inherent and trait impls on public types matter; the type is the word
                // after `for`, or else after `impl` (generics dropped).
                let head = line.trim_end_matches('{').trim();
                let ty = head.rsplit(" for ").next().unwrap_or(head);
                let ty = ty.trim_start_matches("impl").trim_start();
                let ty = if ty.starts_with('<') {
                    ty.split_once("> ").map_or(ty, |(_, t)| t)
                } else {
                    ty
                };
                let owner = format!("{path}::{}", ty.split(['<', ' ']).next().unwrap());
                // Impls of private types are not part of the surface.
                let public = out
                    .iter()
                    .any(|l| l.strip_prefix(owner.as_str()).is_some_and(|r| r.starts_with(": ")));
                inside = public.then_some(owner);
                if public && head.contains(" for ") {
                    out.push(format!("{path}: {head}"));
                    inside = None;
                }
                continue;
            }
            for kind in ["fn", "struct", "enum", "const", "static", "type", "trait"] {
                if let Some(rest) = line.strip_prefix(&format!("pub {kind} ")) {
                    let name = item_name(rest);
                    out.push(format!("{path}::{name}: {kind}"));
                    if (kind == "struct" || kind == "enum") && line.trim_end().ends_with('{') {
                        inside = Some(format!("{path}::{name}"));
                    }
                }
            }
            continue;
        }
        let Some(owner) = &inside else { continue };
        let member = line.trim_start();
        let depth = line.len() - member.len();
        if depth != 4 {
            continue;
        }
        if let Some(rest) = member.strip_prefix("pub fn ") {
            out.push(format!("{owner}::{}: method", item_name(rest)));
        } else if let Some(rest) = member.strip_prefix("pub const ") {
            out.push(format!("{owner}::{}: const", item_name(rest)));
        } else if let Some(rest) = member.strip_prefix("pub ") {
            if rest.contains(':') && !rest.starts_with("fn ") {
                out.push(format!("{owner}.{}: field", item_name(rest)));
            }
        } else if member.starts_with(|c: char| c.is_ascii_uppercase()) {
            out.push(format!("{owner}::{}: variant", item_name(member)));
        }
    }
}

const CRATES: [(&str, &str); 3] = [
    ("format", "memreport_format"),
    ("analysis", "memreport_analysis"),
    ("report", "memreport_report"),
];

/// The surface of a crate of `crates/`, one line per item.
fn surface(krate: &str, name: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut surface = Vec::new();
    scan(&root.join("crates").join(krate).join("src/lib.rs"), name, &mut surface);
    assert!(surface.len() > 20, "{krate}: the scan found only {surface:?}");
    surface.join("\n") + "\n"
}

/// The members of the items a `pub use` takes from a private module of this crate, which are
/// public through it (`pub use analysis::{Analysis, …}` makes `Analysis`'s methods public).
fn reexported(file: &Path, path: &str, statement: &str, text: &str, out: &mut Vec<String>) {
    let Some(rest) = statement.strip_prefix("pub use ") else { return };
    let rest = rest.strip_prefix("self::").unwrap_or(rest);
    let (module, names) = match rest.split_once("::") {
        Some((module, names)) => (module, names.trim_end_matches(';')),
        None => return,
    };
    if !text.lines().any(|l| l == format!("mod {module};")) {
        return;
    }
    let names: Vec<&str> = names
        .trim_matches(['{', '}'])
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    let mut inner = Vec::new();
    scan(&module_file(file, module), path, &mut inner);
    for line in inner {
        let Some(member) = line.strip_prefix(&format!("{path}::")) else {
            // A trait impl: `path: impl Trait for Name`.
            if names.iter().any(|n| line.ends_with(&format!(" for {n}"))) {
                out.push(line);
            }
            continue;
        };
        let name = item_name(member);
        let kept = names.contains(&name) && member[name.len()..].starts_with([':', '.']);
        if kept && !member.starts_with(&format!("{name}: ")) {
            out.push(line);
        }
    }
}

#[test]
fn public_surface_matches_the_golden_lists() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for (krate, name) in CRATES {
        let golden = root.join("tests/api").join(format!("{name}.txt"));
        failures.extend(check_golden(&golden, surface(krate, name).as_bytes()));
    }
    finish(failures);
}

#[test]
fn private_plumbing_stays_private() {
    let [format, analysis, report] = CRATES.map(|(krate, name)| surface(krate, name));
    // The hasher, the line-table decoder and the wire parsers are the format crate's own.
    for private in ["FxHash", "::linetable: mod", "::wire: mod", "nom"] {
        assert!(!format.contains(private), "memreport_format exposes {private}");
    }
    // The analysis crate re-exports the types of its answers, not the whole format crate.
    assert!(!analysis.contains("pub use memreport_format as"), "{analysis}");
    assert!(!analysis.contains("Records") && !analysis.contains("Record,"), "{analysis}");
    // Pages are written through three functions; their drawing is private.
    for private in ["html::chart", "html::flame:"] {
        assert!(!report.contains(private), "memreport_report exposes {private}");
    }
}
