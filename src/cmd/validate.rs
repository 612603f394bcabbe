//! `ibstore validate`.

use crate::cli::{Bar, Common};
use anyhow::{bail, Result};
use ibstore::scan::{ScanOptions, DEFAULT_MAX_GAP_S};
use std::path::PathBuf;

/// Check every file of a store: damage, schema, placement, time continuity.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root, any folder in it, or one data file.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Exit 1 on warnings too.
    #[arg(long)]
    strict: bool,
    /// Repair what can be repaired (same as `ibstore repair --apply`).
    #[arg(long)]
    repair: bool,
    /// Report silences longer than this many seconds inside a file.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_GAP_S)]
    max_gap: i64,
    /// Skip files that are unchanged (size, mtime, CRC-32) since `ibstore index` found them clean.
    #[arg(long)]
    incremental: bool,
    /// With --incremental: the indices are in this folder instead of STORE/.ibstore/index.
    #[arg(long, value_name = "DIR", requires = "incremental")]
    index_dir: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// Runs `validate` (or, with `--repair`, `repair --apply`).
pub fn run(a: Args) -> Result<u8> {
    if a.repair {
        return super::repair::apply_for_validate(a.path, a.common);
    }
    if a.max_gap <= 0 {
        bail!("--max-gap must be a positive number of seconds");
    }
    let opts = ScanOptions {
        max_gap_us: a.max_gap.saturating_mul(ibstore::time::US),
        ..ScanOptions::default()
    };
    let bar = Bar::new();
    let dir = if a.incremental {
        if a.max_gap != DEFAULT_MAX_GAP_S {
            bail!("--incremental needs the default --max-gap ({DEFAULT_MAX_GAP_S} s): the indices were built with it");
        }
        Some(super::index::locate(&a.path, a.index_dir.as_ref())?.1)
    } else {
        None
    };
    let report = a.common.pool()?.install(|| {
        let d = ibstore::store::discover::discover(&a.path)?;
        let Some(dir) = &dir else {
            return ibstore::validate::run(d, &opts, &bar);
        };
        let all = d.files.len();
        let (rest, known) = ibstore::index::skip_clean(d, dir);
        eprintln!(
            "ibstore: note: --incremental: {} of {all} files unchanged and clean since they were indexed; not read again",
            known.len()
        );
        ibstore::validate::run_with(rest, &opts, &bar, known)
    })?;
    bar.finish();
    report.render(&mut a.common.writer(), a.strict)?;
    Ok(report.summary(a.strict).exit_code)
}
