//! v2 JSON Lines codec: the `{type, stream_id, timestamp, data, metadata}`
//! envelope with every `data` variant of spec §3.1 (live formatter, test
//! script, reverse-mapped, doc samples).
//!
//! Mapping to the canonical tick (spec §9.3, made total): `cid`/`tt` from
//! `metadata` first, then `data`; `ts` from `data.unix_time` (seconds below
//! 10^12, else µs), else the envelope time; `st` = envelope time; `rid` =
//! `metadata.request_id` or 0; mid value from `midpoint`, `mid_price` or
//! `mid_point`.

use super::json::{parse_int, Scanner, Value};
use super::v2_side::{self, Extras};
use super::v3_json::{flag, num, tick_type_bytes, write_float};
use super::{Decoded, EncodeError, Note, Notes, RecordError};
use crate::tick::{Field, Tick, TickType};
use crate::time;
use std::io::Write as _;

/// Below this, `unix_time` is seconds (the factory's threshold, spec §9.2).
const SECONDS_LIMIT: i64 = 1_000_000_000_000;

#[derive(Default)]
struct Parts<'a> {
    is_tick: Option<bool>,
    envelope_us: Option<i64>,
    meta_cid: Option<i64>,
    meta_tt: Option<TickType>,
    meta_rid: Option<i64>,
    data_cid: Option<i64>,
    data_tt: Option<TickType>,
    data_kind: Option<TickType>,
    /// `data.type` was `time_sales` (trades: `last` or `all_last`).
    data_kind_sales: bool,
    unix_time: Option<(i64, bool)>,
    has_data: bool,
    /// The envelope `stream_id` (an unescaped string), checked once the
    /// ids are known.
    stream_id: Option<&'a [u8]>,
    extras: Extras,
}

/// Decodes one v2 JSON envelope line.
pub fn decode(line: &[u8]) -> Result<Decoded, RecordError> {
    let mut sc = Scanner::new(line);
    if !sc.at_object() {
        return Err(super::not_an_object(line));
    }
    let mut t = Tick::default();
    let mut notes = Notes::default();
    let mut p = Parts::default();
    sc.object(|s, key| -> Result<(), RecordError> {
        let key = key_of(key);
        match &*key {
            b"data" if s.at_object() => {
                p.has_data = true;
                s.object(|s, k| data_member(s, &key_of(k), &mut t, &mut p, &mut notes))
            }
            b"metadata" if s.at_object() => {
                s.object(|s, k| meta_member(s, &key_of(k), &mut p, &mut notes))
            }
            _ => {
                let v = s.value()?;
                match &*key {
                    b"type" => p.is_tick = Some(matches!(v, Value::Str { raw: b"tick", .. })),
                    b"timestamp" => p.envelope_us = envelope_time(v, &mut notes)?,
                    b"data" => {
                        return Err(RecordError::WrongType {
                            field: "data",
                            found: v.type_name(),
                        })
                    }
                    b"stream_id" => {
                        p.stream_id = match v {
                            Value::Str {
                                raw,
                                escaped: false,
                            } => Some(raw),
                            Value::Str { escaped: true, .. } => {
                                p.extras.set(Extras::RECHECK, true);
                                None
                            }
                            Value::Null => None,
                            // No format has a place for another type.
                            _ => {
                                p.extras.set(Extras::UNKNOWN, true);
                                None
                            }
                        }
                    }
                    // `metadata` that is not an object, and any other key.
                    _ => p.extras.set(Extras::UNKNOWN, true),
                }
                Ok(())
            }
        }
    })?;
    sc.finish()?;
    match p.is_tick {
        None => return Err(RecordError::MissingField("type")),
        Some(false) => return Err(RecordError::OtherMessage),
        Some(true) => {}
    }
    if !p.has_data {
        return Err(RecordError::MissingField("data"));
    }
    resolve(&mut t, &p, &mut notes)?;
    let mut extras = p.extras;
    let other_cid = p.data_cid.is_some_and(|c| c != 0 && c != t.cid);
    let other_kind = p
        .data_kind
        .is_some_and(|k| k != t.tt && !(p.data_kind_sales && t.tt == TickType::AllLast));
    extras.set(
        Extras::IDS,
        other_cid || other_kind || p.data_tt.is_some_and(|tt| tt != t.tt),
    );
    if let Some(raw) = p.stream_id {
        // The scanner checked the string's UTF-8.
        let derived = std::str::from_utf8(raw).is_ok_and(|s| v2_side::stream_id_is_derived(s, &t));
        extras.set(Extras::STREAM_ID, !derived);
    }
    Ok(Decoded {
        tick: t,
        notes,
        extras,
    })
}

