//! `ibstore query`.

use anyhow::{bail, Result};
use clap::ValueEnum;
use ibstore::query::{self, Query};
use ibstore::{Format, Tick, TickType};
use std::io::Write as _;
use std::path::PathBuf;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// v3 flat records, JSON Lines.
    #[value(name = "v3-json")]
    V3Json,
    /// v2 envelopes, JSON Lines.
    #[value(name = "v2-json")]
    V2Json,
    /// v3 big-endian length-prefixed protobuf.
    #[value(name = "v3-pb")]
    V3Pb,
    /// CSV with a header line.
    Csv,
}

/// Print the records of one contract and tick type in [FROM, TO), in (ts, st) order.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Contract id.
    #[arg(long)]
    contract: String,
    /// Tick type: bid_ask, last, all_last or mid_point.
    #[arg(long)]
    tick_type: String,
    /// Window start (inclusive): 2025-08-05T14:30Z, an offset, a date, or an integer since the epoch (1754404200s, ms, us, ns; bare: read by magnitude).
    #[arg(long)]
    from: String,
    /// Window end (exclusive), same shapes.
    #[arg(long)]
    to: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "v3-json")]
    format: OutFormat,
    /// Replay at N times the recorded pace (by st).
    #[arg(long, value_name = "N")]
    pace: Option<f64>,
    /// Indices are in this folder instead of STORE/.ibstore/index.
    #[arg(long, value_name = "DIR")]
    index_dir: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
    /// Where an hour of the stream is stored in several formats (the
    /// recorder wrote v2 and v3, JSON and protobuf, side by side), read this
    /// one (v2-json, v2-pb, v3-json, v3-pb); hours held in one format are
    /// read whatever it is. `all` reads every format (each tick once per
    /// copy). Without it such hours are refused, listed.
    #[arg(long, value_name = "FORMAT")]
    source_format: Option<String>,
}

const CSV_HEADER: &str = "ts,st,cid,tt,rid,p,s,bp,bs,ap,as,mp,bpl,aph,upt\n";

fn csv(t: &Tick, out: &mut Vec<u8>) {
    let f = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let b = |v: Option<bool>| v.map_or(String::new(), |x| x.to_string());
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        t.ts,
        t.st,
        t.cid,
        t.tt,
        t.rid,
        f(t.p),
        f(t.s),
        f(t.bp),
        f(t.bs),
        f(t.ap),
        f(t.as_),
        f(t.mp),
        b(t.bpl),
        b(t.aph),
        b(t.upt)
    );
}

