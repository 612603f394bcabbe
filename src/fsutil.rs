//! Every filesystem effect that changes a store goes through here, done so a
//! crash at any instant leaves the old or the new state: write a temp file
//! in the same folder, fsync it, rename it over the target, fsync the folder.

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Suffix of ibstore's temp files (ignored by discovery, cleaned by repair).
pub const TEMP_SUFFIX: &str = ".ibstore-tmp";

fn io<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// fsyncs a folder, so renames and creations in it are durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io(dir, "fsync folder"))
}

/// The temp path used for `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    target.with_file_name(name)
}

/// Writes `bytes` to a durable temp file beside `target` and returns its
/// path; [`commit`] renames it into place.
pub fn write_temp(target: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let tmp = temp_path(target);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io(&tmp, "create temp file"))?;
    f.write_all(bytes).map_err(io(&tmp, "write temp file"))?;
    f.sync_all().map_err(io(&tmp, "fsync temp file"))?;
    Ok(tmp)
}

/// Renames a temp file over its target and fsyncs the folder.
pub fn commit(tmp: &Path, target: &Path) -> Result<()> {
    fs::rename(tmp, target).map_err(io(target, "rename into place"))?;
    fsync_dir(target.parent().unwrap_or(Path::new(".")))
}

/// `write_temp` then `commit`.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(target, bytes)?;
    commit(&tmp, target)
}

/// Creates a new file (failing if it exists), writes and fsyncs it, and
/// fsyncs its folder.
pub fn create_durable(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir, "create folder"))?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path, "create file"))?;
    f.write_all(bytes).map_err(io(path, "write file"))?;
    f.sync_all().map_err(io(path, "fsync file"))?;
    fsync_dir(dir)
}

/// Removes a file and fsyncs its folder.
pub fn remove_durable(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(io(path, "remove file"))?;
    fsync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Appends one line to a journal and fsyncs it.
pub fn append_line(path: &Path, line: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(io(path, "open journal"))?;
    let mut buf = line.to_vec();
    buf.push(b'\n');
    f.write_all(&buf).map_err(io(path, "append to journal"))?;
    f.sync_all().map_err(io(path, "fsync journal"))
}

/// Whether a `/`-separated relative path stays inside its root (no `..`,
/// no absolute part, not empty).
pub fn is_contained(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// CRC-32 of bytes.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_containment() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("a.jsonl");
        write_atomic(&t, b"one\n").unwrap();
        write_atomic(&t, b"two\n").unwrap();
        assert_eq!(fs::read(&t).unwrap(), b"two\n");
        assert!(!temp_path(&t).exists());
        assert!(create_durable(&t, b"x").is_err(), "never overwrites");
        assert!(is_contained("v3/json/a.jsonl"));
        for bad in ["", "../x", "v3/../../x", "/etc/passwd", "./a"] {
            assert!(!is_contained(bad), "{bad}");
        }
    }
}