/// A key as every JSON reader (the recorder's included) reads it: its
/// escapes decoded (rare; only then allocated).
pub(super) fn key_of(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if raw.contains(&b'\\') {
        if let Some(k) = super::json::unescape(raw) {
            return std::borrow::Cow::Owned(k.into_bytes());
        }
    }
    std::borrow::Cow::Borrowed(raw)
}

fn resolve(t: &mut Tick, p: &Parts<'_>, notes: &mut Notes) -> Result<(), RecordError> {
    if p.meta_cid.is_none() && p.data_cid.is_some() || p.meta_tt.is_none() && p.data_tt.is_some() {
        notes.add(Note::IdsFromData);
    }
    t.cid = p.meta_cid.or(p.data_cid).unwrap_or(0);
    t.tt = p
        .meta_tt
        .or(p.data_tt)
        .or(p.data_kind)
        .ok_or(RecordError::MissingField("tick_type"))?;
    t.rid = p.meta_rid.unwrap_or(0);
    // The recorder's v2 reader skips a line without a parseable envelope
    // time (spec §11), whatever `data` holds: so does this decoder.
    t.st = p
        .envelope_us
        .ok_or(RecordError::MissingField("timestamp"))?;
    t.ts = match p.unix_time {
        Some((u, _)) if u.abs() < SECONDS_LIMIT => u * time::US,
        Some((u, _)) => {
            notes.add(Note::MicrosUnixTime);
            u
        }
        None => {
            notes.add(Note::NoEventTime);
            t.st
        }
    };
    Ok(())
}

fn envelope_time(v: Value<'_>, notes: &mut Notes) -> Result<Option<i64>, RecordError> {
    let Value::Str { raw, .. } = v else {
        return Err(RecordError::WrongType {
            field: "timestamp",
            found: v.type_name(),
        });
    };
    match time::parse_iso(raw) {
        Some((us, zone)) => {
            if zone == time::Zone::OffsetZ {
                notes.add(Note::OffsetZ);
            }
            Ok(Some(us))
        }
        None => Err(RecordError::BadValue {
            field: "timestamp",
            why: "is not an ISO-8601 time with a zone",
        }),
    }
}

fn data_member(
    s: &mut Scanner<'_>,
    k: &[u8],
    t: &mut Tick,
    p: &mut Parts<'_>,
    notes: &mut Notes,
) -> Result<(), RecordError> {
    let v = s.value()?;
    match k {
        b"contract_id" => p.data_cid = Some(id(v, "contract_id")?),
        // `Last`/`AllLast` here is the live formatter's normal shape (spec §3.1 A).
        b"tick_type" => p.data_tt = Some(tt(v, "tick_type", &mut Notes::default())?),
        b"type" => {
            p.data_kind_sales = false;
            p.data_kind = match v {
                Value::Str {
                    raw: b"bid_ask", ..
                } => Some(TickType::BidAsk),
                Value::Str {
                    raw: b"midpoint", ..
                } => Some(TickType::MidPoint),
                Value::Str {
                    raw: b"time_sales", ..
                } => {
                    p.data_kind_sales = true;
                    Some(TickType::Last)
                }
                v @ Value::Str { .. } => Some(tt(v, "type", notes)?),
                other => {
                    return Err(RecordError::WrongType {
                        field: "type",
                        found: other.type_name(),
                    })
                }
            }
        }
        b"unix_time" => match v {
            Value::Num(raw) => {
                let u = parse_int(raw).ok_or(RecordError::BadValue {
                    field: "unix_time",
                    why: "is not a whole number",
                })?;
                p.unix_time = Some(u);
            }
            Value::Null => {}
            other => {
                return Err(RecordError::WrongType {
                    field: "unix_time",
                    found: other.type_name(),
                })
            }
        },
        b"bid_price" => t.bp = num(v, "bid_price")?,
        b"bid_size" => t.bs = num(v, "bid_size")?,
        b"ask_price" => t.ap = num(v, "ask_price")?,
        b"ask_size" => t.as_ = num(v, "ask_size")?,
        b"price" => t.p = num(v, "price")?,
        b"size" => t.s = num(v, "size")?,
        b"midpoint" | b"mid_price" | b"mid_point" => t.mp = num(v, "midpoint")?,
        b"bid_past_low" => t.bpl = flag(v, "bid_past_low", notes)?,
        b"ask_past_high" => t.aph = flag(v, "ask_past_high", notes)?,
        b"unreported" => t.upt = flag(v, "unreported", notes)?,
        b"past_limit" => t.past_limit = flag(v, "past_limit", notes)?,
        // The keys of [`v2_side::data_key_known`] not matched above.
        b"exchange" | b"conditions" | b"sequence" | b"timestamp" => {
            data_extras(k, v, &mut p.extras)
        }
        _ => p.extras.set(Extras::UNKNOWN, true),
    }
    Ok(())
}

