//! Where the rules come from: a directory given with --rules (or MESA_RULES), else ./rules
//! when it exists, else the bundle compiled into the binary from the repository's rules/.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use include_dir::{Dir, DirEntry, include_dir};
use mesa::policy::Bundle;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules");

pub enum RulesSource {
    Directory(PathBuf),
    Embedded,
}

pub fn resolve(explicit: Option<&Path>) -> RulesSource {
    match explicit {
        Some(dir) => RulesSource::Directory(dir.to_path_buf()),
        None if Path::new("rules").is_dir() => RulesSource::Directory(PathBuf::from("rules")),
        None => RulesSource::Embedded,
    }
}

impl RulesSource {
    pub fn bundle(&self) -> Result<Bundle> {
        match self {
            RulesSource::Directory(dir) => {
                Bundle::from_dir(dir).with_context(|| format!("rules bundle {}", dir.display()))
            }
            RulesSource::Embedded => {
                let mut files = Vec::new();
                collect(&EMBEDDED, &mut files);
                Ok(Bundle::from_files(files)?)
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RulesSource::Directory(dir) => dir.display().to_string(),
            RulesSource::Embedded => "built-in".to_string(),
        }
    }
}

fn collect(dir: &Dir<'static>, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(d) => collect(d, out),
            DirEntry::File(f) => {
                let hidden = f
                    .path()
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
                if !hidden {
                    out.push((
                        f.path().to_string_lossy().replace('\\', "/"),
                        f.contents().to_vec(),
                    ));
                }
            }
        }
    }
}
