//! `ibstore query`: the records of one contract and tick type in a time
//! window `[from, to)`, in (ts, st) order, merged across files (a v2 hour's
//! spill-over in the next hour's file, out-of-order files, several eras).
//!
//! A file with a valid index (size and mtime unchanged) is skipped when its
//! time range misses the window; a plain, sorted one is read only between
//! the index entries around the window, and the first record read must be
//! the entry's record, or the index is not trusted and the file is scanned.
//! A file without a valid index (or compressed, or unsorted) is read
//! through the shared scan. Damaged bytes met on the way are skipped and
//! described in [`QueryResult::notes`].

use crate::format::piece::Piece;
use crate::format::source::Source;
use crate::format::Compression;
use crate::index::{self, file::FileIndex};
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::store::discover::{Discovery, Found};
use crate::store::naming::FileName;
use crate::tick::{Tick, TickType};
use crate::time;
use rayon::prelude::*;
use std::path::Path;

/// What to select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Contract id.
    pub contract: i64,
    /// Tick type.
    pub tick_type: TickType,
    /// Window start, µs (inclusive).
    pub from: i64,
    /// Window end, µs (exclusive).
    pub to: i64,
}

impl Query {
    fn wants(&self, t: &Tick, file_cid: i64) -> bool {
        let cid = if t.cid != 0 { t.cid } else { file_cid };
        cid == self.contract && t.tt == self.tick_type && t.ts >= self.from && t.ts < self.to
    }
}

/// Parses a time: `2025-08-05T14:30Z`, `2025-08-05T14:30:05.25+02:00`,
/// `2025-08-05` (midnight UTC), an integer since the epoch with a unit
/// (`1754404200s`, `…ms`, `…us`/`…µs`, `…ns`), or a bare integer read by its
/// magnitude (below 1e11 s, below 1e14 ms, below 1e17 µs, else ns).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{s:?} is not a time: give an ISO time with a zone (2025-08-05T14:30Z, \
             2025-08-05T16:30:00+02:00), a date (2025-08-05) or an integer since the \
             epoch with a unit (1754404200s, ms, us, ns; bare: s below 1e11, ms below \
             1e14, µs below 1e17, else ns)"
        )
    };
    let t = s.trim();
    let digits = |n: &str| {
        !n.is_empty()
            && n.strip_prefix('-')
                .unwrap_or(n)
                .bytes()
                .all(|b| b.is_ascii_digit())
            && n != "-"
    };
    for (unit, mul, div) in [
        ("ns", 1, 1000),
        ("us", 1, 1),
        ("µs", 1, 1),
        ("ms", 1000, 1),
        ("s", time::US, 1),
    ] {
        if let Some(n) = t.strip_suffix(unit).filter(|n| digits(n)) {
            return n
                .parse::<i64>()
                .ok()
                .and_then(|v| v.checked_mul(mul))
                .map(|v| v.div_euclid(div))
                .ok_or_else(bad);
        }
    }
    if !t.is_empty()
        && t.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        // Read by magnitude: any date this century is unambiguous in each
        // unit (1754404200 s, 1754404200000 ms, 1754404200000000 µs, …).
        let v = t.parse::<i64>().map_err(|_| bad())?;
        let (mul, div) = match v.unsigned_abs() {
            a if a < 100_000_000_000 => (time::US, 1),
            a if a < 100_000_000_000_000 => (1000, 1),
            a if a < 100_000_000_000_000_000 => (1, 1),
            _ => (1, 1000),
        };
        return v
            .checked_mul(mul)
            .map(|v| v.div_euclid(div))
            .ok_or_else(bad);
    }
    let b = t.as_bytes();
    if b.len() == 10 {
        let mut full = t.to_owned();
        full.push_str("T00:00:00Z");
        return time::parse_iso(full.as_bytes())
            .map(|x| x.0)
            .ok_or_else(bad);
    }
    let mut full = t.to_owned();
    if b.len() >= 16 && b[13] == b':' && b.get(16) != Some(&b':') {
        full.insert_str(16, ":00");
    }
    let fb = full.as_bytes();
    if fb.len() == 19
        || (fb.len() > 19 && fb[19] == b'.' && fb[20..].iter().all(u8::is_ascii_digit))
    {
        return Err(format!(
            "{s:?} has no zone: add Z for UTC or an offset such as +02:00"
        ));
    }
    time::parse_iso(fb).map(|x| x.0).ok_or_else(bad)
}

