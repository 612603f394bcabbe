//! Order-independent fingerprints of a stream-hour's records, restricted to
//! the fields two formats can both hold: what `convert` verifies its output
//! with and what `compare` compares two stores by.
//!
//! A record's hash covers only the [`Fields`] both sides carry, in canonical
//! form: flags as set / not set (`None` and `false` are the same, as a v3
//! writer omits `false`), numbers as `f64` bits (an integral size written
//! `100` and `100.0` is one value). An hour's [`HourPrint`] is the record
//! count, first and last event time, and two independent wrapping sums of
//! record hashes (128 bits): equal multisets of records give equal prints
//! whatever their order or file, and any lost, extra or changed record
//! changes them.

use crate::format::Format;
use crate::tick::{Field, Tick, TickType};
use crate::time::{HOUR, US};
use serde::Serialize;

/// Which fields of a [`Tick`] a comparison covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fields {
    /// The IB event time `ts` (v2 protobuf has none: its `ts` is the
    /// envelope time).
    pub ts: bool,
    /// The system time `st`.
    pub st: bool,
    /// The request id.
    pub rid: bool,
    /// v2 `past_limit` (no v3 field).
    pub past_limit: bool,
}

impl Fields {
    /// Every field.
    pub const ALL: Fields = Fields {
        ts: true,
        st: true,
        rid: true,
        past_limit: true,
    };

    /// The fields both formats hold.
    pub fn common(a: Format, b: Format) -> Self {
        let v2pb = a == Format::V2Pb || b == Format::V2Pb;
        Self {
            ts: !v2pb || a == b,
            st: true,
            rid: true,
            past_limit: !a.is_v3() && !b.is_v3(),
        }
    }

    /// The time a record is grouped by: its event time, or (when event
    /// times are not comparable) its system time.
    pub fn time(&self, t: &Tick) -> i64 {
        if self.ts {
            t.ts
        } else {
            t.st
        }
    }
}

/// A stream-hour: contract, tick type, and the UTC hour (epoch seconds) of
/// [`Fields::time`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StreamHour {
    /// Contract id.
    pub cid: i64,
    /// Tick type.
    pub tt: TickType,
    /// Hour start, epoch seconds.
    pub hour: i64,
}

impl StreamHour {
    /// The stream-hour of a record.
    pub fn of(t: &Tick, f: &Fields) -> Self {
        let sec = f.time(t).div_euclid(US);
        Self {
            cid: t.cid,
            tt: t.tt,
            hour: sec - sec.rem_euclid(HOUR),
        }
    }
}

/// The fingerprint of a set of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct HourPrint {
    /// Records.
    pub count: u64,
    /// Earliest [`Fields::time`].
    pub first: Option<i64>,
    /// Latest [`Fields::time`].
    pub last: Option<i64>,
    /// Wrapping sum of the records' first hashes.
    pub sum_a: u64,
    /// Wrapping sum of the records' second hashes.
    pub sum_b: u64,
}

impl HourPrint {
    /// Adds one record.
    pub fn add(&mut self, t: &Tick, f: &Fields) {
        let (a, b) = record_hashes(t, f);
        let time = f.time(t);
        self.count += 1;
        self.first = Some(self.first.map_or(time, |x| x.min(time)));
        self.last = Some(self.last.map_or(time, |x| x.max(time)));
        self.sum_a = self.sum_a.wrapping_add(a);
        self.sum_b = self.sum_b.wrapping_add(b);
    }

    /// Adds another set.
    pub fn merge(&mut self, o: &HourPrint) {
        self.count += o.count;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sum_a = self.sum_a.wrapping_add(o.sum_a);
        self.sum_b = self.sum_b.wrapping_add(o.sum_b);
    }
}

/// The canonical words of a record over `f`.
fn words(t: &Tick, f: &Fields) -> [u64; 13] {
    let flag = |b: Option<bool>| u64::from(b == Some(true));
    let mut w = [0u64; 13];
    w[0] = if f.ts { t.ts as u64 } else { 0 };
    w[1] = if f.st { t.st as u64 } else { 0 };
    w[2] = t.cid as u64;
    w[3] = t.tt as u64;
    w[4] = if f.rid { t.rid as u64 } else { 0 };
    // Which payload fields are present, apart from their values (an absent
    // field and any value, every NaN bit pattern included, differ).
    let mut present = 0u64;
    for (i, field) in Field::ALL.iter().enumerate() {
        // -0.0 and 0.0 are one value, and every NaN one NaN (a NaN's
        // payload bits are not data; JSON writes one NaN).
        w[5 + i] = t.get(*field).map_or(0, |v| {
            present |= 1 << i;
            if v == 0.0 {
                0
            } else if v.is_nan() {
                f64::NAN.to_bits()
            } else {
                v.to_bits()
            }
        });
    }
    w[12] = flag(t.bpl)
        | flag(t.aph) << 1
        | flag(t.upt) << 2
        | if f.past_limit {
            flag(t.past_limit) << 3
        } else {
            0
        }
        | present << 8;
    w
}

