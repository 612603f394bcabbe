//! `ibstore index`.

use crate::cli::{Bar, Common};
use anyhow::Result;
use ibstore::index::{self, Action, Mode};
use ibstore::scan::ScanOptions;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Build or refresh the store's time indices and catalog.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Rebuild every index from scratch.
    #[arg(long, conflicts_with = "check")]
    rebuild: bool,
    /// Only verify the indices and catalog; write nothing (exit 1 if any is missing, stale or corrupt).
    #[arg(long)]
    check: bool,
    /// Keep indices and catalog here instead of STORE/.ibstore/index (for a read-only store).
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Serialize)]
struct Totals {
    files: u64,
    built: u64,
    rebuilt: u64,
    unchanged: u64,
    failed: u64,
    orphans: u64,
    data_bytes: u64,
    index_bytes: u64,
    index_dir: String,
    exit_code: u8,
}

/// The store root and index folder a command uses.
pub fn locate(path: &std::path::Path, index_dir: Option<&PathBuf>) -> Result<(PathBuf, PathBuf)> {
    let root = ibstore::store::discover::store_root(path)?;
    let dir = match index_dir {
        Some(d) => {
            let d = std::path::absolute(d)?;
            // Resolve what exists of it, so a link cannot hide the store.
            let real = d
                .ancestors()
                .find_map(|a| {
                    std::fs::canonicalize(a)
                        .ok()
                        .map(|c| c.join(d.strip_prefix(a).unwrap_or(Path::new(""))))
                })
                .unwrap_or_else(|| d.clone());
            if real.starts_with(&root) {
                anyhow::bail!(
                    "--index-dir {}: inside the store {}; give a folder outside it (or leave it out for {})",
                    d.display(),
                    root.display(),
                    index::default_dir(&root).display()
                );
            }
            d
        }
        None => index::default_dir(&root),
    };
    Ok((root, dir))
}

/// Runs `index`.
pub fn run(a: Args) -> Result<u8> {
    let (root, dir) = locate(&a.path, a.index_dir.as_ref())?;
    let mode = if a.check {
        Mode::Check
    } else if a.rebuild {
        Mode::Rebuild
    } else {
        Mode::Refresh
    };
    let bar = Bar::new();
    let r = a.common.pool()?.install(|| {
        if mode != Mode::Check {
            index::prepare(&dir, a.index_dir.is_some())?;
        }
        let d = ibstore::store::discover::discover(&root)?;
        let links = ibstore::query::links_of(&d);
        if let Some(first) = links.first() {
            eprintln!(
                "ibstore: note: {}",
                ibstore::report::escape(&super::query::links_note(links.len(), first))
            );
        }
        index::run(
            d,
            &dir,
            a.index_dir.is_some(),
            mode,
            &ScanOptions::default(),
            &bar,
        )
    })?;
    bar.finish();
    let failed = r.count(Action::Failed) + u64::from(mode == Mode::Check && r.orphans > 0);
    let exit_code = u8::from(mode == Mode::Check && (failed > 0 || !r.findings.is_empty()));
    let t = Totals {
        files: r.files.len() as u64,
        built: r.count(Action::Built),
        rebuilt: r.count(Action::Rebuilt),
        unchanged: r.count(Action::Unchanged),
        failed: r.count(Action::Failed),
        orphans: r.orphans,
        data_bytes: r.data_bytes(),
        index_bytes: r.index_bytes(),
        index_dir: dir.display().to_string(),
        exit_code,
    };
    let mut w = a.common.writer();
    w.begin("index", &root.display().to_string())?;
    if w.is_json() {
        w.findings(&r.findings)?;
        w.json("summary", &t)?;
        return Ok(exit_code);
    }
    let pct = if t.data_bytes == 0 {
        0.0
    } else {
        100.0 * t.index_bytes as f64 / t.data_bytes as f64
    };
    if mode == Mode::Check {
        w.text_line(&format!(
            "checked {} files: {} valid, {} missing, stale or corrupt; {} orphaned index files",
            t.files, t.unchanged, t.failed, t.orphans
        ))?;
    } else {
        w.text_line(&format!(
            "indexed {} files: {} built, {} rebuilt, {} unchanged; {} orphaned index files removed",
            t.files, t.built, t.rebuilt, t.unchanged, t.orphans
        ))?;
    }
    w.text_line(&format!(
        "index {} bytes for {} data bytes ({pct:.3}%) in {}",
        t.index_bytes,
        t.data_bytes,
        w.escape(&t.index_dir)
    ))?;
    w.findings(&r.findings)?;
    Ok(exit_code)
}