/// The contract and tick type a file's name promises (a v3 name under a
/// v2-era folder too).
pub fn contract_of(f: &Found) -> Option<(i64, Option<TickType>)> {
    f.file
        .name
        .contract()
        .or_else(|| FileName::parse_v3(&f.file.stem).and_then(|n| n.contract()))
}

/// How one file was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// Its index says the window misses it.
    Skipped,
    /// Read between index entries.
    Seeked,
    /// Read whole through the scan.
    Scanned,
}

/// A query's records and what it met.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// Records in (ts, st) order.
    pub ticks: Vec<Tick>,
    /// Notes for stderr (no valid index, damage skipped), in file order.
    pub notes: Vec<String>,
    /// Files skipped by their index.
    pub skipped: u64,
    /// Files read between index entries.
    pub seeked: u64,
    /// Files scanned whole.
    pub scanned: u64,
    /// Bytes read.
    pub bytes_read: u64,
}

struct Collect {
    q: Query,
    cid: i64,
    out: Vec<Tick>,
}

impl Visit for Collect {
    fn record(&mut self, r: &Good<'_>) {
        if self.q.wants(r.tick, self.cid) {
            self.out.push(*r.tick);
        }
    }
}

struct One {
    ticks: Vec<Tick>,
    notes: Vec<String>,
    read: Read,
    bytes: u64,
}

fn scan_file(f: &Found, q: Query, cid: i64, mut notes: Vec<String>) -> One {
    let opts = ScanOptions::default();
    let s = scan::scan_with(f, &opts, &|| Collect {
        q,
        cid,
        out: Vec::new(),
    });
    for sp in &s.scan.spans {
        notes.push(format!(
            "{}: {} bytes at offset {} skipped ({})",
            f.file.rel, sp.len, sp.offset, sp.kind
        ));
    }
    if let Some(p) = &s.scan.read_problem {
        notes.push(format!("{}: read stopped early ({p:?})", f.file.rel));
    }
    One {
        ticks: s.visits.into_iter().flat_map(|v| v.out).collect(),
        notes,
        read: Read::Scanned,
        bytes: s.scan.decoded_bytes,
    }
}

/// Reads a plain sorted file between the entries around the window (and
/// through the record of the entry that ends it); `None` when the data
/// disagrees with the index: every entry in the bytes read must be a record
/// at its offset that decodes with its ts.
fn seek_file(f: &Found, ix: &FileIndex, q: Query, cid: i64) -> Option<One> {
    let format = ix.format?;
    let start = ix.entries.iter().rposition(|e| e.ts < q.from);
    let stop = ix.entries.iter().position(|e| e.ts >= q.to);
    let from = start.map_or(0, |i| ix.entries[i].offset);
    let end = stop.map_or(ix.size, |i| ix.entries[i].offset);
    // Read on to the entry after the one that ends the window, so that the
    // end entry's record is checked too.
    let read_end = stop.map_or(ix.size, |i| {
        ix.entries.get(i + 1).map_or(ix.size, |e| e.offset)
    });
    if end <= from {
        return Some(One {
            ticks: Vec::new(),
            notes: Vec::new(),
            read: Read::Seeked,
            bytes: 0,
        });
    }
    let src = Source::open(&f.abs, Compression::None, false).ok()?;
    if src.stat().size != ix.size || index::mtime_ns(src.stat()) != ix.mtime_ns {
        return None;
    }
    let buf = src.read_range(from, read_end).ok()?;
    let mut out = One {
        ticks: Vec::new(),
        notes: Vec::new(),
        read: Read::Seeked,
        bytes: buf.len() as u64,
    };
    let mut expect: std::collections::VecDeque<(u64, i64)> = ix
        .entries
        .iter()
        .filter(|e| e.offset >= from && e.offset < read_end)
        .map(|e| (e.offset, e.ts))
        .collect();
    let mut decoded = crate::format::Decoded::default();
    let mut agree = true;
    format.framer().feed(&buf, from, true, &mut |p: Piece<'_>| {
        let at = match &p {
            Piece::Record { offset, .. } | Piece::Damage { offset, .. } | Piece::Blank { offset, .. } => *offset,
        };
        while expect.front().is_some_and(|(o, _)| *o < at) {
            // An entry's offset is not where a record starts.
            agree = false;
            expect.pop_front();
        }
        match p {
            Piece::Record { offset, len, bytes, .. } => {
                let ok = format.decode_into(bytes, &mut decoded).is_ok();
                if expect.front().is_some_and(|(o, _)| *o == offset) {
                    let (_, ts) = expect.pop_front().unwrap_or_default();
                    if !ok || decoded.tick.ts != ts {
                        agree = false;
                    }
                }
                if offset >= end {
                    return;
                }
                if ok {
                    if q.wants(&decoded.tick, cid) {
                        out.ticks.push(decoded.tick);
                    }
                } else {
                    out.notes.push(format!("{}: {len} bytes at offset {offset} skipped (a record that does not decode)", f.file.rel));
                }
            }
            Piece::Damage { offset, len, kind, .. } => {
                if offset < end {
                    out.notes.push(format!("{}: {len} bytes at offset {offset} skipped ({})", f.file.rel, kind.name()));
                }
            }
            Piece::Blank { .. } => {}
        }
    });
    (agree && expect.is_empty()).then_some(out)
}

