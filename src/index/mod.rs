//! Time indices and the store catalog (`ibstore index`).
//!
//! Every data file gets a sparse time index ([`file::FileIndex`]): an entry
//! (ts, byte offset, record number) about every [`file::STRIDE`] bytes of
//! records, plus what the file was (size, mtime, CRC-32) and what it holds
//! (records, first/last ts, sorted, still appending, findings tally). The
//! catalog lists every file with those facts, for `stats` and `query`.
//! Indices are built from the one shared scan ([`crate::scan::scan_with`],
//! a visitor samples the records), in parallel, and refreshed
//! incrementally: a file whose size and mtime are unchanged, confirmed by
//! the CRC-32 of its bytes, keeps its index. Anything that does not match
//! (a changed data file, an index that does not open, contradicts itself
//! or belongs to another file) is stale: rebuilt and reported, never
//! trusted. Every write goes through [`crate::fsutil`] (temp, fsync,
//! rename, fsync folder), with a crash point before each rename.

pub mod file;

use crate::error::{Error, Result};
use crate::format::source::Stat;
use crate::fsutil;
use crate::progress::Progress;
use crate::report::{Finding, Kind, Tally};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover::{Discovery, Found, STATE_DIR};
use file::{Corrupt, Entry, FileIndex, CATALOG_MAGIC, STRIDE};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The default index folder of a store: `STORE/.ibstore/index`.
pub fn default_dir(root: &Path) -> PathBuf {
    root.join(STATE_DIR).join("index")
}

/// Name of the catalog file in the index folder.
pub const CATALOG: &str = "catalog.bin";

/// What `index` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build missing indices, rebuild stale ones, keep the rest.
    Refresh,
    /// Rebuild every index.
    Rebuild,
    /// Only verify; write nothing.
    Check,
}

/// What happened to one file's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Valid and kept.
    Unchanged,
    /// There was none; built.
    Built,
    /// Stale or corrupt (or `--rebuild`); built again.
    Rebuilt,
    /// `--check`: missing, stale or corrupt; left as it is.
    Failed,
}

/// One file's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The index (as kept or built; none in check mode when unusable).
    pub index: Option<FileIndex>,
    /// Bytes of its index file.
    pub index_bytes: u64,
    /// CRC-32 of its index file.
    pub index_crc32: u32,
    /// What happened.
    pub action: Action,
    /// Why it was not kept.
    pub finding: Option<Finding>,
}

/// One row of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Relative path key of the data file.
    pub file: String,
    /// Layout era name.
    pub era: String,
    /// Format name (none: no tick data).
    pub format: Option<String>,
    /// Whether zstd-compressed.
    pub zstd: bool,
    /// Contract id the name promises.
    pub contract: Option<i64>,
    /// Tick type the name promises.
    pub tick_type: Option<String>,
    /// Partition hour, epoch seconds.
    pub hour: Option<i64>,
    /// Size on disk.
    pub size: u64,
    /// mtime, ns.
    pub mtime_ns: i64,
    /// CRC-32 of the data file.
    pub crc32: u32,
    /// Decompressed bytes.
    pub decoded_bytes: u64,
    /// Good records.
    pub records: u64,
    /// Earliest ts, µs.
    pub first_ts: Option<i64>,
    /// Latest ts, µs.
    pub last_ts: Option<i64>,
    /// Records in (ts, st) order.
    pub sorted: bool,
    /// Possibly still being appended to.
    pub appending: bool,
    /// Findings of its last scan: errors.
    pub errors: u64,
    /// Warnings.
    pub warnings: u64,
    /// Infos.
    pub infos: u64,
    /// Bytes of its index file.
    pub index_bytes: u64,
    /// CRC-32 of its index file.
    pub index_crc32: u32,
}

impl CatalogEntry {
    fn of(ix: &FileIndex, index_bytes: u64, index_crc32: u32) -> Self {
        Self {
            file: ix.key.clone(),
            era: ix.layout.name().into(),
            format: ix.format.map(|f| f.name().into()),
            zstd: ix.compression == crate::Compression::Zstd,
            contract: ix.contract,
            tick_type: ix.tick_type.map(|t| t.as_str().into()),
            hour: ix.hour,
            size: ix.size,
            mtime_ns: ix.mtime_ns,
            crc32: ix.crc32,
            decoded_bytes: ix.decoded_bytes,
            records: ix.records,
            first_ts: ix.first_ts,
            last_ts: ix.last_ts,
            sorted: ix.sorted,
            appending: ix.appending,
            errors: ix.tally[0],
            warnings: ix.tally[1],
            infos: ix.tally[2],
            index_bytes,
            index_crc32,
        }
    }
}

