//! How stacks are shown: memray's runner frames and the import system hidden, and pprof's
//! filters. A [`View`] is set on an analysis ([`crate::Analysis::set_view`]); every grouping,
//! call tree and flame graph then sees the stacks it presents, and the rows of a result keep only
//! the allocations it focuses on, so every total follows.
//!
//! The library's default view is memray's own (nothing hidden), so its numbers and stacks are
//! memray's; the command line hides the runner and the import system unless `--all-frames`.
//!
//! * **Runner frames**: the outermost frames that memray's runner and `runpy` add above the
//!   program (`_run_tracker` in `memray/commands/run.py`, `run_path`, `_run_module_code`,
//!   `_run_code`), trimmed while a frame of the program remains below them.
//! * **Import system**: frames of `importlib._bootstrap` (the `_find_and_load` towers under every
//!   import), removed from a stack except its innermost frame, so an allocation keeps its
//!   location.
//! * **Interpreter machinery** (named native frames only): the interpreter's call and eval
//!   functions and its unnamed static functions, which memray hides as irrelevant; and the
//!   native frames outside the program's outermost Python frame (the interpreter's start-up, a
//!   thread's start), trimmed with the runner.
//! * **Filters** (pprof's): a regular expression searched in each frame spelled
//!   `function:file:line`. `focus` keeps the allocations whose stack has a matching frame and
//!   `ignore` drops them (both on the whole stack, before anything is hidden); `hide` removes
//!   matching frames and `show` keeps only matching frames.

use regex::Regex;

use crate::stacks::{spell, Location};

/// How stacks are shown, and which allocations are kept.
#[derive(Debug, Clone, Default)]
pub struct View {
    hide_runner: bool,
    hide_import_system: bool,
    hide_interpreter: bool,
    focus: Option<Regex>,
    ignore: Option<Regex>,
    hide: Option<Regex>,
    show: Option<Regex>,
}

/// A filter that is not a regular expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a regular expression: {:?}: {}", self.pattern, self.message)
    }
}

impl std::error::Error for PatternError {}

fn compile(pattern: &str) -> Result<Regex, PatternError> {
    // A bounded automaton: a pattern from the command line must not take the memory of a
    // machine.
    regex::RegexBuilder::new(pattern).size_limit(1 << 22).build().map_err(|e| PatternError {
        pattern: pattern.to_string(),
        message: e.to_string().lines().last().unwrap_or("").trim().to_string(),
    })
}

impl View {
    /// memray's view: every frame, every allocation.
    pub fn memray() -> View {
        View::default()
    }

    /// What people read first: the runner and the import system hidden, no filter.
    pub fn readable() -> View {
        View {
            hide_runner: true,
            hide_import_system: true,
            hide_interpreter: true,
            ..View::default()
        }
    }

    /// Keeps only the allocations with a frame (`function:file:line`) that matches `pattern`.
    pub fn focus(mut self, pattern: &str) -> Result<View, PatternError> {
        self.focus = Some(compile(pattern)?);
        Ok(self)
    }

    /// Drops the allocations with a frame that matches `pattern`.
    pub fn ignore(mut self, pattern: &str) -> Result<View, PatternError> {
        self.ignore = Some(compile(pattern)?);
        Ok(self)
    }

    /// Removes the frames that match `pattern` from every stack.
    pub fn hide(mut self, pattern: &str) -> Result<View, PatternError> {
        self.hide = Some(compile(pattern)?);
        Ok(self)
    }

    /// Keeps only the frames that match `pattern` in every stack.
    pub fn show(mut self, pattern: &str) -> Result<View, PatternError> {
        self.show = Some(compile(pattern)?);
        Ok(self)
    }

    /// The filters this view applies, as `(name, pattern)`: `focus`, `ignore`, `hide`, `show`,
    /// in that order, for the ones given.
    pub fn filters(&self) -> Vec<(&'static str, String)> {
        [
            ("focus", &self.focus),
            ("ignore", &self.ignore),
            ("hide", &self.hide),
            ("show", &self.show),
        ]
        .into_iter()
        .filter_map(|(name, re)| re.as_ref().map(|re| (name, re.as_str().to_string())))
        .collect()
    }

    /// Whether this view shows exactly memray's stacks and rows.
    pub fn is_memray(&self) -> bool {
        !self.hide_runner
            && !self.hide_import_system
            && !self.hide_interpreter
            && self.focus.is_none()
            && self.ignore.is_none()
            && self.hide.is_none()
            && self.show.is_none()
    }

    /// Whether the view keeps only some allocations (a focus or an ignore).
    pub(crate) fn filters_rows(&self) -> bool {
        self.focus.is_some() || self.ignore.is_some()
    }

    pub(crate) fn has_focus(&self) -> bool {
        self.focus.is_some()
    }
}

/// What a view decided about one frame, once per frame id.
pub(crate) const RUNNER: u8 = 1;
pub(crate) const IMPORT: u8 = 2;
pub(crate) const HIDDEN: u8 = 4;
pub(crate) const NOT_SHOWN: u8 = 8;
pub(crate) const FOCUSED: u8 = 16;
pub(crate) const IGNORED: u8 = 32;
pub(crate) const NATIVE_OUTER: u8 = 64;
pub(crate) const INTERPRETER: u8 = 128;

