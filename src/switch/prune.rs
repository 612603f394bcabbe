//! `history --keep N`: prunes the stores a link's history names beyond the
//! newest N, never the link's current target nor the one a rollback would
//! go to. A dry run by default; `--apply` renames each pruned store aside
//! (`NAME.ibstore-prune`, same folder, fsynced) before deleting it, so a
//! crash leaves it whole under its name or aside, never half-deleted under
//! its name; the next run finishes deleting what was set aside.

use super::{chain, history, Link};
use crate::error::{Error, Result};
use crate::fsutil;
use serde::Serialize;
use std::fs;
use std::path::{Path, PathBuf};

/// Suffix of a store set aside for deletion.
pub const ASIDE: &str = ".ibstore-prune";

/// One store the history names.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    /// The store (absolute).
    pub path: String,
    /// `keep`, `delete` (dry run), `deleted`, `gone` (no longer exists).
    pub action: &'static str,
    /// Why it is kept (`current`, `previous`, `newest N`), or empty.
    pub why: String,
    /// Bytes of its files (0 when gone).
    pub bytes: u64,
}

fn bytes_of(p: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_of(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// Whether a folder holds at least one tick data file (a store).
fn holds_data(p: &Path) -> bool {
    crate::store::discover::discover(p).is_ok_and(|d| !d.files.is_empty())
}

fn aside(p: &Path) -> PathBuf {
    let mut n = p.file_name().unwrap_or_default().to_os_string();
    n.push(ASIDE);
    p.with_file_name(n)
}

/// Plans (or, `apply`, carries out) the pruning of `link`'s history beyond
/// its newest `keep` stores.
pub fn prune(link: &Path, keep: usize, apply: bool) -> Result<Vec<Pruned>> {
    let link = Link::new(link)?;
    let cur = link.current()?;
    let _lock = link.lock()?;
    let hist = history::read(&link.history)?;
    let chain = chain(&hist);
    let prev = chain.len().checked_sub(2).map(|i| chain[i].clone());
    // Distinct stores, newest mention first.
    let mut names: Vec<String> = Vec::new();
    for e in hist.iter().rev() {
        for n in std::iter::once(&e.to).chain(e.from.iter()) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let cur = cur.map(|c| c.display().to_string());
    // The current and previous targets, canonical: nothing holding either
    // or lying inside either is ever pruned.
    let guarded: Vec<PathBuf> = cur
        .iter()
        .chain(prev.iter())
        .filter_map(|t| fs::canonicalize(t).ok())
        .collect();
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let p = PathBuf::from(n);
        let mut why = if cur.as_deref() == Some(n.as_str()) {
            "current target".to_owned()
        } else if prev.as_deref() == Some(n.as_str()) {
            "previous target (rollback)".to_owned()
        } else if i < keep {
            format!("among the newest {keep}")
        } else {
            String::new()
        };
        let m = fs::symlink_metadata(&p);
        let exists = m.as_ref().is_ok_and(|m| m.is_dir());
        if !exists {
            // An earlier run killed after setting it aside: finish it (only
            // beside the link).
            let set_aside = aside(&p);
            if apply
                && set_aside.is_dir()
                && fs::canonicalize(&set_aside)
                    .is_ok_and(|c| c.parent() == Some(link.dir.as_path()))
            {
                fs::remove_dir_all(&set_aside).map_err(|e| Error::path(&set_aside, e))?;
                fsutil::fsync_dir(&link.dir)?;
            }
            out.push(Pruned {
                path: n.clone(),
                action: "gone",
                why,
                bytes: 0,
            });
            continue;
        }
        // Only a real store directly beside the link (its canonical path's
        // folder is the link's, so no `..`, no subfolder of a store, no
        // path elsewhere), holding neither target nor inside one, with data
        // files: a history line edited by hand never gets anything else
        // deleted.
        let canon = fs::canonicalize(&p).ok();
        if why.is_empty() {
            why = match &canon {
                None => "cannot be resolved: never pruned".to_owned(),
                Some(c) if c.parent() != Some(link.dir.as_path()) => format!(
                    "not a store directly beside the link in {}: never pruned",
                    link.dir.display()
                ),
                Some(c) if guarded.iter().any(|g| g.starts_with(c) || c.starts_with(g)) => {
                    "holds or lies inside the current or previous target: never pruned".to_owned()
                }
                Some(c) if !holds_data(c) => "holds no tick data files: never pruned".to_owned(),
                Some(_) => String::new(),
            };
        }
        let bytes = bytes_of(&p);
        if !why.is_empty() {
            out.push(Pruned {
                path: n.clone(),
                action: "keep",
                why,
                bytes,
            });
            continue;
        }
        let p = canon.unwrap_or(p);
        let set_aside = aside(&p);
        if apply && set_aside.is_dir() {
            // An earlier run was killed after setting it aside.
            fs::remove_dir_all(&set_aside).map_err(|e| Error::path(&set_aside, e))?;
            fsutil::fsync_dir(&link.dir)?;
        }
        if apply {
            fs::rename(&p, &set_aside).map_err(|e| Error::path(&p, e))?;
            fsutil::fsync_dir(&link.dir)?;
            fsutil::crash_point();
            fs::remove_dir_all(&set_aside).map_err(|e| Error::path(&set_aside, e))?;
            fsutil::fsync_dir(&link.dir)?;
        }
        out.push(Pruned {
            path: n.clone(),
            action: if apply { "deleted" } else { "delete" },
            why,
            bytes,
        });
    }
    Ok(out)
}
