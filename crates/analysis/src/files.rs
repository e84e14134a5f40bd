//! Where a Python source file lives: the standard library, an installed package or the
//! program's own code, its dotted module name, and a spelling of its path that means the same on
//! any host. One owner for these decisions: stats sums allocations by module with memray's rules
//! (spec §5.5), leaks label sites by the program's own frames, diff matches locations across hosts
//! by portable paths, and `group` groups by module.
//!
//! memray 1.20 stores the interpreter's standard-library, site-packages and `sys.path`
//! directories in the header (v13); older captures store none, so there the shape of a path
//! (`/site-packages/`, `/lib/python3.x/`) decides.

use std::path::Path;

use memreport_format::Header;

/// Where a source file belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModuleKind {
    /// The standard library (under `libdest`, or frozen).
    Stdlib,
    /// Under a site-packages directory.
    SitePackages,
    /// Under a `sys.path` entry.
    Project,
    /// None of the above.
    Unknown,
}

/// memray's `ModuleResolver` over the path lists stored in the header (v13).
#[derive(Debug, Clone)]
pub(crate) struct ModuleResolver<'h> {
    header: &'h Header,
    libdest: Option<&'h Path>,
    site_packages: Vec<&'h Path>,
    sys_path: Vec<&'h Path>,
}

impl<'h> ModuleResolver<'h> {
    /// The resolver of a capture's header.
    pub(crate) fn new(header: &'h Header) -> ModuleResolver<'h> {
        ModuleResolver {
            header,
            libdest: header.libdest.as_deref().filter(|s| !s.is_empty()).map(Path::new),
            site_packages: header.site_packages.iter().map(Path::new).collect(),
            sys_path: header.sys_path.iter().filter(|s| !s.is_empty()).map(Path::new).collect(),
        }
    }

    /// The dotted module name of a file and where it belongs.
    pub(crate) fn classify(&self, filename: &str) -> (String, ModuleKind) {
        if filename.is_empty() {
            return ("unknown".to_string(), ModuleKind::Unknown);
        }
        if let Some(rest) = filename.strip_prefix("<frozen ") {
            // memray drops the last character, whatever it is (`filename[8:-1]`).
            let mut name = rest.chars();
            name.next_back();
            return (name.as_str().to_string(), ModuleKind::Stdlib);
        }
        let path = Path::new(filename);
        for base in &self.site_packages {
            if let Ok(rel) = path.strip_prefix(base) {
                return (path_to_module(rel), ModuleKind::SitePackages);
            }
        }
        if let Some(rel) = self.libdest.and_then(|base| path.strip_prefix(base).ok()) {
            return (path_to_module(rel), ModuleKind::Stdlib);
        }
        for base in &self.sys_path {
            if let Ok(rel) = path.strip_prefix(base) {
                return (path_to_module(rel), ModuleKind::Project);
            }
        }
        let name = path.file_name().map(Path::new).unwrap_or(Path::new(""));
        (path_to_module(name), ModuleKind::Unknown)
    }

    /// Whether a file is the program's own code rather than the standard library, an installed
    /// package or memray. Captures before memray 1.20 store no interpreter paths, so well-known path
    /// shapes decide there.
    pub(crate) fn is_own_code(&self, filename: &str) -> bool {
        match self.classify(filename).1 {
            ModuleKind::Stdlib | ModuleKind::SitePackages => false,
            ModuleKind::Project | ModuleKind::Unknown => {
                !(filename.starts_with('<')
                    || filename.contains("/site-packages/")
                    || filename.contains("/dist-packages/")
                    || filename.contains("/lib/python3"))
            }
        }
    }

    /// A location spelled `function:file:line` with its file's [portable](Self::portable) path.
    pub(crate) fn spell_portable(&self, location: &crate::stacks::Location) -> String {
        format!("{}:{}:{}", location.function, self.portable(&location.filename), location.lineno)
    }

    /// A file path that means the same on any host: installed packages as
    /// `<site-packages>/pkg/mod.py`, the standard library as `<stdlib>/json/encoder.py`, a file under
    /// an entry of `sys.path` relative to the longest such entry. Captures before memray 1.20 store
    /// no paths, so there the shape of the path decides.
    pub(crate) fn portable(&self, filename: &str) -> String {
        let header = self.header;
        if filename.starts_with('<') {
            return filename.to_string();
        }
        let strip = |base: &str| {
            let base = base.trim_end_matches('/');
            (!base.is_empty())
                .then(|| filename.strip_prefix(base).and_then(|r| r.strip_prefix('/')))
                .flatten()
        };
        for base in &header.site_packages {
            if let Some(rest) = strip(base) {
                return format!("<site-packages>/{rest}");
            }
        }
        if let Some(rest) = header.libdest.as_deref().and_then(strip) {
            return format!("<stdlib>/{rest}");
        }
        for marker in ["/site-packages/", "/dist-packages/"] {
            if let Some(at) = filename.find(marker) {
                return format!("<site-packages>/{}", &filename[at + marker.len()..]);
            }
        }
        if let Some(at) = filename.find("/lib/python3") {
            if let Some(slash) = filename[at + 5..].find('/') {
                return format!("<stdlib>/{}", &filename[at + 5 + slash + 1..]);
            }
        }
        // The longest entry of sys.path that holds the file.
        let mut best: Option<&str> = None;
        for base in &header.sys_path {
            if let Some(rest) = strip(base) {
                if best.is_none_or(|b| rest.len() < b.len()) {
                    best = Some(rest);
                }
            }
        }
        best.unwrap_or(filename).to_string()
    }
}

/// `pkg/sub/mod.py` → `pkg.sub.mod`; `pkg/__init__.py` → `pkg`.
fn path_to_module(rel: &Path) -> String {
    let rel = if rel.file_name().is_some_and(|n| n == "__init__.py") {
        rel.parent().unwrap_or(rel).to_path_buf()
    } else if rel.extension().is_some_and(|e| e == "py") {
        rel.with_extension("")
    } else {
        rel.to_path_buf()
    };
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_classify_like_memray() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-basic/capture.bin");
        let mut header = memreport_format::Capture::open(path).unwrap().header().clone();
        header.libdest = Some("/usr/lib/python3.11".into());
        header.site_packages = vec!["/venv/lib/python3.11/site-packages".into()];
        header.sys_path = vec!["/srv/app".into()];
        let r = ModuleResolver::new(&header);
        assert_eq!(r.classify("<frozen runpy>"), ("runpy".into(), ModuleKind::Stdlib));
        assert_eq!(
            r.classify("/venv/lib/python3.11/site-packages/numpy/core/__init__.py"),
            ("numpy.core".into(), ModuleKind::SitePackages)
        );
        assert_eq!(
            r.classify("/usr/lib/python3.11/json/decoder.py"),
            ("json.decoder".into(), ModuleKind::Stdlib)
        );
        assert_eq!(r.classify("/srv/app/svc/db.py"), ("svc.db".into(), ModuleKind::Project));
        assert_eq!(r.classify("basic.py"), ("basic".into(), ModuleKind::Unknown));
        assert_eq!(r.classify(""), ("unknown".into(), ModuleKind::Unknown));
        // Found by the analysis fuzz target: a multi-byte last character after "<frozen ".
        assert_eq!(r.classify("<frozen runpy>*\u{fffd}"), ("runpy>*".into(), ModuleKind::Stdlib));
        assert_eq!(r.classify("<frozen "), ("".into(), ModuleKind::Stdlib));
    }

