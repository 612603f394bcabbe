//! `convert --format parquet`: a store as a Hive-partitioned Apache Parquet
//! dataset, `tick_type=T/date=YYYY-MM-DD/contract_id=C/part-HH.parquet`
//! (`part-day.parquet` per day), for engines that scale past one machine.
//!
//! It shares convert's source selection ([`plan`]), scan, damage policy,
//! manifest and write path: source files are read hour by hour, every good
//! record becomes a [`Row`] of its output file (by its `ts` hour or day),
//! an output file is written (rows in `(ts, st)` order, temp + fsync +
//! rename, [`write::commit_all`]) once no later hour can add to it, and
//! the manifest records it. Verification reads every output back with the
//! `parquet` crate and compares count, first/last `ts` and the
//! order-independent fingerprint per stream-hour with the input's.

pub mod file;

use super::manifest::{self, Manifest, SourceId};
use super::plan::{self, Filter, LossField, Losses};
use super::write;
use super::{ConvertReport, Counts};
use crate::error::{Error, Result};
use crate::fingerprint::{Fields, HourPrint, StreamHour};
use crate::format::{v2_side, Format, Version};
use crate::fsutil;
use crate::progress::Progress;
use crate::report::{Finding, Kind};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover::{self, Found};
use crate::tick::TickType;
use crate::time::HOUR;
pub use file::{Codec, Row};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

const DAY: i64 = 86_400;

/// Fingerprints per stream-hour.
type Prints = HashMap<StreamHour, HourPrint>;

/// How to write the dataset.
#[derive(Debug, Clone)]
pub struct Options {
    /// Column compression.
    pub codec: Codec,
    /// One file per contract-day instead of per stream-hour.
    pub per_day: bool,
    /// Which records.
    pub filter: Filter,
    /// The source format to read when SRC holds several.
    pub source_format: Option<Format>,
    /// Convert the intact records of damaged files.
    pub skip_damaged: bool,
    /// Replace an earlier Parquet dataset of other options or another SRC.
    pub overwrite: bool,
    /// v2 extras the schema has no column for that may be dropped.
    pub allow_loss: Vec<LossField>,
}

/// What the Parquet schema holds of a v2 record's extras: what v3 holds
/// (no exchange, conditions, sequence, stream id, metadata, data.timestamp
/// or unknown keys), so losses are counted as for a v3 target.
const LIKE: Format = Format::V3Json;

impl Options {
    /// What the manifest records: a DST made under another signature holds
    /// a different dataset.
    pub fn signature(&self, src: &Path, source: Format) -> String {
        let f = &self.filter;
        let mut loss: Vec<&str> = self.allow_loss.iter().map(|l| l.name()).collect();
        loss.sort_unstable();
        format!(
            "parquet schema={} src={} from={source} codec={} per={} contracts={:?} tick_types={:?} since={:?} until={:?} skip_damaged={} allow_loss={loss:?}",
            file::SCHEMA_VERSION,
            src.display(),
            self.codec.name(),
            if self.per_day { "day" } else { "hour" },
            f.contracts,
            f.tick_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            f.since,
            f.until,
            self.skip_damaged,
        )
    }
}

/// An output file: one stream's hour or day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Out {
    /// Tick type.
    pub tt: TickType,
    /// Contract id.
    pub cid: i64,
    /// Start of its hour or day, epoch seconds.
    pub start: i64,
    /// Whether it is a day.
    pub day: bool,
}

impl Out {
    fn of(t: &crate::tick::Tick, day: bool) -> Self {
        let sec = t.ts.div_euclid(crate::time::US);
        let len = if day { DAY } else { HOUR };
        Self {
            tt: t.tt,
            cid: t.cid,
            start: sec - sec.rem_euclid(len),
            day,
        }
    }

    fn end(&self) -> i64 {
        self.start + if self.day { DAY } else { HOUR }
    }

    /// Path relative to DST.
    pub fn rel(&self) -> String {
        let (y, m, d) = crate::time::civil_from_days(self.start.div_euclid(DAY));
        let part = if self.day {
            "part-day".to_owned()
        } else {
            format!("part-{:02}", self.start.rem_euclid(DAY) / HOUR)
        };
        format!(
            "tick_type={}/date={y:04}-{m:02}-{d:02}/contract_id={}/{part}.parquet",
            self.tt, self.cid
        )
    }
}

