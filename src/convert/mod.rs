//! `convert`: any format to any format, verified, resumable and crash-safe.
//!
//! Every source file is read once through the shared scan; a visitor maps
//! each record onto what the target holds ([`plan::map_to_target`]),
//! counts what it loses, encodes it into its output file's buffer
//! ([`write::Chunk`]) and adds it to the input fingerprints. Sources are
//! taken hour by hour; an output file is written (sorted by `(ts, st)`,
//! temp + fsync + rename) as soon as no later hour can add to it, in the
//! background while the next hour is read, so memory holds about two hours
//! of the store, encoded. The manifest ([`manifest`]) records
//! each finished output; [`verify`] reads every output back and compares
//! its fingerprints with the input's.

mod collect;
pub mod manifest;
pub mod parquet;
pub mod plan;
#[cfg(test)]
mod props;
pub mod report;
pub mod verify;
pub mod write;

use crate::error::{Error, Result};
use crate::fingerprint::{Fields, HourPrint, StreamHour};
use crate::format::{Compression, Format};
use crate::fsutil;
use crate::progress::Progress;
use crate::report::{Finding, Kind};
use crate::scan::record::Home;
use crate::scan::{self, ScanOptions};
use crate::store::discover::{self, Found};
pub use collect::Counts;
use collect::{Collect, Ctx};
use manifest::{Manifest, SourceId};
use plan::{Filter, LossField, Losses};
use rayon::prelude::*;
pub use report::ConvertReport;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use write::Chunk;

/// How to convert.
#[derive(Debug, Clone)]
pub struct Options {
    /// Target format.
    pub target: Format,
    /// zstd level of the output files (`None`: plain).
    pub zstd: Option<i32>,
    /// Which records.
    pub filter: Filter,
    /// The source format to read when SRC holds several.
    pub source_format: Option<Format>,
    /// Convert the intact records of damaged files.
    pub skip_damaged: bool,
    /// Losses allowed.
    pub allow_loss: Vec<LossField>,
}

impl Options {
    /// What the manifest records: outputs made under other options are redone.
    pub fn signature(&self, source: Format) -> String {
        let f = &self.filter;
        let mut loss: Vec<&str> = self.allow_loss.iter().map(|l| l.name()).collect();
        loss.sort_unstable();
        loss.dedup();
        format!(
            "from={source} to={} zstd={:?} contracts={:?} tick_types={:?} since={:?} until={:?} skip_damaged={} allow_loss={loss:?}",
            self.target,
            self.zstd,
            f.contracts,
            f.tick_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            f.since,
            f.until,
            self.skip_damaged,
        )
    }