/// Two independent 64-bit hashes of a record's canonical words: each word
/// pair is folded (64×64→128-bit multiply) with keys of its own position,
/// the folds summed and the sum finished with [`mix`]; the second hash uses
/// other keys. The folds do not depend on each other, so the CPU runs them
/// side by side (a chain of folds cost three times as much per record).
pub fn record_hashes(t: &Tick, f: &Fields) -> (u64, u64) {
    const PAIRS: usize = 7;
    /// Four keys per pair: SplitMix64's sequence from a fixed seed.
    const KEYS: [u64; 4 * PAIRS] = {
        let mut k = [0u64; 4 * PAIRS];
        let mut state: u64 = 0x243F_6A88_85A3_08D3;
        let mut i = 0;
        while i < k.len() {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            k[i] = z ^ (z >> 31);
            i += 1;
        }
        k
    };
    let w = words(t, f);
    let (mut a, mut b) = (0u64, 0u64);
    for p in 0..PAIRS {
        let x = w[2 * p];
        let y = if 2 * p + 1 < w.len() {
            w[2 * p + 1]
        } else {
            w.len() as u64
        };
        let k = &KEYS[4 * p..4 * p + 4];
        a = a.wrapping_add(fold(x ^ k[0], y ^ k[1]));
        b = b.wrapping_add(fold(x ^ k[2], y ^ k[3]));
    }
    (mix(a), mix(b ^ 0x9E37_79B9_7F4A_7C15))
}

/// The folded multiply: both halves of the 128-bit product, xored.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A strong 64-bit finaliser (SplitMix64's).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether two records are equal over `f` (the exact check behind a hash).
pub fn same(a: &Tick, b: &Tick, f: &Fields) -> bool {
    words(a, f) == words(b, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> Tick {
        Tick {
            ts: 1_754_010_001_000_000,
            st: 1_754_010_001_000_300,
            cid: 7,
            tt: TickType::BidAsk,
            rid: 60_001,
            bp: Some(1.5),
            bs: Some(100.0),
            ap: Some(1.75),
            as_: Some(2.0),
            bpl: Some(false),
            past_limit: Some(true),
            ..Tick::default()
        }
    }

    #[test]
    fn order_independent_and_sensitive_to_every_change() {
        let a = tick();
        let b = Tick { bs: Some(3.0), ..a };
        let mut x = HourPrint::default();
        x.add(&a, &Fields::ALL);
        x.add(&b, &Fields::ALL);
        let mut y = HourPrint::default();
        y.add(&b, &Fields::ALL);
        y.add(&a, &Fields::ALL);
        assert_eq!(x, y);
        let mut z = HourPrint::default();
        z.add(&a, &Fields::ALL);
        z.add(&Tick { bs: Some(3.5), ..a }, &Fields::ALL);
        assert_ne!(x, z);
    }

    #[test]
    fn absent_differs_from_every_value_and_nans_are_one() {
        let a = Tick { bp: None, ..tick() };
        for v in [0.0, -0.0, f64::from_bits(u64::MAX - 7), f64::NAN, 1.5] {
            assert!(!same(&a, &Tick { bp: Some(v), ..a }, &Fields::ALL), "{v}");
        }
        let nan = |bits| Tick {
            bp: Some(f64::from_bits(bits)),
            ..a
        };
        assert!(same(
            &nan(0x7ff8_0000_0000_0001),
            &nan(f64::NAN.to_bits()),
            &Fields::ALL
        ));
        assert_eq!(
            record_hashes(&nan(0xfff8_0000_0000_0000), &Fields::ALL),
            record_hashes(&nan(0x7ff8_0000_0000_0000), &Fields::ALL)
        );
    }

    #[test]
    fn what_a_pair_cannot_hold_is_not_compared() {
        let a = tick();
        // v3 omits `false` flags and has no past_limit.
        let v3 = Tick {
            bpl: None,
            past_limit: None,
            ..a
        };
        let f = Fields::common(Format::V2Json, Format::V3Pb);
        assert!(same(&a, &v3, &f) && !same(&a, &v3, &Fields::ALL));
        // v2 protobuf has no event time: its ts is the envelope time.
        let pb = Tick { ts: a.st, ..a };
        let f = Fields::common(Format::V2Json, Format::V2Pb);
        assert!(same(&a, &pb, &f));
        assert_eq!(StreamHour::of(&a, &f).hour, 1_754_010_000);
    }

    #[test]
    fn each_hash_alone_tells_close_records_apart() {
        use std::collections::HashSet;
        let a = tick();
        let (mut ha, mut hb) = (HashSet::new(), HashSet::new());
        let mut n = 0;
        for i in 0..200i64 {
            for j in 0..250i64 {
                let t = Tick {
                    ts: a.ts + i,
                    bs: Some(j as f64),
                    rid: a.rid + (i * j) % 3,
                    ..a
                };
                let (x, y) = record_hashes(&t, &Fields::ALL);
                ha.insert(x);
                hb.insert(y);
                n += 1;
            }
        }
        assert_eq!((ha.len(), hb.len()), (n, n));
    }
}