/// The store catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// The store root it describes.
    pub root: String,
    /// When it was written, µs.
    pub written_us: i64,
    /// One row per data file, sorted by path.
    pub files: Vec<CatalogEntry>,
}

impl Catalog {
    /// Reads the catalog in `dir` (`Ok(None)` when there is none).
    pub fn load(dir: &Path) -> Result<Option<Self>, Corrupt> {
        let bytes = match read_capped(&dir.join(CATALOG)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Corrupt::Unreadable(e.to_string())),
        };
        let body = file::open(CATALOG_MAGIC, &bytes)?;
        serde_json::from_slice(body)
            .map(Some)
            .map_err(|_| Corrupt::Body("catalog rows do not decode"))
    }
}

/// What an `index` run did.
#[derive(Debug)]
pub struct IndexReport {
    /// Store root.
    pub root: PathBuf,
    /// Index folder.
    pub dir: PathBuf,
    /// Outcomes, in discovery order (sorted by path).
    pub files: Vec<(String, Outcome)>,
    /// Stale, corrupt and missing indices.
    pub findings: Vec<Finding>,
    /// Index files of data files that are gone, removed (or, `--check`, found).
    pub orphans: u64,
    /// Bytes of the catalog written (0 in check mode).
    pub catalog_bytes: u64,
    /// The mode it ran in.
    pub mode: Mode,
}

impl IndexReport {
    /// Files with this action.
    pub fn count(&self, a: Action) -> u64 {
        self.files.iter().filter(|(_, o)| o.action == a).count() as u64
    }
    /// Bytes of data files.
    pub fn data_bytes(&self) -> u64 {
        self.files
            .iter()
            .filter_map(|(_, o)| o.index.as_ref().map(|i| i.size))
            .sum()
    }
    /// Bytes of index files plus the catalog.
    pub fn index_bytes(&self) -> u64 {
        self.files.iter().map(|(_, o)| o.index_bytes).sum::<u64>() + self.catalog_bytes
    }
    /// The catalog these outcomes make.
    pub fn catalog(&self) -> Catalog {
        Catalog {
            root: self.root.display().to_string(),
            written_us: crate::time::now_us(),
            files: self
                .files
                .iter()
                .filter_map(|(_, o)| {
                    o.index
                        .as_ref()
                        .map(|i| CatalogEntry::of(i, o.index_bytes, o.index_crc32))
                })
                .collect(),
        }
    }
}

/// The key of a data file (its path relative to the store, escaped).
pub fn key_of(found: &Found) -> String {
    fsutil::rel_key(&found.file.rel, found.file.raw.as_deref())
}

/// Where the index of the file with `key` lies in `dir`.
pub fn index_path(dir: &Path, key: &str) -> PathBuf {
    let mut p = dir
        .join("files")
        .join(fsutil::key_path(key))
        .into_os_string();
    p.push(".idx");
    PathBuf::from(p)
}

/// Reads the index of the file with `key` (`Ok(None)`: there is none).
pub fn load(dir: &Path, key: &str) -> Result<Option<FileIndex>, Corrupt> {
    let path = index_path(dir, key);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Ok(m) if !m.is_file() => return Err(Corrupt::Unreadable("not a regular file".into())),
        _ => {}
    }
    let bytes = match read_capped(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Corrupt::Unreadable(e.to_string())),
    };
    let ix = FileIndex::from_bytes(&bytes)?;
    if ix.key != key {
        return Err(Corrupt::Body("the index of another data file"));
    }
    Ok(Some(ix))
}

/// Largest index or catalog file read: far above any ibstore writes (an
/// index is < 1% of its data), so a planted huge file is refused by its
/// size, not read into memory.
pub const MAX_INDEX_FILE: u64 = 1 << 30;

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let m = std::fs::metadata(path)?;
    if !m.is_file() || m.len() > MAX_INDEX_FILE {
        return Err(std::io::Error::other(format!(
            "not an index ibstore wrote (not a plain file, or over {} MiB)",
            MAX_INDEX_FILE >> 20
        )));
    }
    std::fs::read(path)
}

/// ns since the epoch of a stat's mtime.
pub fn mtime_ns(stat: &Stat) -> i64 {
    stat.mtime
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Why an index no longer describes its data file, judged by size and
/// mtime only (`None`: it still does, as far as those tell).
pub fn changed(ix: &FileIndex, now: &Stat) -> Option<String> {
    if now.size > ix.size {
        Some(format!("data appended ({} → {} bytes)", ix.size, now.size))
    } else if now.size < ix.size {
        Some(format!("data truncated ({} → {} bytes)", ix.size, now.size))
    } else if mtime_ns(now) != ix.mtime_ns {
        Some("data file modified (same size, new mtime)".into())
    } else {
        None
    }
}

/// CRC-32 of a file's bytes on disk.
fn crc_file(path: &Path) -> std::io::Result<u32> {
    let mut f = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize());
        }
        h.update(&buf[..n]);
    }
}

