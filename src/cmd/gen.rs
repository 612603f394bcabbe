//! `ibstore gen`: a deterministic synthetic store.

use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;
use ibstore::gen::{DamageKind, GenOptions, TsResolution, V2Layout};
use ibstore::{Format, TickType};
use std::path::PathBuf;

/// Data formats by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// v2 envelope, JSON Lines.
    #[value(name = "v2-json")]
    V2Json,
    /// v2 envelope, little-endian length-prefixed protobuf.
    #[value(name = "v2-pb")]
    V2Pb,
    /// v3 flat record, JSON Lines.
    #[value(name = "v3-json")]
    V3Json,
    /// v3 flat record, big-endian length-prefixed protobuf.
    #[value(name = "v3-pb")]
    V3Pb,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::V2Json => Format::V2Json,
            FormatArg::V2Pb => Format::V2Pb,
            FormatArg::V3Json => Format::V3Json,
            FormatArg::V3Pb => Format::V3Pb,
        }
    }
}

/// Tick types by their storage names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TickTypeArg {
    /// Bid/ask quotes.
    #[value(name = "bid_ask")]
    BidAsk,
    /// Trades.
    #[value(name = "last")]
    Last,
    /// All trades.
    #[value(name = "all_last")]
    AllLast,
    /// Mid points.
    #[value(name = "mid_point")]
    MidPoint,
}

impl From<TickTypeArg> for TickType {
    fn from(t: TickTypeArg) -> Self {
        match t {
            TickTypeArg::BidAsk => TickType::BidAsk,
            TickTypeArg::Last => TickType::Last,
            TickTypeArg::AllLast => TickType::AllLast,
            TickTypeArg::MidPoint => TickType::MidPoint,
        }
    }
}

/// Faults `gen` can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DamageArg {
    /// Truncate a file to 0 bytes.
    Empty,
    /// Cut the last record in half.
    TruncatedTail,
    /// Append 2 bytes of a length prefix (protobuf only).
    PartialPrefix,
    /// Append 4096 NUL bytes.
    TrailingNul,
    /// Insert a line that is not JSON (JSON only).
    GarbageLine,
    /// Insert a line with invalid UTF-8 inside a string (JSON only).
    InvalidUtf8,
    /// Insert a record whose price is a string, or a garbage frame.
    BadRecord,
    /// Insert a 4-byte corrupt length prefix (protobuf only).
    BadPrefix,
    /// Swap two records in the middle.
    OutOfOrder,
    /// Repeat a record exactly (a double write).
    Duplicate,
    /// Insert a record of another contract.
    Misplaced,
    /// Remove a run of records, leaving a silence of over 20 minutes.
    Gap,
    /// Remove every file of one hour of one stream.
    MissingHour,
}

impl From<DamageArg> for DamageKind {
    fn from(d: DamageArg) -> Self {
        match d {
            DamageArg::Empty => DamageKind::Empty,
            DamageArg::TruncatedTail => DamageKind::TruncatedTail,
            DamageArg::PartialPrefix => DamageKind::PartialPrefix,
            DamageArg::TrailingNul => DamageKind::TrailingNul,
            DamageArg::GarbageLine => DamageKind::GarbageLine,
            DamageArg::InvalidUtf8 => DamageKind::InvalidUtf8,
            DamageArg::BadRecord => DamageKind::BadRecord,
            DamageArg::BadPrefix => DamageKind::BadPrefix,
            DamageArg::OutOfOrder => DamageKind::OutOfOrder,
            DamageArg::Duplicate => DamageKind::Duplicate,
            DamageArg::Misplaced => DamageKind::Misplaced,
            DamageArg::Gap => DamageKind::Gap,
            DamageArg::MissingHour => DamageKind::MissingHour,
        }
    }
}

