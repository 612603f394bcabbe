//! v3 JSON Lines codec: flat short keys `ts, st, cid, tt, rid, p, s, bp, bs,
//! ap, as, mp, bpl, aph, upt` (spec §6).

use super::json::{parse_f64, parse_int, Scanner, Value};
use super::{Decoded, EncodeError, Note, Notes, RecordError};
use crate::tick::{Field, Tick, TickType};
use std::io::Write as _;

const TS: u8 = 1;
const ST: u8 = 2;
const CID: u8 = 4;
const TT: u8 = 8;
const RID: u8 = 16;

/// Decodes one v3 JSON line (fast path for the recorder's exact shape,
/// general scanner for everything else).
pub fn decode(line: &[u8]) -> Result<Decoded, RecordError> {
    match super::v3_fast::decode(line) {
        Some(d) => Ok(d),
        None => decode_general(line),
    }
}

/// [`decode`] into a caller's record.
#[inline]
pub fn decode_into(line: &[u8], out: &mut Decoded) -> Result<(), RecordError> {
    if !super::v3_fast::decode_into(line, out) {
        *out = decode_general(line)?;
    }
    Ok(())
}

/// Decodes one v3 JSON line with the general scanner.
pub fn decode_general(line: &[u8]) -> Result<Decoded, RecordError> {
    let mut sc = Scanner::new(line);
    if !sc.at_object() {
        return Err(super::not_an_object(line));
    }
    let mut t = Tick::default();
    let mut notes = Notes::default();
    let mut seen = 0u8;
    sc.object(|s, key| -> Result<(), RecordError> {
        let v = s.value()?;
        match key {
            b"ts" => (t.ts, seen) = (int(v, "ts", &mut notes)?, seen | TS),
            b"st" => (t.st, seen) = (int(v, "st", &mut notes)?, seen | ST),
            b"cid" => (t.cid, seen) = (int(v, "cid", &mut notes)?, seen | CID),
            b"rid" => (t.rid, seen) = (int(v, "rid", &mut notes)?, seen | RID),
            b"tt" => (t.tt, seen) = (tick_type(v, &mut notes)?, seen | TT),
            b"p" => t.p = num(v, "p")?,
            b"s" => t.s = num(v, "s")?,
            b"bp" => t.bp = num(v, "bp")?,
            b"bs" => t.bs = num(v, "bs")?,
            b"ap" => t.ap = num(v, "ap")?,
            b"as" => t.as_ = num(v, "as")?,
            b"mp" => t.mp = num(v, "mp")?,
            b"bpl" => t.bpl = flag(v, "bpl", &mut notes)?,
            b"aph" => t.aph = flag(v, "aph", &mut notes)?,
            b"upt" => t.upt = flag(v, "upt", &mut notes)?,
            _ => notes.add(Note::UnknownKey),
        }
        Ok(())
    })?;
    sc.finish()?;
    for (bit, name) in [
        (TS, "ts"),
        (ST, "st"),
        (CID, "cid"),
        (TT, "tt"),
        (RID, "rid"),
    ] {
        if seen & bit == 0 {
            return Err(RecordError::MissingField(name));
        }
    }
    Ok(Decoded {
        tick: t,
        notes,
        extras: Default::default(),
    })
}

/// An integer field (integral floats accepted with a note).
pub(crate) fn int(
    v: Value<'_>,
    field: &'static str,
    notes: &mut Notes,
) -> Result<i64, RecordError> {
    match v {
        Value::Num(raw) => match parse_int(raw) {
            Some((i, float)) => {
                if float {
                    notes.add(Note::FloatInteger);
                }
                Ok(i)
            }
            None => Err(RecordError::BadValue {
                field,
                why: "is not an integer",
            }),
        },
        other => Err(RecordError::WrongType {
            field,
            found: other.type_name(),
        }),
    }
}

/// An optional number (`null` = absent; NaN/Infinity kept for the checks).
pub(crate) fn num(v: Value<'_>, field: &'static str) -> Result<Option<f64>, RecordError> {
    match v {
        Value::Num(raw) => Ok(parse_f64(raw)),
        Value::Null => Ok(None),
        other => Err(RecordError::WrongType {
            field,
            found: other.type_name(),
        }),
    }
}

/// An optional flag: `true`/`false`, and `0`/`1`/`null` with a note (spec §6).
pub(crate) fn flag(
    v: Value<'_>,
    field: &'static str,
    notes: &mut Notes,
) -> Result<Option<bool>, RecordError> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => {
            notes.add(Note::NonBoolFlag);
            Ok(None)
        }
        Value::Num(raw) => {
            notes.add(Note::NonBoolFlag);
            match parse_f64(raw) {
                Some(f) => Ok(Some(f != 0.0)),
                None => Err(RecordError::BadValue {
                    field,
                    why: "is not a flag",
                }),
            }
        }
        other => Err(RecordError::WrongType {
            field,
            found: other.type_name(),
        }),
    }
}

/// A tick-type string: storage names, or TWS PascalCase with a note.
pub(crate) fn tick_type(v: Value<'_>, notes: &mut Notes) -> Result<TickType, RecordError> {
    match v {
        Value::Str { raw, .. } => tick_type_bytes(raw, notes),
        other => Err(RecordError::WrongType {
            field: "tt",
            found: other.type_name(),
        }),
    }
}

