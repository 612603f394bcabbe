//! One repair at a time per store: `.ibstore/lock`, created exclusively,
//! naming its holder, removed when the run ends.

use crate::error::{Error, Result};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
}

fn holder_alive(text: &str) -> bool {
    let pid = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|p| p.parse::<u32>().ok());
    pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists())
}

impl Lock {
    /// Takes the lock in `state_dir`. A lock whose process no longer runs on
    /// this machine is stale and taken over (the caller is told).
    pub fn take(state_dir: &Path, run: &str) -> Result<(Self, Option<String>)> {
        let path = state_dir.join("lock");
        let mut stale = None;
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    let _ = writeln!(f, "pid={} run={run}", std::process::id());
                    let _ = f.sync_all();
                    return Ok((Self { path }, stale));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = fs::read_to_string(&path).unwrap_or_default();
                    if holder_alive(&text) {
                        return Err(Error::Usage(format!(
                            "{} is held by another repair ({}); wait for it to finish",
                            path.display(),
                            text.trim()
                        )));
                    }
                    stale = Some(text.trim().to_owned());
                    fs::remove_file(&path).map_err(|source| Error::Io {
                        path: path.clone(),
                        what: "remove stale lock",
                        source,
                    })?;
                }
                Err(source) => {
                    return Err(Error::Io {
                        path,
                        what: "create lock",
                        source,
                    })
                }
            }
        }
        Err(Error::Usage(format!(
            "{}: could not take the lock",
            path.display()
        )))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
