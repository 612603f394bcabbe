//! `ibstore compare` (alias `validate-migration`).

use super::gen::FormatArg;
use crate::cli::{Bar, Common};
use anyhow::{bail, Result};
use clap::ValueEnum;
use ibstore::compare::allow::Allowance;
use ibstore::compare::{self, Options};
use ibstore::scan::{ScanOptions, DEFAULT_MAX_GAP_S};
use ibstore::Format;
use std::path::PathBuf;

/// Known lossy mappings by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AllowArg {
    /// v2 protobuf holds no IB event time.
    #[value(name = "no-ib-time")]
    NoIbTime,
    /// v3 has no past_limit, exchange or conditions.
    #[value(name = "v3-drops")]
    V3Drops,
    /// The recorder's converter lost mid_point values (mp not compared).
    #[value(name = "mid-value")]
    MidValue,
    /// The recorder's converter replaced st (st not compared).
    #[value(name = "st-replaced")]
    StReplaced,
}

impl From<AllowArg> for Allowance {
    fn from(a: AllowArg) -> Self {
        match a {
            AllowArg::NoIbTime => Allowance::NoIbTime,
            AllowArg::V3Drops => Allowance::V3Drops,
            AllowArg::MidValue => Allowance::MidValue,
            AllowArg::StReplaced => Allowance::StReplaced,
        }
    }
}

/// Compare an old store with a new one (after a migration): every record of
/// every stream-hour, across formats.
///
/// Exit codes: 0 nothing lost or changed beyond the allowances, 1
/// differences or damage found, 2 could not run.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The old store (e.g. the backup taken before a migration).
    #[arg(long)]
    old: PathBuf,
    /// The new store.
    #[arg(long)]
    new: PathBuf,
    /// Format to take from the old store when it holds several.
    #[arg(long, value_enum)]
    old_format: Option<FormatArg>,
    /// Format to take from the new store when it holds several.
    #[arg(long, value_enum)]
    new_format: Option<FormatArg>,
    /// List the first N differing records of each hour, with their files
    /// and byte offsets on both sides.
    #[arg(long, value_name = "N", default_value_t = 0)]
    details: usize,
    /// Accept a known lossy mapping (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    allow: Vec<AllowArg>,
    /// Also write a self-contained HTML page with the stream × hour grid.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A silence longer than this many seconds in the new records that the
    /// old records fill is a new gap.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MAX_GAP_S)]
    max_gap: i64,
    #[command(flatten)]
    common: Common,
}

/// Runs `compare`.
pub fn run(a: Args) -> Result<u8> {
    if a.max_gap <= 0 {
        bail!("--max-gap must be a positive number of seconds");
    }
    let mut allow: Vec<Allowance> = a.allow.iter().map(|x| Allowance::from(*x)).collect();
    allow.sort();
    allow.dedup();
    let o = Options {
        old: a.old.clone(),
        new: a.new.clone(),
        old_format: a.old_format.map(Format::from),
        new_format: a.new_format.map(Format::from),
        details: a.details,
        allow,
        scan: ScanOptions {
            max_gap_us: a.max_gap.saturating_mul(ibstore::time::US),
            ..ScanOptions::default()
        },
    };
    if let Some(html) = &a.html {
        // An inspecting command never writes into a store.
        let dir = html
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if let Ok(dir) = std::fs::canonicalize(dir) {
            for store in [&a.old, &a.new] {
                if let Ok(root) = std::fs::canonicalize(store) {
                    if dir.starts_with(&root) {
                        bail!(
                            "--html {}: inside the store {}; compare never writes into a store",
                            html.display(),
                            root.display()
                        );
                    }
                }
            }
        }
    }
    let bar = Bar::new();
    let report = a.common.pool()?.install(|| compare::run(&o, &bar))?;
    bar.finish();
    if let Some(path) = &a.html {
        ibstore::fsutil::write_atomic(path, compare::html::page(&report).as_bytes())?;
    }
    report.render(&mut a.common.writer())?;
    Ok(report.summary().exit_code)
}
