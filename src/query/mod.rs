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
use crate::format::source::{Source, Stat};
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
/// `2025-08-05` (midnight UTC) or µs since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{s:?} is not a time: give an ISO time with a zone (2025-08-05T14:30Z, \
             2025-08-05T16:30:00+02:00), a date (2025-08-05) or µs since the epoch"
        )
    };
    let t = s.trim();
    if !t.is_empty()
        && t.trim_start_matches('-')
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return t.parse::<i64>().map_err(|_| bad());
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

/// Reads a plain sorted file between the entries around the window; `None`
/// when the data disagrees with the index.
fn seek_file(f: &Found, ix: &FileIndex, q: Query, cid: i64) -> Option<One> {
    let format = ix.format?;
    let start = ix.entries.iter().rev().find(|e| e.ts < q.from);
    let end = ix
        .entries
        .iter()
        .find(|e| e.ts >= q.to)
        .map_or(ix.size, |e| e.offset);
    let from = start.map_or(0, |e| e.offset);
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
    let buf = src.read_range(from, end).ok()?;
    let mut out = One {
        ticks: Vec::new(),
        notes: Vec::new(),
        read: Read::Seeked,
        bytes: buf.len() as u64,
    };
    let mut decoded = crate::format::Decoded::default();
    let mut first = true;
    let mut agree = true;
    format.framer().feed(&buf, from, true, &mut |p: Piece<'_>| {
        match p {
            Piece::Record { offset, len, bytes, .. } => {
                let ok = format.decode_into(bytes, &mut decoded).is_ok();
                if first {
                    first = false;
                    if let Some(e) = start {
                        if !ok || offset != e.offset || decoded.tick.ts != e.ts {
                            agree = false;
                        }
                    }
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
                out.notes.push(format!("{}: {len} bytes at offset {offset} skipped ({})", f.file.rel, kind.name()));
            }
            Piece::Blank { .. } => {}
        }
    });
    agree.then_some(out)
}

fn one(f: &Found, dir: &Path, q: Query) -> One {
    let cid = contract_of(f).map_or(0, |c| c.0);
    let ix = match index::load(dir, &index::key_of(f)) {
        Ok(Some(ix)) => match Stat::of_path(&f.abs) {
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
    let misses = match (ix.first_ts, ix.last_ts) {
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

/// Runs a query over the discovered files, with the indices in `dir`.
pub fn run(d: &Discovery, dir: &Path, q: Query) -> QueryResult {
    let files: Vec<&Found> = d
        .files
        .iter()
        .filter(|f| match contract_of(f) {
            Some((c, t)) => c == q.contract && t.is_none_or(|t| t == q.tick_type),
            None => true,
        })
        .collect();
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

    #[test]
    fn time_shapes() {
        let t = 1_754_404_200 * time::US; // 2025-08-05T14:30:00Z
        assert_eq!(parse_time("2025-08-05T14:30Z"), Ok(t));
        assert_eq!(parse_time("2025-08-05T14:30:00Z"), Ok(t));
        assert_eq!(parse_time("2025-08-05T16:30+02:00"), Ok(t));
        assert_eq!(parse_time("2025-08-05T14:30:00.5+00:00"), Ok(t + 500_000));
        assert_eq!(parse_time(&t.to_string()), Ok(t));
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
