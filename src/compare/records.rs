//! The second, targeted pass: for one stream-hour whose prints differ, read
//! just the files that hold its records on both sides (through the shared
//! scan) and match records one by one: equal records cancel out; what is
//! left on the old side is lost and on the new side extra, except that a
//! lost and an extra record at the same time (`ts`, or `st` when event
//! times are not compared), taken in arrival order, pair up as one changed
//! record. A change to the time itself therefore shows as lost + extra.

use super::allow::Basis;
use super::side::Side;
use crate::fingerprint::StreamHour;
use crate::scan::{self, Good, ScanOptions, Visit};
use crate::tick::{Field, Tick};
use serde::Serialize;
use std::collections::HashMap;

/// One record of the hour, where it lies.
#[derive(Debug, Clone, Copy)]
pub struct Rec {
    /// The record.
    pub tick: Tick,
    /// Its hashes as compared.
    pub hash: (u64, u64),
    /// File index on its side.
    pub file: u32,
    /// Byte offset.
    pub offset: u64,
    /// Line or frame number.
    pub index: u64,
}

struct Collect {
    basis: Basis,
    want: StreamHour,
    file: u32,
    out: Vec<Rec>,
}

impl Visit for Collect {
    fn record(&mut self, r: &Good<'_>) {
        if self.basis.hour_of(r.tick) == self.want {
            self.out.push(Rec {
                tick: *r.tick,
                hash: self.basis.hashes(r.tick),
                file: self.file,
                offset: r.offset,
                index: r.index,
            });
        }
    }
}

/// The records of one stream-hour on one side, in time order.
pub fn collect(side: &Side, h: &StreamHour, basis: Basis, opts: &ScanOptions) -> Vec<Rec> {
    let mut out = Vec::new();
    let Some(hs) = side.hours.get(h) else {
        return out;
    };
    for &(fi, _) in &hs.files {
        let Some(found) = side.files.get(fi as usize) else {
            continue;
        };
        let s = scan::scan_with(found, opts, &|| Collect {
            basis,
            want: *h,
            file: fi,
            out: Vec::new(),
        });
        for v in s.visits {
            out.extend(v.out);
        }
    }
    out.sort_by_key(|r| (basis.time(&r.tick), r.tick.st, r.file, r.offset));
    out
}

/// Where a differing record lies.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Place {
    /// File, relative to its store root.
    pub file: String,
    /// Byte offset (decompressed bytes for `.zst`).
    pub offset: u64,
    /// 1-based line or frame number.
    pub record: u64,
}

/// One differing record.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Detail {
    /// `lost`, `extra` or `changed`.
    pub change: &'static str,
    /// The record's time as matched (µs).
    pub ts: i64,
    /// On the old side.
    pub old: Option<Place>,
    /// On the new side.
    pub new: Option<Place>,
    /// The fields that differ (changed records).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<&'static str>,
}

/// What matching one hour's records found.
#[derive(Debug, Default, Clone)]
pub struct Matched {
    /// Old records with no counterpart.
    pub lost: u64,
    /// New records with no counterpart.
    pub extra: u64,
    /// Records present on both sides with another value.
    pub changed: u64,
    /// Silences longer than the maximum gap in the new records that the
    /// old records fill.
    pub new_gaps: u64,
    /// The first differing records, in time order.
    pub details: Vec<Detail>,
}

/// The fields in which two records differ, as compared.
fn diff_fields(a: &Tick, b: &Tick, basis: &Basis) -> Vec<&'static str> {
    let (a, b) = (basis.norm(a), basis.norm(b));
    let f = &basis.fields;
    let mut v = Vec::new();
    if f.ts && a.ts != b.ts {
        v.push("ts");
    }
    if f.st && a.st != b.st {
        v.push("st");
    }
    if f.rid && a.rid != b.rid {
        v.push("rid");
    }
    for x in Field::ALL {
        let (p, q) = (a.get(x), b.get(x));
        let eq = match (p, q) {
            (Some(p), Some(q)) => p == q,
            (None, None) => true,
            _ => false,
        };
        if !eq {
            v.push(x.key());
        }
    }
    let flag = |x: Option<bool>| x == Some(true);
    if flag(a.bpl) != flag(b.bpl) {
        v.push("bpl");
    }
    if flag(a.aph) != flag(b.aph) {
        v.push("aph");
    }
    if flag(a.upt) != flag(b.upt) {
        v.push("upt");
    }
    if f.past_limit && flag(a.past_limit) != flag(b.past_limit) {
        v.push("past_limit");
    }
    v
}