/// The visitor: filters and gathers every good record as a row of its
/// output file, with the input fingerprints.
struct Gather<'a> {
    filter: &'a Filter,
    source: Format,
    day: bool,
    src: u32,
    counts: Counts,
    outs: Vec<(Out, Vec<Row>, Losses)>,
    last: usize,
}

impl Visit for Gather<'_> {
    fn record(&mut self, r: &Good<'_>) {
        self.counts.read += 1;
        if !self.filter.keep(r.tick) {
            self.counts.filtered += 1;
            return;
        }
        // The v2 extras the schema has no column for, counted per field.
        let mut losses = Losses::default();
        if self.source.version() == Version::V2 {
            if let Some(side) = v2_side::decode(self.source, r.bytes) {
                losses = plan::side_losses(&side, r.tick, self.source, LIKE);
                for f in losses.iter() {
                    self.counts.lost[f as usize] += 1;
                }
            }
        }
        let o = Out::of(r.tick, self.day);
        if self.outs.get(self.last).is_none_or(|(h, _, _)| *h != o) {
            self.last = match self.outs.iter().position(|(h, _, _)| *h == o) {
                Some(i) => i,
                None => {
                    self.outs.push((o, Vec::new(), Losses::default()));
                    self.outs.len() - 1
                }
            };
        }
        self.outs[self.last].2 .0 |= losses.0;
        self.outs[self.last].1.push(Row {
            tick: *r.tick,
            src: self.src,
            offset: r.offset,
        });
    }
}

/// One output file being gathered.
#[derive(Default)]
struct Bucket {
    rows: Vec<Row>,
    sources: BTreeSet<usize>,
    /// v2 extras its records lost (all allowed by `--allow-loss`).
    losses: Losses,
}

/// A damaged source file whose intact records were converted.
#[derive(Debug, Clone, serde::Serialize)]
struct Damaged {
    file: String,
    spans: Vec<(u64, u64, String)>,
}

struct Run<'a> {
    dst: PathBuf,
    opts: &'a Options,
    source: Format,
    files: &'a [Found],
    ids: Vec<Option<SourceId>>,
    damaged: HashMap<usize, Damaged>,
    manifest: Manifest,
    buckets: HashMap<Out, Bucket>,
    late: HashMap<Out, Bucket>,
    flushed: HashSet<Out>,
    blocked: HashSet<Out>,
    prints: HashMap<Out, HashMap<StreamHour, HourPrint>>,
    /// Output files refused per lost field.
    refused_loss: BTreeMap<LossField, super::RefusedLoss>,
    report: ConvertReport,
}

/// DST must be new, empty, or this dataset's earlier (maybe interrupted)
/// conversion. A Parquet dataset of other options or another SRC is
/// replaced only with `--overwrite`; anything else is always refused.
fn check_dst(dst: &Path, sig: &str, overwrite: bool) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dst) else {
        return Ok(());
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != discover::STATE_DIR)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let ours = dst.join(manifest::REL).is_file() || dst.join(super::CLAIM).is_file();
    if !ours || names.iter().any(|n| !n.starts_with("tick_type=")) {
        return Err(Error::Usage(format!(
            "refused: {} is not empty and holds no Parquet dataset of ibstore's; convert writes only into a new folder or its own earlier output",
            dst.display()
        )));
    }
    let old: Option<Manifest> = std::fs::read(dst.join(manifest::REL))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let Some(old) = old else {
        // Interrupted before its first manifest: resumed (every file redone).
        return Ok(());
    };
    if old.options == sig {
        return Ok(());
    }
    if !overwrite {
        return Err(Error::Usage(format!(
            "refused: {} holds a different dataset ({}); pass --overwrite to replace it",
            dst.display(),
            old.options
        )));
    }
    // The old dataset's manifest first (nothing is then claimed done), then
    // its partition folders.
    fsutil::remove_durable(&dst.join(manifest::REL))?;
    for n in &names {
        let p = dst.join(n);
        std::fs::remove_dir_all(&p).map_err(|e| Error::Io {
            path: p.clone(),
            what: "remove the old dataset",
            source: e,
        })?;
    }
    fsutil::fsync_dir(dst)
}

