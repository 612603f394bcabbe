//! Time continuity inside one file: out-of-order records, duplicates as the
//! recorder makes them, same-second repeats, and silences longer than the
//! configured maximum gap.
//!
//! Live `ts` has one-second resolution, so a busy stream holds many records
//! per second and two consecutive equal quotes are ordinary market data,
//! told apart only by `st`. So:
//!
//! * a **duplicate** is a record equal to an earlier one in every field
//!   *including* `st` (a double write), or one of a **repeated block**: a
//!   run of records, starting where `ts` steps back below an earlier record,
//!   that repeats a run of earlier records in the same order, `st` aside (what
//!   a re-run converter appends). Blocks are at least [`MIN_BLOCK`] records,
//!   or the whole file once more.
//! * a **repeat** is a record equal to its predecessor except for `st`: a
//!   legitimate tick, counted per file and stream, never a finding, never
//!   removed.
//!
//! Candidates are found by 64-bit hashes in one pass (16 bytes per record);
//! the caller confirms each by comparing the two records field by field
//! ([`Candidate`]), so a hash collision never removes a distinct tick.

use crate::report::{Finding, Kind};
use crate::tick::Tick;
use crate::time::{self, US};

/// Shortest repeated block that counts as a duplicate (unless it runs to the
/// end of the file).
pub const MIN_BLOCK: usize = 2;

/// Earlier records with an equal key tried as a record's original.
const MAX_ORIGINALS: usize = 256;

/// One record's place in time, in file order.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Event time.
    pub ts: i64,
    /// System time.
    pub st: i64,
    /// Hash of every field.
    pub full: u64,
    /// Hash of every field but `st`.
    pub nost: u64,
    /// Byte offset.
    pub offset: u64,
    /// Line or frame number.
    pub index: u64,
}

impl Entry {
    /// The entry of a decoded record.
    pub fn of(t: &Tick, offset: u64, index: u64) -> Self {
        let (full, nost) = t.keys();
        Self {
            ts: t.ts,
            st: t.st,
            full,
            nost,
            offset,
            index,
        }
    }
}

/// Where a record's place in time goes: straight into a [`Continuity`], or
/// collected for a later in-order replay (files scanned in parallel parts).
pub trait Sequence {
    /// Takes one record.
    fn record(&mut self, e: Entry, max_gap_us: i64, file: &str, out: &mut impl FnMut(Finding));
}

impl<T: Sequence> Sequence for &mut T {
    fn record(&mut self, e: Entry, max_gap_us: i64, file: &str, out: &mut impl FnMut(Finding)) {
        (**self).record(e, max_gap_us, file, out);
    }
}

/// The entries of one part, in order.
#[derive(Debug, Default)]
pub struct Deferred(pub Vec<Entry>);

impl Sequence for Deferred {
    fn record(&mut self, e: Entry, _: i64, _: &str, _: &mut impl FnMut(Finding)) {
        self.0.push(e);
    }
}

impl Sequence for Continuity {
    fn record(&mut self, e: Entry, max_gap_us: i64, file: &str, out: &mut impl FnMut(Finding)) {
        self.push(e, max_gap_us, file, out);
    }
}

/// A possible duplicate: record `dup` (an ordinal among the file's decoded
/// records) and an earlier record `orig` it may repeat (a record can have
/// several candidate originals; one confirmed is enough).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    /// The later record.
    pub dup: u32,
    /// The earlier record.
    pub orig: u32,
    /// Equal including `st` (else: a repeated block, `st` aside).
    pub exact: bool,
}

impl Candidate {
    /// Whether two decoded records are what the candidate claims.
    pub fn confirmed_by(&self, dup: &Tick, orig: &Tick) -> bool {
        if self.exact {
            dup.same(orig, true)
        } else {
            dup.same(orig, false)
        }
    }
}

