//! `ibstore bench`: the numbers a user needs to choose a migration target,
//! measured on their own store (or a generated one): read+decode throughput
//! per format present (the shared scan, in process), the size of a sample of
//! records in every target format and zstd level (written to a scratch
//! folder, then removed), and the latency of a 5-minute query with and
//! without indices (built in the scratch folder: nothing is written into the
//! store).

use crate::error::{Error, Result};
use crate::format::Format;
use crate::index::{self, Mode};
use crate::query::{self, Query};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover::{Discovery, Found};
use crate::tick::Tick;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

/// Read+decode throughput of one format.
#[derive(Debug, Clone, Serialize)]
pub struct ReadSpeed {
    /// Format name (`+zstd` when compressed).
    pub format: String,
    /// Files.
    pub files: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Records decoded.
    pub records: u64,
    /// Seconds.
    pub seconds: f64,
    /// MB (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// Records per second.
    pub records_per_s: f64,
}

/// The size a sample takes in one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSize {
    /// Format name.
    pub format: String,
    /// zstd level (none: plain).
    pub zstd_level: Option<i32>,
    /// Bytes of the sample.
    pub bytes: u64,
    /// Bytes per record.
    pub bytes_per_record: f64,
}

/// Query latency.
#[derive(Debug, Clone, Serialize)]
pub struct QueryLatency {
    /// Contract.
    pub contract: i64,
    /// Tick type.
    pub tick_type: String,
    /// Window start, µs.
    pub from: i64,
    /// Window end, µs.
    pub to: i64,
    /// Records returned.
    pub records: u64,
    /// Milliseconds with indices.
    pub with_index_ms: f64,
    /// Milliseconds without.
    pub without_index_ms: f64,
    /// Seconds to build the indices.
    pub index_build_s: f64,
}

/// Everything `bench` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Per format present.
    pub read: Vec<ReadSpeed>,
    /// Records in the size sample.
    pub sample_records: u64,
    /// Per target format and level.
    pub sizes: Vec<TargetSize>,
    /// The 5-minute query (none: the store holds no records).
    pub query: Option<QueryLatency>,
}

/// zstd levels measured.
pub const LEVELS: [i32; 3] = [1, 3, 9];

#[derive(Default)]
struct Count(u64);
impl Visit for Count {
    fn record(&mut self, _: &Good<'_>) {
        self.0 += 1;
    }
}

struct Sample {
    want: usize,
    got: Vec<Tick>,
}
impl Visit for Sample {
    fn record(&mut self, r: &Good<'_>) {
        if self.got.len() < self.want {
            self.got.push(*r.tick);
        }
    }
}

fn label(f: &Found) -> String {
    let fmt = f.file.layout_format().map_or("unplaced", Format::name);
    if f.file.compressed() {
        format!("{fmt}+zstd")
    } else {
        fmt.to_owned()
    }
}

/// Measures a store. `scratch` must be a fresh folder outside the store; it
/// is removed at the end.
pub fn run(d: &Discovery, scratch: &Path, sample: usize) -> Result<BenchReport> {
    let io = |e: std::io::Error| Error::Path {
        path: scratch.to_owned(),
        source: e,
    };
    std::fs::create_dir_all(scratch).map_err(io)?;
    let out = measure(d, scratch, sample);
    let _ = std::fs::remove_dir_all(scratch);
    out
}

fn measure(d: &Discovery, scratch: &Path, sample: usize) -> Result<BenchReport> {
    let opts = ScanOptions::default();
    let mut labels: Vec<String> = d.files.iter().map(label).collect();
    labels.sort();
    labels.dedup();
    let mut read = Vec::new();
    for l in labels {
        let files: Vec<&Found> = d.files.iter().filter(|f| label(f) == l).collect();
        let t = Instant::now();
        let records: u64 = files
            .par_iter()
            .map(|f| {
                scan::scan_with(f, &opts, &Count::default)
                    .visits
                    .iter()
                    .map(|c| c.0)
                    .sum::<u64>()
            })
            .sum();
        let seconds = t.elapsed().as_secs_f64().max(1e-9);
        let bytes: u64 = files.iter().map(|f| f.file.size).sum();
        read.push(ReadSpeed {
            format: l,
            files: files.len() as u64,
            bytes,
            records,
            seconds,
            mb_per_s: bytes as f64 / seconds / 1e6,
            records_per_s: records as f64 / seconds,
        });
    }
    let mut ticks = Vec::new();
    for f in &d.files {
        if ticks.len() >= sample {
            break;
        }
        let s = scan::scan_with(f, &opts, &|| Sample {
            want: sample - ticks.len(),
            got: Vec::new(),
        });
        for v in s.visits {
            ticks.extend(v.got);
        }
        ticks.truncate(sample);
    }
    let mut sizes = Vec::new();
    let n = ticks.len().max(1) as f64;
    for fmt in Format::ALL {
        let mut buf = Vec::new();
        for t in &ticks {
            if fmt.encode(t, &mut buf).is_err() {
                continue;
            }
        }
        let mut push = |level: Option<i32>, bytes: &[u8]| -> Result<()> {
            let name = match level {
                Some(l) => format!("sample.{}.zst{l}", fmt.name()),
                None => format!("sample.{}", fmt.name()),
            };
            crate::fsutil::write_atomic(&scratch.join(name), bytes)?;
            sizes.push(TargetSize {
                format: fmt.name().into(),
                zstd_level: level,
                bytes: bytes.len() as u64,
                bytes_per_record: bytes.len() as f64 / n,
            });
            Ok(())
        };
        push(None, &buf)?;
        for l in LEVELS {
            let z = zstd::bulk::compress(&buf, l).map_err(|e| Error::Path {
                path: scratch.to_owned(),
                source: e,
            })?;
            push(Some(l), &z)?;
        }
    }
    let query = match ticks.first() {
        None => None,
        Some(t0) => {
            let ixdir = scratch.join("index");
            let t = Instant::now();
            index::run(
                Discovery {
                    root: d.root.clone(),
                    total_bytes: d.total_bytes,
                    files: d.files.clone(),
                    findings: Vec::new(),
                    folders: d.folders.clone(),
                },
                &ixdir,
                true,
                Mode::Rebuild,
                &opts,
                &(),
            )?;
            let index_build_s = t.elapsed().as_secs_f64();
            let q = Query {
                contract: t0.cid,
                tick_type: t0.tt,
                from: t0.ts,
                to: t0.ts + 300 * crate::time::US,
            };
            let t = Instant::now();
            let with = query::run(d, &ixdir, q);
            let with_index_ms = t.elapsed().as_secs_f64() * 1e3;
            let t = Instant::now();
            let _ = query::run(d, &scratch.join("no-index"), q);
            let without_index_ms = t.elapsed().as_secs_f64() * 1e3;
            Some(QueryLatency {
                contract: q.contract,
                tick_type: q.tick_type.as_str().into(),
                from: q.from,
                to: q.to,
                records: with.ticks.len() as u64,
                with_index_ms,
                without_index_ms,
                index_build_s,
            })
        }
    };
    Ok(BenchReport {
        read,
        sample_records: ticks.len() as u64,
        sizes,
        query,
    })
}
