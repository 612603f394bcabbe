//! The manifest of a backup: `.ibstore/backup-manifest.json` in the backup,
//! written last (temp, fsync, rename, fsync folder), so a backup without one
//! was interrupted and is never called good. One entry per file copied:
//! relative path (a [`crate::fsutil::rel_key`]), size, CRC-32, and for data
//! files the records and first/last `ts` the scan found.

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where the manifest lives, relative to the backup root.
pub const MANIFEST: &str = ".ibstore/backup-manifest.json";

/// Version of the manifest format.
pub const VERSION: u32 = 1;

/// One copied file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Relative path (`rel_key`).
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// CRC-32 of the bytes.
    pub crc32: u32,
    /// Records that decoded (data files only).
    pub records: Option<u64>,
    /// Earliest ts, µs (data files with records).
    pub first_ts: Option<i64>,
    /// Latest ts, µs.
    pub last_ts: Option<i64>,
    /// The source changed while it was copied: this is its prefix up to the
    /// last complete record.
    pub changed: bool,
}

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`VERSION`].
    pub version: u32,
    /// The store that was copied (canonical).
    pub source: String,
    /// When the backup finished (UTC).
    pub created: String,
    /// Every file, sorted by path.
    pub files: Vec<FileEntry>,
}

/// The manifest path of a backup root.
pub fn path_in(root: &Path) -> PathBuf {
    root.join(MANIFEST)
}

/// Reads a backup's manifest (`None` when there is none: incomplete).
pub fn read(root: &Path) -> Result<Option<Manifest>> {
    let p = path_in(root);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::path(p, e)),
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Journal {
        path: p.clone(),
        why: format!("not a backup manifest ({e})"),
    })?;
    if m.version != VERSION {
        return Err(Error::Journal {
            path: p,
            why: format!(
                "manifest version {} (this ibstore reads {VERSION})",
                m.version
            ),
        });
    }
    Ok(Some(m))
}

/// Writes the manifest atomically (the last step of a backup).
pub fn write(root: &Path, m: &Manifest) -> Result<()> {
    let p = path_in(root);
    let mut bytes = serde_json::to_vec_pretty(m).map_err(|e| Error::Journal {
        path: p.clone(),
        why: e.to_string(),
    })?;
    bytes.push(b'\n');
    let dir = p.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        what: "create folder",
        source,
    })?;
    let tmp = fsutil::write_temp(&p, &bytes)?;
    fsutil::crash_point();
    fsutil::commit(&tmp, &p)
}
