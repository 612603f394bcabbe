//! One writer at a time per store: an OS advisory lock (`flock`) on
//! `.ibstore/lock`, held for the whole run and released by the kernel when
//! the holder exits or dies, so a killed run never blocks the next one and
//! two runs can never both believe they hold it. The file is never removed;
//! while held it names its holder, for the message a second run prints.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// Name of the lock file in the state folder.
pub const LOCK_FILE: &str = "lock";

/// A held lock; released (and its holder line cleared) on drop.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
}

impl Lock {
    /// Takes the lock in `state_dir` for `holder` (a short description such
    /// as the run id). Returns the holder line a previous run left behind
    /// when it ended without releasing (it was killed), if any.
    pub fn take(state_dir: &Path, holder: &str) -> Result<(Self, Option<String>)> {
        let path = state_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                what: "open lock",
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // The holder writes its line just after it takes the lock:
                // give it a moment.
                let mut text = String::new();
                for _ in 0..50 {
                    text.clear();
                    let _ = file.seek(SeekFrom::Start(0));
                    let _ = file.read_to_string(&mut text);
                    if !text.trim().is_empty() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let holder = match text.trim() {
                    "" => "holder unknown".to_owned(),
                    t => t.to_owned(),
                };
                return Err(Error::Locked { path, holder });
            }
            Err(TryLockError::Error(source)) => {
                return Err(Error::Io {
                    path,
                    what: "lock",
                    source,
                })
            }
        }
        let mut before = String::new();
        let _ = file.read_to_string(&mut before);
        // The holder line goes in with one write, so a reader sees all or nothing.
        let left = Some(before.trim().to_owned()).filter(|s| !s.is_empty());
        let line = format!(
            "pid={} run={holder} since={}\n",
            std::process::id(),
            crate::time::display_us(crate::time::now_us())
        );
        let io = |source| Error::Io {
            path: path.clone(),
            what: "write lock",
            source,
        };
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        Ok((Self { file, path }, left))
    }

    /// Where the lock file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder line while still holding the lock; closing the
        // file then releases it.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_a_dropped_lock_is_free() {
        let d = tempfile::tempdir().unwrap();
        let (a, left) = Lock::take(d.path(), "one").unwrap();
        assert_eq!(left, None);
        let e = Lock::take(d.path(), "two").unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("pid={} run=one", std::process::id())),
            "{e}"
        );
        drop(a);
        let (_b, left) = Lock::take(d.path(), "two").unwrap();
        assert_eq!(left, None, "a released lock leaves no holder line");
    }
}
