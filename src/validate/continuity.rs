//! Time continuity inside one file: out-of-order records, exact duplicates,
//! and silences longer than the configured maximum gap.
//!
//! Duplicates share `ts`, so in a time-ordered file (the normal case) they
//! are found inside each run of equal `ts`, without sorting. Only a file that
//! turns out to be out of order pays for a sort of all record keys.

use crate::report::{Finding, Kind};
use crate::tick::Tick;
use crate::time::{self, US};

/// Where a record's place in time goes: straight into a [`Continuity`], or
/// collected for a later in-order replay (files validated in chunks).
pub trait Sequence {
    /// Takes one record.
    fn record(
        &mut self,
        t: &Tick,
        offset: u64,
        index: u64,
        max_gap_us: i64,
        file: &str,
        out: &mut impl FnMut(Finding),
    );
}

impl Sequence for Continuity {
    fn record(
        &mut self,
        t: &Tick,
        offset: u64,
        index: u64,
        max_gap_us: i64,
        file: &str,
        out: &mut impl FnMut(Finding),
    ) {
        self.push(t, offset, index, max_gap_us, file, out);
    }
}

/// `(ts, dedup key, offset, index)` of each record of a chunk, in order.
#[derive(Debug, Default)]
pub struct Deferred(pub Vec<(i64, u64, u64, u64)>);

impl Sequence for Deferred {
    fn record(
        &mut self,
        t: &Tick,
        offset: u64,
        index: u64,
        _: i64,
        _: &str,
        _: &mut impl FnMut(Finding),
    ) {
        self.0.push((t.ts, t.dedup_key(), offset, index));
    }
}

/// Running state over one file's records, in file order.
#[derive(Debug, Default)]
pub struct Continuity {
    max_ts: Option<i64>,
    /// Earliest ts seen.
    pub min_ts: Option<i64>,
    /// Dedup key of every record in order (8 bytes each), for the unsorted case.
    keys: Vec<u64>,
    /// Keys of the records whose ts equals `max_ts`.
    run: Vec<u64>,
    sorted: bool,
    dups: u64,
    first_dup: Option<(u64, u64)>,
    /// Number of gaps found.
    pub gaps: u64,
}

impl Continuity {
    /// Feeds one record.
    pub fn push(
        &mut self,
        t: &Tick,
        offset: u64,
        index: u64,
        max_gap_us: i64,
        file: &str,
        out: &mut impl FnMut(Finding),
    ) {
        self.push_raw(t.ts, t.dedup_key(), offset, index, max_gap_us, file, out);
    }

    /// Feeds one record given by its ts and dedup key.
    #[allow(clippy::too_many_arguments)]
    pub fn push_raw(
        &mut self,
        ts: i64,
        key: u64,
        offset: u64,
        index: u64,
        max_gap_us: i64,
        file: &str,
        out: &mut impl FnMut(Finding),
    ) {
        self.keys.push(key);
        self.min_ts = Some(self.min_ts.map_or(ts, |m| m.min(ts)));
        match self.max_ts {
            Some(m) if ts < m => {
                self.sorted = false;
                out(Finding::new(
                    Kind::OutOfOrder,
                    file,
                    format!(
                        "ts {} is earlier than a record before it ({})",
                        time::display_us(ts),
                        time::display_us(m)
                    ),
                )
                .at(offset, Some(index)));
            }
            Some(m) if ts == m => {
                if self.run.contains(&key) {
                    self.dups += 1;
                    self.first_dup.get_or_insert((offset, index));
                }
                self.run.push(key);
            }
            Some(m) => {
                if ts - m > max_gap_us {
                    self.gaps += 1;
                    out(Finding::new(
                        Kind::Gap,
                        file,
                        format!(
                            "no records for {} s, from {} to {}",
                            (ts - m) / US,
                            time::display_us(m),
                            time::display_us(ts)
                        ),
                    )
                    .at(offset, Some(index)));
                }
                self.max_ts = Some(ts);
                self.run.clear();
                self.run.push(key);
            }
            None => {
                self.sorted = true;
                self.max_ts = Some(ts);
                self.run.push(key);
            }
        }
    }

    /// Latest ts seen.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Reports exact duplicates (same everything but `st`). In an unsorted
    /// file the first repeat is found by its ordinal among the records, and
    /// `locate` turns that ordinal into its offset and line or frame number
    /// (a second read, needed only then).
    pub fn finish(
        self,
        file: &str,
        locate: impl FnOnce(usize) -> Option<(u64, u64)>,
        out: &mut impl FnMut(Finding),
    ) {
        let (count, first) = if self.sorted || self.keys.is_empty() {
            (self.dups, self.first_dup)
        } else {
            let mut sorted = self.keys.clone();
            sorted.sort_unstable();
            let count = sorted.windows(2).filter(|w| w[0] == w[1]).count() as u64;
            let first = if count == 0 {
                None
            } else {
                let repeated: std::collections::HashSet<u64> = sorted
                    .windows(2)
                    .filter(|w| w[0] == w[1])
                    .map(|w| w[0])
                    .collect();
                drop(sorted);
                let mut seen = std::collections::HashSet::new();
                self.keys
                    .iter()
                    .position(|k| repeated.contains(k) && !seen.insert(*k))
                    .and_then(locate)
            };
            (count, first)
        };
        if let Some((offset, index)) = first {
            let mut f = Finding::new(
                Kind::Duplicate,
                file,
                "record repeats an earlier record exactly (st ignored)",
            )
            .at(offset, Some(index));
            f.count = count;
            out(f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ts_and_price: &[(i64, f64)]) -> Vec<Finding> {
        let mut c = Continuity::default();
        let mut out = Vec::new();
        for (i, &(ts, p)) in ts_and_price.iter().enumerate() {
            let t = Tick {
                ts: ts * US,
                p: Some(p),
                ..Tick::default()
            };
            c.push(&t, i as u64 * 10, i as u64 + 1, 300 * US, "f", &mut |f| {
                out.push(f)
            });
        }
        c.finish("f", |i| Some((i as u64 * 10, i as u64 + 1)), &mut |f| {
            out.push(f)
        });
        out
    }

    #[test]
    fn duplicates_sorted_and_unsorted_agree() {
        // Sorted: the second (5, 1.0) repeats the first; (5, 2.0) does not.
        let f = run(&[(1, 1.0), (5, 1.0), (5, 2.0), (5, 1.0), (9, 1.0)]);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].offset, f[0].count),
            (Kind::Duplicate, Some(30), 1)
        );
        // A converter re-run appends the file again: out of order, 3 duplicates.
        let f = run(&[(1, 1.0), (2, 1.0), (3, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)]);
        let d: Vec<_> = f.iter().filter(|f| f.kind == Kind::Duplicate).collect();
        assert_eq!((d.len(), d[0].offset, d[0].count), (1, Some(30), 3));
        assert_eq!(f.iter().filter(|f| f.kind == Kind::OutOfOrder).count(), 2);
    }

    #[test]
    fn gaps_are_measured_from_the_latest_record() {
        let f = run(&[(0, 1.0), (100, 1.0), (50, 2.0), (500, 1.0)]);
        let g: Vec<_> = f.iter().filter(|f| f.kind == Kind::Gap).collect();
        assert_eq!((g.len(), g[0].offset, g[0].record), (1, Some(30), Some(4)));
        assert!(
            g[0].message.starts_with("no records for 400 s"),
            "{}",
            g[0].message
        );
    }
}