/// Converts the store at `src` into a Parquet dataset at `dst`.
pub fn run(
    src: &Path,
    dst: &Path,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<ConvertReport> {
    let (src, dst) = plan::check_paths(src, dst)?;
    let d = discover::discover(&src)?;
    plan::refuse_parquet_src(&src, &d.files, &d.findings)?;
    let (source, files) = plan::choose_source(d.files, opts.source_format)?;
    let sig = opts.signature(&src, source);
    check_dst(&dst, &sig, opts.overwrite)?;
    std::fs::create_dir_all(&dst).map_err(|e| Error::Io {
        path: dst.clone(),
        what: "create DST",
        source: e,
    })?;
    let dst = std::fs::canonicalize(&dst).map_err(|e| Error::path(&dst, e))?;
    if !dst.join(super::CLAIM).is_file() {
        let claim = fsutil::resolve_in(&dst, super::CLAIM, true)?;
        fsutil::write_atomic(&claim, b"")?;
    }
    let shim = super::Options {
        target: source,
        zstd: None,
        filter: opts.filter.clone(),
        source_format: opts.source_format,
        skip_damaged: opts.skip_damaged,
        allow_loss: opts.allow_loss.clone(),
    };
    let mut report = ConvertReport::new(&src, &dst, source, &shim);
    report.target_format = format!("parquet ({})", opts.codec.name());
    report.findings.extend(d.findings);
    let mut run = Run {
        manifest: Manifest::load(&dst, &sig),
        dst,
        opts,
        source,
        files: &files,
        ids: vec![None; files.len()],
        damaged: HashMap::new(),
        buckets: HashMap::new(),
        late: HashMap::new(),
        flushed: HashSet::new(),
        blocked: HashSet::new(),
        prints: HashMap::new(),
        refused_loss: BTreeMap::new(),
        report,
    };
    progress.start(files.iter().map(|f| f.file.size).sum());
    let scan_opts = ScanOptions {
        crc: true,
        record_checks: false,
        ..ScanOptions::default()
    };
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (files[i].file.hour.unwrap_or(i64::MIN), i));
    let mut i = 0;
    while i < order.len() {
        let hour = files[order[i]].file.hour;
        let mut j = i;
        while j < order.len() && files[order[j]].file.hour == hour {
            j += 1;
        }
        let scanned: Vec<(usize, scan::Scanned<Gather<'_>>)> = order[i..j]
            .par_iter()
            .map(|&k| {
                let s = scan::scan_with(&files[k], &scan_opts, &|| Gather {
                    filter: &opts.filter,
                    source,
                    day: opts.per_day,
                    src: k as u32,
                    counts: Counts::default(),
                    outs: Vec::new(),
                    last: 0,
                });
                progress.advance(files[k].file.size);
                (k, s)
            })
            .collect();
        for (k, s) in scanned {
            run.absorb(k, s)?;
        }
        // As convert: no later source file adds to an output ending by
        // this hour (v2 spill-over is at most the hour before); a stray
        // that does is merged late.
        if let Some(h) = hour {
            run.flush(|o| o.end() <= h)?;
        }
        i = j;
    }
    run.flush(|_| true)?;
    run.flush_late()?;
    let bad = run.verify()?;
    if !bad.is_empty() {
        for rel in &bad {
            run.manifest.outputs.remove(rel);
        }
        run.manifest.save(&run.dst)?;
    }
    super::finish_losses(&mut run.report, &opts.allow_loss, &run.refused_loss, LIKE);
    for f in &mut run.report.findings {
        if matches!(f.kind, Kind::ConvertLoss | Kind::ConvertRefused) {
            f.message = f
                .message
                .replace("v3 has no", "the Parquet schema has no")
                .replace("v3 cannot", "the Parquet schema cannot");
        }
    }
    run.report.finish();
    Ok(run.report)
}

impl Run<'_> {
    fn absorb(&mut self, k: usize, s: scan::Scanned<Gather<'_>>) -> Result<()> {
        let scan = &s.scan;
        let found = &self.files[k];
        let rel = &found.file.rel;
        match scan.format {
            None => return Ok(()),
            Some(f) if f != self.source => {
                return super::other_format(
                    found,
                    f,
                    self.source,
                    self.opts.skip_damaged,
                    &mut self.report.findings,
                );
            }
            Some(_) => {}
        }
        self.report.files_read += 1;
        self.report.bytes_read += scan.stat.map_or(0, |s| s.size);
        self.ids[k] = Some(manifest::source_id(rel, scan.stat.as_ref(), scan.crc32));
        let damaged = !scan.spans.is_empty() || scan.read_problem.is_some();
        let refuse = damaged && !self.opts.skip_damaged;
        if damaged {
            let (kind, tail) = if refuse {
                (
                    Kind::ConvertRefused,
                    "; the file's stream-hours are not written (run `ibstore repair`, or pass --skip-damaged)",
                )
            } else {
                (
                    Kind::ConvertSkipped,
                    "; skipped, the intact records were converted (listed in the files' ibstore.skipped_damaged metadata)",
                )
            };
            let mut spans = Vec::new();
            for sp in &scan.spans {
                spans.push((sp.offset, sp.len, sp.kind.to_string()));
                self.report.findings.push(
                    Finding::new(
                        kind,
                        rel,
                        format!(
                            "damaged: {} ({} bytes, {} records){tail}",
                            sp.kind, sp.len, sp.records
                        ),
                    )
                    .at(sp.offset, sp.index)
                    .len(sp.len)
                    .bytes(found.file.raw.clone()),
                );
            }
            if let Some(p) = &scan.read_problem {
                spans.push((
                    scan.decoded_bytes,
                    0,
                    format!("unreadable to its end ({p:?})"),
                ));
                self.report.findings.push(
                    Finding::new(
                        kind,
                        rel,
                        format!("damaged: could not be read to its end ({p:?}){tail}"),
                    )
                    .at(scan.decoded_bytes, None)
                    .bytes(found.file.raw.clone()),
                );
            }
            self.damaged.insert(
                k,
                Damaged {
                    file: rel.clone(),
                    spans,
                },
            );
        }
        for v in s.visits {
            self.report.counts.merge(&v.counts);
            for (o, rows, losses) in v.outs {
                let bad: Vec<LossField> = losses
                    .iter()
                    .filter(|f| !self.opts.allow_loss.contains(f))
                    .collect();
                if !bad.is_empty() && !self.blocked.contains(&o) {
                    for f in bad {
                        self.refused_loss.entry(f).or_default().add(&o.rel());
                    }
                    self.block(o)?;
                    continue;
                }
                if refuse || !bad.is_empty() {
                    self.block(o)?;
                    continue;
                }
                if self.blocked.contains(&o) {
                    continue;
                }
                let p = self.prints.entry(o).or_default();
                for r in &rows {
                    p.entry(StreamHour::of(&r.tick, &Fields::ALL))
                        .or_default()
                        .add(&r.tick, &Fields::ALL);
                }
                let b = if self.flushed.contains(&o) {
                    self.late.entry(o).or_default()
                } else {
                    self.buckets.entry(o).or_default()
                };
                b.sources.insert(k);
                b.losses.0 |= losses.0;
                b.rows.extend(rows);
            }
        }
        Ok(())
    }

    /// Marks an output file as not to be written (removing it if it was).
    fn block(&mut self, o: Out) -> Result<()> {
        if !self.blocked.insert(o) {
            return Ok(());
        }
        self.buckets.remove(&o);
        self.late.remove(&o);
        self.prints.remove(&o);
        self.report.outputs_refused += 1;
        if self.flushed.remove(&o) {
            let rel = o.rel();
            if self.manifest.outputs.remove(&rel).is_some() {
                self.manifest.save(&self.dst)?;
            }
            let p = self.dst.join(&rel);
            if p.exists() {
                fsutil::remove_durable(&p)?;
            }
        }
        Ok(())
    }

    fn source_ids(&self, sources: &BTreeSet<usize>) -> Vec<SourceId> {
        let mut v: Vec<SourceId> = sources
            .iter()
            .filter_map(|&k| self.ids[k].clone())
            .collect();
        v.sort();
        v
    }

    /// Writes every gathered output file whose output passes `ready`.
    fn flush(&mut self, ready: impl Fn(&Out) -> bool) -> Result<()> {
        let outs: Vec<Out> = self.buckets.keys().filter(|o| ready(o)).copied().collect();
        let mut jobs = Vec::new();
        for o in outs {
            let b = self.buckets.remove(&o).unwrap_or_default();
            self.flushed.insert(o);
            let rel = o.rel();
            self.report.records_written += b.rows.len() as u64;
            if self
                .manifest
                .done(&self.dst, &rel, &self.source_ids(&b.sources))
            {
                self.report.outputs_done += 1;
                continue;
            }
            jobs.push((o, b));
        }
        self.write_jobs(jobs)
    }

    /// Outputs that got records after they were written (strays far from
    /// their hour): read back, merged and rewritten.
    fn flush_late(&mut self) -> Result<()> {
        let late: Vec<(Out, Bucket)> = std::mem::take(&mut self.late).into_iter().collect();
        let by_name: HashMap<&str, usize> = self
            .files
            .iter()
            .enumerate()
            .map(|(k, f)| (f.file.rel.as_str(), k))
            .collect();
        let mut jobs = Vec::new();
        for (o, b) in late {
            if self.blocked.contains(&o) {
                continue;
            }
            self.report.records_written += b.rows.len() as u64;
            let path = self.dst.join(o.rel());
            let mut merged = Bucket::default();
            if path.is_file() {
                let back = file::read(&path)?;
                for r in back.rows {
                    let name = &back.sources[r.src as usize];
                    let Some(&k) = by_name.get(name.as_str()) else {
                        return Err(Error::Io {
                            path: path.clone(),
                            what: "merge late records",
                            source: std::io::Error::other(format!(
                                "source_file {name:?} is not a file of SRC"
                            )),
                        });
                    };
                    merged.sources.insert(k);
                    merged.rows.push(Row { src: k as u32, ..r });
                }
            }
            merged.sources.extend(b.sources);
            merged.losses.0 |= b.losses.0;
            merged.rows.extend(b.rows);
            jobs.push((o, merged));
        }
        self.write_jobs(jobs)
    }

    /// The key-value metadata of an output file.
    fn meta(&self, sources: &[String], b: &Bucket) -> Vec<(String, String)> {
        let ks = &b.sources;
        let mut m = vec![
            (
                "ibstore.version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
            (
                "ibstore.schema_version".to_owned(),
                file::SCHEMA_VERSION.to_string(),
            ),
            ("ibstore.source_format".to_owned(), self.source.to_string()),
            (
                "ibstore.source_files".to_owned(),
                serde_json::to_string(sources).unwrap_or_default(),
            ),
        ];
        let damaged: Vec<&Damaged> = ks.iter().filter_map(|k| self.damaged.get(k)).collect();
        let lost: Vec<&str> = b.losses.iter().map(|f| f.name()).collect();
        if !lost.is_empty() {
            m.push((
                "ibstore.allowed_losses".to_owned(),
                serde_json::to_string(&lost).unwrap_or_default(),
            ));
        }
        if !damaged.is_empty() {
            m.push((
                "ibstore.skipped_damaged".to_owned(),
                serde_json::to_string(&damaged).unwrap_or_default(),
            ));
        }
        m
    }

    /// Writes a batch of output files: temp files in parallel, then all
    /// synced and renamed ([`write::commit_all`]), then the manifest.
    fn write_jobs(&mut self, mut jobs: Vec<(Out, Bucket)>) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        jobs.sort_by_key(|(o, _)| *o);
        let mut placed = Vec::with_capacity(jobs.len());
        for (o, b) in jobs {
            let rel = o.rel();
            let path = fsutil::resolve_in(&self.dst, &rel, true)?;
            let names: Vec<String> = b
                .sources
                .iter()
                .map(|&k| self.files[k].file.rel.clone())
                .collect();
            let meta = self.meta(&names, &b);
            placed.push((path, rel, names, meta, b));
        }
        let codec = self.opts.codec;
        let written: Vec<Result<write::Pending>> = placed
            .par_iter()
            .map(|(path, _, names, meta, b)| write_one(path, b, names, codec, meta.clone()))
            .collect();
        let pending = write::commit_written(written)?;
        self.report.outputs_written += pending.len() as u64;
        for ((_, rel, _, _, b), p) in placed.into_iter().zip(pending) {
            let sources = self.source_ids(&b.sources);
            self.manifest.outputs.insert(
                rel,
                manifest::Output {
                    size: p.size,
                    crc32: p.crc32,
                    records: b.rows.len() as u64,
                    sources,
                },
            );
        }
        self.manifest.save(&self.dst)?;
        Ok(())
    }

    /// Reads every output of the run back and compares it with the input;
    /// returns the outputs that did not match.
    fn verify(&mut self) -> Result<Vec<String>> {
        let outs: Vec<Out> = {
            let mut v: Vec<Out> = self
                .flushed
                .iter()
                .filter(|o| !self.blocked.contains(o))
                .copied()
                .collect();
            v.sort();
            v
        };
        let dst = &self.dst;
        let results: Vec<(Out, Result<(u32, Prints)>)> = outs
            .par_iter()
            .map(|o| {
                let path = dst.join(o.rel());
                let r = std::fs::read(&path)
                    .map_err(|e| Error::path(&path, e))
                    .and_then(|bytes| {
                        let back = file::read(&path)?;
                        let mut got: HashMap<StreamHour, HourPrint> = HashMap::new();
                        let mut order_ok = true;
                        for w in back.rows.windows(2) {
                            order_ok &=
                                (w[0].tick.ts, w[0].tick.st) <= (w[1].tick.ts, w[1].tick.st);
                        }
                        for r in &back.rows {
                            got.entry(StreamHour::of(&r.tick, &Fields::ALL))
                                .or_default()
                                .add(&r.tick, &Fields::ALL);
                        }
                        if !order_ok {
                            return Err(Error::Io {
                                path: path.clone(),
                                what: "verify",
                                source: std::io::Error::other("rows are not in (ts, st) order"),
                            });
                        }
                        Ok((fsutil::crc32(&bytes), got))
                    });
                (*o, r)
            })
            .collect();
        let mut bad = Vec::new();
        let empty = HashMap::new();
        for (o, r) in results {
            let rel = o.rel();
            let before = self.report.findings.len();
            match r {
                Err(e) => self.report.findings.push(Finding::new(
                    Kind::VerifyMismatch,
                    &rel,
                    format!("output file does not read back: {e}"),
                )),
                Ok((crc, got)) => {
                    if let Some(m) = self.manifest.outputs.get(&rel) {
                        if m.crc32 != crc {
                            self.report.findings.push(Finding::new(
                                Kind::VerifyMismatch,
                                &rel,
                                format!(
                                    "CRC-32 {crc:08x} differs from the manifest's {:08x}",
                                    m.crc32
                                ),
                            ));
                        }
                    }
                    let want = self.prints.get(&o).unwrap_or(&empty);
                    super::verify::compare_hours(&rel, want, &got, &mut self.report);
                }
            }
            if self.report.findings.len() > before {
                bad.push(rel);
            }
        }
        Ok(bad)
    }
}