fn one(f: &Found, dir: &Path, q: Query) -> One {
    let cid = contract_of(f).map_or(0, |c| c.0);
    let ix = match index::load(dir, &index::key_of(f)) {
        Ok(Some(ix)) => match index::Ident::of(&f.abs) {
            Ok(now) => match index::changed(&ix, &now) {
                None => Ok(ix),
                Some(why) => Err(format!("index is stale ({why})")),
            },
            Err(e) => Err(format!("cannot be examined ({e})")),
        },
        Ok(None) => Err("no index".to_owned()),
        Err(c) => Err(format!("index unusable ({c})")),
    };
    let ix = match ix {
        Ok(ix) => ix,
        Err(why) => {
            let note = format!(
                "{}: {why}; scanned (run `ibstore index` to speed this up)",
                f.file.rel
            );
            return scan_file(f, q, cid, vec![note]);
        }
    };
    let foreign = contract_of(f).is_none()
        && !ix.streams_all
        && !ix.streams.contains(&(q.contract, q.tick_type));
    let misses = foreign
        || match (ix.first_ts, ix.last_ts) {
            (Some(a), Some(b)) => b < q.from || a >= q.to,
            _ => true,
        };
    if ix.records == 0 || misses {
        return One {
            ticks: Vec::new(),
            notes: Vec::new(),
            read: Read::Skipped,
            bytes: 0,
        };
    }
    if ix.sorted && ix.compression == Compression::None {
        if let Some(o) = seek_file(f, &ix, q, cid) {
            return o;
        }
        let note = format!(
            "{}: index entries disagree with the data; scanned (run `ibstore index`)",
            f.file.rel
        );
        return scan_file(f, q, cid, vec![note]);
    }
    scan_file(f, q, cid, Vec::new())
}

/// The files a query reads, and what the store is known to hold.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files that may hold the query's records.
    pub files: Vec<Found>,
    /// Files the catalog already rules out (unchanged, window missed).
    pub skipped: u64,
    /// Contracts and tick types known (from names, or from the records
    /// of files whose names promise none).
    pub known: Vec<(i64, Option<TickType>)>,
    /// Some files' contracts are unknown (no name, no index): any contract
    /// may be in them.
    pub open: bool,
    /// Why the store was walked instead of read from the catalog.
    pub walked: Option<String>,
    /// Symbolic links the walk found and did not follow (their records,
    /// if any, are not in the answer).
    pub links: Vec<String>,
}

/// The files a query must read: from the catalog when it is valid and no
/// folder of the store changed since it was written (so no data file was
/// added or removed; each candidate is still checked against its index),
/// else from a walk of the store.
pub fn plan(
    root: &Path,
    dir: &Path,
    contract: i64,
    tt: TickType,
    from: i64,
    to: i64,
) -> crate::error::Result<Plan> {
    let why = match index::Catalog::load(dir) {
        Ok(Some(c)) => match c.folders_current(root) {
            Ok(()) => return Ok(from_catalog(root, &c, contract, tt, from, to)),
            Err(why) => why,
        },
        Ok(None) => "no catalog".to_owned(),
        Err(e) => format!("catalog unusable ({e})"),
    };
    let d = crate::store::discover::discover(root)?;
    let links = links_of(&d);
    let mut known = Vec::new();
    let mut open = false;
    let mut files = Vec::new();
    for f in d.files {
        match contract_of(&f) {
            Some((c, t)) => {
                known.push((c, t));
                if c == contract && t.is_none_or(|t| t == tt) {
                    files.push(f);
                }
            }
            None => {
                // Its index (when valid) tells what its records hold.
                match index::load(dir, &index::key_of(&f)) {
                    Ok(Some(ix)) if !ix.streams_all => {
                        known.extend(ix.streams.iter().map(|(c, t)| (*c, Some(*t))));
                    }
                    _ => open = true,
                }
                files.push(f);
            }
        }
    }
    known.sort();
    known.dedup();
    Ok(Plan {
        files,
        skipped: 0,
        known,
        open,
        walked: Some(why),
        links,
    })
}

