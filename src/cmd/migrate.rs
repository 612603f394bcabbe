//! `ibstore migrate`.

use crate::cli::{Bar, Common};
use anyhow::{bail, Result};
use ibstore::convert::plan::LossField;
use ibstore::migrate::{self, Options};
use ibstore::Format;
use std::path::PathBuf;

/// Migrate a store blue-green, in one resumable command: backup → convert →
/// compare (the gate) → index → switch. Each finished step is journaled in
/// TO/.ibstore/migrate.jsonl; the same command run again continues where it
/// stopped. Production (FROM and the link) is untouched until every gate
/// passed.
///
/// Exit codes: 0 every step finished, 1 a gate failed (nothing switched), 2
/// could not run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The production store.
    #[arg(long, value_name = "FROM")]
    from: PathBuf,
    /// The new store to build (created).
    #[arg(long, value_name = "TO")]
    to: PathBuf,
    /// Target format: v2-json, v2-pb, v3-json, v3-pb.
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// The format to read when FROM holds several (e.g. v2 and v3 side by side).
    #[arg(long, value_name = "FORMAT")]
    source_format: Option<String>,
    /// Compress the new store's files: zstd or zstd:LEVEL.
    #[arg(long, value_name = "zstd[:LEVEL]")]
    compress: Option<String>,
    /// Accept a loss the format pair implies: ts, past_limit, rid, cid
    /// (repeatable); ts and past_limit are then also allowed by the compare
    /// gate.
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    allow_loss: Vec<String>,
    /// The production link to switch to TO at the end (e.g. storage-active).
    #[arg(long, value_name = "LINK")]
    link: Option<PathBuf>,
    /// Where the backup goes (default: FROM-backup-YYYYMMDD-HHMMSS beside FROM).
    #[arg(long, value_name = "DIR")]
    backup_dest: Option<PathBuf>,
    /// Print the plan (steps, sizes) and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    common: Common,
}

/// Runs `migrate`.
pub fn run(a: Args) -> Result<u8> {
    let Some(format) = Format::from_name(&a.format) else {
        bail!(
            "--format {:?}: expected v2-json, v2-pb, v3-json or v3-pb",
            a.format
        );
    };
    let source_format = match a.source_format.as_deref() {
        None => None,
        Some(s) => match Format::from_name(s) {
            Some(f) => Some(f),
            None => bail!("--source-format {s:?}: expected v2-json, v2-pb, v3-json or v3-pb"),
        },
    };
    let zstd = match a.compress.as_deref() {
        None => None,
        Some("zstd") => Some(3),
        Some(s) => match s.strip_prefix("zstd:").map(str::parse::<i32>) {
            Some(Ok(l)) if (1..=22).contains(&l) => Some(l),
            _ => bail!("--compress {s:?}: expected zstd or zstd:LEVEL (1 to 22)"),
        },
    };
    let mut allow_loss = Vec::new();
    for l in &a.allow_loss {
        match LossField::from_name(l) {
            Some(f) => allow_loss.push(f),
            None => bail!("--allow-loss {l:?}: expected ts, past_limit, rid or cid"),
        }
    }
    let opts = Options {
        from: a.from.clone(),
        to: a.to.clone(),
        format,
        source_format,
        zstd,
        allow_loss,
        link: a.link.clone(),
        backup_dest: a.backup_dest.clone(),
        dry_run: a.dry_run,
    };
    let bar = Bar::new();
    let report = a.common.pool()?.install(|| migrate::run(&opts, &bar))?;
    bar.finish();
    report.render(
        &mut a.common.writer(),
        &format!("{} -> {}", a.from.display(), a.to.display()),
    )?;
    Ok(report.exit_code())
}