/// Sorts a bucket's rows by `(ts, st)` (stable) and writes them to the
/// temp file of `path`; a failed write leaves no temp file.
fn write_one(
    path: &Path,
    b: &Bucket,
    names: &[String],
    codec: Codec,
    meta: Vec<(String, String)>,
) -> Result<write::Pending> {
    // Row src indexes the run's files; in the file it indexes `names`.
    let local: BTreeMap<u32, u32> = b
        .sources
        .iter()
        .enumerate()
        .map(|(i, &k)| (k as u32, i as u32))
        .collect();
    let rows: Vec<Row> = b
        .rows
        .iter()
        .map(|r| Row {
            src: local.get(&r.src).copied().unwrap_or(0),
            ..*r
        })
        .collect();
    let mut refs: Vec<&Row> = rows.iter().collect();
    refs.sort_by_key(|r| (r.tick.ts, r.tick.st));
    let tmp = fsutil::Durable::temp_for(path)?;
    let tmp_path = tmp.path().to_owned();
    match file::write(tmp, &refs, names, codec, meta) {
        Ok(d) => {
            let (file, tmp, size, crc32) = d.into_unsynced();
            Ok(write::Pending {
                file,
                tmp,
                target: path.to_owned(),
                size,
                crc32,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp_path);
            Err(e)
        }
    }
}