/// Runs `query`.
pub fn run(a: Args) -> Result<u8> {
    let Ok(contract) = a.contract.trim().parse::<i64>() else {
        bail!(
            "--contract {:?} is not a contract id (an integer such as 711280073)",
            a.contract
        );
    };
    let Some(tick_type) = TickType::from_storage_name(a.tick_type.as_bytes()) else {
        bail!(
            "--tick-type {:?} is not a tick type (bid_ask, last, all_last or mid_point)",
            a.tick_type
        );
    };
    let from = query::parse_time(&a.from).map_err(|e| anyhow::anyhow!("--from {e}"))?;
    let to = query::parse_time(&a.to).map_err(|e| anyhow::anyhow!("--to {e}"))?;
    if from >= to {
        bail!("--from must be before --to (the window is [from, to))");
    }
    if let Some(p) = a.pace {
        if !(p.is_finite() && p > 0.0) {
            bail!("--pace must be a positive number");
        }
    }
    let source_format = match a.source_format.as_deref() {
        None => Prefer::Refuse,
        Some("all") => Prefer::All,
        Some(s) => Prefer::Format(Format::from_name(s).ok_or_else(|| {
            anyhow::anyhow!("--source-format {s:?}: expected v2-json, v2-pb, v3-json, v3-pb or all")
        })?),
    };
    let (root, dir) = super::index::locate(&a.path, a.index_dir.as_ref())?;
    let common = crate::cli::Common {
        json: false,
        jobs: a.jobs,
    };
    let (plan_note, r) = common.pool()?.install(|| -> Result<_> {
        let plan = query::plan(&root, &dir, contract, tick_type, from, to)?;
        let known = &plan.known;
        if !plan.open && !known.iter().any(|(c, _)| *c == contract) {
            let list: Vec<String> = known
                .iter()
                .map(|(c, _)| c.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            bail!(
                "unknown contract {contract}: the store holds {}",
                if list.is_empty() {
                    "none".into()
                } else {
                    list.join(", ")
                }
            );
        }
        if !plan.open
            && !known
                .iter()
                .any(|(c, t)| *c == contract && t.is_none_or(|t| t == tick_type))
        {
            let list: Vec<&str> = known
                .iter()
                .filter(|(c, _)| *c == contract)
                .filter_map(|(_, t)| t.map(TickType::as_str))
                .collect();
            bail!(
                "contract {contract} has no {tick_type} files (it has {})",
                list.join(", ")
            );
        }
        let mut files = plan.files;
        one_format_per_hour(&mut files, source_format, contract, tick_type)?;
        let mut r = query::run_files(
            &files,
            &dir,
            Query {
                contract,
                tick_type,
                from,
                to,
            },
        );
        r.skipped += plan.skipped;
        if let Some(first) = plan.links.first() {
            r.notes.push(links_note(plan.links.len(), first));
        }
        Ok((plan.walked, r))
    })?;
    for n in &r.notes {
        eprintln!("ibstore: note: {}", ibstore::report::escape(n));
    }
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(1 << 16);
    if a.format == OutFormat::Csv {
        buf.extend_from_slice(CSV_HEADER.as_bytes());
    }
    let mut prev_st: Option<i64> = None;
    for t in &r.ticks {
        if let Some(p) = a.pace {
            if let Some(prev) = prev_st {
                let wait = ((t.st - prev).max(0) as f64 / p) as u64;
                if wait > 0 {
                    out.write_all(&buf)?;
                    out.flush()?;
                    buf.clear();
                    std::thread::sleep(std::time::Duration::from_micros(wait));
                }
            }
            prev_st = Some(t.st);
        }
        match a.format {
            OutFormat::Csv => csv(t, &mut buf),
            OutFormat::V3Json => Format::V3Json.encode(t, &mut buf)?,
            OutFormat::V2Json => Format::V2Json.encode(t, &mut buf)?,
            OutFormat::V3Pb => Format::V3Pb.encode(t, &mut buf)?,
        }
        if buf.len() > 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    let from = match &plan_note {
        None => "files from the catalog".to_owned(),
        Some(why) => format!("store walked: {why}"),
    };
    eprintln!(
        "ibstore: {} records; {} files skipped by their index, {} read between index entries, {} scanned; {}",
        r.ticks.len(), r.skipped, r.seeked, r.scanned, ibstore::report::escape(&from)
    );
    Ok(0)
}

/// The note for symbolic links a walk did not follow (shared with `index`).
pub fn links_note(n: usize, first: &str) -> String {
    format!(
        "{n} symbolic link{} in the store not followed (first: {first}); records behind {} are not read (`validate` lists them)",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" }
    )
}

/// What to read where an hour is stored in several formats.
#[derive(Debug, Clone, Copy)]
enum Prefer {
    /// Refuse, listing the formats.
    Refuse,
    /// Every format.
    All,
    /// This one.
    Format(Format),
}

/// Keeps, for every hour of the stream stored in several formats, the files
/// of the preferred one (the same ticks recorded side by side would
/// otherwise come once per format); without a preference such hours are
/// refused, listed. Files of an hour held in one format are all kept.
fn one_format_per_hour(
    files: &mut Vec<ibstore::store::discover::Found>,
    prefer: Prefer,
    contract: i64,
    tick_type: TickType,
) -> Result<()> {
    use ibstore::convert::plan::likely_format;
    use std::collections::{BTreeMap, BTreeSet};
    if matches!(prefer, Prefer::All) {
        return Ok(());
    }
    let likely: Vec<Option<Format>> = files.iter().map(likely_format).collect();
    let mut by_hour: BTreeMap<Option<i64>, BTreeSet<Format>> = BTreeMap::new();
    for (f, l) in files.iter().zip(&likely) {
        if let Some(l) = l {
            by_hour.entry(f.file.hour).or_default().insert(*l);
        }
    }
    let mixed: BTreeMap<Option<i64>, &BTreeSet<Format>> = by_hour
        .iter()
        .filter(|(_, fs)| fs.len() > 1)
        .map(|(h, fs)| (*h, fs))
        .collect();
    let Some(first) = mixed.keys().next() else {
        return Ok(());
    };
    let hour = |h: &Option<i64>| h.map_or_else(|| "(no hour)".into(), ibstore::time::hour_folder);
    let want = match prefer {
        Prefer::Format(w) => w,
        _ => {
            let all: BTreeSet<Format> = mixed.values().flat_map(|s| s.iter().copied()).collect();
            let list: Vec<String> = all.iter().map(|f| f.to_string()).collect();
            bail!(
                "{} hour{} of {contract} {tick_type} (first {}) {} stored in several formats ({}): choose one with --source-format (or `all` to read every copy)",
                mixed.len(),
                if mixed.len() == 1 { "" } else { "s" },
                hour(first),
                if mixed.len() == 1 { "is" } else { "are" },
                list.join(", ")
            );
        }
    };
    if let Some((h, fs)) = mixed.iter().find(|(_, fs)| !fs.contains(&want)) {
        let list: Vec<String> = fs.iter().map(|f| f.to_string()).collect();
        bail!(
            "hour {} of {contract} {tick_type} is stored in {} but not in {want}: choose one of those with --source-format (or `all`)",
            hour(h),
            list.join(" and ")
        );
    }
    let mut it = likely.into_iter();
    files.retain(|f| {
        let l = it.next().flatten();
        match (l, mixed.contains_key(&f.file.hour)) {
            (Some(l), true) => l == want,
            _ => true,
        }
    });
    Ok(())
}