/// Notes what a `data` member holds that no v3 field carries (see
/// [`v2_side::Extras`]; the same reading as [`v2_side::decode_json`]).
fn data_extras(k: &[u8], v: Value<'_>, e: &mut Extras) {
    // A value the bits depend on as a string: `Some(raw)` when unescaped;
    // an escaped one is left to the full decode, another type (not null)
    // has no place anywhere.
    let text = |e: &mut Extras, bit: u16| match v {
        Value::Str {
            raw,
            escaped: false,
        } => Some(raw),
        Value::Str { escaped: true, .. } => {
            e.set(Extras::RECHECK, true);
            e.set(bit, false);
            None
        }
        Value::Null => None,
        _ => {
            e.set(Extras::UNKNOWN, true);
            None
        }
    };
    match k {
        b"exchange" => {
            let on = text(e, Extras::EXCHANGE).is_some_and(|r| !r.is_empty());
            e.set(Extras::EXCHANGE, on);
        }
        b"conditions" => match v {
            Value::Container => e.set(Extras::RECHECK, true),
            Value::Null => e.set(Extras::CONDITIONS, false),
            Value::Str { .. } => {
                let on = text(e, Extras::CONDITIONS).is_some_and(|r| !r.is_empty());
                e.set(Extras::CONDITIONS, on);
            }
            _ => {
                e.set(Extras::CONDITIONS, false);
                e.set(Extras::UNKNOWN, true);
            }
        },
        b"sequence" => {
            let on = matches!(v, Value::Num(n) if v2_side::sequence_value(n).is_some());
            e.set(Extras::SEQUENCE, on);
            if !on && v != Value::Null {
                e.set(Extras::UNKNOWN, true);
            }
        }
        b"timestamp" => {
            let on = text(e, Extras::DATA_TIMESTAMP).is_some();
            e.set(Extras::DATA_TIMESTAMP, on);
        }
        _ => {}
    }
}

fn meta_member(
    s: &mut Scanner<'_>,
    k: &[u8],
    p: &mut Parts<'_>,
    notes: &mut Notes,
) -> Result<(), RecordError> {
    let v = s.value()?;
    // Every entry must be the live writer's for v3 to lose nothing.
    match (k, v) {
        (b"source", Value::Str { escaped: true, .. }) => p.extras.set(Extras::RECHECK, true),
        (b"source", Value::Str { raw, .. }) if raw == b"stream_manager" => {}
        (b"source", _) => p.extras.set(Extras::METADATA, true),
        (b"request_id" | b"contract_id" | b"tick_type", _) => {}
        // An escaped key may still spell one of the above.
        (k, _) if k.contains(&b'\\') => p.extras.set(Extras::RECHECK, true),
        _ => p.extras.set(Extras::METADATA, true),
    }
    match k {
        b"contract_id" => p.meta_cid = Some(id(v, "metadata.contract_id")?),
        b"tick_type" => p.meta_tt = Some(tt(v, "metadata.tick_type", notes)?),
        b"request_id" => p.meta_rid = Some(id(v, "metadata.request_id")?),
        _ => {}
    }
    Ok(())
}

/// An integer id given as a number or a decimal string.
fn id(v: Value<'_>, field: &'static str) -> Result<i64, RecordError> {
    let raw = match v {
        Value::Num(raw)
        | Value::Str {
            raw,
            escaped: false,
        } => raw,
        other => {
            return Err(RecordError::WrongType {
                field,
                found: other.type_name(),
            })
        }
    };
    match parse_int(raw) {
        Some((i, false)) => Ok(i),
        _ => Err(RecordError::BadValue {
            field,
            why: "is not an integer",
        }),
    }
}

