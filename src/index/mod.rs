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
use file::{Corrupt, Entry, FileIndex, Reader, Writer, CATALOG_MAGIC, STRIDE};
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
    /// ctime, ns.
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
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
    /// Distinct (contract, tick type) of its records.
    pub streams: Vec<(i64, String)>,
    /// Too many streams to list.
    pub streams_all: bool,
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
            ctime_ns: ix.ctime_ns,
            ino: ix.ino,
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
            streams: ix
                .streams
                .iter()
                .map(|(c, t)| (*c, t.as_str().to_owned()))
                .collect(),
            streams_all: ix.streams_all,
        }
    }

    /// Whether the data file is still what this row describes (size, mtime,
    /// ctime and inode); `Err` says why not.
    pub fn current(&self, root: &Path) -> std::result::Result<Ident, String> {
        let now = Ident::of(&root.join(fsutil::key_path(&self.file)))
            .map_err(|e| format!("{}: cannot be examined ({e})", self.file))?;
        let then = Ident {
            size: self.size,
            mtime_ns: self.mtime_ns,
            ctime_ns: self.ctime_ns,
            ino: self.ino,
        };
        match drift(&then, &now) {
            Drift::Same => Ok(now),
            Drift::Touched => Err(format!("{}: status changed since indexed", self.file)),
            Drift::Changed(why) => Err(format!("{}: {why}", self.file)),
        }
    }

    /// Whether its records may hold `contract` with `tt`: by the name's
    /// promise, else by the contracts its records showed when indexed.
    pub fn may_hold(&self, contract: i64, tt: crate::TickType) -> bool {
        match self.contract {
            Some(c) => c == contract && self.tick_type.as_deref().is_none_or(|t| t == tt.as_str()),
            None => {
                self.streams_all
                    || self
                        .streams
                        .iter()
                        .any(|(c, t)| *c == contract && t == tt.as_str())
            }
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
    /// Every folder of the store with its change stamp (ctime, ns) when it was listed
    /// (-1: changed too recently to be trusted), to notice new files.
    pub folders: Vec<(String, i64)>,
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
        Self::decode(body)
            .map(Some)
            .ok_or(Corrupt::Body("catalog rows do not decode"))
    }

    /// The sealed bytes of the catalog (a little-endian binary body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.files.len() * 160));
        let ostr = |w: &mut Writer, s: &Option<String>| {
            w.u8(u8::from(s.is_some()));
            w.str(s.as_deref().unwrap_or(""));
        };
        w.str(&self.root);
        w.i64(self.written_us);
        w.u64(self.folders.len() as u64);
        for (f, m) in &self.folders {
            w.str(f);
            w.i64(*m);
        }
        w.u64(self.files.len() as u64);
        for e in &self.files {
            w.str(&e.file);
            w.str(&e.era);
            ostr(&mut w, &e.format);
            w.u8(u8::from(e.zstd)
                | u8::from(e.sorted) << 1
                | u8::from(e.appending) << 2
                | u8::from(e.streams_all) << 3);
            w.opt(e.contract);
            ostr(&mut w, &e.tick_type);
            w.opt(e.hour);
            w.u64(e.size);
            w.i64(e.mtime_ns);
            w.i64(e.ctime_ns);
            w.u64(e.ino);
            w.u32(e.crc32);
            w.u64(e.decoded_bytes);
            w.u64(e.records);
            w.opt(e.first_ts);
            w.opt(e.last_ts);
            w.u64(e.errors);
            w.u64(e.warnings);
            w.u64(e.infos);
            w.u64(e.index_bytes);
            w.u32(e.index_crc32);
            w.u32(e.streams.len() as u32);
            for (c, t) in &e.streams {
                w.i64(*c);
                w.str(t);
            }
        }
        file::seal(CATALOG_MAGIC, &w.0)
    }

    fn decode(body: &[u8]) -> Option<Self> {
        let mut r = Reader(body);
        let ostr = |r: &mut Reader<'_>| -> Option<Option<String>> {
            let some = r.u8()?;
            let s = r.str()?;
            match some {
                0 => Some(None),
                1 => Some(Some(s)),
                _ => None,
            }
        };
        let root = r.str()?;
        let written_us = r.i64()?;
        let nf = r.u64()?;
        if nf > r.0.len() as u64 / 12 {
            return None;
        }
        let mut folders = Vec::with_capacity(nf as usize);
        for _ in 0..nf {
            folders.push((r.str()?, r.i64()?));
        }
        let n = r.u64()?;
        if n > r.0.len() as u64 / 100 {
            return None;
        }
        let mut files = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let file = r.str()?;
            let era = r.str()?;
            let format = ostr(&mut r)?;
            let flags = r.u8()?;
            let contract = r.opt()?;
            let tick_type = ostr(&mut r)?;
            let hour = r.opt()?;
            let size = r.u64()?;
            let mtime_ns = r.i64()?;
            let ctime_ns = r.i64()?;
            let ino = r.u64()?;
            let crc32 = r.u32()?;
            let decoded_bytes = r.u64()?;
            let records = r.u64()?;
            let first_ts = r.opt()?;
            let last_ts = r.opt()?;
            let errors = r.u64()?;
            let warnings = r.u64()?;
            let infos = r.u64()?;
            let index_bytes = r.u64()?;
            let index_crc32 = r.u32()?;
            let ns = r.u32()? as usize;
            if ns > file::MAX_STREAMS {
                return None;
            }
            let mut streams = Vec::with_capacity(ns);
            for _ in 0..ns {
                streams.push((r.i64()?, r.str()?));
            }
            files.push(CatalogEntry {
                file,
                era,
                format,
                zstd: flags & 1 != 0,
                contract,
                tick_type,
                hour,
                size,
                mtime_ns,
                ctime_ns,
                ino,
                crc32,
                decoded_bytes,
                records,
                first_ts,
                last_ts,
                sorted: flags & 2 != 0,
                appending: flags & 4 != 0,
                errors,
                warnings,
                infos,
                index_bytes,
                index_crc32,
                streams,
                streams_all: flags & 8 != 0,
            });
        }
        r.0.is_empty().then_some(Self {
            root,
            written_us,
            folders,
            files,
        })
    }

    /// Whether no folder of the store changed since the catalog was written
    /// (no data file added, removed or renamed); `Err` names one that did.
    pub fn folders_current(&self, root: &Path) -> std::result::Result<(), String> {
        if Path::new(&self.root) != root {
            return Err(format!("the catalog describes {}", self.root));
        }
        if self.folders.is_empty() {
            return Err("the catalog lists no folders".into());
        }
        for (f, m) in &self.folders {
            let now = std::fs::symlink_metadata(root.join(fsutil::key_path(f)))
                .map_or(-2, |m| crate::store::discover::folder_stamp_ns_of(&m));
            if now != *m {
                return Err(format!(
                    "folder {} changed since the catalog was written",
                    if f.is_empty() { "." } else { f }
                ));
            }
        }
        Ok(())
    }

    /// Whether the catalog still describes the store: no folder changed and
    /// every data file is as it was (size, mtime, ctime, inode).
    pub fn current(&self, root: &Path) -> std::result::Result<(), String> {
        self.folders_current(root)?;
        self.files
            .par_iter()
            .try_for_each(|e| e.current(root).map(|_| ()))
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
    /// Folders of the discovery, mtimes changed within a second of the
    /// walk marked -1 (a file added in the same clock tick would not show).
    pub folders: Vec<(String, i64)>,
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
            folders: self.folders.clone(),
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

/// What identifies a data file's bytes without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ident {
    /// Size.
    pub size: u64,
    /// mtime, ns.
    pub mtime_ns: i64,
    /// ctime, ns (no user call sets it: any write or `utime` moves it).
    pub ctime_ns: i64,
    /// Inode number.
    pub ino: u64,
}

