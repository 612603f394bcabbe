//! What a comparison compares: the fields both formats hold
//! ([`Fields::common`]) narrowed by the allowances for the known lossy
//! mappings (spec §9.3, §16), and the tally of values a mapping loses.

use crate::fingerprint::{self, Fields, HourPrint, StreamHour};
use crate::format::Format;
use crate::tick::{Tick, TickType};
use serde::Serialize;

/// A known lossy mapping that `--allow` can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allowance {
    /// v2 protobuf has no IB event time: old records' `ts` is lost when the
    /// new store is v2 protobuf.
    NoIbTime,
    /// v2 → v3 drops `past_limit` (and `exchange`, `conditions`, which the
    /// canonical record does not carry at all).
    V3Drops,
    /// The recorder's converter lost `mid_point` values: `mp` of mid-point
    /// records is not compared.
    MidValue,
    /// The recorder's converter replaced `st` by the conversion time: `st`
    /// is not compared.
    StReplaced,
}

impl Allowance {
    /// All allowances.
    pub const ALL: [Allowance; 4] = [
        Self::NoIbTime,
        Self::V3Drops,
        Self::MidValue,
        Self::StReplaced,
    ];

    /// The command-line and report name.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoIbTime => "no-ib-time",
            Self::V3Drops => "v3-drops",
            Self::MidValue => "mid-value",
            Self::StReplaced => "st-replaced",
        }
    }

    /// What it accepts, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoIbTime => "v2 protobuf holds no IB event time (ts)",
            Self::V3Drops => "v3 has no past_limit, exchange or conditions",
            Self::MidValue => "mid_point values lost by the recorder's converter (mp not compared)",
            Self::StReplaced => "st replaced by the conversion time (st not compared)",
        }
    }
}

/// How records are compared: the fields, and which values are set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Basis {
    /// Fields hashed.
    pub fields: Fields,
    /// `mp` of mid-point records set aside (`--allow mid-value`).
    pub strip_mid: bool,
    /// Old format.
    #[serde(skip)]
    pub old: Format,
    /// New format.
    #[serde(skip)]
    pub new: Format,
}

impl Basis {
    /// The basis for two formats under the given allowances.
    pub fn new(old: Format, new: Format, allow: &[Allowance]) -> Self {
        let mut fields = Fields::common(old, new);
        if allow.contains(&Allowance::StReplaced) {
            fields.st = false;
        }
        Self {
            fields,
            strip_mid: allow.contains(&Allowance::MidValue),
            old,
            new,
        }
    }

    /// The record as compared.
    #[inline]
    pub fn norm(&self, t: &Tick) -> Tick {
        if self.strip_mid && t.tt == TickType::MidPoint {
            Tick { mp: None, ..*t }
        } else {
            *t
        }
    }

    /// The record's stream-hour.
    #[inline]
    pub fn hour_of(&self, t: &Tick) -> StreamHour {
        StreamHour::of(t, &self.fields)
    }

    /// Adds a record to a print.
    #[inline]
    pub fn add(&self, p: &mut HourPrint, t: &Tick) {
        if self.strip_mid && t.tt == TickType::MidPoint {
            p.add(&self.norm(t), &self.fields);
        } else {
            p.add(t, &self.fields);
        }
    }

    /// The record's two hashes.
    #[inline]
    pub fn hashes(&self, t: &Tick) -> (u64, u64) {
        fingerprint::record_hashes(&self.norm(t), &self.fields)
    }

    /// Whether two records are equal as compared.
    pub fn same(&self, a: &Tick, b: &Tick) -> bool {
        fingerprint::same(&self.norm(a), &self.norm(b), &self.fields)
    }

    /// The time records are matched and grouped by.
    #[inline]
    pub fn time(&self, t: &Tick) -> i64 {
        self.fields.time(t)
    }

    /// Names of the fields not compared.
    pub fn not_compared(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if !self.fields.ts {
            v.push("ts");
        }
        if !self.fields.st {
            v.push("st");
        }
        if !self.fields.past_limit {
            v.push("past_limit");
        }
        if self.strip_mid {
            v.push("mp of mid_point");
        }
        v
    }

    /// The mapping losses these formats imply: the allowance that covers
    /// each, whether it applies.
    pub fn mappings(&self) -> Vec<Allowance> {
        let mut v = Vec::new();
        if self.new == Format::V2Pb && self.old != Format::V2Pb {
            v.push(Allowance::NoIbTime);
        }
        if self.new.is_v3() && !self.old.is_v3() {
            v.push(Allowance::V3Drops);
        }
        v
    }
}

/// Values of old records that a format mapping loses, counted in the first
/// pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Lossy {
    /// Records whose IB time differs from their system time (lost when the
    /// new side is v2 protobuf).
    pub ib_time: u64,
    /// Records with `past_limit` set (lost in v3).
    pub past_limit: u64,
    /// Mid-point records with a value.
    pub mid_values: u64,
}

impl Lossy {
    /// Counts one record.
    #[inline]
    pub fn count(&mut self, t: &Tick) {
        self.ib_time += u64::from(t.ts != t.st);
        self.past_limit += u64::from(t.past_limit == Some(true));
        self.mid_values += u64::from(t.tt == TickType::MidPoint && t.mp.is_some());
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &Lossy) {
        self.ib_time += o.ib_time;
        self.past_limit += o.past_limit;
        self.mid_values += o.mid_values;
    }
}

/// One line of the allowance table: a lossy mapping, how many old values
/// it affects, and whether `--allow` accepted it.
#[derive(Debug, Clone, Serialize)]
pub struct MappingLoss {
    /// The allowance that covers it.
    pub kind: Allowance,
    /// What it is.
    pub what: &'static str,
    /// Old values affected (records).
    pub records: u64,
    /// Whether `--allow` named it.
    pub allowed: bool,
}

/// The mapping losses of a run from both sides' tallies.
pub fn losses(basis: &Basis, allow: &[Allowance], old: &Lossy, new: &Lossy) -> Vec<MappingLoss> {
    let mut out = Vec::new();
    for kind in basis.mappings() {
        let records = match kind {
            Allowance::NoIbTime => old.ib_time,
            Allowance::V3Drops => old.past_limit,
            _ => 0,
        };
        out.push(MappingLoss {
            kind,
            what: kind.describe(),
            records,
            allowed: allow.contains(&kind),
        });
    }
    for &kind in allow {
        if out.iter().any(|m| m.kind == kind) {
            continue;
        }
        let records = match kind {
            Allowance::MidValue => old.mid_values.saturating_sub(new.mid_values),
            _ => 0,
        };
        out.push(MappingLoss {
            kind,
            what: kind.describe(),
            records,
            allowed: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowances_narrow_the_fields() {
        let b = Basis::new(Format::V2Json, Format::V3Pb, &[Allowance::StReplaced]);
        assert!(b.fields.ts && !b.fields.st && !b.fields.past_limit);
        assert_eq!(b.mappings(), vec![Allowance::V3Drops]);
        assert_eq!(b.not_compared(), vec!["st", "past_limit"]);
        let mid = Tick {
            tt: TickType::MidPoint,
            mp: Some(2.0),
            ..Tick::default()
        };
        let empty = Tick { mp: None, ..mid };
        assert!(!b.same(&mid, &empty));
        let b = Basis::new(Format::V2Json, Format::V3Pb, &[Allowance::MidValue]);
        assert!(b.same(&mid, &empty));
        let pb = Basis::new(Format::V3Pb, Format::V2Pb, &[]);
        assert_eq!(pb.mappings(), vec![Allowance::NoIbTime]);
    }
}