    fn compression(&self) -> Compression {
        if self.zstd.is_some() {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// One output file being gathered.
#[derive(Default)]
struct Bucket {
    chunks: Vec<Chunk>,
    sources: BTreeSet<usize>,
    losses: Losses,
}

/// The state of a run.
struct Run<'a> {
    dst: PathBuf,
    opts: &'a Options,
    manifest: Manifest,
    ids: Vec<Option<SourceId>>,
    buckets: HashMap<Home, Bucket>,
    late: HashMap<Home, Bucket>,
    flushed: HashSet<Home>,
    blocked: HashSet<Home>,
    refused_loss: BTreeMap<LossField, RefusedLoss>,
    inflight: Option<std::thread::JoinHandle<(Manifest, Result<u64>)>>,
    prints: HashMap<Home, HashMap<StreamHour, HourPrint>>,
    report: ConvertReport,
}

/// Made in DST before anything else is written: DST is a conversion's
/// (an interrupted one, before its first manifest, too).
const CLAIM: &str = ".ibstore/convert.claim";

/// DST must be new, empty, or an earlier conversion's (it has the manifest
/// or the claim):
/// a folder holding anything else (another store, production) is refused,
/// never overwritten. ibstore's own state folder alone does not count.
pub(crate) fn refuse_foreign_dst(dst: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dst) else {
        return Ok(());
    };
    let others = entries
        .filter_map(|e| e.ok())
        .any(|e| e.file_name() != crate::store::discover::STATE_DIR);
    if others && !dst.join(manifest::REL).is_file() && !dst.join(CLAIM).is_file() {
        return Err(Error::Usage(format!(
            "refused: {} is not empty and holds no conversion of ibstore's ({}); convert writes only into a new folder or its own earlier output",
            dst.display(),
            manifest::REL
        )));
    }
    Ok(())
}

/// DST made from another SRC is refused: converting a second SRC into it
/// would silently replace the first one's outputs of the same names.
pub(crate) fn refuse_other_src(dst: &Path, src: &Path) -> Result<()> {
    let other = std::fs::read(dst.join(manifest::REL))
        .ok()
        .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
        .and_then(|m| m.src);
    match other {
        Some(o) if Path::new(&o) != src => Err(Error::Usage(format!(
            "refused: {} holds the conversion of {o}, not of {}; convert into a new folder",
            dst.display(),
            src.display()
        ))),
        _ => Ok(()),
    }
}

/// A source file whose content is another format than its name and folder
/// say: refused (a usage error naming it), or with `skip_damaged` left out
/// with a `convert_skipped` finding. Shared by every convert target.
pub(crate) fn other_format(
    found: &Found,
    f: Format,
    source: Format,
    skip_damaged: bool,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    if !skip_damaged {
        return Err(Error::Usage(format!(
            "refused: {} holds {f} records, not {source} as its name and folder say; move or fix it, or pass --skip-damaged to leave it out",
            found.abs.display()
        )));
    }
    findings.push(Finding::new(
        Kind::ConvertSkipped,
        &found.file.rel,
        format!("holds {f}, not the source format {source}; not converted (--skip-damaged)"),
    ));
    Ok(())
}

/// Takes DST's lock (`DST/.ibstore/lock`, the one `repair` takes) for the
/// run; returns the holder line a killed run left, if any.
fn lock_dst(dst: &Path) -> Result<(crate::repair::lock::Lock, Option<String>)> {
    use crate::repair::lock;
    let state = crate::store::discover::STATE_DIR;
    fsutil::resolve_in(dst, &format!("{state}/{}", lock::LOCK_FILE), true)?;
    let taken = lock::Lock::take(&dst.join(state), "convert")?;
    // Debug builds only: `IBSTORE_TEST_HOLD_MS=N` holds the lock N ms, so a
    // test can start a second conversion while the first holds it.
    if cfg!(debug_assertions) {
        if let Some(ms) = std::env::var("IBSTORE_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
    Ok(taken)
}

/// Options beyond [`Options`] (kept apart so callers that build
/// `Options` need not change).
#[derive(Debug, Clone, Copy, Default)]
pub struct Extra {
    /// Remove outputs in DST that this conversion did not make (orphans).
    pub prune: bool,
}

/// Converts the store at `src` into a new store at `dst`.
pub fn run(
    src: &Path,
    dst: &Path,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<ConvertReport> {
    run_with(src, dst, opts, Extra::default(), progress)
}

/// [`run`] with the [`Extra`] options.
pub fn run_with(
    src: &Path,
    dst: &Path,
    opts: &Options,
    extra: Extra,
    progress: &dyn Progress,
) -> Result<ConvertReport> {
    let (src, dst) = plan::check_paths(src, dst)?;
    let d = discover::discover(&src)?;
    plan::refuse_parquet_src(&src, &d.files, &d.findings)?;
    let (source, files) = plan::choose_source(d.files, opts.source_format)?;
    refuse_foreign_dst(&dst)?;
    refuse_other_src(&dst, &src)?;
    std::fs::create_dir_all(&dst).map_err(|e| Error::Io {
        path: dst.clone(),
        what: "create DST",
        source: e,
    })?;
    let dst = std::fs::canonicalize(&dst).map_err(|e| Error::path(&dst, e))?;
    // One conversion into DST at a time: a second one gets a clear error.
    let (_lock, stale) = lock_dst(&dst)?;
    if !dst.join(CLAIM).is_file() {
        let claim = crate::fsutil::resolve_in(&dst, CLAIM, true)?;
        crate::fsutil::write_atomic(&claim, b"")?;
    }
    let ctx = Ctx {
        source,
        target: opts.target,
        filter: opts.filter.clone(),
        fields: Fields::common(source, opts.target),
    };
    let report = ConvertReport::new(&src, &dst, source, opts);
    let mut run = Run {
        manifest: Manifest {
            src: Some(src.display().to_string()),
            ..Manifest::load(&dst, &opts.signature(source))
        },
        dst,
        opts,
        ids: vec![None; files.len()],
        buckets: HashMap::new(),
        late: HashMap::new(),
        flushed: HashSet::new(),
        blocked: HashSet::new(),
        refused_loss: BTreeMap::new(),
        inflight: None,
        prints: HashMap::new(),
        report,
    };
    run.report.findings.extend(d.findings);
    if let Some(left) = stale {
        run.report.findings.push(Finding::new(
            Kind::StaleLock,
            ".ibstore/lock",
            format!("took over the lock of a conversion that ended without releasing it ({left})"),
        ));
    }
    progress.start(files.iter().map(|f| f.file.size).sum());
    let scan_opts = ScanOptions {
        crc: true,
        record_checks: false,
        ..ScanOptions::default()
    };
    // Files by partition hour (unplaced first), in path order within an hour.
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (files[i].file.hour.unwrap_or(i64::MIN), i));
    let mut i = 0;
    while i < order.len() {
        let hour = files[order[i]].file.hour;
        let mut j = i;
        while j < order.len() && files[order[j]].file.hour == hour {
            j += 1;
        }
        let group = &order[i..j];
        let scanned: Vec<(usize, scan::Scanned<Collect<'_>>)> = group
            .par_iter()
            .map(|&k| {
                let s = scan::scan_with(&files[k], &scan_opts, &|| Collect {
                    ctx: &ctx,
                    groups: Vec::new(),
                    last: 0,
                    counts: Counts::default(),
                    size_hint: files[k].file.size,
                });
                progress.advance(files[k].file.size);
                (k, s)
            })
            .collect();
        for (k, s) in scanned {
            run.absorb(&files[k], k, s, source)?;
        }
        // Later source files are of later hours: v3 ones hold records of
        // their own `ts` hour, v2 ones of their envelope hour or (spill-over,
        // `ts` a little before `st`) the hour before. So no later file adds
        // to an output before hour `h`; a stray that does is merged late.
        if let Some(h) = hour {
            run.flush(|home| home.hour < h)?;
        }
        i = j;
    }
    run.flush(|_| true)?;
    run.join()?;
    run.flush_late()?;
    run.join()?;
    run.finish_losses();
    run.orphans(extra.prune)?;
    let bad = verify::verify(&mut run_view(&mut run), &ctx.fields)?;
    // An output that does not verify is not done: the next run redoes it.
    if !bad.is_empty() {
        for rel in &bad {
            run.manifest.outputs.remove(rel);
        }
        run.manifest.save(&run.dst)?;
    }
    run.report.finish();
    Ok(run.report)
}

/// What verification needs of a run.
pub struct VerifyInput<'a> {
    /// DST.
    pub dst: &'a Path,
    /// Output files of this run (written or already done): path → file.
    pub outputs: BTreeMap<String, Home>,
    /// Input prints per output file and stream-hour.
    pub prints: &'a HashMap<Home, HashMap<StreamHour, HourPrint>>,
    /// The manifest (recorded CRCs).
    pub manifest: &'a Manifest,
    /// The report to complete.
    pub report: &'a mut ConvertReport,
}

fn run_view<'a>(run: &'a mut Run<'_>) -> VerifyInput<'a> {
    let outputs = run
        .flushed
        .iter()
        .filter(|h| !run.blocked.contains(h))
        .map(|&h| {
            (
                plan::output_rel(h, run.opts.target, run.opts.compression()),
                h,
            )
        })
        .collect();
    VerifyInput {
        dst: &run.dst,
        outputs,
        prints: &run.prints,
        manifest: &run.manifest,
        report: &mut run.report,
    }
}

impl Run<'_> {
    /// Takes in one scanned source file.
    fn absorb(
        &mut self,
        found: &Found,
        k: usize,
        s: scan::Scanned<Collect<'_>>,
        source: Format,
    ) -> Result<()> {
        let scan = &s.scan;
        let rel = &found.file.rel;
        match scan.format {
            None => return Ok(()),
            Some(f) if f != source => {
                return other_format(
                    found,
                    f,
                    source,
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
                    "; skipped, the intact records were converted",
                )
            };
            for sp in &scan.spans {
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
        }
        for v in s.visits {
            self.report.counts.merge(&v.counts);
            for g in v.groups {
                if refuse {
                    self.block(g.home)?;
                    continue;
                }
                if self.blocked.contains(&g.home) {
                    continue;
                }
                let p = self.prints.entry(g.home).or_default();
                for (sh, hp) in &g.prints {
                    p.entry(*sh).or_default().merge(hp);
                }
                let b = if self.flushed.contains(&g.home) {
                    self.late.entry(g.home).or_default()
                } else {
                    self.buckets.entry(g.home).or_default()
                };
                b.losses.0 |= g.losses.0;
                b.sources.insert(k);
                if !g.chunk.idx.is_empty() {
                    b.chunks.push(g.chunk);
                }
            }
        }
        Ok(())
    }

    /// Marks an output file as not to be written (removing it if it was).
    fn block(&mut self, h: Home) -> Result<()> {
        if !self.blocked.insert(h) {
            return Ok(());
        }
        self.buckets.remove(&h);
        self.late.remove(&h);
        self.prints.remove(&h);
        self.report.outputs_refused += 1;
        if self.flushed.remove(&h) {
            self.join()?;
            let rel = plan::output_rel(h, self.opts.target, self.opts.compression());
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

    /// Whether the bucket of output `h` holds a loss the user did not
    /// allow (counted).
    fn refuses(&mut self, h: Home, b: &Bucket) -> bool {
        let bad: Vec<LossField> = b
            .losses
            .iter()
            .filter(|f| !self.opts.allow_loss.contains(f))
            .collect();
        if !bad.is_empty() {
            let rel = plan::output_rel(h, self.opts.target, self.opts.compression());
            for f in &bad {
                self.refused_loss.entry(*f).or_default().add(&rel);
            }
        }
        !bad.is_empty()
    }

    fn sources_of(&self, b: &Bucket) -> Vec<SourceId> {
        let mut v: Vec<SourceId> = b
            .sources
            .iter()
            .filter_map(|&k| self.ids[k].clone())
            .collect();
        v.sort();
        v
    }

    /// Writes every gathered output file whose home passes `ready`.
    fn flush(&mut self, ready: impl Fn(&Home) -> bool) -> Result<()> {
        // The manifest is with the writer while a batch is in flight.
        self.join()?;
        let homes: Vec<Home> = self.buckets.keys().filter(|h| ready(h)).copied().collect();
        let mut jobs = Vec::new();
        for h in homes {
            let b = self.buckets.remove(&h).unwrap_or_default();
            if self.refuses(h, &b) {
                self.blocked.insert(h);
                self.prints.remove(&h);
                self.report.outputs_refused += 1;
                continue;
            }
            let records = b.chunks.iter().map(|c| c.idx.len() as u64).sum::<u64>();
            if records == 0 {
                // Every record was dropped (an allowed loss such as `cid`):
                // no empty file, which validate would call damage.
                self.prints.remove(&h);
                continue;
            }
            self.flushed.insert(h);
            let rel = plan::output_rel(h, self.opts.target, self.opts.compression());
            let sources = self.sources_of(&b);
            self.report.records_written += records;
            if self.manifest.done(&self.dst, &rel, &sources) {
                self.report.outputs_done += 1;
                continue;
            }
            jobs.push((rel, sources, records, b));
        }
        self.write_jobs(jobs)
    }

    fn write_jobs(&mut self, mut jobs: Vec<(String, Vec<SourceId>, u64, Bucket)>) -> Result<()> {
        self.join()?;
        if jobs.is_empty() {
            return Ok(());
        }
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        // Folders are created one job at a time (two threads creating one
        // folder would race); the files are then written in the background
        // while the next hour is read.
        let mut placed = Vec::with_capacity(jobs.len());
        for (rel, sources, records, b) in jobs {
            let path = fsutil::resolve_in(&self.dst, &rel, true)?;
            placed.push((path, rel, sources, records, b));
        }
        let dst = self.dst.clone();
        let zstd = self.opts.zstd;
        let mut manifest = std::mem::take(&mut self.manifest);
        self.inflight = Some(std::thread::spawn(move || {
            let r = write_batch(&dst, zstd, placed, &mut manifest);
            release_freed_memory();
            (manifest, r)
        }));
        Ok(())
    }

    /// Waits for the batch being written, if any.
    fn join(&mut self) -> Result<()> {
        let Some(h) = self.inflight.take() else {
            return Ok(());
        };
        let (m, r) = h
            .join()
            .map_err(|_| Error::Usage("the output writer thread panicked".into()))?;
        self.manifest = m;
        self.report.outputs_written += r?;
        Ok(())
    }

    /// Records for an output file already written this run (stray records
    /// far from their hour): the file is read back, merged and rewritten.
    fn flush_late(&mut self) -> Result<()> {
        let late: Vec<(Home, Bucket)> = std::mem::take(&mut self.late).into_iter().collect();
        let mut jobs = Vec::new();
        for (h, mut b) in late {
            if self.blocked.contains(&h) {
                continue;
            }
            let rel = plan::output_rel(h, self.opts.target, self.opts.compression());
            let path = self.dst.join(&rel);
            let mut first = Chunk::default();
            let mut sources: BTreeSet<usize> = b.sources.clone();
            if let Some(o) = self.manifest.outputs.get(&rel) {
                for s in &o.sources {
                    if let Some(k) = self.ids.iter().position(|i| i.as_ref() == Some(s)) {
                        sources.insert(k);
                    }
                }
                let bytes = read_output(&path, self.opts.zstd.is_some())?;
                // The records written are copied back as they are (their
                // v2 extras included); only their times are decoded.
                let target = self.opts.target;
                let mut bad = None;
                target.walk(&bytes, |p| {
                    if let crate::format::piece::Piece::Record { offset, bytes, .. } = p {
                        match target.decode(bytes) {
                            Ok(d) => first.push_raw(&d.tick, target, bytes),
                            Err(e) => {
                                bad.get_or_insert(format!("record at offset {offset}: {e}"));
                            }
                        }
                    }
                });
                if let Some(why) = bad {
                    return Err(Error::Io {
                        path: path.clone(),
                        what: "read back output",
                        source: std::io::Error::other(why),
                    });
                }
            }
            if self.refuses(h, &b) {
                self.block(h)?;
                continue;
            }
            b.chunks.insert(0, first);
            b.sources = sources;
            let records_late: u64 = b.chunks[1..].iter().map(|c| c.idx.len() as u64).sum();
            self.report.records_written += records_late;
            let srcs = self.sources_of(&b);
            let records = b.chunks.iter().map(|c| c.idx.len() as u64).sum();
            jobs.push((rel, srcs, records, b));
        }
        self.write_jobs(jobs)
    }

    /// Data files in DST that this conversion did not make (their sources
    /// were deleted, or an earlier run had other options): reported, and
    /// with `prune` removed, each file durably, then the folders they left
    /// empty (bottom-up, never DST or its state folder), then their
    /// manifest entries, so a crash leaves at worst an entry whose folders
    /// the next `--prune` removes before dropping it.
    fn orphans(&mut self, prune: bool) -> Result<()> {
        self.join()?;
        // Only what this run wrote: an output it refused that an earlier run
        // (with other options, or an older build) left is an orphan too.
        let ours: HashSet<String> = self
            .flushed
            .iter()
            .map(|&h| plan::output_rel(h, self.opts.target, self.opts.compression()))
            .collect();
        let mut found: BTreeSet<String> = BTreeSet::new();
        if let Ok(d) = discover::discover(&self.dst) {
            found.extend(d.files.into_iter().map(|f| f.file.rel));
        }
        let listed: Vec<String> = self
            .manifest
            .outputs
            .keys()
            .filter(|r| !ours.contains(*r))
            .cloned()
            .collect();
        for rel in found.iter().filter(|r| !ours.contains(*r)) {
            let msg = if prune {
                let p = fsutil::resolve_in(&self.dst, rel, false)?;
                fsutil::remove_durable(&p)?;
                fsutil::crash_point();
                "not made by this conversion (its sources are gone or this run refused it, or other options made it); removed (--prune)"
            } else {
                "not made by this conversion (its sources are gone or this run refused it, or other options made it); kept, pass --prune to remove it"
            };
            self.report.outputs_orphaned += 1;
            self.report
                .findings
                .push(Finding::new(Kind::ConvertOrphan, rel, msg.to_owned()));
        }
        if prune {
            let state = format!("{}/", discover::STATE_DIR);
            let pruned = found.iter().filter(|r| !ours.contains(*r));
            let gone: BTreeSet<&String> = pruned.chain(listed.iter()).collect();
            for rel in gone.into_iter().filter(|r| !r.starts_with(&state)) {
                fsutil::remove_empty_parents(&self.dst, rel)?;
            }
        }
        if prune && !listed.is_empty() {
            for rel in &listed {
                self.manifest.outputs.remove(rel);
            }
            self.manifest.save(&self.dst)?;
        }
        Ok(())
    }

    fn finish_losses(&mut self) {
        finish_losses(
            &mut self.report,
            &self.opts.allow_loss,
            &self.refused_loss,
            self.opts.target,
        );
    }
}

/// The output files refused for one lost field.
#[derive(Debug, Default)]
pub(crate) struct RefusedLoss {
    /// How many.
    pub files: u64,
    /// The first in path order (relative to DST).
    pub first: String,
}

impl RefusedLoss {
    /// Counts one more refused output file.
    pub fn add(&mut self, rel: &str) {
        if self.files == 0 || rel < self.first.as_str() {
            rel.clone_into(&mut self.first);
        }
        self.files += 1;
    }
}

/// The per-field loss counts, `convert_loss` (allowed) and
/// `convert_refused` findings of a run (also `--format parquet`'s). A
/// refusal's `file` is the first output file it refused (relative to DST).
pub(crate) fn finish_losses(
    out: &mut ConvertReport,
    allow_loss: &[LossField],
    refused_loss: &BTreeMap<LossField, RefusedLoss>,
    target: Format,
) {
    for f in LossField::ALL {
        let n = out.counts.lost[f as usize];
        if n == 0 {
            continue;
        }
        let allowed = allow_loss.contains(&f);
        out.losses.insert(
            f.name().to_owned(),
            report::LossCount {
                records: n,
                allowed,
            },
        );
        if allowed {
            out.findings.push(Finding::new(
                Kind::ConvertLoss,
                "",
                format!(
                    "{n} records lost `{}` ({}); allowed by --allow-loss {}",
                    f.name(),
                    report::loss_why(f, target),
                    f.name()
                ),
            ));
        }
        if let Some(r) = refused_loss.get(&f) {
            let which = match r.files {
                1 => "their output file is not written".to_owned(),
                k => format!(
                    "their {k} output files are not written (this one and {} more)",
                    k - 1
                ),
            };
            out.findings.push(Finding::new(
                Kind::ConvertRefused,
                &r.first,
                format!(
                    "{n} records would lose `{}` ({}); {which}; pass --allow-loss {} to convert them anyway",
                    f.name(),
                    report::loss_why(f, target),
                    f.name()
                ),
            ));
        }
    }
}

/// Hands the pages of the batch just written (freed by now) back to the
/// system. The output buffers are allocated on the scan's threads and freed
/// on the writer's; glibc keeps such freed memory in its per-thread arenas,
/// so without this the resident set grew with the store (290 MiB on the
/// 1 GB reference) instead of staying at about two hours of output.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages; no memory in use is touched.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The bytes of an output file (decompressed).
fn read_output(path: &Path, zstd: bool) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::path(path, e))?;
    if zstd {
        zstd::stream::decode_all(&raw[..]).map_err(|e| Error::Io {
            path: path.to_owned(),
            what: "decompress output",
            source: e,
        })
    } else {
        Ok(raw)
    }
}

/// A batch of output files ready to be written: final path, path relative
/// to DST, sources, records, and the records themselves.
type Placed = Vec<(PathBuf, String, Vec<SourceId>, u64, Bucket)>;

/// Writes a batch: temp files, then all synced, renamed and their folders
/// synced ([`write::commit_all`]), then the manifest. Returns the files
/// written; on an error nothing of the batch is left under a temp name.
fn write_batch(
    dst: &Path,
    zstd: Option<i32>,
    placed: Placed,
    manifest: &mut Manifest,
) -> Result<u64> {
    let written: Vec<Result<write::Pending>> = placed
        .par_iter()
        .map(|(path, _, _, _, b)| write::write_temp(path, &b.chunks, zstd))
        .collect();
    let pending = write::commit_written(written)?;
    let n = pending.len() as u64;
    for ((_, rel, sources, records, _), p) in placed.into_iter().zip(pending) {
        manifest.outputs.insert(
            rel,
            manifest::Output {
                size: p.size,
                crc32: p.crc32,
                records,
                sources,
            },
        );
    }
    manifest.save(dst)?;
    Ok(n)
}
