//! Native symbols: names for the return addresses of a `--native` capture, read from the ELF
//! files its memory maps name, as memray does (spec §2.6). DWARF line tables come first, and
//! give an inlined call a frame of its own; then the symbol tables (`.symtab`, `.dynsym`), whose
//! frames have a function but no line. C++ and Rust names are demangled.
//!
//! The files are found at their recorded paths (the machine that made the capture) or under
//! another root ([`SymbolSource::under`], a copy of a container's filesystem). A capture names
//! them, so every path is hostile: only regular files are read, up to [`MAX_IMAGE_BYTES`], and
//! under a root a path cannot climb out of it.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use object::{Object, ObjectSection, ObjectSymbol};

/// Larger files are not read: no shared object comes near, and a capture could name a device.
pub const MAX_IMAGE_BYTES: u64 = 1 << 31;

/// Where the ELF files named by a capture's memory maps are looked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolSource {
    root: Option<PathBuf>,
}

impl SymbolSource {
    /// The paths as recorded: right on the machine that made the capture.
    pub fn recorded() -> SymbolSource {
        SymbolSource { root: None }
    }

    /// Under `root`: `root/<recorded path>` first, then `root/<file name>`, so that both a copy
    /// of a container's filesystem and a folder of collected `.so` files work.
    pub fn under(root: impl Into<PathBuf>) -> SymbolSource {
        SymbolSource { root: Some(root.into()) }
    }