    #[test]
    fn own_code_and_portable_paths() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/v13-basic/capture.bin");
        let mut header = memreport_format::Capture::open(path).unwrap().header().clone();
        header.libdest = Some("/usr/lib/python3.11".into());
        header.site_packages = vec!["/venv/lib/python3.11/site-packages".into()];
        header.sys_path = vec!["/srv".into(), "/srv/app".into()];
        let r = ModuleResolver::new(&header);
        assert!(r.is_own_code("/srv/app/svc/db.py"));
        assert!(r.is_own_code("app.py"));
        assert!(!r.is_own_code("/usr/lib/python3.11/json/decoder.py"));
        assert!(!r.is_own_code("/other/venv/lib/python3.12/site-packages/flask/app.py"));
        assert!(!r.is_own_code("<frozen runpy>"));
        assert_eq!(
            r.portable("/venv/lib/python3.11/site-packages/flask/app.py"),
            "<site-packages>/flask/app.py"
        );
        assert_eq!(r.portable("/usr/lib/python3.11/json/decoder.py"), "<stdlib>/json/decoder.py");
        // Another host's paths, by their shape.
        assert_eq!(
            r.portable("/home/u/.venv/lib/python3.12/site-packages/flask/app.py"),
            "<site-packages>/flask/app.py"
        );
        assert_eq!(
            r.portable("/opt/py/lib/python3.12/json/decoder.py"),
            "<stdlib>/json/decoder.py"
        );
        // The longest sys.path entry holding the file wins.
        assert_eq!(r.portable("/srv/app/svc/db.py"), "svc/db.py");
        assert_eq!(r.portable("<frozen runpy>"), "<frozen runpy>");
    }
}