/// Why the index of `found` cannot be kept (`None`: it can).
fn stale(ix: &FileIndex, found: &Found) -> Option<String> {
    let now = match Stat::of_path(&found.abs) {
        Ok(s) => s,
        Err(e) => return Some(format!("data file cannot be examined: {e}")),
    };
    if let Some(why) = changed(ix, &now) {
        return Some(why);
    }
    match crc_file(&found.abs) {
        Ok(c) if c == ix.crc32 => None,
        Ok(_) => Some("data rewritten (same size and mtime, CRC-32 differs)".into()),
        Err(e) => Some(format!("data file cannot be read: {e}")),
    }
}

/// Samples records about every [`STRIDE`] bytes.
#[derive(Debug, Default)]
struct Sampler {
    entries: Vec<Entry>,
    next_at: u64,
    end: u64,
}

impl Visit for Sampler {
    fn record(&mut self, r: &Good<'_>) {
        if self.entries.is_empty() || r.offset >= self.next_at {
            self.entries.push(Entry {
                ts: r.tick.ts,
                offset: r.offset,
                record: r.index,
            });
            self.next_at = r.offset + STRIDE;
        }
        self.end = r.offset + r.len;
    }
}

/// Scans a data file (the shared scan) into its index.
pub fn build_one(found: &Found, opts: &ScanOptions) -> FileIndex {
    let opts = ScanOptions {
        crc: true,
        ..opts.clone()
    };
    let s = scan::scan_with(found, &opts, &Sampler::default);
    let scan = &s.scan;
    let stat = scan.stat.or_else(|| Stat::of_path(&found.abs).ok());
    let crc32 = scan
        .crc32
        .or_else(|| crc_file(&found.abs).ok())
        .unwrap_or(0);
    let mut entries = Vec::new();
    let mut end = 0;
    for v in s.visits {
        end = end.max(v.end);
        entries.extend(v.entries);
    }
    let tally = Tally::of(&scan.findings);
    let cut = scan.unterminated.is_some()
        || scan
            .spans
            .last()
            .is_some_and(|sp| sp.kind == Kind::TruncatedTail);
    let hour = scan.file.hour;
    let current =
        hour.is_some_and(|h| (h + crate::time::HOUR) * crate::time::US > crate::time::now_us());
    let (contract, tick_type) = match scan.file.name.contract() {
        Some((c, t)) => (Some(c), t),
        None => (None, None),
    };
    FileIndex {
        key: key_of(found),
        layout: scan.file.layout,
        format: scan.format,
        compression: found.file.ext.compression,
        contract,
        tick_type,
        hour,
        size: stat.map_or(0, |s| s.size),
        mtime_ns: stat.as_ref().map_or(0, mtime_ns),
        crc32,
        decoded_bytes: scan.decoded_bytes,
        complete_end: end,
        records: scan.records,
        first_ts: scan.first_ts,
        last_ts: scan.last_ts,
        sorted: scan.arrival_sorted,
        appending: cut || current,
        tally: [tally.errors, tally.warnings, tally.infos],
        gaps: scan.gaps,
        repeats: scan.repeats,
        entries,
    }
}

/// Writes one index: temp file, fsync, crash point, rename; its folder is
/// fsynced once for all indices in it before the catalog is written
/// (returned here).
fn write_deferred(dir: &Path, rel: &str, bytes: &[u8]) -> Result<PathBuf> {
    use std::io::Write as _;
    let target = fsutil::resolve_in(dir, rel, true)?;
    let mut t = fsutil::Durable::temp_for(&target)?;
    t.write_all(bytes).map_err(|e| Error::Io {
        path: target.clone(),
        what: "write temp file",
        source: e,
    })?;
    let (tmp, _, _) = t.finish_file()?;
    fsutil::crash_point();
    fsutil::rename_deferred(&tmp, &target)?;
    Ok(target.parent().unwrap_or(dir).to_owned())
}

/// Writes `bytes` durably to `target` (temp, fsync, crash point, rename, fsync folder).
fn write(dir: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let target = fsutil::resolve_in(dir, rel, true)?;
    let tmp = fsutil::write_temp(&target, bytes)?;
    fsutil::crash_point();
    fsutil::commit(&tmp, &target)
}

