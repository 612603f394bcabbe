//! `ibstore bench`.

use crate::cli::Common;
use anyhow::{bail, Context as _, Result};
use ibstore::gen::GenOptions;
use ibstore::{Format, TickType};
use std::path::PathBuf;

/// Measure a store: read+decode speed per format, target sizes, query latency.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store root (any folder in it, or one file) to measure.
    #[arg(long, short = 'p', required_unless_present = "gen")]
    path: Option<PathBuf>,
    /// Measure a live-like store of about this size generated in a scratch folder (e.g. 50MB, 1GB) instead.
    #[arg(long, value_name = "SIZE", conflicts_with = "path")]
    gen: Option<String>,
    /// Records in the sample written in every target format.
    #[arg(long, default_value_t = 100_000)]
    sample: usize,
    #[command(flatten)]
    common: Common,
}

fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_uppercase();
    let (num, mult) = [("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1.0)]
        .iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.trim().to_owned(), *m)))
        .unwrap_or((t.clone(), 1.0));
    let v: f64 = num
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v > 0.0)
        .with_context(|| format!("--gen {s:?} is not a size (such as 50MB or 1GB)"))?;
    let bytes = (v * mult) as u64;
    if !(100_000..=64_000_000_000).contains(&bytes) {
        bail!("--gen {s:?}: give a size between 100KB and 64GB");
    }
    Ok(bytes)
}

/// Name prefix of a run's scratch folder in the temp folder:
/// `ibstore-bench-PID-µs`.
const SCRATCH_PREFIX: &str = "ibstore-bench-";

/// Removes the scratch folders of earlier runs that were killed before
/// they could (their process is gone). Only folders named as ibstore
/// names them and holding nothing but its `store` and `work` folders.
fn remove_left_behind(tmp: &std::path::Path) {
    let Ok(rd) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
            continue;
        };
        let Some((pid, us)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(pid), Ok(_)) = (pid.parse::<i32>(), us.parse::<u64>()) else {
            continue;
        };
        if pid <= 0 || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if alive {
            continue;
        }
        let ours = std::fs::read_dir(e.path()).is_ok_and(|mut d| {
            d.all(|x| {
                x.is_ok_and(|x| {
                    x.file_type().is_ok_and(|t| t.is_dir())
                        && matches!(x.file_name().to_str(), Some("store" | "work"))
                })
            })
        });
        if ours {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Runs `bench`.
pub fn run(a: Args) -> Result<u8> {
    if a.sample == 0 {
        bail!("--sample must be at least 1");
    }
    let tmp = std::env::temp_dir();
    remove_left_behind(&tmp);
    let scratch = tmp.join(format!(
        "{SCRATCH_PREFIX}{}-{}",
        std::process::id(),
        ibstore::time::now_us()
    ));
    let gen_bytes = a.gen.as_deref().map(parse_size).transpose()?;
    let r = a.common.pool()?.install(|| -> Result<_> {
        let (path, generated) = match gen_bytes {
            Some(bytes) => {
                let out = scratch.join("store");
                // 2 contracts × 2 tick types × 6 hours × 2 formats; ~130 B a record.
                let records = (bytes / 130 / 48).max(10) as usize;
                ibstore::gen::generate(&GenOptions {
                    out: out.clone(),
                    formats: vec![Format::V3Json, Format::V3Pb],
                    tick_types: vec![TickType::BidAsk, TickType::Last],
                    hours: 6,
                    records,
                    ..GenOptions::default()
                })?;
                (out, true)
            }
            None => (a.path.clone().unwrap_or_default(), false),
        };
        let d = ibstore::store::discover::discover(&path)?;
        let r = ibstore::bench::run(&d, &scratch.join("work"), a.sample);
        if generated {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Ok((d.root, r?))
    });
    // Removed whatever happened (a failed generation too).
    let _ = std::fs::remove_dir_all(&scratch);
    let (root, r) = r?;
    let mut w = a.common.writer();
    w.begin("bench", &root.display().to_string())?;
    if w.is_json() {
        for x in &r.read {
            w.json("read", x)?;
        }
        for x in &r.sizes {
            w.json("size", x)?;
        }
        if let Some(q) = &r.query {
            w.json("query", q)?;
        }
        return Ok(0);
    }
    w.text_line("\nread + decode (in process, whole store):")?;
    w.text_line(&format!(
        "  {:<14} {:>6} {:>14} {:>12} {:>9} {:>10} {:>12}",
        "format", "files", "bytes", "records", "seconds", "MB/s", "records/s"
    ))?;
    for x in &r.read {
        w.text_line(&format!(
            "  {:<14} {:>6} {:>14} {:>12} {:>9.3} {:>10.1} {:>12.0}",
            x.format, x.files, x.bytes, x.records, x.seconds, x.mb_per_s, x.records_per_s
        ))?;
    }
    w.text_line(&format!(
        "\nsize of a {}-record sample per target:",
        r.sample_records
    ))?;
    w.text_line(&format!(
        "  {:<10} {:<6} {:>12} {:>10}",
        "format", "zstd", "bytes", "B/record"
    ))?;
    for x in &r.sizes {
        w.text_line(&format!(
            "  {:<10} {:<6} {:>12} {:>10.1}",
            x.format,
            x.zstd_level.map_or("-".into(), |l| l.to_string()),
            x.bytes,
            x.bytes_per_record
        ))?;
    }
    if let Some(q) = &r.query {
        w.text_line(&format!(
            "\nquery of 5 minutes ({} {}, {} records): {:.2} ms with indices, {:.2} ms without (indices built in {:.3} s)",
            q.contract, q.tick_type, q.records, q.with_index_ms, q.without_index_ms, q.index_build_s
        ))?;
    }
    Ok(0)
}
