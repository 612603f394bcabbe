//! Time continuity inside one file: out-of-order records, exact duplicates,
//! and silences longer than the configured maximum gap.

use crate::report::{Finding, Kind};
use crate::tick::Tick;
use crate::time::{self, US};

/// Running state over one file's records, in file order.
#[derive(Debug, Default)]
pub struct Continuity {
    max_ts: Option<i64>,
    /// First and last ts in file order statistics.
    pub min_ts: Option<i64>,
    keys: Vec<(u64, u64, u64)>,
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
        self.keys.push((t.dedup_key(), offset, index));
        self.min_ts = Some(self.min_ts.map_or(t.ts, |m| m.min(t.ts)));
        match self.max_ts {
            Some(m) if t.ts < m => {
                out(Finding::new(
                    Kind::OutOfOrder,
                    file,
                    format!(
                        "ts {} is earlier than a record before it ({})",
                        time::display_us(t.ts),
                        time::display_us(m)
                    ),
                )
                .at(offset, Some(index)));
            }
            Some(m) => {
                if t.ts - m > max_gap_us {
                    self.gaps += 1;
                    out(Finding::new(
                        Kind::Gap,
                        file,
                        format!(
                            "no records for {} s, from {} to {}",
                            (t.ts - m) / US,
                            time::display_us(m),
                            time::display_us(t.ts)
                        ),
                    )
                    .at(offset, Some(index)));
                }
                self.max_ts = Some(t.ts);
            }
            None => self.max_ts = Some(t.ts),
        }
    }

    /// Latest ts seen.
    pub fn max_ts(&self) -> Option<i64> {
        self.max_ts
    }

    /// Reports exact duplicates (same everything but `st`).
    pub fn finish(mut self, file: &str, out: &mut impl FnMut(Finding)) {
        self.keys.sort_unstable();
        let mut count = 0u64;
        let mut first: Option<(u64, u64)> = None;
        for w in self.keys.windows(2) {
            if w[0].0 == w[1].0 {
                count += 1;
                if first.is_none_or(|(o, _)| w[1].1 < o) {
                    first = Some((w[1].1, w[1].2));
                }
            }
        }
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
