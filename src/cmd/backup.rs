//! `ibstore backup`, `verify` and `restore`.

use crate::cli::{Bar, Common};
use anyhow::Result;
use ibstore::report::{plural, Summary, Tally, Units};
use std::path::PathBuf;

/// Copy a store, with a manifest written last.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The store to copy (a link such as storage-active is followed).
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Backup folder (new or empty; default: PATH-backup-YYYYMMDD-HHMMSS beside the store).
    #[arg(long)]
    dest: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// Check a backup against its manifest.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The backup folder.
    #[arg(long)]
    backup: PathBuf,
    #[command(flatten)]
    common: Common,
}

/// Put a verified backup in place of a store (the store is moved aside, never deleted).
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup folder.
    #[arg(long)]
    backup: PathBuf,
    /// The store folder to restore (moved aside to TO-failed-YYYYMMDD-HHMMSS when it exists).
    #[arg(long)]
    to: PathBuf,
    #[command(flatten)]
    common: Common,
}

fn summary(files: u64, records: u64, bytes: u64, errors: u64, exit_code: u8) -> Summary {
    Summary {
        files,
        records,
        bytes,
        streams: 0,
        tally: Tally {
            errors,
            warnings: 0,
            infos: 0,
        },
        exit_code,
        units: Units::Data,
        run: None,
    }
}

/// The worker pool of a copy: fsync-bound, so 4 threads per core unless
/// `--jobs` says otherwise.
fn io_pool(c: &Common) -> Result<rayon::ThreadPool> {
    if c.jobs.is_some() {
        return c.pool();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Ok(rayon::ThreadPoolBuilder::new()
        .num_threads(4 * cores)
        .build()?)
}

/// Runs `backup`.
pub fn run_backup(a: BackupArgs) -> Result<u8> {
    let bar = Bar::new();
    let r = io_pool(&a.common)?
        .install(|| ibstore::backup::backup(&a.path, a.dest.as_deref(), &bar))?;
    bar.finish();
    let mut w = a.common.writer();
    let files = r.manifest.files.len() as u64;
    let records: u64 = r.manifest.files.iter().filter_map(|f| f.records).sum();
    let bytes: u64 = r.manifest.files.iter().map(|f| f.size).sum();
    w.begin("backup", &r.source.display().to_string())?;
    let mpath = ibstore::backup::manifest::path_in(&r.dest)
        .display()
        .to_string();
    if w.is_json() {
        w.json(
            "backup",
            &serde_json::json!({"dest": r.dest.display().to_string(), "manifest": mpath}),
        )?;
        for c in &r.changed {
            w.json("changed", c)?;
        }
        for s in &r.skipped {
            w.json("skipped", &serde_json::json!({"path": s}))?;
        }
    } else {
        w.text_line(&format!(
            "copied {} ({}, {}) to {}",
            plural(files, "file", "files"),
            plural(records, "record", "records"),
            plural(bytes, "byte", "bytes"),
            w.escape(&r.dest.display().to_string())
        ))?;
        for c in &r.changed {
            let how = if c.cut {
                "still changing after the last copy: kept up to its last complete record"
            } else {
                "copied again"
            };
            w.text_line(&format!(
                "changed during the copy: {}: {how} ({} bytes; the source now has {})",
                w.escape(&c.path),
                c.copied,
                c.source_size
            ))?;
        }
        for s in &r.skipped {
            w.text_line(&format!("skipped (not a regular file): {}", w.escape(s)))?;
        }
        w.text_line(&format!("manifest: {}", w.escape(&mpath)))?;
    }
    w.summary(&summary(files, records, bytes, 0, 0))?;
    Ok(0)
}

/// Runs `verify`.
pub fn run_verify(a: VerifyArgs) -> Result<u8> {
    let r = a
        .common
        .pool()?
        .install(|| ibstore::backup::verify(&a.backup))?;
    let mut w = a.common.writer();
    w.begin("verify", &r.root.display().to_string())?;
    let (files, records, bytes) = r.manifest.as_ref().map_or((0, 0, 0), |m| {
        (
            m.files.len() as u64,
            m.files.iter().filter_map(|f| f.records).sum(),
            m.files.iter().map(|f| f.size).sum(),
        )
    });
    let code = u8::from(!r.good());
    if w.is_json() {
        if r.manifest.is_none() {
            w.json(
                "incomplete",
                &serde_json::json!({"manifest": ibstore::backup::manifest::MANIFEST}),
            )?;
        }
        for p in &r.problems {
            w.json("problem", p)?;
        }
    } else if r.manifest.is_none() {
        w.text_line(&format!(
            "incomplete: no manifest ({}): the backup was interrupted or is not an ibstore backup",
            ibstore::backup::manifest::MANIFEST
        ))?;
    } else {
        for p in &r.problems {
            w.text_line(&format!(
                "{}: {}: expected {}, found {}",
                p.what,
                w.escape(&p.path),
                w.escape(&p.expected),
                w.escape(&p.found)
            ))?;
        }
        if r.problems.is_empty() {
            w.text_line(&format!(
                "good: {}, {}, {} match the manifest",
                plural(files, "file", "files"),
                plural(records, "record", "records"),
                plural(bytes, "byte", "bytes")
            ))?;
        } else {
            w.text_line(&format!(
                "bad: {} against the manifest",
                plural(r.problems.len() as u64, "problem", "problems")
            ))?;
        }
    }
    let errors = r.problems.len() as u64 + u64::from(r.manifest.is_none());
    w.summary(&summary(files, records, bytes, errors, code))?;
    Ok(code)
}

/// Runs `restore`.
pub fn run_restore(a: RestoreArgs) -> Result<u8> {
    let r = io_pool(&a.common)?.install(|| ibstore::backup::restore(&a.backup, &a.to))?;
    let mut w = a.common.writer();
    w.begin("restore", &r.to.display().to_string())?;
    if w.is_json() {
        w.json(
            "restore",
            &serde_json::json!({
                "backup": r.backup.display().to_string(),
                "to": r.to.display().to_string(),
                "moved_aside": r.moved_aside.as_ref().map(|p| p.display().to_string()),
            }),
        )?;
    } else {
        if let Some(p) = &r.moved_aside {
            w.text_line(&format!(
                "moved the store aside to {}",
                w.escape(&p.display().to_string())
            ))?;
        }
        w.text_line(&format!(
            "restored {} ({}) from {}, each checked against the manifest",
            plural(r.files, "file", "files"),
            plural(r.bytes, "byte", "bytes"),
            w.escape(&r.backup.display().to_string())
        ))?;
    }
    w.summary(&summary(r.files, 0, r.bytes, 0, 0))?;
    Ok(0)
}