    /// The root files are looked for under, if not the recorded paths.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The paths to try for a recorded file name, in order.
    fn candidates(&self, recorded: &str) -> Vec<PathBuf> {
        let Some(root) = &self.root else {
            return vec![PathBuf::from(recorded)];
        };
        // Only plain names below the root: `..`, a second root or a prefix would leave it.
        let parts: Option<Vec<&str>> = Path::new(recorded)
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
            .map(|c| match c {
                Component::Normal(name) => name.to_str(),
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        if let Some(parts) = parts.filter(|p| !p.is_empty()) {
            out.push(parts.iter().fold(root.clone(), |path, part| path.join(part)));
            let name = root.join(parts[parts.len() - 1]);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// A frame named from an image's debug information or symbol table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NamedFrame {
    pub(crate) function: Option<String>,
    /// Source file, from DWARF only.
    pub(crate) file: Option<String>,
    pub(crate) line: u32,
}

type Reader = gimli::EndianRcSlice<gimli::RunTimeEndian>;

/// The symbols of one image: its sorted symbol table and its DWARF, when it has any.
pub(crate) struct ImageSymbols {
    /// `(start, end, name)`, sorted by start.
    symbols: Vec<(u64, u64, String)>,
    dwarf: Option<addr2line::Context<Reader>>,
}

/// Why an image's symbols could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ImageError {
    /// No candidate path is a regular file.
    Missing,
    /// A file was found but is not an object file memreport reads.
    Unreadable(String),
}

impl ImageSymbols {
    /// Finds and reads the image recorded as `recorded`.
    pub(crate) fn find(source: &SymbolSource, recorded: &str) -> Result<ImageSymbols, ImageError> {
        let mut last = ImageError::Missing;
        for path in source.candidates(recorded) {
            match read_regular_file(&path) {
                Some(bytes) => match ImageSymbols::parse(&bytes) {
                    Ok(symbols) => return Ok(symbols),
                    Err(e) => last = ImageError::Unreadable(e),
                },
                None => continue,
            }
        }
        Err(last)
    }

    /// Reads the symbols of an object file's bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<ImageSymbols, String> {
        let file = object::File::parse(bytes).map_err(|e| e.to_string())?;
        let mut symbols: Vec<(u64, u64, String)> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| {
                matches!(s.kind(), object::SymbolKind::Text | object::SymbolKind::Data)
                    && !s.is_undefined()
                    && s.size() > 0
            })
            .filter_map(|s| {
                let name = s.name().ok().filter(|n| !n.is_empty())?;
                Some((s.address(), s.address().saturating_add(s.size()), demangle(name)))
            })
            .collect();
        // `.symtab` usually repeats `.dynsym`: one entry per (start, end, name) is enough.
        symbols.sort();
        symbols.dedup();
        Ok(ImageSymbols { symbols, dwarf: load_dwarf(&file) })
    }

    /// The frames of `address` (relative to the image's load address), innermost first.
    pub(crate) fn frames(&self, address: u64, out: &mut Vec<NamedFrame>) {
        out.clear();
        // addr2line looks up `[address, address + 1)`, which overflows at the top of the
        // address space (found by the `symbols` fuzz target): a capture's return address minus
        // a load address can be anything, and no image has code there.
        if let Some(dwarf) = self.dwarf.as_ref().filter(|_| address < u64::MAX) {
            if let Ok(mut frames) = dwarf.find_frames(address).skip_all_loads() {
                while let Ok(Some(frame)) = frames.next() {
                    let function = frame
                        .function
                        .as_ref()
                        .and_then(|f| f.demangle().ok())
                        .map(|name| name.into_owned())
                        .filter(|name| !name.is_empty());
                    let (file, line) = match &frame.location {
                        Some(l) => (l.file.map(str::to_string), l.line.unwrap_or(0)),
                        None => (None, 0),
                    };
                    out.push(NamedFrame { function, file, line });
                }
            }
        }
        // A frame without a name takes the symbol table's (as libbacktrace does when the
        // line tables know the address but not its function).
        let symbol = || self.symbol(address).map(str::to_string);
        match out.last_mut() {
            Some(last) if last.function.is_none() => last.function = symbol(),
            Some(_) => {}
            None => out.push(NamedFrame { function: symbol(), file: None, line: 0 }),
        }
    }

    /// The symbol whose extent holds `address`.
    fn symbol(&self, address: u64) -> Option<&str> {
        let i = self.symbols.partition_point(|s| s.0 <= address);
        // Symbols may nest (an alias inside a larger one): look back past the ones that end
        // before the address, a few at most in practice.
        self.symbols[..i].iter().rev().take(8).find(|s| address < s.1).map(|s| s.2.as_str())
    }
}

fn demangle(name: &str) -> String {
    addr2line::demangle_auto(Cow::Borrowed(name), None).into_owned()
}

/// The DWARF sections of an object file, when it has line tables.
fn load_dwarf(file: &object::File<'_>) -> Option<addr2line::Context<Reader>> {
    file.section_by_name(".debug_line")?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
        // A compressed section (SHF_COMPRESSED) reads as absent: its frames fall back to
        // the symbol table.
        let data: Rc<[u8]> = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .map_or_else(|| Rc::from(&[][..]), |d| Rc::from(&*d));
        Ok(gimli::EndianRcSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// A regular file's bytes, if `path` is one (not a device, a fifo or a folder) and not too big.
fn read_regular_file(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_IMAGE_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).ok()?.take(MAX_IMAGE_BYTES).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_keeps_recorded_paths_inside_it() {
        let source = SymbolSource::under("/r");
        assert_eq!(
            source.candidates("/usr/lib/libc.so.6"),
            [PathBuf::from("/r/usr/lib/libc.so.6"), PathBuf::from("/r/libc.so.6")]
        );
        assert_eq!(source.candidates("libx.so"), [PathBuf::from("/r/libx.so")]);
        assert!(source.candidates("/usr/../../etc/passwd").is_empty());
        assert!(source.candidates("/").is_empty());
        assert_eq!(SymbolSource::recorded().candidates("/a/b"), [PathBuf::from("/a/b")]);
    }

    #[test]
    fn devices_and_folders_are_not_read() {
        assert!(read_regular_file(Path::new("/dev/zero")).is_none());
        assert!(read_regular_file(Path::new("/")).is_none());
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        assert!(ImageSymbols::parse(b"\x7fELF\x02\x01\x01junk").is_err());
        assert!(ImageSymbols::parse(b"").is_err());
    }

    /// The fixture's C extension (symbols and DWARF), cut short and with bytes flipped: a
    /// deterministic sample of what the `symbols` fuzz target explores. Every damaged copy is
    /// read or refused, and its addresses named or not, without a panic.
    #[test]
    fn a_damaged_image_is_read_or_refused_without_a_panic() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/native-leakyext/symbols");
        let image = std::fs::read(Path::new(path).join("leakyext.so")).unwrap();
        let good = ImageSymbols::parse(&image).unwrap();
        let mut frames = Vec::new();
        let named = |img: &ImageSymbols, frames: &mut Vec<NamedFrame>| {
            (0..image.len() as u64)
                .step_by(97)
                .map(|a| {
                    img.frames(a, frames);
                    frames.len()
                })
                .sum::<usize>()
        };
        assert!(named(&good, &mut frames) > 0);
        // The top of the address space (a fuzzer's first find: addr2line's range overflowed).
        good.frames(u64::MAX, &mut frames);
        assert!(frames.iter().all(|f| f.file.is_none()));
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..200 {
            let mut bytes = image.clone();
            if round % 4 == 0 {
                bytes.truncate((round * 131) % image.len());
            }
            for _ in 0..8 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let at = (seed >> 33) as usize % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= (seed >> 24) as u8 | 1;
                }
            }
            if let Ok(img) = ImageSymbols::parse(&bytes) {
                let _ = named(&img, &mut frames);
            }
        }
    }
}