/// Running state over one file's records, in file order.
#[derive(Debug)]
pub struct Continuity {
    max_ts: Option<i64>,
    /// Earliest ts seen.
    pub min_ts: Option<i64>,
    prev: Option<(i64, i64, u64, u64)>,
    /// Whether every record comes at or after its predecessor in `(ts, st)`.
    pub arrival_sorted: bool,
    keys: Vec<(u64, u64)>,
    steps_back: Vec<u32>,
    /// `(full hash, ordinal)` of the records whose ts equals `max_ts`.
    run: Vec<(u64, u32)>,
    run_candidates: Vec<Candidate>,
    /// Number of gaps found.
    pub gaps: u64,
    /// Records equal to their predecessor except for `st`.
    pub repeats: u64,
}

impl Default for Continuity {
    fn default() -> Self {
        Self {
            max_ts: None,
            min_ts: None,
            prev: None,
            arrival_sorted: true,
            keys: Vec::new(),
            steps_back: Vec::new(),
            run: Vec::new(),
            run_candidates: Vec::new(),
            gaps: 0,
            repeats: 0,
        }
    }
}

impl Continuity {
    /// Feeds one record.
    pub fn push(&mut self, e: Entry, max_gap_us: i64, file: &str, out: &mut impl FnMut(Finding)) {
        let ordinal = self.keys.len() as u32;
        self.keys.push((e.full, e.nost));
        self.min_ts = Some(self.min_ts.map_or(e.ts, |m| m.min(e.ts)));
        if let Some((pts, pst, pfull, pnost)) = self.prev {
            if (e.ts, e.st) < (pts, pst) {
                self.arrival_sorted = false;
            }
            if e.nost == pnost && e.full != pfull {
                self.repeats += 1;
            }
        }
        self.prev = Some((e.ts, e.st, e.full, e.nost));
        match self.max_ts {
            Some(m) if e.ts < m => {
                self.steps_back.push(ordinal);
                out(Finding::new(
                    Kind::OutOfOrder,
                    file,
                    format!(
                        "ts {} is earlier than a record before it ({})",
                        time::display_us(e.ts),
                        time::display_us(m)
                    ),
                )
                .at(e.offset, Some(e.index)));
            }
            Some(m) if e.ts == m => {
                // Every earlier record of the run with the same key is a
                // candidate original (keys can collide; confirmation decides).
                self.run_candidates.extend(
                    self.run
                        .iter()
                        .filter(|r| r.0 == e.full)
                        .take(MAX_ORIGINALS)
                        .map(|&(_, orig)| Candidate {
                            dup: ordinal,
                            orig,
                            exact: true,
                        }),
                );
                self.run.push((e.full, ordinal));
            }
            Some(m) => {
                if e.ts - m > max_gap_us {
                    self.gaps += 1;
                    out(Finding::new(
                        Kind::Gap,
                        file,
                        format!(
                            "no records for {} s, from {} to {}",
                            (e.ts - m) / US,
                            time::display_us(m),
                            time::display_us(e.ts)
                        ),
                    )
                    .at(e.offset, Some(e.index)));
                }
                self.max_ts = Some(e.ts);
                self.run.clear();
                self.run.push((e.full, ordinal));
            }
            None => {
                self.max_ts = Some(e.ts);
                self.run.push((e.full, ordinal));
            }
        }
    }

    /// Latest ts seen.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Records seen.
    pub fn records(&self) -> u64 {
        self.keys.len() as u64
    }

