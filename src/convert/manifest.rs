//! The conversion manifest `DST/.ibstore/convert.json`: every finished
//! output file with its size and CRC-32 and the identity (size, mtime,
//! CRC-32) of the source files it was made from, under the options that
//! made it. A re-run skips an output whose entry still matches and redoes
//! the rest. Written through [`fsutil`] after outputs are in place, so it
//! never names a file that is not finished.

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Path of the manifest relative to DST.
pub const REL: &str = ".ibstore/convert.json";

/// The identity of one source file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceId {
    /// Path relative to SRC.
    pub file: String,
    /// Size on disk.
    pub size: u64,
    /// Modification time, ns since the epoch (0 when unknown).
    pub mtime_ns: u64,
    /// CRC-32 of its bytes on disk.
    pub crc32: u32,
}

/// One finished output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    /// Size on disk.
    pub size: u64,
    /// CRC-32 of its bytes on disk.
    pub crc32: u32,
    /// Records in it.
    pub records: u64,
    /// The source files its records came from, sorted.
    pub sources: Vec<SourceId>,
}

/// The manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version.
    pub version: u32,
    /// The options that made the outputs (target, compression, filters…).
    pub options: String,
    /// The SRC (canonical path) the outputs were converted from; absent in
    /// manifests of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// Finished outputs by path relative to DST.
    pub outputs: BTreeMap<String, Output>,
}

impl Manifest {
    /// Loads the manifest of `dst` for `options`: entries made under other
    /// options, or an unreadable manifest, count as nothing done.
    pub fn load(dst: &Path, options: &str) -> Self {
        let fresh = Self {
            version: 1,
            options: options.to_owned(),
            src: None,
            outputs: BTreeMap::new(),
        };
        match std::fs::read(dst.join(REL))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        {
            Some(m) if m.version == 1 && m.options == options => m,
            _ => fresh,
        }
    }

    /// Whether `rel` is finished from exactly `sources`, and still on disk
    /// with its recorded size.
    pub fn done(&self, dst: &Path, rel: &str, sources: &[SourceId]) -> bool {
        self.outputs.get(rel).is_some_and(|o| {
            o.sources == sources
                && std::fs::symlink_metadata(dst.join(rel))
                    .is_ok_and(|m| m.is_file() && m.len() == o.size)
        })
    }

    /// Writes the manifest durably (temp, fsync, rename, fsync folder).
    pub fn save(&self, dst: &Path) -> Result<PathBuf> {
        let path = fsutil::resolve_in(dst, REL, true)?;
        let mut bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::Io {
            path: path.clone(),
            what: "encode manifest",
            source: std::io::Error::other(e),
        })?;
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes)?;
        fsutil::crash_point();
        Ok(path)
    }
}

/// The identity of a source file from its scan.
pub fn source_id(
    rel: &str,
    stat: Option<&crate::format::source::Stat>,
    crc: Option<u32>,
) -> SourceId {
    let mtime_ns = stat
        .and_then(|s| s.mtime)
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    SourceId {
        file: rel.to_owned(),
        size: stat.map_or(0, |s| s.size),
        mtime_ns,
        crc32: crc.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_options_change_means_nothing_done() {
        let d = tempfile::tempdir().unwrap();
        let mut m = Manifest::load(d.path(), "a");
        let src = vec![SourceId {
            file: "v3/json/x.jsonl".into(),
            size: 3,
            mtime_ns: 9,
            crc32: 7,
        }];
        std::fs::write(d.path().join("out.pb"), b"abc").unwrap();
        m.outputs.insert(
            "out.pb".into(),
            Output {
                size: 3,
                crc32: 1,
                records: 1,
                sources: src.clone(),
            },
        );
        m.save(d.path()).unwrap();
        let back = Manifest::load(d.path(), "a");
        assert_eq!(back, m);
        assert!(back.done(d.path(), "out.pb", &src));
        assert!(!back.done(d.path(), "out.pb", &[]));
        std::fs::write(d.path().join("out.pb"), b"abcd").unwrap();
        assert!(!back.done(d.path(), "out.pb", &src), "size changed");
        assert!(Manifest::load(d.path(), "b").outputs.is_empty());
    }
}