/// Makes sure `dir` can hold indices.
fn prepare(dir: &Path, external: bool) -> Result<()> {
    let hint = if external {
        "give a writable folder with --index-dir"
    } else {
        "the store is not writable here; give a writable folder with --index-dir"
    };
    let fail = |e: std::io::Error| {
        Error::Usage(format!(
            "cannot write the index folder {}: {e}; {hint}",
            dir.display()
        ))
    };
    // In the store, `.ibstore` and its index folder must be real folders (an
    // index run writes and deletes there): never a symbolic link.
    if !external {
        for p in [dir.parent().unwrap_or(dir), dir, &dir.join("files")] {
            if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(Error::Unsafe {
                    path: p.to_owned(),
                    why: "a symbolic link inside the store; ibstore never writes through one"
                        .into(),
                });
            }
        }
    }
    std::fs::create_dir_all(dir.join("files")).map_err(fail)?;
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()))
        .map_err(|_| Error::Usage(format!("{}: NUL in the path", dir.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn one(
    found: &Found,
    dir: &Path,
    mode: Mode,
    opts: &ScanOptions,
) -> Result<(String, Outcome, Option<PathBuf>)> {
    let key = key_of(found);
    let rel = found.file.rel.as_str();
    let old = load(dir, &key);
    let problem: Option<Finding> = match (&old, mode) {
        (_, Mode::Rebuild) => None,
        (Ok(None), Mode::Check) => Some(Finding::new(
            Kind::MissingIndex,
            rel,
            "no index; run `ibstore index`",
        )),
        (Ok(None), _) => None,
        (Ok(Some(ix)), _) => stale(ix, found).map(|why| {
            Finding::new(
                Kind::StaleIndex,
                rel,
                format!(
                    "index is stale: {why}; {}",
                    if mode == Mode::Check {
                        "not rebuilt (--check)"
                    } else {
                        "rebuilt"
                    }
                ),
            )
        }),
        (Err(c), _) => Some(Finding::new(
            Kind::CorruptIndex,
            rel,
            format!(
                "index file {} is unusable: {c}; {}",
                index_path(dir, &key).display(),
                if mode == Mode::Check {
                    "not rebuilt (--check)"
                } else {
                    "rebuilt"
                }
            ),
        )),
    };
    if mode == Mode::Check {
        let index = old.ok().flatten().filter(|_| problem.is_none());
        let (index_bytes, index_crc32) = match &index {
            Some(ix) => {
                let b = ix.to_bytes();
                (b.len() as u64, fsutil::crc32(&b))
            }
            None => (0, 0),
        };
        let action = if problem.is_some() {
            Action::Failed
        } else {
            Action::Unchanged
        };
        return Ok((
            key,
            Outcome {
                index,
                index_bytes,
                index_crc32,
                action,
                finding: problem,
            },
            None,
        ));
    }
    let keep = matches!(old, Ok(Some(_))) && problem.is_none() && mode == Mode::Refresh;
    if keep {
        let ix = old.ok().flatten();
        let b = ix.as_ref().map(FileIndex::to_bytes).unwrap_or_default();
        return Ok((
            key,
            Outcome {
                index: ix,
                index_bytes: b.len() as u64,
                index_crc32: fsutil::crc32(&b),
                action: Action::Unchanged,
                finding: None,
            },
            None,
        ));
    }
    let action = if matches!(old, Ok(None)) {
        Action::Built
    } else {
        Action::Rebuilt
    };
    let ix = build_one(found, opts);
    let bytes = ix.to_bytes();
    let folder = write_deferred(dir, &format!("files/{key}.idx"), &bytes)?;
    Ok((
        key,
        Outcome {
            index: Some(ix),
            index_bytes: bytes.len() as u64,
            index_crc32: fsutil::crc32(&bytes),
            action,
            finding: problem,
        },
        Some(folder),
    ))
}

/// Index files under `dir/files` that no data file owns.
fn orphans(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("files")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => {
                    let name = p.as_os_str().as_encoded_bytes();
                    let ours =
                        name.ends_with(b".idx") || name.ends_with(fsutil::TEMP_SUFFIX.as_bytes());
                    if ours && !keep.contains(&p) {
                        out.push(p);
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Builds, refreshes or checks the indices and catalog of a store.
/// `external`: `dir` was given with `--index-dir`.
pub fn run(
    d: Discovery,
    dir: &Path,
    external: bool,
    mode: Mode,
    opts: &ScanOptions,
    progress: &dyn Progress,
) -> Result<IndexReport> {
    if mode != Mode::Check {
        prepare(dir, external)?;
    }
    progress.start(d.total_bytes);
    let results: Vec<Result<(String, Outcome, Option<PathBuf>)>> = d
        .files
        .par_iter()
        .map(|f| {
            let r = one(f, dir, mode, opts);
            progress.advance(f.file.size);
            r
        })
        .collect();
    let done = results.into_iter().collect::<Result<Vec<_>>>()?;
    let mut folders: Vec<PathBuf> = done.iter().filter_map(|x| x.2.clone()).collect();
    folders.sort();
    folders.dedup();
    for f in &folders {
        fsutil::fsync_dir(f)?;
    }
    let files: Vec<(String, Outcome)> = done.into_iter().map(|(k, o, _)| (k, o)).collect();
    let mut findings: Vec<Finding> = files
        .iter()
        .filter_map(|(_, o)| o.finding.clone())
        .collect();
    let keep: std::collections::HashSet<PathBuf> =
        files.iter().map(|(k, _)| index_path(dir, k)).collect();
    let gone = orphans(dir, &keep);
    let mut report = IndexReport {
        root: d.root,
        dir: dir.to_owned(),
        files,
        findings: Vec::new(),
        orphans: gone.len() as u64,
        catalog_bytes: 0,
        mode,
    };
    let cat = report.catalog();
    match Catalog::load(dir) {
        Ok(Some(old)) if old.files == cat.files => {
            report.catalog_bytes = std::fs::metadata(dir.join(CATALOG)).map_or(0, |m| m.len());
        }
        other => {
            if let Err(c) = &other {
                findings.push(Finding::new(
                    Kind::CorruptIndex,
                    &dir.join(CATALOG).display().to_string(),
                    format!(
                        "catalog is unusable: {c}; {}",
                        if mode == Mode::Check {
                            "not rebuilt (--check)"
                        } else {
                            "rebuilt"
                        }
                    ),
                ));
            } else if mode == Mode::Check {
                let why = if matches!(other, Ok(None)) {
                    "no catalog"
                } else {
                    "catalog does not match the indices"
                };
                findings.push(Finding::new(
                    Kind::StaleIndex,
                    &dir.join(CATALOG).display().to_string(),
                    format!("{why}; not rebuilt (--check)"),
                ));
            }
            if mode != Mode::Check {
                let body = serde_json::to_vec(&cat).map_err(|e| Error::Usage(e.to_string()))?;
                let bytes = file::seal(CATALOG_MAGIC, &body);
                write(dir, CATALOG, &bytes)?;
                report.catalog_bytes = bytes.len() as u64;
            }
        }
    }
    if mode != Mode::Check {
        for p in &gone {
            fsutil::remove_durable(p)?;
        }
    }
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    report.findings = findings;
    Ok(report)
}

/// `validate --incremental`: the files whose index says their last scan
/// (with default options) found nothing, and which are unchanged since
/// (size, mtime, CRC-32), as the scans they would give again; the rest of
/// the discovery is left to be scanned.
pub fn skip_clean(d: Discovery, dir: &Path) -> (Discovery, Vec<scan::FileScan>) {
    let judged: Vec<(Found, Option<scan::FileScan>)> = d
        .files
        .into_par_iter()
        .map(|f| {
            let s = match load(dir, &key_of(&f)) {
                Ok(Some(ix)) if ix.tally == [0, 0, 0] && stale(&ix, &f).is_none() => {
                    Some(clean_scan(&f, &ix))
                }
                _ => None,
            };
            (f, s)
        })
        .collect();
    let mut rest = Vec::new();
    let mut skipped = Vec::new();
    for (f, s) in judged {
        match s {
            Some(s) => skipped.push(s),
            None => rest.push(f),
        }
    }
    (Discovery { files: rest, ..d }, skipped)
}

/// The scan a clean, unchanged file gives, from its index.
fn clean_scan(f: &Found, ix: &FileIndex) -> scan::FileScan {
    let mut file = f.file.clone();
    if ix.format.is_some_and(crate::Format::is_v3) {
        if let Some(n) = crate::store::naming::FileName::parse_v3(&file.stem) {
            file.name = n;
        }
    }
    scan::FileScan {
        file,
        format: ix.format,
        stat: Stat::of_path(&f.abs).ok(),
        decoded_bytes: ix.decoded_bytes,
        crc32: Some(ix.crc32),
        records: ix.records,
        first_ts: ix.first_ts,
        last_ts: ix.last_ts,
        gaps: ix.gaps,
        spans: Vec::new(),
        strays: Vec::new(),
        duplicates: Vec::new(),
        unterminated: None,
        crlf_lines: 0,
        repeats: ix.repeats,
        arrival_sorted: ix.sorted,
        read_problem: None,
        findings: Vec::new(),
    }
}