/// The symbolic links a walk found (never followed: their targets' records
/// are not read).
pub fn links_of(d: &crate::store::discover::Discovery) -> Vec<String> {
    d.findings
        .iter()
        .filter(|f| f.kind == crate::report::finding::Kind::Symlink)
        .map(|f| f.file.clone())
        .collect()
}

fn from_catalog(
    root: &Path,
    c: &index::Catalog,
    contract: i64,
    tt: TickType,
    from: i64,
    to: i64,
) -> Plan {
    let mut known = Vec::new();
    let mut open = false;
    for e in &c.files {
        let t = e
            .tick_type
            .as_deref()
            .and_then(|t| TickType::from_storage_name(t.as_bytes()));
        match e.contract {
            Some(cid) => known.push((cid, t)),
            None if e.streams_all => open = true,
            None => known.extend(e.streams.iter().filter_map(|(cid, t)| {
                TickType::from_storage_name(t.as_bytes()).map(|t| (*cid, Some(t)))
            })),
        }
    }
    known.sort();
    known.dedup();
    let rows: Vec<&index::CatalogEntry> = c
        .files
        .iter()
        .filter(|e| e.may_hold(contract, tt))
        .collect();
    let judged: Vec<Option<Found>> = rows
        .par_iter()
        .map(|e| {
            let misses = match (e.first_ts, e.last_ts) {
                (Some(a), Some(b)) => b < from || a >= to,
                _ => true,
            };
            if misses && e.current(root).is_ok() {
                return None;
            }
            let rel = crate::fsutil::key_path(&e.file);
            let abs = root.join(&rel);
            let size = std::fs::symlink_metadata(&abs).map_or(0, |m| m.len());
            let ext = crate::format::Extension::from_path(&abs)?;
            let mut file =
                crate::store::layout::classify(&abs, rel.to_string_lossy().into_owned(), ext, size);
            if rel.to_str().is_none() {
                file.raw = Some(std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str()).to_vec());
            }
            Some(Found { abs, file })
        })
        .collect();
    let skipped = judged.iter().filter(|f| f.is_none()).count() as u64;
    Plan {
        files: judged.into_iter().flatten().collect(),
        skipped,
        known,
        open,
        walked: None,
        links: Vec::new(),
    }
}

/// Runs a query over the discovered files, with the indices in `dir`.
pub fn run(d: &Discovery, dir: &Path, q: Query) -> QueryResult {
    let files: Vec<Found> = d
        .files
        .iter()
        .filter(|f| match contract_of(f) {
            Some((c, t)) => c == q.contract && t.is_none_or(|t| t == q.tick_type),
            None => true,
        })
        .cloned()
        .collect();
    run_files(&files, dir, q)
}

/// Runs a query over these files, with the indices in `dir`.
pub fn run_files(files: &[Found], dir: &Path, q: Query) -> QueryResult {
    let parts: Vec<One> = files.par_iter().map(|f| one(f, dir, q)).collect();
    let mut r = QueryResult::default();
    for p in parts {
        match p.read {
            Read::Skipped => r.skipped += 1,
            Read::Seeked => r.seeked += 1,
            Read::Scanned => r.scanned += 1,
        }
        r.bytes_read += p.bytes;
        r.ticks.extend(p.ticks);
        r.notes.extend(p.notes);
    }
    r.ticks.sort_by_key(|t| (t.ts, t.st));
    r
}