pub(crate) fn tick_type_bytes(raw: &[u8], notes: &mut Notes) -> Result<TickType, RecordError> {
    if let Some(t) = TickType::from_storage_name(raw) {
        return Ok(t);
    }
    if let Some(t) = TickType::from_tws_name(raw) {
        notes.add(Note::PascalTickType);
        return Ok(t);
    }
    Err(RecordError::UnknownTickType(
        String::from_utf8_lossy(raw).into_owned(),
    ))
}

/// Writes a float the way Python's `repr` does for the values the recorder
/// stores (shortest round trip, `.0` on integral values).
pub(crate) fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"Infinity" } else { b"-Infinity" });
    } else if f != 0.0 && !(1e-4..1e16).contains(&f.abs()) {
        // Python's repr: the same shortest digits and the same switch to
        // exponent form, but a signed exponent of at least two digits
        // (`1e-05`, `1.5e+16`).
        let s = format!("{f:?}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        let _ = write!(out, "{m}e{sign}{digits:0>2}");
    } else {
        let _ = write!(out, "{f:?}");
    }
}

/// Appends one v3 JSON line (key order of spec §6; flags when present,
/// `false` included, so a record read back keys the same).
pub fn encode(t: &Tick, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let _ = write!(
        out,
        r#"{{"ts":{},"st":{},"cid":{},"tt":"{}","rid":{}"#,
        t.ts, t.st, t.cid, t.tt, t.rid
    );
    for f in Field::ALL {
        if let Some(v) = t.get(f) {
            let _ = write!(out, r#","{}":"#, f.key());
            write_float(out, v);
        }
    }
    for (name, b) in [("bpl", t.bpl), ("aph", t.aph), ("upt", t.upt)] {
        if let Some(b) = b {
            let _ = write!(out, r#","{name}":{b}"#);
        }
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &[u8] = br#"{"ts":1754010291910988,"st":1754010291911004,"cid":711280073,"tt":"bid_ask","rid":1014076394,"bp":23260.0,"bs":4.0,"ap":23260.5,"as":2.0}"#;

    #[test]
    fn decodes_spec_example_and_round_trips_bytes() {
        let d = decode(FIXTURE).unwrap();
        assert_eq!(d.tick.ts, 1_754_010_291_910_988);
        assert_eq!(d.tick.cid, 711_280_073);
        assert_eq!(d.tick.tt, TickType::BidAsk);
        assert_eq!((d.tick.bp, d.tick.as_), (Some(23260.0), Some(2.0)));
        assert_eq!(d.notes, Notes::default());
        let mut out = Vec::new();
        encode(&d.tick, &mut out).unwrap();
        assert_eq!(&out[..out.len() - 1], FIXTURE);
    }

    #[test]
    fn floats_as_python_writes_them_and_false_flags_kept() {
        let cases: [(f64, &str); 10] = [
            (1e-5, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e16, "1e+16"),
            (1.25e17, "1.25e+17"),
            (-2e-100, "-2e-100"),
            (1e-4, "0.0001"),
            (9999999999999998.0, "9999999999999998.0"),
            (100.0, "100.0"),
            (0.0, "0.0"),
            (23260.5, "23260.5"),
        ];
        for (f, want) in cases {
            let mut out = Vec::new();
            write_float(&mut out, f);
            assert_eq!(std::str::from_utf8(&out).unwrap(), want);
            let back: f64 = want.parse().unwrap();
            assert_eq!(back.to_bits(), f.to_bits());
        }
        let t = Tick {
            bpl: Some(false),
            aph: Some(true),
            bs: Some(1e-5),
            ..Tick::default()
        };
        let mut out = Vec::new();
        encode(&t, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"ts\":0,\"st\":0,\"cid\":0,\"tt\":\"bid_ask\",\"rid\":0,\"bs\":1e-05,\"bpl\":false,\"aph\":true}\n"
        );
        assert_eq!(decode(&out[..out.len() - 1]).unwrap().tick, t);
    }

    #[test]
    fn errors_name_the_field() {
        let missing = br#"{"ts":1,"st":2,"cid":3,"tt":"last"}"#;
        assert_eq!(
            decode(missing).unwrap_err(),
            RecordError::MissingField("rid")
        );
        let string_price = br#"{"ts":1,"st":2,"cid":3,"tt":"last","rid":0,"p":"1.5"}"#;
        assert_eq!(
            decode(string_price).unwrap_err(),
            RecordError::WrongType {
                field: "p",
                found: "string"
            }
        );
        let tt = br#"{"ts":1,"st":2,"cid":3,"tt":"trades","rid":0}"#;
        assert_eq!(
            decode(tt).unwrap_err(),
            RecordError::UnknownTickType("trades".into())
        );
    }

    #[test]
    fn nan_and_oddities_decode_with_notes() {
        let l = br#"{"ts":1.0e15,"st":2,"cid":3,"tt":"Last","rid":0,"p":NaN,"upt":0,"zz":1}"#;
        let d = decode(l).unwrap();
        assert!(d.tick.p.unwrap().is_nan());
        assert_eq!(d.tick.ts, 1_000_000_000_000_000);
        for n in [
            Note::FloatInteger,
            Note::PascalTickType,
            Note::NonBoolFlag,
            Note::UnknownKey,
        ] {
            assert!(d.notes.has(n), "{n:?}");
        }
        assert_eq!(d.tick.upt, Some(false));
    }
}