fn tt(v: Value<'_>, field: &'static str, notes: &mut Notes) -> Result<TickType, RecordError> {
    match v {
        Value::Str {
            raw,
            escaped: false,
        } => tick_type_bytes(raw, notes),
        // `"\u004cast"` is `Last` to every JSON reader.
        Value::Str { raw, escaped: true } => {
            let name = super::json::unescape(raw).unwrap_or_default();
            tick_type_bytes(name.as_bytes(), notes)
        }
        other => Err(RecordError::WrongType {
            field,
            found: other.type_name(),
        }),
    }
}

/// Appends one live-looking v2 envelope line (spec §9.5 recommendation):
/// `stream_id = bg_{cid}_{tt}`, envelope time = `st`, `unix_time` in seconds
/// (µs when `ts` is not a whole second).
pub fn encode(t: &Tick, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_with(t, out, Invent::default())
}

/// What [`encode_with`] leaves out rather than invent (for records read
/// from v2, where a missing `unix_time` or `request_id` reads back as
/// `ts = st` and `rid = 0`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Invent {
    /// Omit `data.unix_time` (the record had no IB time).
    pub no_unix_time: bool,
    /// Omit `metadata.request_id` (the record had none).
    pub no_request_id: bool,
}

/// [`encode`], leaving out what the source record did not have.
pub fn encode_with(t: &Tick, out: &mut Vec<u8>, omit: Invent) -> Result<(), EncodeError> {
    let _ = write!(
        out,
        r#"{{"type":"tick","stream_id":"bg_{}_{}","timestamp":""#,
        t.cid, t.tt,
    );
    time::write_iso(t.st, out);
    let _ = write!(
        out,
        r#"","data":{{"type":"{}""#,
        match t.tt {
            TickType::BidAsk => "bid_ask",
            TickType::Last | TickType::AllLast => "time_sales",
            TickType::MidPoint => "midpoint",
        }
    );
    match t.tt {
        TickType::Last => out.extend_from_slice(br#","tick_type":"Last""#),
        TickType::AllLast => out.extend_from_slice(br#","tick_type":"AllLast""#),
        TickType::BidAsk | TickType::MidPoint => {}
    }
    let unix = if t.ts % time::US == 0 {
        t.ts / time::US
    } else {
        t.ts
    };
    if !omit.no_unix_time {
        let _ = write!(out, r#","unix_time":{unix}"#);
    }
    let keys: &[(Field, &str)] = &[
        (Field::Bp, "bid_price"),
        (Field::Ap, "ask_price"),
        (Field::Bs, "bid_size"),
        (Field::As, "ask_size"),
        (Field::P, "price"),
        (Field::S, "size"),
        (Field::Mp, "midpoint"),
    ];
    for &(f, key) in keys {
        if let Some(v) = t.get(f) {
            let _ = write!(out, r#","{key}":"#);
            write_float(out, v);
        }
    }
    for (key, b) in [
        ("bid_past_low", t.bpl),
        ("ask_past_high", t.aph),
        ("past_limit", t.past_limit),
        ("unreported", t.upt),
    ] {
        if let Some(b) = b {
            let _ = write!(out, r#","{key}":{b}"#);
        }
    }
    out.extend_from_slice(br#"},"metadata":{"source":"stream_manager","#);
    if !omit.no_request_id {
        let _ = write!(out, r#""request_id":"{}","#, t.rid);
    }
    let _ = writeln!(
        out,
        r#""contract_id":"{}","tick_type":"{}"}}}}"#,
        t.cid, t.tt
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_tick_types_read_as_every_json_reader_reads_them() {
        let l = br#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"time_sales","tick_type":"\u004cast","price":1.5},"metadata":{"contract_id":"7","tick_type":"\u006cast"}}"#;
        let d = decode(l).unwrap();
        assert_eq!((d.tick.tt, d.extras), (TickType::Last, Extras::default()));
        let l = br#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"\u0062id_ask","contract_id":7,"bid_price":1.5}}"#;
        assert_eq!(decode(l).unwrap().tick.tt, TickType::BidAsk);
    }

    #[test]
    fn live_formatter_line() {
        let l = br#"{"type":"tick","stream_id":"bg_711280073_bid_ask","timestamp":"2025-07-24T12:00:00.653906+00:00","data":{"type":"bid_ask","timestamp":"2025-07-24 07:00:37","unix_time":1753358437,"bid_price":23260.0,"ask_price":23260.5,"bid_size":6.0,"ask_size":2.0,"bid_past_low":false,"ask_past_high":false},"metadata":{"source":"stream_manager","request_id":"60020","contract_id":"711280073","tick_type":"bid_ask"}}"#;
        let d = decode(l).unwrap();
        assert_eq!(d.tick.ts, 1_753_358_437_000_000);
        assert_eq!(d.tick.st, 1_753_358_400_653_906);
        assert_eq!(
            (d.tick.cid, d.tick.rid, d.tick.tt),
            (711_280_073, 60_020, TickType::BidAsk)
        );
        assert_eq!(
            (d.tick.bp, d.tick.as_, d.tick.bpl),
            (Some(23260.0), Some(2.0), Some(false))
        );
        assert_eq!(d.notes, Notes::default());
    }

    #[test]
    fn variants_of_mid_and_time() {
        let l = br#"{"type":"tick","stream_id":"x","timestamp":"2025-08-01T00:31:54.037772+00:00Z","data":{"contract_id":265598,"tick_type":"mid_point","type":"mid_point","unix_time":1753111673000000,"mid_point":175.255}}"#;
        let d = decode(l).unwrap();
        assert_eq!(d.tick.ts, 1_753_111_673_000_000);
        assert_eq!(d.tick.mp, Some(175.255));
        assert_eq!(d.tick.tt, TickType::MidPoint);
        assert!(
            d.notes.has(Note::MicrosUnixTime)
                && d.notes.has(Note::OffsetZ)
                && d.notes.has(Note::IdsFromData)
        );
        let ts = br#"{"type":"tick","stream_id":"x","timestamp":"2025-07-10T17:52:50Z","data":{"type":"time_sales","tick_type":"AllLast","unix_time":1752169970,"price":1.5,"size":2.0,"exchange":"","conditions":"","past_limit":false,"unreported":true}}"#;
        let d = decode(ts).unwrap();
        assert_eq!(d.tick.tt, TickType::AllLast);
        assert_eq!((d.tick.upt, d.tick.past_limit), (Some(true), Some(false)));
    }

    #[test]
    fn rejections() {
        let info =
            br#"{"type":"info","stream_id":"x","timestamp":"2025-07-10T17:52:50Z","data":{}}"#;
        assert!(matches!(decode(info), Err(RecordError::OtherMessage)));
        let no_tt = br#"{"type":"tick","stream_id":"x","timestamp":"2025-07-10T17:52:50Z","data":{"price":1}}"#;
        assert_eq!(
            decode(no_tt).unwrap_err(),
            RecordError::MissingField("tick_type")
        );
        let bad_ts = br#"{"type":"tick","stream_id":"x","timestamp":"yesterday","data":{"tick_type":"last"}}"#;
        assert!(matches!(
            decode(bad_ts),
            Err(RecordError::BadValue {
                field: "timestamp",
                ..
            })
        ));
        let no_ts = br#"{"type":"tick","stream_id":"x","data":{"type":"time_sales","unix_time":1752169970,"price":1.5},"metadata":{"contract_id":"7","tick_type":"last"}}"#;
        assert_eq!(
            decode(no_ts).unwrap_err(),
            RecordError::MissingField("timestamp")
        );
        let num_ts = br#"{"type":"tick","stream_id":"x","timestamp":1752169970,"data":{"type":"time_sales","unix_time":1752169970,"price":1.5},"metadata":{"contract_id":"7","tick_type":"last"}}"#;
        assert_eq!(
            decode(num_ts).unwrap_err(),
            RecordError::WrongType {
                field: "timestamp",
                found: "number"
            }
        );
    }

    #[test]
    fn encode_round_trips() {
        let t = Tick {
            ts: 1_753_358_437_000_000,
            st: 1_753_358_400_653_906,
            cid: 7,
            tt: TickType::AllLast,
            rid: 60_001,
            p: Some(1.25),
            s: Some(3.0),
            upt: Some(true),
            past_limit: Some(false),
            ..Tick::default()
        };
        let mut out = Vec::new();
        encode(&t, &mut out).unwrap();
        assert_eq!(decode(&out[..out.len() - 1]).unwrap().tick, t);
        let bare = Tick {
            ts: t.st,
            rid: 0,
            ..t
        };
        let mut out = Vec::new();
        let omit = Invent {
            no_unix_time: true,
            no_request_id: true,
        };
        encode_with(&bare, &mut out, omit).unwrap();
        let line = std::str::from_utf8(&out).unwrap();
        assert!(
            !line.contains("unix_time") && !line.contains("request_id"),
            "{line}"
        );
        assert_eq!(decode(&out[..out.len() - 1]).unwrap().tick, bare);
    }
}