/// Contracts and tick types the store's file names promise.
pub fn streams(d: &Discovery) -> Vec<(i64, Option<TickType>)> {
    let mut v: Vec<_> = d.files.iter().filter_map(contract_of).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rewrite the file's identity does not show (here: the index is made
    /// to carry the new size, mtime, ctime and inode) is caught at the seek
    /// points: the record at an entry's offset must have the entry's ts.
    #[test]
    fn entries_are_verified_at_the_seek_points() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("s");
        let o = crate::gen::GenOptions {
            out: root.clone(),
            contracts: 1,
            tick_types: vec![TickType::BidAsk],
            hours: 1,
            records: 3000,
            ts_resolution: crate::gen::TsResolution::Micros,
            ..Default::default()
        };
        crate::gen::generate(&o).unwrap();
        let dir = t.path().join("ix");
        let d = crate::store::discover::discover(&root).unwrap();
        let r = index::run(
            d,
            &dir,
            true,
            index::Mode::Rebuild,
            &ScanOptions::default(),
            &(),
        )
        .unwrap();
        assert_eq!(r.files.len(), 1);
        let key = r.files[0].0.clone();
        let f = root.join(&key);
        // Same bytes, lines in reverse order: the window's records now lie
        // at the end of the file, the bytes the index points to hold others.
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.reverse();
        std::fs::write(&f, lines.join("\n") + "\n").unwrap();
        let mut ix = index::load(&dir, &key).unwrap().unwrap();
        let now = index::Ident::of(&f).unwrap();
        (ix.size, ix.mtime_ns, ix.ctime_ns, ix.ino) =
            (now.size, now.mtime_ns, now.ctime_ns, now.ino);
        std::fs::write(index::index_path(&dir, &key), ix.to_bytes()).unwrap();
        let h0 = o.start * time::US;
        let d = crate::store::discover::discover(&root).unwrap();
        for (a, b) in [
            (h0 - 60 * time::US, h0 + 300 * time::US),
            (h0 + 1200 * time::US, h0 + 1500 * time::US),
        ] {
            let q = Query {
                contract: 711_280_073,
                tick_type: TickType::BidAsk,
                from: a,
                to: b,
            };
            let got = run(&d, &dir, q);
            let want = run(&d, &t.path().join("none"), q);
            assert!(want.ticks.len() > 50, "{}", want.ticks.len());
            assert_eq!(got.ticks, want.ticks);
            assert_eq!((got.seeked, got.scanned), (0, 1));
            assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
            assert!(
                got.notes[0].ends_with(
                    "index entries disagree with the data; scanned (run `ibstore index`)"
                ),
                "{:?}",
                got.notes
            );
        }
    }

    #[test]
    fn time_shapes() {
        let t = 1_754_404_200 * time::US; // 2025-08-05T14:30:00Z
        assert_eq!(parse_time("2025-08-05T14:30Z"), Ok(t));
        assert_eq!(parse_time("2025-08-05T14:30:00Z"), Ok(t));
        assert_eq!(parse_time("2025-08-05T16:30+02:00"), Ok(t));
        assert_eq!(parse_time("2025-08-05T14:30:00.5+00:00"), Ok(t + 500_000));
        assert_eq!(parse_time(&t.to_string()), Ok(t));
        assert_eq!(parse_time("1754404200s"), Ok(t));
        assert_eq!(parse_time("1754404200000ms"), Ok(t));
        assert_eq!(parse_time(&format!("{t}us")), Ok(t));
        assert_eq!(parse_time(&format!("{t}µs")), Ok(t));
        assert_eq!(parse_time(&format!("{t}000ns")), Ok(t));
        // Bare integers by magnitude: seconds, ms, µs and ns of one instant.
        for bare in [
            "1754404200",
            "1754404200000",
            "1754404200000000",
            "1754404200000000000",
        ] {
            assert_eq!(parse_time(bare), Ok(t), "{bare}");
        }
        assert!(parse_time("99999999999999999999s").is_err());
        assert!(parse_time("9999999999999999s").is_err());
        assert!(parse_time("s").is_err());
        assert!(parse_time("-s").is_err());
        assert!(parse_time("12h").is_err());
        assert_eq!(
            parse_time("2025-08-05"),
            Ok(t - (14 * 3600 + 1800) * time::US)
        );
        assert!(parse_time("2025-08-05T14:30")
            .unwrap_err()
            .contains("no zone"));
        assert!(parse_time("2025-08-05T14:30:00.25")
            .unwrap_err()
            .contains("no zone"));
        for bad in [
            "",
            "yesterday",
            "2025-13-05",
            "2025-08-05T25:00Z",
            "2025-08-05T14:30Q",
            "12x",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
