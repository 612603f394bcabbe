//! The catch-up before the switch: the recorder may keep writing to FROM
//! while a migration runs. Just before convert reads FROM, its data files
//! and their sizes are recorded (`TO/.ibstore/migrate-cutoff.json`, the
//! cut-off). Just before the switch, FROM is listed again: files that grew
//! or appeared since (the newest hour of each live stream) are converted
//! again (convert redoes only the outputs whose sources changed), compared
//! again (the gate) and indexed, and the cut-off moves forward. After the
//! switch FROM is listed once more: what arrived after the last cut-off
//! (the moment the recorder could not yet be writing to TO) is named file
//! by file with its hour and byte range, with the command to catch it up.

use crate::error::{Error, Result};
use crate::fsutil;
use crate::store::discover::{discover, STATE_DIR};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Name of the cut-off file in the target's state folder.
pub const CUTOFF: &str = "migrate-cutoff.json";

/// FROM's data files and their sizes at a moment.
pub type Cutoff = BTreeMap<String, u64>;

/// A file of FROM that holds records after the cut-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Late {
    /// Path relative to FROM.
    pub path: String,
    /// `YYYY/MM/DD/HH` of its hour, when placed.
    pub hour: Option<String>,
    /// Its size at the cut-off (0: a new file).
    pub from_byte: u64,
    /// Its size now.
    pub to_byte: u64,
}

fn path(to: &Path) -> PathBuf {
    to.join(STATE_DIR).join(CUTOFF)
}

/// FROM's files and sizes now.
pub fn snapshot(from: &Path) -> Result<Cutoff> {
    Ok(discover(from)?
        .files
        .into_iter()
        .map(|f| (f.file.rel, f.file.size))
        .collect())
}

/// Records the cut-off (atomically).
pub fn save(to: &Path, c: &Cutoff) -> Result<()> {
    let bytes = serde_json::to_vec(c).map_err(|e| Error::Journal {
        path: path(to),
        why: e.to_string(),
    })?;
    fsutil::write_atomic(&path(to), &bytes)
}

/// The recorded cut-off (none when no convert ran since it was introduced).
pub fn load(to: &Path) -> Result<Option<Cutoff>> {
    let p = path(to);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Journal {
                path: p,
                why: format!("not a cut-off ibstore writes: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::path(&p, e)),
    }
}

/// The files of FROM that grew or appeared since the cut-off.
pub fn late(from: &Path, cut: &Cutoff) -> Result<Vec<Late>> {
    let d = discover(from)?;
    Ok(d.files
        .into_iter()
        .filter_map(|f| {
            let before = cut.get(&f.file.rel).copied().unwrap_or(0);
            (f.file.size > before || !cut.contains_key(&f.file.rel)).then_some(Late {
                path: f.file.rel,
                hour: f.file.partition,
                from_byte: before,
                to_byte: f.file.size,
            })
        })
        .collect())
}

/// `a (hour 2025/08/01/02, bytes 100..250), …` (the first 10).
pub fn describe(l: &[Late]) -> String {
    let mut v: Vec<String> = l
        .iter()
        .take(10)
        .map(|x| {
            format!(
                "{} (hour {}, bytes {}..{})",
                x.path,
                x.hour.as_deref().unwrap_or("?"),
                x.from_byte,
                x.to_byte
            )
        })
        .collect();
    if l.len() > 10 {
        v.push(format!("and {} more", l.len() - 10));
    }
    v.join(", ")
}

/// Debug builds only: `IBSTORE_TEST_GROW_FROM=WHEN:REL` appends a copy of
/// the first line of FROM/REL to it at `WHEN` (`convert`: after the
/// convert step, so the catch-up must convert it; `switch`: after the
/// catch-up, so it arrives after the last cut-off), as a recorder still
/// writing to FROM would.
pub fn test_hook_grow(from: &Path, when: &str) {
    use std::io::Write as _;
    if !cfg!(debug_assertions) {
        return;
    }
    let Ok(v) = std::env::var("IBSTORE_TEST_GROW_FROM") else {
        return;
    };
    let Some(rel) = v.strip_prefix(when).and_then(|r| r.strip_prefix(':')) else {
        return;
    };
    let abs = from.join(rel);
    let Ok(b) = std::fs::read(&abs) else { return };
    let Some(end) = b.iter().position(|&c| c == b'\n') else {
        return;
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&abs) {
        let _ = f.write_all(&b[..=end]);
    }
}
