//! Where the rules come from: a directory given with --rules (or MESA_RULES), else ./rules
//! when it exists, else the bundle compiled into the binary from the repository's rules/.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mesa::policy::Bundle;

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
            RulesSource::Embedded => Ok(Bundle::built_in()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            RulesSource::Directory(dir) => dir.display().to_string(),
            RulesSource::Embedded => "built-in".to_string(),
        }
    }
}
