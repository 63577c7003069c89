//! A rules bundle: the scripts, templates and test vectors of one contract version, held in
//! memory as relative path → bytes, and identified by a hash of its content.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use crate::types::RulesVersion;

/// Caps that keep a bundle small enough to hash, ship and load in a Lambda's cold start.
pub const MAX_FILES: usize = 500;
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read rules from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: not a usable path inside a rules bundle (relative, UTF-8, no '..')")]
    BadPath(String),
    #[error("rules bundle is too large (more than {MAX_FILES} files or {MAX_BYTES} bytes)")]
    TooLarge,
}

/// Folders of `rules/` that are not part of the bundle: the labelled tickets for measuring
/// severity (`mesa rules eval --batch` reads them from the folder). They are not rules a
/// process runs or checks, and they were 300 KB of every published bundle, which each
/// Lambda cold start downloaded; editing them does not change the rules version.
pub const NOT_BUNDLED: &[&str] = &["tests/severity-eval"];

fn is_bundled(path: &str) -> bool {
    !NOT_BUNDLED.iter().any(|dir| {
        path.strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
}

impl Bundle {
    /// Builds a bundle from (relative path, content) pairs; paths use `/`.
    pub fn from_files<P: Into<String>>(
        files: impl IntoIterator<Item = (P, Vec<u8>)>,
    ) -> Result<Self, BundleError> {
        let mut map = BTreeMap::new();
        let mut total = 0usize;
        for (path, bytes) in files {
            let path = normalize(&path.into())?;
            total += bytes.len();
            map.insert(path, bytes);
            if map.len() > MAX_FILES || total > MAX_BYTES {
                return Err(BundleError::TooLarge);
            }
        }
        Ok(Self { files: map })
    }

    /// Reads every file under `dir` (hidden files and folders, and [`NOT_BUNDLED`], skipped).
    pub fn from_dir(dir: &Path) -> Result<Self, BundleError> {
        let mut files = Vec::new();
        read_dir_into(dir, dir, &mut files)?;
        Self::from_files(files)
    }

    /// The bundle compiled into the binary from the repository's `rules/`: the contract a
    /// process runs when no other bundle is given, and the fallback on AWS.
    pub fn built_in() -> Self {
        static RULES: include_dir::Dir<'static> =
            include_dir::include_dir!("$CARGO_MANIFEST_DIR/../../rules");
        fn collect(dir: &include_dir::Dir<'static>, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in dir.entries() {
                match entry {
                    include_dir::DirEntry::Dir(d) => collect(d, out),
                    include_dir::DirEntry::File(f) => {
                        let path = f.path().to_string_lossy().replace('\\', "/");
                        let hidden = path.rsplit('/').next().is_some_and(|n| n.starts_with('.'));
                        if !hidden && is_bundled(&path) {
                            out.insert(path, f.contents().to_vec());
                        }
                    }
                }
            }
        }
        let mut files = BTreeMap::new();
        collect(&RULES, &mut files);
        Self { files }
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    pub fn text(&self, path: &str) -> Option<&str> {
        self.get(path).and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// SHA-256 over every path and content, in path order; the first 16 hex digits.
    pub fn version(&self) -> RulesVersion {
        let mut h = Sha256::new();
        for (path, bytes) in &self.files {
            h.update((path.len() as u64).to_be_bytes());
            h.update(path.as_bytes());
            h.update((bytes.len() as u64).to_be_bytes());
            h.update(bytes);
        }
        let digest = h.finalize();
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        RulesVersion::from_digest_hex(&hex)
    }
}

fn normalize(path: &str) -> Result<String, BundleError> {
    let bad = || BundleError::BadPath(path.to_string());
    let p = Path::new(path);
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or_else(bad)?),
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts.join("/"))
}

fn read_dir_into(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), BundleError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| BundleError::Io { path, source }
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_dir() {
            read_dir_into(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .map_err(|_| BundleError::BadPath(path.display().to_string()))?;
            let rel = rel
                .to_str()
                .ok_or_else(|| BundleError::BadPath(path.display().to_string()))?
                .replace(std::path::MAIN_SEPARATOR, "/");
            if !is_bundled(&rel) {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            out.push((rel, bytes));
            if out.len() > MAX_FILES {
                return Err(BundleError::TooLarge);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_depends_on_content_and_paths() {
        let a = Bundle::from_files([("a.rhai", b"1".to_vec())]).unwrap();
        let b = Bundle::from_files([("a.rhai", b"2".to_vec())]).unwrap();
        let c = Bundle::from_files([("b.rhai", b"1".to_vec())]).unwrap();
        assert_ne!(a.version(), b.version());
        assert_ne!(a.version(), c.version());
        assert_eq!(a.version(), a.clone().version());
        assert!(a.version().as_str().starts_with("r-"));
    }

    #[test]
    fn the_severity_evaluation_sets_are_not_part_of_the_bundle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tests/severity-eval")).unwrap();
        std::fs::write(dir.path().join("severity.rhai"), "fn f() { 1 }").unwrap();
        std::fs::write(dir.path().join("tests/severity.json"), "[]").unwrap();
        std::fs::write(dir.path().join("tests/severity-eval/dev.jsonl"), "{}").unwrap();
        std::fs::write(dir.path().join("tests/severity-evaluation.json"), "[]").unwrap();
        let b = Bundle::from_dir(dir.path()).unwrap();
        assert_eq!(
            b.paths().collect::<Vec<_>>(),
            [
                "severity.rhai",
                "tests/severity-evaluation.json",
                "tests/severity.json"
            ]
        );
        // The same for the bundle built into the binary from the repository's rules/.
        let built_in = Bundle::built_in();
        assert!(built_in.paths().any(|p| p == "tests/severity.json"));
        assert!(
            !built_in
                .paths()
                .any(|p| p.starts_with("tests/severity-eval/"))
        );
    }

    #[test]
    fn rejects_escaping_paths() {
        assert!(Bundle::from_files([("../x.rhai", vec![])]).is_err());
        assert!(Bundle::from_files([("/etc/passwd", vec![])]).is_err());
        let ok = Bundle::from_files([("./lib/x.rhai", vec![])]).unwrap();
        assert_eq!(ok.paths().collect::<Vec<_>>(), ["lib/x.rhai"]);
    }

    #[test]
    fn reads_a_directory_skipping_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("a.rhai"), "fn f() { 1 }").unwrap();
        std::fs::write(dir.path().join("tests/v.json"), "[]").unwrap();
        std::fs::write(dir.path().join(".swp"), "x").unwrap();
        let b = Bundle::from_dir(dir.path()).unwrap();
        assert_eq!(b.paths().collect::<Vec<_>>(), ["a.rhai", "tests/v.json"]);
        assert!(matches!(
            Bundle::from_dir(&dir.path().join("missing")),
            Err(BundleError::Io { .. })
        ));
    }
}
