//! `ibstore convert`.

use crate::cli::{Bar, Common};
use anyhow::{bail, Result};
use ibstore::convert::plan::{Filter, LossField};
use ibstore::convert::Options;
use ibstore::{Format, TickType};
use std::path::PathBuf;

/// Convert a store into another format: verified, resumable, nothing lost silently.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store (or folder, or file) to read; never written.
    #[arg(long, value_name = "SRC")]
    from: PathBuf,
    /// Store to write (created; must be neither SRC nor inside it).
    #[arg(long, value_name = "DST")]
    to: PathBuf,
    /// Target format: v2-json, v2-pb, v3-json, v3-pb, or parquet (a Hive-partitioned dataset).
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// Compress the outputs: zstd or zstd:LEVEL (default level 3); parquet also snappy or none (default zstd:3).
    #[arg(long, value_name = "zstd[:LEVEL]")]
    compress: Option<String>,
    /// parquet: one file per stream-hour (hour, the default) or per contract-day (day).
    #[arg(long, value_name = "hour|day")]
    per: Option<String>,
    /// parquet: replace a Parquet dataset of another SRC or other options in DST.
    #[arg(long)]
    overwrite: bool,
    /// Only these contract ids (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "CID")]
    contract: Vec<i64>,
    /// Only these tick types: bid_ask, last, all_last, mid_point.
    #[arg(long = "tick-type", value_delimiter = ',', value_name = "TT")]
    tick_type: Vec<String>,
    /// Only records with ts at or after this time (as `query --from`;
    /// a bare integer by magnitude: <1e11 s, <1e14 ms, <1e17 µs, else ns).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only records with ts before this time (as `query --from`;
    /// a bare integer by magnitude: <1e11 s, <1e14 ms, <1e17 µs, else ns).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// The format to read when SRC holds several.
    #[arg(long, value_name = "FORMAT")]
    source_format: Option<String>,
    /// Convert the intact records of damaged files (listing every skipped span).
    #[arg(long)]
    skip_damaged: bool,
    /// Allow a field the target cannot hold to be dropped: ts, past_limit, rid, cid, exchange,
    /// conditions, sequence, stream_id, metadata, data_timestamp, unknown, data_ids (repeatable).
    #[arg(long, value_delimiter = ',', value_name = "FIELD")]
    allow_loss: Vec<String>,
    /// Remove files in DST that this conversion did not make (orphans: their
    /// sources were deleted); without it they are only reported.
    #[arg(long)]
    prune: bool,
    #[command(flatten)]
    common: Common,
}

fn format(s: &str, what: &str) -> Result<Format> {
    match Format::from_name(s) {
        Some(f) => Ok(f),
        None if what == "--format" => {
            bail!("{what} {s:?}: expected v2-json, v2-pb, v3-json, v3-pb or parquet")
        }
        None => bail!("{what} {s:?}: expected v2-json, v2-pb, v3-json or v3-pb"),
    }
}

/// Parses `--since`/`--until` with `query`'s time parser (ISO times with a
/// zone, dates, integers with a unit `s`/`ms`/`us`/`ns`; overflow refused). A
/// bare integer is read by its magnitude: below 1e11 seconds, below 1e14 ms,
/// below 1e17 µs, else ns (so `query`'s bare µs mean the same here).
fn time(s: &str, what: &str) -> Result<i64> {
    // query's parser: bare integers are read by magnitude there.
    ibstore::query::parse_time(s).map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// Parses `zstd` or `zstd:LEVEL`.
fn compress(s: &str) -> Result<i32> {
    match s.split_once(':') {
        None if s == "zstd" => Ok(3),
        Some(("zstd", l)) => match l.parse::<i32>() {
            Ok(l) if (1..=22).contains(&l) => Ok(l),
            _ => bail!("--compress {s:?}: the zstd level must be 1 to 22"),
        },
        _ => bail!("--compress {s:?}: expected zstd or zstd:LEVEL"),
    }
}

/// Runs `convert`.
pub fn run(a: Args) -> Result<u8> {
    let mut tick_types = Vec::new();
    for t in &a.tick_type {
        match TickType::from_storage_name(t.as_bytes()) {
            Some(t) => tick_types.push(t),
            None => bail!("--tick-type {t:?}: expected bid_ask, last, all_last or mid_point"),
        }
    }
    let mut allow_loss = Vec::new();
    for l in &a.allow_loss {
        match LossField::from_name(l) {
            Some(f) => allow_loss.push(f),
            None => bail!("--allow-loss {l:?}: expected one of {}", LossField::names()),
        }
    }
    if a.format == "parquet" {
        return parquet(a, tick_types, allow_loss);
    }
    if a.per.is_some() || a.overwrite {
        bail!("--per and --overwrite are options of --format parquet");
    }
    let opts = Options {
        target: format(&a.format, "--format")?,
        zstd: a.compress.as_deref().map(compress).transpose()?,
        filter: Filter {
            contracts: a.contract.clone(),
            tick_types,
            since: a.since.as_deref().map(|s| time(s, "--since")).transpose()?,
            until: a.until.as_deref().map(|s| time(s, "--until")).transpose()?,
        },
        source_format: a
            .source_format
            .as_deref()
            .map(|s| format(s, "--source-format"))
            .transpose()?,
        skip_damaged: a.skip_damaged,
        allow_loss,
    };
    if let (Some(s), Some(u)) = (opts.filter.since, opts.filter.until) {
        if s >= u {
            bail!("--since must be before --until (an empty time range converts nothing)");
        }
    }
    let bar = Bar::new();
    let report = a.common.pool()?.install(|| {
        let extra = ibstore::convert::Extra { prune: a.prune };
        ibstore::convert::run_with(&a.from, &a.to, &opts, extra, &bar)
    })?;
    bar.finish();
    report.render(&mut a.common.writer())?;
    Ok(report.exit_code())
}

/// Runs `convert --format parquet`.
fn parquet(a: Args, tick_types: Vec<TickType>, allow_loss: Vec<LossField>) -> Result<u8> {
    use ibstore::convert::parquet::{Codec, Options};
    let codec = match a.compress.as_deref() {
        None => Codec::Zstd(3),
        Some(s) => match Codec::parse(s) {
            Some(c) => c,
            None => bail!("--compress {s:?}: expected zstd, zstd:LEVEL (1 to 22), snappy or none"),
        },
    };
    let per_day = match a.per.as_deref() {
        None | Some("hour") => false,
        Some("day") => true,
        Some(p) => bail!("--per {p:?}: expected hour or day"),
    };
    let opts = Options {
        codec,
        per_day,
        filter: Filter {
            contracts: a.contract.clone(),
            tick_types,
            since: a.since.as_deref().map(|s| time(s, "--since")).transpose()?,
            until: a.until.as_deref().map(|s| time(s, "--until")).transpose()?,
        },
        source_format: a
            .source_format
            .as_deref()
            .map(|s| format(s, "--source-format"))
            .transpose()?,
        skip_damaged: a.skip_damaged,
        overwrite: a.overwrite,
        allow_loss,
    };
    let bar = Bar::new();
    let report = a
        .common
        .pool()?
        .install(|| ibstore::convert::parquet::run(&a.from, &a.to, &opts, &bar))?;
    bar.finish();
    report.render(&mut a.common.writer())?;
    Ok(report.exit_code())
}