impl Ident {
    /// Of a path, without following a final symbolic link.
    pub fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt as _;
        let m = std::fs::symlink_metadata(path)?;
        Ok(Self {
            size: m.len(),
            mtime_ns: crate::store::discover::mtime_ns_of(&m),
            ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
            ino: m.ino(),
        })
    }

    /// Of an index.
    pub fn indexed(ix: &FileIndex) -> Self {
        Self {
            size: ix.size,
            mtime_ns: ix.mtime_ns,
            ctime_ns: ix.ctime_ns,
            ino: ix.ino,
        }
    }
}

/// How a data file moved since it was indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// Size, mtime, ctime and inode unchanged: the bytes are too.
    Same,
    /// Size and mtime unchanged but ctime or inode moved (a `chmod`, a new
    /// hard link, a copy, or a rewrite with the mtime set back): the
    /// CRC-32 decides.
    Touched,
    /// Size or mtime changed: stale.
    Changed(String),
}

/// How `now` differs from `then`.
pub fn drift(then: &Ident, now: &Ident) -> Drift {
    if now.size > then.size {
        Drift::Changed(format!(
            "data appended ({} → {} bytes)",
            then.size, now.size
        ))
    } else if now.size < then.size {
        Drift::Changed(format!(
            "data truncated ({} → {} bytes)",
            then.size, now.size
        ))
    } else if now.mtime_ns != then.mtime_ns {
        Drift::Changed("data file modified (same size, new mtime)".into())
    } else if now.ctime_ns != then.ctime_ns || now.ino != then.ino {
        Drift::Touched
    } else {
        Drift::Same
    }
}