/// Write a deterministic synthetic store, optionally with injected damage.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output store root (created; must not exist or be empty).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Formats to write (repeatable or comma-separated).
    #[arg(long = "format", value_delimiter = ',', default_value = "v3-json")]
    formats: Vec<FormatArg>,
    /// Contracts.
    #[arg(long, default_value_t = 2)]
    contracts: usize,
    /// Tick types (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "bid_ask,last")]
    tick_types: Vec<TickTypeArg>,
    /// Hourly partitions per stream.
    #[arg(long, default_value_t = 3)]
    hours: u32,
    /// First hour, UTC, as YYYY-MM-DDTHH (1970 or later).
    #[arg(long, default_value = "2025-08-01T00")]
    start: String,
    /// Records per file.
    #[arg(long, default_value_t = 100)]
    records: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compress every file with zstd (.zst).
    #[arg(long)]
    zstd: bool,
    /// Write v2 files in the legacy `{root}/json|protobuf` layout instead of `{root}/v2/…`.
    #[arg(long)]
    legacy: bool,
    /// Inject a fault (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',')]
    damage: Vec<DamageArg>,
    /// Event times: whole seconds as IB gives them (live-like: bursts,
    /// same-second repeats, st 0–2 s later), or distinct microseconds (tidy).
    #[arg(long, value_enum, default_value = "s")]
    ts_resolution: TsArg,
    /// Print JSON Lines (`damage` lines, then a `summary`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Event-time resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TsArg {
    /// Whole seconds (live-like).
    S,
    /// Microseconds (tidy).
    Us,
}

fn parse_start(s: &str) -> Result<i64> {
    let parts: Option<(i64, u32, u32, u32)> = (|| {
        let (date, hour) = s.split_once('T')?;
        let mut d = date.split('-');
        Some((
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
            hour.parse().ok()?,
        ))
    })();
    let (y, m, d, h) = parts.with_context(|| format!("--start {s:?} is not YYYY-MM-DDTHH"))?;
    let t = ibstore::time::epoch_of(y, m, d, h)
        .with_context(|| format!("--start {s:?} is not a real UTC hour"))?;
    if t < 0 {
        bail!("--start {s:?} is before 1970; IB-Stream stores hold times since 1970");
    }
    Ok(t)
}

/// Runs `gen`.
pub fn run(a: Args) -> Result<u8> {
    if a.out.exists()
        && a.out
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{}: exists and is not an empty folder; gen never writes into an existing store",
            a.out.display()
        );
    }
    if a.contracts == 0 || a.hours == 0 || a.records == 0 || a.tick_types.is_empty() {
        bail!("--contracts, --hours, --records and --tick-types must be at least 1");
    }
    let o = GenOptions {
        out: a.out.clone(),
        formats: a.formats.into_iter().map(Format::from).collect(),
        contracts: a.contracts,
        tick_types: a.tick_types.into_iter().map(TickType::from).collect(),
        hours: a.hours,
        start: parse_start(&a.start)?,
        records: a.records,
        seed: a.seed,
        zstd: a.zstd,
        v2_layout: if a.legacy {
            V2Layout::Legacy
        } else {
            V2Layout::Modern
        },
        damage: a.damage.into_iter().map(DamageKind::from).collect(),
        ts_resolution: match a.ts_resolution {
            TsArg::S => TsResolution::Seconds,
            TsArg::Us => TsResolution::Micros,
        },
    };
    let s = ibstore::gen::generate(&o)?;
    if a.json {
        for i in &s.injected {
            println!(
                "{}",
                serde_json::json!({"type": "damage", "kind": i.kind.name(), "file": i.file, "offset": i.offset, "len": i.len})
            );
        }
        println!(
            "{}",
            serde_json::json!({"type": "summary", "files": s.files, "records": s.records, "bytes": s.bytes, "path": a.out.display().to_string()})
        );
        return Ok(0);
    }
    println!(
        "wrote {} files, {} records, {} bytes to {}",
        s.files,
        s.records,
        s.bytes,
        a.out.display()
    );
    for i in &s.injected {
        println!(
            "damage\t{}\t{}\toffset={}\tlen={}",
            i.kind.name(),
            i.file,
            i.offset,
            i.len
        );
    }
    Ok(0)
}