    /// The possible duplicates, by ordinal, to be confirmed record by record.
    pub fn candidates(&self) -> Vec<Candidate> {
        if self.steps_back.is_empty() {
            // In ts order an exact copy shares its original's ts run.
            return self.run_candidates.clone();
        }
        let mut out = exact_candidates(&self.keys);
        block_candidates(&self.keys, &self.steps_back, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn exact_candidates(keys: &[(u64, u64)]) -> Vec<Candidate> {
    let mut by_key: Vec<(u64, u32)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.0, i as u32))
        .collect();
    by_key.sort_unstable();
    let mut out = Vec::new();
    for group in by_key.chunk_by(|a, b| a.0 == b.0) {
        for (i, &(_, dup)) in group.iter().enumerate().skip(1) {
            out.extend(
                group[..i]
                    .iter()
                    .take(MAX_ORIGINALS)
                    .map(|&(_, orig)| Candidate {
                        dup,
                        orig,
                        exact: true,
                    }),
            );
        }
    }
    out
}

fn block_candidates(keys: &[(u64, u64)], steps_back: &[u32], out: &mut Vec<Candidate>) {
    let mut by_nost: Vec<(u64, u32)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.1, i as u32))
        .collect();
    by_nost.sort_unstable();
    let mut covered = 0usize;
    for &j in steps_back {
        let j = j as usize;
        if j < covered {
            continue;
        }
        let k = keys[j].1;
        let p = by_nost.partition_point(|e| e.0 < k);
        let Some(&(kk, i)) = by_nost.get(p) else {
            continue;
        };
        let i = i as usize;
        if kk != k || i >= j {
            continue;
        }
        let mut m = 0;
        while j + m < keys.len() && i + m < j && keys[i + m].1 == keys[j + m].1 {
            m += 1;
        }
        // A block that is the whole file again (a one-record file re-run)
        // counts however short it is.
        let whole_copy = i == 0 && m == j && j + m == keys.len();
        if m >= MIN_BLOCK || whole_copy {
            out.extend((0..m).map(|d| Candidate {
                dup: (j + d) as u32,
                orig: (i + d) as u32,
                exact: false,
            }));
            covered = j + m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records as (ts s, st µs offset, price); returns the candidates and
    /// findings of one pass.
    fn run(recs: &[(i64, i64, f64)]) -> (Vec<(u32, u32, bool)>, Vec<Finding>, u64) {
        let mut c = Continuity::default();
        let mut out = Vec::new();
        for (i, &(ts, st, p)) in recs.iter().enumerate() {
            let t = Tick {
                ts: ts * US,
                st: ts * US + st,
                p: Some(p),
                ..Tick::default()
            };
            c.push(
                Entry::of(&t, i as u64 * 10, i as u64 + 1),
                300 * US,
                "f",
                &mut |f| out.push(f),
            );
        }
        let cands = c
            .candidates()
            .into_iter()
            .map(|c| (c.dup, c.orig, c.exact))
            .collect();
        (cands, out, c.repeats)
    }

    #[test]
    fn same_second_repeats_are_not_duplicates() {
        // Three equal quotes in one second, told apart by st.
        let (c, f, repeats) = run(&[(1, 5, 1.0), (1, 9, 1.0), (1, 12, 1.0), (2, 3, 2.0)]);
        assert!(c.is_empty(), "{c:?}");
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(repeats, 2);
    }

    #[test]
    fn double_writes_and_appended_blocks_are_candidates() {
        // Sorted: the third record repeats the first exactly (same st).
        let (c, _, _) = run(&[(5, 1, 1.0), (5, 2, 2.0), (5, 1, 1.0), (9, 1, 1.0)]);
        assert_eq!(c, [(2, 0, true)]);
        // A converter re-run appends the file again with new st: a block.
        let (c, f, _) = run(&[
            (1, 1, 1.0),
            (2, 1, 1.0),
            (3, 1, 2.0),
            (1, 900, 1.0),
            (2, 900, 1.0),
            (3, 900, 2.0),
        ]);
        assert_eq!(c, [(3, 0, false), (4, 1, false), (5, 2, false)]);
        assert_eq!(f.iter().filter(|f| f.kind == Kind::OutOfOrder).count(), 2);
        // One late record that equals an earlier one st aside is no block.
        let (c, _, _) = run(&[
            (1, 1, 1.0),
            (2, 1, 3.0),
            (3, 1, 2.0),
            (1, 7, 1.0),
            (4, 1, 5.0),
        ]);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn gaps_are_measured_from_the_latest_record() {
        let (_, f, _) = run(&[(0, 0, 1.0), (100, 0, 1.5), (50, 0, 2.0), (500, 0, 1.0)]);
        let g: Vec<_> = f.iter().filter(|f| f.kind == Kind::Gap).collect();
        assert_eq!((g.len(), g[0].offset, g[0].record), (1, Some(30), Some(4)));
        assert!(
            g[0].message.starts_with("no records for 400 s"),
            "{}",
            g[0].message
        );
    }
}