/// Why an index no longer surely describes its data file, judged without
/// reading it (`None`: size, mtime, ctime and inode are unchanged).
pub fn changed(ix: &FileIndex, now: &Ident) -> Option<String> {
    match drift(&Ident::indexed(ix), now) {
        Drift::Same => None,
        Drift::Touched => Some("data file status changed since indexed (ctime or inode)".into()),
        Drift::Changed(why) => Some(why),
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

/// Whether the index of a data file can be kept.
enum Verdict {
    /// Yes, as it is.
    Keep,
    /// Yes, with the file's new ctime and inode (its CRC-32 matched).
    Restamp(Ident),
    /// No: why.
    Stale(String),
}

/// Whether the index of `found` can be kept: unchanged size, mtime, ctime
/// and inode keep it unread; a ctime or inode change alone makes the
/// CRC-32 of the bytes decide.
fn verdict(ix: &FileIndex, found: &Found) -> Verdict {
    let now = match Ident::of(&found.abs) {
        Ok(s) => s,
        Err(e) => return Verdict::Stale(format!("data file cannot be examined: {e}")),
    };
    match drift(&Ident::indexed(ix), &now) {
        Drift::Same => return Verdict::Keep,
        Drift::Changed(why) => return Verdict::Stale(why),
        Drift::Touched => {}
    }
    match crc_file(&found.abs) {
        Ok(c) if c == ix.crc32 => match Ident::of(&found.abs) {
            Ok(again) if again == now => Verdict::Restamp(now),
            _ => Verdict::Stale("data file changed while it was checked".into()),
        },
        Ok(_) => Verdict::Stale("data rewritten (same size and mtime, CRC-32 differs)".into()),
        Err(e) => Verdict::Stale(format!("data file cannot be read: {e}")),
    }
}

/// Why the index of `found` cannot be kept as it is (`None`: it can).
fn stale(ix: &FileIndex, found: &Found) -> Option<String> {
    match verdict(ix, found) {
        Verdict::Keep => None,
        Verdict::Restamp(_) => Some("data file status changed (CRC-32 unchanged)".into()),
        Verdict::Stale(why) => Some(why),
    }
}

/// Samples records about every [`STRIDE`] bytes.
#[derive(Debug, Default)]
struct Sampler {
    entries: Vec<Entry>,
    next_at: u64,
    end: u64,
    cid: i64,
    streams: std::collections::BTreeSet<(i64, crate::TickType)>,
    streams_all: bool,
}

impl Visit for Sampler {
    fn record(&mut self, r: &Good<'_>) {
        if !self.streams_all {
            let cid = if r.tick.cid != 0 {
                r.tick.cid
            } else {
                self.cid
            };
            self.streams.insert((cid, r.tick.tt));
            if self.streams.len() > file::MAX_STREAMS {
                self.streams_all = true;
                self.streams.clear();
            }
        }
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
    let before = Ident::of(&found.abs).ok();
    let name_cid = crate::query::contract_of(found).map_or(0, |c| c.0);
    let s = scan::scan_with(found, &opts, &|| Sampler {
        cid: name_cid,
        ..Sampler::default()
    });
    let scan = &s.scan;
    let stat = scan.stat.or_else(|| Stat::of_path(&found.abs).ok());
    // ctime and inode as they were before the scan; if size or mtime moved
    // meanwhile, a ctime of 0 makes the next refresh check the bytes.
    let (ctime_ns, ino) = match (before, stat) {
        (Some(b), Some(st)) if b.size == st.size && b.mtime_ns == mtime_ns(&st) => {
            (b.ctime_ns, b.ino)
        }
        _ => (0, 0),
    };
    let crc32 = scan
        .crc32
        .or_else(|| crc_file(&found.abs).ok())
        .unwrap_or(0);
    let mut entries = Vec::new();
    let mut end = 0;
    let mut streams = std::collections::BTreeSet::new();
    let mut streams_all = false;
    for v in s.visits {
        end = end.max(v.end);
        entries.extend(v.entries);
        streams_all |= v.streams_all;
        streams.extend(v.streams);
    }
    if streams_all || streams.len() > file::MAX_STREAMS {
        streams_all = true;
        streams.clear();
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
        ctime_ns,
        ino,
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
        streams: streams.into_iter().collect(),
        streams_all,
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

/// Makes sure `dir` can hold indices (creating it). Called before the
/// store is walked, so that creating `STORE/.ibstore` does not move the
/// root folder's mtime after the catalog recorded it.
pub fn prepare(dir: &Path, external: bool) -> Result<()> {
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
    let judged = match (&old, mode) {
        (Ok(Some(ix)), Mode::Refresh | Mode::Check) => Some(verdict(ix, found)),
        _ => None,
    };
    let mut restamp = None;
    let problem: Option<Finding> = match (&old, mode) {
        (_, Mode::Rebuild) => None,
        (Ok(None), Mode::Check) => Some(Finding::new(
            Kind::MissingIndex,
            rel,
            "no index; run `ibstore index`",
        )),
        (Ok(None), _) => None,
        (Ok(Some(_)), _) => match judged {
            Some(Verdict::Stale(why)) => Some(why),
            Some(Verdict::Restamp(now)) => {
                restamp = Some(now);
                None
            }
            _ => None,
        }
        .map(|why| {
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
        let mut ix = old.ok().flatten();
        let mut folder = None;
        if let (Some(ix), Some(now)) = (ix.as_mut(), restamp) {
            // Same bytes (CRC-32), new ctime or inode: record them, so the
            // next refresh need not read the file again.
            ix.ctime_ns = now.ctime_ns;
            ix.ino = now.ino;
            folder = Some(write_deferred(
                dir,
                &format!("files/{key}.idx"),
                &ix.to_bytes(),
            )?);
        }
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
            folder,
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
    // One writer per index folder: repair's lock (`flock`, released by
    // the kernel when a run dies), in the index folder.
    let _lock = if mode == Mode::Check {
        None
    } else {
        prepare(dir, external)?;
        let lock = match crate::repair::lock::Lock::take(dir, "index") {
            Ok((lock, _)) => lock,
            Err(Error::Locked { path, holder }) => {
                return Err(Error::Usage(format!(
                    "the index folder is locked by another run ({holder}, lock {}); wait for it to finish",
                    path.display()
                )))
            }
            Err(e) => return Err(e),
        };
        test_hook_hold();
        Some(lock)
    };
    let walked = settle(&d);
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
        folders: walked,
    };
    let cat = report.catalog();
    // Findings name files relative to the store; an --index-dir outside it
    // is named whole.
    let cat_name = {
        let p = dir.join(CATALOG);
        p.strip_prefix(&report.root)
            .map_or_else(|_| p.display().to_string(), |r| r.display().to_string())
    };
    match Catalog::load(dir) {
        // The rows decide whether the catalog is current; in a refresh, the
        // folders' mtimes too (so the catalog holds what query compares).
        Ok(Some(old))
            if old.files == cat.files
                && old.root == cat.root
                && (mode == Mode::Check || old.folders == cat.folders) =>
        {
            report.catalog_bytes = std::fs::metadata(dir.join(CATALOG)).map_or(0, |m| m.len());
        }
        other => {
            if let Err(c) = &other {
                findings.push(Finding::new(
                    Kind::CorruptIndex,
                    &cat_name,
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
                    &cat_name,
                    format!("{why}; not rebuilt (--check)"),
                ));
            }
            if mode != Mode::Check {
                let bytes = cat.to_bytes();
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

/// Margin past a folder's mtime after which an entry added to it surely
/// shows as a newer mtime (file system timestamps follow a coarse clock).
const TICK_NS: i64 = 50_000_000;

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The discovery's folder mtimes the catalog may trust. A folder whose
/// mtime was within [`TICK_NS`] of its listing could have gained an entry
/// in the same clock tick without its mtime moving; once that tick is
/// past, it is listed again: the same data files and subfolders and the
/// same mtime make the recorded mtime trustworthy; else it is recorded as
/// -1 (never matches: `query` and `stats` walk the store).
fn settle(d: &Discovery) -> Vec<(String, i64)> {
    use std::collections::BTreeSet;
    let parent = |k: &str| k.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
    let mut children: std::collections::HashMap<String, BTreeSet<String>> = Default::default();
    for (f, _) in &d.folders {
        if !f.is_empty() {
            children.entry(parent(f)).or_default().insert(f.clone());
        }
    }
    for f in &d.files {
        let k = key_of(f);
        children.entry(parent(&k)).or_default().insert(k);
    }
    let started = now_ns();
    d.folders
        .iter()
        .map(|(f, m)| {
            if *m <= 0 || *m <= started - TICK_NS {
                return (f.clone(), if *m <= 0 { -1 } else { *m });
            }
            let wait = *m + TICK_NS - now_ns();
            if wait > 0 && wait <= TICK_NS {
                std::thread::sleep(std::time::Duration::from_nanos(wait as u64));
            }
            let ok = now_ns() > *m + TICK_NS
                && listed_again(&d.root, f, *m)
                    .is_some_and(|now| now == children.get(f).cloned().unwrap_or_default());
            (f.clone(), if ok { *m } else { -1 })
        })
        .collect()
}

/// The keys of the data files and subfolders of folder `key` now (`None`:
/// it cannot be listed, or its mtime is no longer `mtime`).
fn listed_again(root: &Path, key: &str, mtime: i64) -> Option<std::collections::BTreeSet<String>> {
    use std::os::unix::ffi::{OsStrExt as _, OsStringExt as _};
    let dir = root.join(fsutil::key_path(key));
    let m = std::fs::symlink_metadata(&dir).ok()?;
    if crate::store::discover::folder_stamp_ns_of(&m) != mtime {
        return None;
    }
    let mut out = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).ok()? {
        let e = e.ok()?;
        let name = e.file_name();
        let t = e.file_type().ok()?;
        let data = t.is_file() && crate::format::Extension::from_path(&e.path()).is_some();
        let folder = t.is_dir() && !(key.is_empty() && name == STATE_DIR);
        if data || folder {
            let mut raw = fsutil::key_path(key).into_os_string().into_vec();
            if !raw.is_empty() {
                raw.push(b'/');
            }
            raw.extend_from_slice(name.as_bytes());
            out.insert(fsutil::rel_key("", Some(&raw)));
        }
    }
    let again = std::fs::symlink_metadata(&dir).ok()?;
    (crate::store::discover::folder_stamp_ns_of(&again) == mtime).then_some(out)
}

/// Debug builds only: `IBSTORE_TEST_HOLD_MS=N` holds the index lock N ms
/// before working, so a test can start a second run meanwhile.
fn test_hook_hold() {
    if cfg!(debug_assertions) {
        if let Some(ms) = std::env::var("IBSTORE_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }
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
