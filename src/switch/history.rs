//! The history of a link's switches: `<link>.history.jsonl` beside the
//! link, one JSON object per line, oldest first. It is rewritten whole
//! (temp file, fsync, rename, fsync folder) for every entry, so a crash
//! leaves the old history or the new one, never half a line. The reader is
//! strict: a line that is not a whole entry (edited by hand, truncated) is
//! refused with its line number, and nothing is switched.

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the validation of a target found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// Data files.
    pub files: u64,
    /// Records that decoded.
    pub records: u64,
    /// Error findings.
    pub errors: u64,
    /// Warning findings.
    pub warnings: u64,
}

/// One switch of a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// `switch` or `rollback`.
    pub action: String,
    /// When (UTC, `2025-08-01T01:04:51.910988Z`).
    pub time: String,
    /// Who (`$USER`, else the uid).
    pub user: String,
    /// Host name.
    pub host: String,
    /// The link's target before (absolute; none when the link was made).
    pub from: Option<String>,
    /// The link's target after (absolute).
    pub to: String,
    /// Validation of `to` before the switch.
    pub validation: Validation,
    /// Switched despite error findings or a failed compare gate (`--force`).
    pub forced: bool,
    /// The target's catalog checksum when it was switched to (absent in
    /// entries written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
    /// The compare gate's summary (`--compare-with`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareGate>,
}

/// A checksum of a store's catalog: CRC-32 (IEEE) over, for every data
/// file sorted by relative path, `path NUL size LF`. It names which files
/// the target held and how long each was, not their bytes (a file's bytes
/// are checked by `verify`/`validate`); a rename, a missing file or one
/// that grew changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// Data files.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// `crc32:` and 8 hex digits.
    pub checksum: String,
}

impl Catalog {
    /// The catalog of a discovered store.
    pub fn of(d: &crate::store::discover::Discovery) -> Self {
        let mut files: Vec<(&str, u64)> = d
            .files
            .iter()
            .map(|f| (f.file.rel.as_str(), f.file.size))
            .collect();
        files.sort_unstable();
        let mut h = crc32fast::Hasher::new();
        for (rel, size) in &files {
            h.update(rel.as_bytes());
            h.update(b"\0");
            h.update(size.to_string().as_bytes());
            h.update(b"\n");
        }
        Self {
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.1).sum(),
            checksum: format!("crc32:{:08x}", h.finalize()),
        }
    }
}

/// What the compare gate (`switch --compare-with OLD`) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareGate {
    /// The old store compared with the target (absolute).
    pub old: String,
    /// Allowances given (`--allow`).
    pub allow: Vec<String>,
    /// Stream-hours compared.
    pub hours: u64,
    /// Old records with no counterpart.
    pub lost: u64,
    /// Records with another value.
    pub changed: u64,
    /// New records with no counterpart.
    pub extra: u64,
    /// Hours in the old store only.
    pub missing_hours: u64,
    /// Hours a damaged file touches.
    pub damaged_hours: u64,
    /// Compare's exit code: 0 the gate passed.
    pub exit_code: u8,
}

/// The history file of `link` (absolute).
pub fn path_for(link: &Path) -> PathBuf {
    let mut name = link.file_name().unwrap_or_default().to_os_string();
    name.push(".history.jsonl");
    link.with_file_name(name)
}

/// Reads a history file (empty when there is none yet).
pub fn read(path: &Path) -> Result<Vec<Entry>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::path(path, e)),
    };
    let bad = |line: usize, why: String| {
        Error::Journal {
        path: path.to_owned(),
        why: format!(
            "line {line}: {why}; the history is written only by ibstore (edited by hand or truncated?): restore it from a backup or move it aside, then run again"
        ),
    }
    };
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let line = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(bad(line, "the last line is cut short (no newline)".into()));
    }
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if i == bytes.iter().filter(|&&b| b == b'\n').count() {
            break; // after the final newline
        }
        let e: Entry = serde_json::from_slice(line)
            .map_err(|e| bad(i + 1, format!("not a history entry ({e})")))?;
        if !matches!(e.action.as_str(), "switch" | "rollback") {
            return Err(bad(i + 1, format!("unknown action {:?}", e.action)));
        }
        out.push(e);
    }
    Ok(out)
}

/// Rewrites the history with `entry` appended (atomically).
pub fn append(path: &Path, entries: Vec<Entry>, entry: Entry) -> Result<()> {
    let tmp = prepare(path, entries, entry)?;
    fsutil::crash_point();
    fsutil::commit(&tmp, path)
}

/// Writes the history with `entry` appended to a durable temp file beside
/// it and returns its path, for [`fsutil::commit`] once the switch is done:
/// a full disk shows here, before anything has changed.
pub fn prepare(path: &Path, mut entries: Vec<Entry>, entry: Entry) -> Result<PathBuf> {
    entries.push(entry);
    let mut buf = Vec::new();
    for e in &entries {
        buf.extend(serde_json::to_vec(e).map_err(|e| Error::Journal {
            path: path.to_owned(),
            why: e.to_string(),
        })?);
        buf.push(b'\n');
    }
    // A failed write (a full disk) leaves no temp file behind.
    fsutil::write_temp(path, &buf)
        .inspect_err(|_| drop(std::fs::remove_file(fsutil::temp_path(path))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(to: &str) -> Entry {
        Entry {
            action: "switch".into(),
            time: "2025-08-01T00:00:00Z".into(),
            user: "u".into(),
            host: "h".into(),
            from: None,
            to: to.into(),
            validation: Validation::default(),
            forced: false,
            catalog: None,
            compare: None,
        }
    }

    #[test]
    fn round_trip_and_refusals_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = path_for(&d.path().join("storage-active"));
        assert_eq!(p.file_name().unwrap(), "storage-active.history.jsonl");
        assert_eq!(read(&p).unwrap(), vec![]);
        append(&p, vec![], entry("/a")).unwrap();
        append(&p, read(&p).unwrap(), entry("/b")).unwrap();
        assert_eq!(read(&p).unwrap(), vec![entry("/a"), entry("/b")]);
        let good = std::fs::read(&p).unwrap();
        std::fs::write(&p, &good[..good.len() - 5]).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("line 2: the last line is cut short"), "{e}");
        let mut edited = good.clone();
        edited.splice(0..1, b"x".iter().copied());
        std::fs::write(&p, &edited).unwrap();
        let e = read(&p).unwrap_err().to_string();
        assert!(e.contains("line 1: not a history entry"), "{e}");
    }
}