/// The flags a named native frame adds under `view`: it is trimmed with the runner when outside
/// the program's Python frames, and hidden when it is the interpreter's machinery.
pub(crate) fn native_flags(view: &View, interpreter: bool) -> u8 {
    let mut flags = 0;
    if view.hide_runner {
        flags |= NATIVE_OUTER;
    }
    if view.hide_interpreter && interpreter {
        flags |= INTERPRETER;
    }
    flags
}

/// The flags of a frame under `view`.
pub(crate) fn flags(view: &View, location: &Location) -> u8 {
    let mut flags = 0;
    if view.hide_runner && is_runner(location) {
        flags |= RUNNER;
    }
    if view.hide_import_system && is_import_system(&location.filename) {
        flags |= IMPORT;
    }
    let regexes = [
        (&view.hide, HIDDEN, true),
        (&view.show, NOT_SHOWN, false),
        (&view.focus, FOCUSED, true),
        (&view.ignore, IGNORED, true),
    ];
    if regexes.iter().any(|(re, _, _)| re.is_some()) {
        let spelled = spell(location);
        for (re, flag, on_match) in regexes {
            if let Some(re) = re {
                if re.is_match(&spelled) == on_match {
                    flags |= flag;
                }
            }
        }
    }
    flags
}

/// Where a frame's code comes from, for colouring a flame graph by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Place {
    /// The program's own code.
    Program,
    /// The standard library.
    Stdlib,
    /// An installed package.
    Package,
    /// memray's runner or `runpy`.
    Runner,
    /// The import machinery.
    ImportSystem,
    /// A named native frame (C, C++ or Rust code, the interpreter's own included).
    Native,
}

impl Place {
    /// `program`, `stdlib`, `package`, `runner`, `import` or `native`.
    pub fn name(self) -> &'static str {
        match self {
            Place::Program => "program",
            Place::Stdlib => "stdlib",
            Place::Package => "package",
            Place::Runner => "runner",
            Place::ImportSystem => "import",
            Place::Native => "native",
        }
    }
}

/// The place of a frame, with the header's path lists (and path shapes for older captures).
pub(crate) fn place(location: &Location, modules: &crate::files::ModuleResolver<'_>) -> Place {
    if is_runner(location) {
        return Place::Runner;
    }
    if is_import_system(&location.filename) {
        return Place::ImportSystem;
    }
    if modules.is_own_code(&location.filename) {
        return Place::Program;
    }
    let file = location.filename.as_str();
    match modules.classify(file).1 {
        crate::files::ModuleKind::SitePackages => Place::Package,
        _ if file.contains("/site-packages/") || file.contains("/dist-packages/") => Place::Package,
        _ => Place::Stdlib,
    }
}

/// A frame that memray's runner or `runpy` adds above the program.
fn is_runner(location: &Location) -> bool {
    let file = location.filename.as_str();
    file == "<frozen runpy>"
        || file.ends_with("/runpy.py")
        || file == "runpy.py"
        || file.contains("/memray/")
        || file.starts_with("memray/")
        || file.ends_with("/bin/memray")
}

/// A frame of the import machinery (`<frozen importlib._bootstrap>` and its external half).
pub(crate) fn is_import_system(file: &str) -> bool {
    file.contains("frozen importlib") || file.contains("importlib/_bootstrap")
}

/// Applies the frame flags of a view to a stack of frame ids, innermost first.
pub(crate) fn present(frames: &mut Vec<u32>, flags: &[u8]) {
    let flag = |f: u32| flags.get(f as usize).copied().unwrap_or(0);
    // The runner: outermost frames, while a frame of the program stays below them. Native
    // frames outside the outermost Python frame that is not the runner's go with it.
    match frames.iter().rposition(|&f| flag(f) & (RUNNER | NATIVE_OUTER) == 0) {
        Some(outermost) => frames.truncate(outermost + 1),
        None => {
            while frames.len() > 1 && flag(frames[frames.len() - 1]) & RUNNER != 0 {
                frames.pop();
            }
        }
    }
    // The import system and the interpreter's machinery: anywhere but the innermost frame.
    if frames.iter().skip(1).any(|&f| flag(f) & (IMPORT | INTERPRETER) != 0) {
        let mut i = 0;
        frames.retain(|&f| {
            i += 1;
            i == 1 || flag(f) & (IMPORT | INTERPRETER) == 0
        });
    }
    if frames.iter().any(|&f| flag(f) & (HIDDEN | NOT_SHOWN) != 0) {
        frames.retain(|&f| flag(f) & (HIDDEN | NOT_SHOWN) == 0);
    }
}

/// Whether an allocation with this whole stack (frame ids) is kept by the view's focus and ignore.
pub(crate) fn keeps(frames: &[u32], flags: &[u8], focus: bool) -> bool {
    let flag = |f: &u32| flags.get(*f as usize).copied().unwrap_or(0);
    (!focus || frames.iter().any(|f| flag(f) & FOCUSED != 0))
        && !frames.iter().any(|f| flag(f) & IGNORED != 0)
}