/// Matches an hour's old and new records (each in time order).
pub fn matched(
    old: &[Rec],
    new: &[Rec],
    basis: &Basis,
    max_gap_us: i64,
    details: usize,
    place: &dyn Fn(bool, &Rec) -> Place,
) -> Matched {
    // Cancel equal records: by hash, confirmed field by field.
    let mut by_hash: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
    for (i, r) in new.iter().enumerate() {
        by_hash.entry(r.hash).or_default().push(i);
    }
    for v in by_hash.values_mut() {
        v.reverse();
    }
    let mut new_used = vec![false; new.len()];
    let mut lost: Vec<&Rec> = Vec::new();
    for r in old {
        let hit = by_hash.get_mut(&r.hash).and_then(|v| {
            let pos = v.iter().rposition(|&j| basis.same(&r.tick, &new[j].tick))?;
            Some(v.remove(pos))
        });
        match hit {
            Some(j) => new_used[j] = true,
            None => lost.push(r),
        }
    }
    let extra: Vec<&Rec> = new
        .iter()
        .zip(&new_used)
        .filter(|(_, u)| !**u)
        .map(|(r, _)| r)
        .collect();
    // Pair what is left at equal times, in arrival order.
    let mut m = Matched::default();
    let (mut i, mut j) = (0, 0);
    let push = |m: &mut Matched, d: Detail| {
        if m.details.len() < details {
            m.details.push(d);
        }
    };
    while i < lost.len() || j < extra.len() {
        let ti = lost.get(i).map(|r| basis.time(&r.tick));
        let tj = extra.get(j).map(|r| basis.time(&r.tick));
        match (ti, tj) {
            (Some(a), Some(b)) if a == b => {
                m.changed += 1;
                push(
                    &mut m,
                    Detail {
                        change: "changed",
                        ts: a,
                        old: Some(place(true, lost[i])),
                        new: Some(place(false, extra[j])),
                        fields: diff_fields(&lost[i].tick, &extra[j].tick, basis),
                    },
                );
                i += 1;
                j += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                m.lost += 1;
                push(
                    &mut m,
                    Detail {
                        change: "lost",
                        ts: a,
                        old: Some(place(true, lost[i])),
                        new: None,
                        fields: Vec::new(),
                    },
                );
                i += 1;
            }
            (_, Some(b)) => {
                m.extra += 1;
                push(
                    &mut m,
                    Detail {
                        change: "extra",
                        ts: b,
                        old: None,
                        new: Some(place(false, extra[j])),
                        fields: Vec::new(),
                    },
                );
                j += 1;
            }
            (_, None) => break,
        }
    }
    m.new_gaps = new_gaps(old, new, basis, max_gap_us);
    m
}

/// Silences longer than `max_gap_us` between consecutive new records (or
/// between a side's records and nothing, when the new side has none) that
/// hold old records.
fn new_gaps(old: &[Rec], new: &[Rec], basis: &Basis, max_gap_us: i64) -> u64 {
    if new.is_empty() || old.is_empty() {
        return 0;
    }
    let times = |v: &[Rec]| -> Vec<i64> { v.iter().map(|r| basis.time(&r.tick)).collect() };
    let (o, n) = (times(old), times(new));
    let mut gaps = 0;
    for w in n.windows(2) {
        if w[1] - w[0] > max_gap_us {
            let lo = o.partition_point(|&t| t <= w[0]);
            if o.get(lo).is_some_and(|&t| t < w[1]) {
                gaps += 1;
            }
        }
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Format;
    use crate::tick::TickType;

    fn rec(basis: &Basis, ts: i64, st: i64, p: f64, offset: u64) -> Rec {
        let tick = Tick {
            ts,
            st,
            cid: 1,
            tt: TickType::Last,
            rid: 7,
            p: Some(p),
            s: Some(1.0),
            ..Tick::default()
        };
        Rec {
            tick,
            hash: basis.hashes(&tick),
            file: 0,
            offset,
            index: offset + 1,
        }
    }

    fn place(old: bool, r: &Rec) -> Place {
        Place {
            file: if old { "o" } else { "n" }.into(),
            offset: r.offset,
            record: r.index,
        }
    }

    #[test]
    fn same_second_differences_pair_up_in_arrival_order_and_the_rest_is_lost_or_extra() {
        let b = Basis::new(Format::V3Json, Format::V3Pb, &[]);
        let s = 1_754_010_000_000_000;
        // Second 1: two ticks; the second's price changed. Second 2: lost.
        // Second 3: an extra tick. Equal ticks in any order cancel.
        let old = vec![
            rec(&b, s, s + 5, 1.0, 0),
            rec(&b, s, s + 9, 2.0, 1),
            rec(&b, s + 1_000_000, s + 1_000_001, 3.0, 2),
        ];
        let new = vec![
            rec(&b, s, s + 5, 1.0, 0),
            rec(&b, s, s + 9, 2.5, 1),
            rec(&b, s + 2_000_000, s + 2_000_001, 4.0, 2),
        ];
        let m = matched(&old, &new, &b, 300_000_000, 10, &place);
        assert_eq!((m.lost, m.extra, m.changed, m.new_gaps), (1, 1, 1, 0));
        let changes: Vec<_> = m.details.iter().map(|d| (d.change, d.ts)).collect();
        assert_eq!(
            changes,
            vec![
                ("changed", s),
                ("lost", s + 1_000_000),
                ("extra", s + 2_000_000)
            ]
        );
        assert_eq!(m.details[0].fields, vec!["p"]);
        assert_eq!(m.details[0].old.as_ref().map(|p| p.offset), Some(1));
        // --details caps the list, not the counts.
        let m = matched(&old, &new, &b, 300_000_000, 1, &place);
        assert_eq!((m.details.len(), m.lost + m.extra + m.changed), (1, 3));
    }

    #[test]
    fn a_silence_the_old_records_fill_is_a_new_gap() {
        let b = Basis::new(Format::V3Json, Format::V3Json, &[]);
        let s = 1_754_010_000_000_000;
        let m = 60_000_000;
        let old: Vec<Rec> = (0..10)
            .map(|i| rec(&b, s + i * m, s + i * m, 1.0, i as u64))
            .collect();
        let new: Vec<Rec> = old
            .iter()
            .filter(|r| !(2..8).contains(&r.offset))
            .copied()
            .collect();
        let got = matched(&old, &new, &b, 300_000_000, 0, &place);
        assert_eq!((got.lost, got.new_gaps), (6, 1));
        // A silence the old store had too is not new.
        let sparse: Vec<Rec> = new.clone();
        assert_eq!(
            matched(&sparse, &new, &b, 300_000_000, 0, &place).new_gaps,
            0
        );
    }
}
