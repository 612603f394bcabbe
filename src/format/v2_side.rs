//! The v2 extras that have no place in the canonical [`Tick`]: `exchange`,
//! `conditions`, `sequence`, the stream id, `data.timestamp`, every metadata
//! entry in its order, the raw `tick_data` ids, the mid key's spelling and
//! integer-vs-float sizes.
//!
//! Only `convert` asks for them: [`decode`] reads them from a record's bytes
//! (which the scan already holds), so the validators' decoders stay
//! allocation-free. [`encode_json`] and [`encode_pb`] write a v2 record from a
//! tick plus its side, so v2 protobuf → v2 JSON → v2 protobuf gives the same
//! bytes, and v2 JSON → v2 protobuf keeps everything protobuf has fields for.

use super::json::{parse_int, unescape, Scanner, Value};
use super::v3_json::write_float;
use super::v3_pb::{skip, varint};
use super::{EncodeError, Format, RecordError};
use crate::tick::{Field, Tick, TickType};
use crate::time;
use std::io::Write as _;

/// `conditions`: a string (v2 JSON live writer) or a list (v2 protobuf's
/// repeated field; the recorder's writer split a string into characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditions {
    /// One string.
    Text(String),
    /// A list of strings.
    List(Vec<String>),
}

impl Conditions {
    /// Whether it holds nothing (an empty string or list).
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Text(s) => s.is_empty(),
            Self::List(v) => v.is_empty(),
        }
    }
}

/// A metadata value: a string, or the JSON text of another value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaValue {
    /// A string.
    Str(String),
    /// A number, `true`, `false`, `null` or a container, as written.
    Raw(String),
}

impl MetaValue {
    /// The string the recorder's protobuf writer stored (Python `str()`).
    pub fn python_str(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Raw(r) => match r.as_str() {
                "true" => "True".into(),
                "false" => "False".into(),
                "null" => "None".into(),
                _ => r.clone(),
            },
        }
    }
}

/// Which key held the mid value in v2 JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MidKey {
    /// `midpoint` (live formatter).
    #[default]
    Midpoint,
    /// `mid_price` (test script, v2 protobuf).
    MidPrice,
    /// `mid_point` (reverse mapping).
    MidPoint,
}

impl MidKey {
    fn key(self) -> &'static str {
        match self {
            Self::Midpoint => "midpoint",
            Self::MidPrice => "mid_price",
            Self::MidPoint => "mid_point",
        }
    }
}

/// v2 data that no v3 field carries, as bits: what [`V2Side::extras`]
/// works out from a whole side, and what the v2 JSON decoder notes as it
/// meets each key, so a conversion to v3 counts its losses without a
/// second parse or an allocation per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Extras(pub u16);

impl Extras {
    /// A non-empty `exchange`.
    pub const EXCHANGE: u16 = 1;
    /// Non-empty `conditions`.
    pub const CONDITIONS: u16 = 2;
    /// A `sequence` number.
    pub const SEQUENCE: u16 = 4;
    /// `data.timestamp` (the local-time string).
    pub const DATA_TIMESTAMP: u16 = 8;
    /// A stream id other than `bg_{cid}_{tt}` of the record.
    pub const STREAM_ID: u16 = 16;
    /// Metadata beyond the live writer's (`source: stream_manager` and the ids).
    pub const METADATA: u16 = 32;
    /// A key or field the format does not define, or a value of a type
    /// the format has no place for.
    pub const UNKNOWN: u16 = 64;
    /// Something the decoder does not settle without allocating (an
    /// escaped string where the value matters, a list of conditions): the
    /// bits above are then incomplete and [`decode`] must be asked.
    pub const RECHECK: u16 = 128;
    /// A `data` contract id (not 0), tick type or `type` other than the record's.
    pub const IDS: u16 = 256;

    /// Whether `bit` is set.
    #[inline]
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// Sets or clears `bit` (a repeated key: the last one counts, as in [`decode`]).
    #[inline]
    pub fn set(&mut self, bit: u16, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// The `data` keys of a v2 JSON record that the format defines; any other
/// is an unknown key. One list for the decoder and [`decode_json`].
pub fn data_key_known(k: &[u8]) -> bool {
    matches!(
        k,
        b"contract_id"
            | b"tick_type"
            | b"type"
            | b"timestamp"
            | b"unix_time"
            | b"midpoint"
            | b"mid_price"
            | b"mid_point"
            | b"exchange"
            | b"conditions"
            | b"sequence"
            | b"price"
            | b"size"
            | b"bid_price"
            | b"bid_size"
            | b"ask_price"
            | b"ask_size"
            | b"bid_past_low"
            | b"ask_past_high"
            | b"unreported"
            | b"past_limit"
    )
}

/// A JSON `sequence` token as v2 protobuf's uint64 holds it: a whole
/// number in 0..=u64::MAX, read exactly (digits only; a fraction or an
/// exponent only while it is exact in a double). `None`: no place for it.
pub fn sequence_value(raw: &[u8]) -> Option<u64> {
    if !raw.is_empty() && raw.iter().all(u8::is_ascii_digit) {
        return raw.iter().try_fold(0u64, |v, d| {
            v.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
    }
    parse_int(raw)
        .and_then(|(i, _)| u64::try_from(i).ok())
        .filter(|&u| u < 1 << 53)
}

/// Whether a v2 `data.type` agrees with the record's tick type
/// (`time_sales` is trades: `last` or `all_last`).
pub fn data_type_agrees(raw: &[u8], tt: TickType) -> bool {
    match raw {
        b"bid_ask" => tt == TickType::BidAsk,
        b"midpoint" => tt == TickType::MidPoint,
        b"time_sales" => matches!(tt, TickType::Last | TickType::AllLast),
        other => super::v3_json::tick_type_bytes(other, &mut Default::default()) == Ok(tt),
    }
}

/// Whether a stream id is the live `bg_{cid}_{tt}` of the tick.
pub fn stream_id_is_derived(s: &str, t: &Tick) -> bool {
    let rest = s.strip_prefix("bg_").unwrap_or("");
    rest.strip_suffix(t.tt.as_str())
        .and_then(|r| r.strip_suffix('_'))
        .is_some_and(|c| c.parse::<i64>().ok() == Some(t.cid))
}

/// Whether one metadata entry is the live writer's: `source` with the
/// string `stream_manager`, or one of the ids (any value). `value` is the
/// entry's string, `None` for another JSON type.
pub fn meta_entry_live(key: &str, value: Option<&str>) -> bool {
    match key {
        "source" => value == Some("stream_manager"),
        "request_id" | "contract_id" | "tick_type" => true,
        _ => false,
    }
}

/// The extras of one v2 record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct V2Side {
    /// The envelope `stream_id`.
    pub stream_id: Option<String>,
    /// `data.contract_id` / `tick_data.contract_id` as stored (not `metadata`'s).
    pub data_cid: Option<i64>,
    /// `data.tick_type` / `tick_data.tick_type` as stored.
    pub data_tt: Option<String>,
    /// JSON `data.type`.
    pub data_type: Option<String>,
    /// JSON `data.timestamp` (local time, no zone).
    pub data_timestamp: Option<String>,
    /// JSON `data.unix_time` token as written (its value is the tick's `ts`).
    pub unix_time: Option<String>,
    /// `exchange`.
    pub exchange: Option<String>,
    /// `conditions`.
    pub conditions: Option<Conditions>,
    /// `sequence` (v2 protobuf field 12; JSON `data.sequence`).
    pub sequence: Option<u64>,
    /// Whether the record had a `metadata` object / map.
    pub has_metadata: bool,
    /// Metadata entries in their order.
    pub metadata: Vec<(String, MetaValue)>,
    /// The key the mid value was under.
    pub mid_key: MidKey,
    /// Payload fields written as JSON integers (bit = index in [`Field::ALL`]).
    pub int_fields: u8,
    /// Keys or fields the format does not define (dropped by every writer).
    pub unknown: u32,
    /// v2 protobuf envelope nanoseconds below the µs (lost in JSON).
    pub sub_us_nanos: bool,
}

impl V2Side {
    /// Whether metadata is the live writer's (`source: stream_manager` and
    /// only the ids), so the v3 → v2 mapping recreates it.
    pub fn live_metadata(&self) -> bool {
        self.metadata.iter().all(|(k, v)| {
            let value = match v {
                MetaValue::Str(s) => Some(s.as_str()),
                MetaValue::Raw(_) => None,
            };
            meta_entry_live(k, value)
        })
    }

    /// Whether the stream id is the live `bg_{cid}_{tt}` of this tick (or absent).
    pub fn derived_stream_id(&self, t: &Tick) -> bool {
        self.stream_id
            .as_deref()
            .is_none_or(|s| stream_id_is_derived(s, t))
    }

    /// What of this side no v3 field carries ([`Extras`], never `RECHECK`).
    pub fn extras(&self, t: &Tick) -> Extras {
        let mut e = Extras::default();
        e.set(
            Extras::EXCHANGE,
            self.exchange.as_ref().is_some_and(|x| !x.is_empty()),
        );
        e.set(
            Extras::CONDITIONS,
            self.conditions.as_ref().is_some_and(|c| !c.is_empty()),
        );
        e.set(Extras::SEQUENCE, self.sequence.is_some());
        e.set(Extras::DATA_TIMESTAMP, self.data_timestamp.is_some());
        e.set(Extras::STREAM_ID, !self.derived_stream_id(t));
        e.set(Extras::METADATA, !self.live_metadata());
        e.set(Extras::UNKNOWN, self.unknown > 0);
        let other_tt = self.data_tt.as_deref().is_some_and(|s| {
            !s.is_empty()
                && super::v3_json::tick_type_bytes(s.as_bytes(), &mut Default::default())
                    .ok()
                    .is_none_or(|tt| tt != t.tt)
        });
        let other_type = self
            .data_type
            .as_deref()
            .is_some_and(|s| !data_type_agrees(s.as_bytes(), t.tt));
        e.set(
            Extras::IDS,
            self.data_cid.is_some_and(|c| c != 0 && c != t.cid) || other_tt || other_type,
        );
        e
    }

    fn meta(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether metadata holds a non-empty value for `key` (what the readers use).
    fn meta_has(&self, key: &str) -> bool {
        self.meta(key)
            .is_some_and(|v| !matches!(v, MetaValue::Str(s) if s.is_empty()))
    }
}

/// Reads the extras of one v2 record (a JSON line or a protobuf body).
/// `None` for a v3 format or a record that does not parse.
pub fn decode(format: Format, bytes: &[u8]) -> Option<Box<V2Side>> {
    match format {
        Format::V2Json => decode_json(bytes).ok().map(Box::new),
        Format::V2Pb => decode_pb(bytes).ok().map(Box::new),
        Format::V3Json | Format::V3Pb => None,
    }
}

fn text(v: Value<'_>) -> Option<String> {
    match v {
        Value::Str {
            raw,
            escaped: false,
        } => std::str::from_utf8(raw).ok().map(str::to_owned),
        Value::Str { raw, escaped: true } => unescape(raw),
        _ => None,
    }
}

/// A string value as [`text`]; a value that is not `null` and gives no
/// string (another JSON type, an escape that does not decode) is counted
/// in `unknown`: no format has a place for it.
fn text_or_count(v: Value<'_>, unknown: &mut u32) -> Option<String> {
    let t = text(v);
    if t.is_none() && v != Value::Null {
        *unknown += 1;
    }
    t
}

/// The extras of a v2 JSON line.
pub fn decode_json(line: &[u8]) -> Result<V2Side, RecordError> {
    let mut sc = Scanner::new(line);
    let mut s = V2Side::default();
    sc.object(|sc, key| -> Result<(), RecordError> {
        let key = super::v2_json::key_of(key);
        match &*key {
            b"data" if sc.at_object() => {
                sc.object(|sc, k| data_member(sc, line, &super::v2_json::key_of(k), &mut s))
            }
            b"metadata" if sc.at_object() => {
                s.has_metadata = true;
                sc.object(|sc, k| -> Result<(), RecordError> {
                    let start = sc.pos();
                    let v = sc.value()?;
                    let raw = &line[start..sc.pos()];
                    let key = match std::str::from_utf8(k) {
                        Ok(k) if !k.contains('\\') => k.to_owned(),
                        _ => unescape(k).unwrap_or_default(),
                    };
                    let value = match text(v) {
                        Some(t) => MetaValue::Str(t),
                        None => {
                            MetaValue::Raw(String::from_utf8_lossy(raw.trim_ascii()).into_owned())
                        }
                    };
                    s.metadata.push((key, value));
                    Ok(())
                })
            }
            _ => {
                let v = sc.value()?;
                match &*key {
                    b"stream_id" => s.stream_id = text_or_count(v, &mut s.unknown),
                    b"type" | b"timestamp" => {}
                    _ => s.unknown += 1,
                }
                Ok(())
            }
        }
    })?;
    Ok(s)
}

fn data_member(
    sc: &mut Scanner<'_>,
    line: &[u8],
    k: &[u8],
    s: &mut V2Side,
) -> Result<(), RecordError> {
    let start = sc.pos();
    let v = sc.value()?;
    let raw = line[start..sc.pos()].trim_ascii();
    let field = match k {
        b"price" => Some(Field::P),
        b"size" => Some(Field::S),
        b"bid_price" => Some(Field::Bp),
        b"bid_size" => Some(Field::Bs),
        b"ask_price" => Some(Field::Ap),
        b"ask_size" => Some(Field::As),
        b"midpoint" | b"mid_price" | b"mid_point" => Some(Field::Mp),
        _ => None,
    };
    if let Some(f) = field {
        if let Value::Num(n) = v {
            if n.iter().all(|c| c.is_ascii_digit() || *c == b'-') {
                let i = Field::ALL.iter().position(|x| *x == f).unwrap_or(0);
                s.int_fields |= 1 << i;
            }
        }
    }
    match k {
        b"contract_id" => {
            s.data_cid = match v {
                Value::Num(n) | Value::Str { raw: n, .. } => parse_int(n).map(|(i, _)| i),
                _ => None,
            }
        }
        b"tick_type" => s.data_tt = text(v),
        b"type" => s.data_type = text(v),
        b"timestamp" => s.data_timestamp = text_or_count(v, &mut s.unknown),
        b"unix_time" => {
            if let Value::Num(n) = v {
                s.unix_time = Some(String::from_utf8_lossy(n).into_owned());
            }
        }
        b"midpoint" => s.mid_key = MidKey::Midpoint,
        b"mid_price" => s.mid_key = MidKey::MidPrice,
        b"mid_point" => s.mid_key = MidKey::MidPoint,
        b"exchange" => s.exchange = text_or_count(v, &mut s.unknown),
        b"conditions" => {
            s.conditions = match v {
                Value::Container => serde_json::from_slice::<Vec<String>>(raw)
                    .ok()
                    .map(Conditions::List),
                other => text(other).map(Conditions::Text),
            };
            if s.conditions.is_none() && v != Value::Null {
                s.unknown += 1;
            }
        }
        b"sequence" => {
            s.sequence = match v {
                Value::Num(n) => sequence_value(n),
                _ => None,
            };
            // Only a whole number ≥ 0 has a place (v2 protobuf's uint64).
            if s.sequence.is_none() && v != Value::Null {
                s.unknown += 1;
            }
        }
        k if data_key_known(k) => {}
        _ => s.unknown += 1,
    }
    Ok(())
}

fn pb_str(b: &[u8], pos: &mut usize) -> Result<String, RecordError> {
    let n = varint(b, pos)? as usize;
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or(RecordError::Wire("string past the end"))?;
    let s = String::from_utf8_lossy(&b[*pos..end]).into_owned();
    *pos = end;
    Ok(s)
}

fn pb_sub<'a>(b: &'a [u8], pos: &mut usize) -> Result<&'a [u8], RecordError> {
    let n = varint(b, pos)? as usize;
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= b.len())
        .ok_or(RecordError::Wire("message past the end"))?;
    let s = &b[*pos..end];
    *pos = end;
    Ok(s)
}

/// The extras of a v2 protobuf `StreamMessage` body (metadata in wire order).
pub fn decode_pb(b: &[u8]) -> Result<V2Side, RecordError> {
    let mut s = V2Side::default();
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                pb_str(b, &mut pos)?;
            }
            (2, 2) => s.stream_id = Some(pb_str(b, &mut pos)?),
            (3, 2) => {
                let ts = pb_sub(b, &mut pos)?;
                let mut p = 0;
                while p < ts.len() {
                    let k = varint(ts, &mut p)?;
                    if k == 2 << 3 {
                        s.sub_us_nanos |= varint(ts, &mut p)? % 1000 != 0;
                    } else {
                        skip(ts, &mut p, k & 7)?;
                    }
                }
            }
            (4, 2) => tick_data(pb_sub(b, &mut pos)?, &mut s)?,
            (8, 2) => {
                s.has_metadata = true;
                let e = pb_sub(b, &mut pos)?;
                let (mut k, mut v) = (String::new(), String::new());
                let mut p = 0;
                while p < e.len() {
                    match varint(e, &mut p)? {
                        0x0a => k = pb_str(e, &mut p)?,
                        0x12 => v = pb_str(e, &mut p)?,
                        other => skip(e, &mut p, other & 7)?,
                    }
                }
                s.metadata.push((k, MetaValue::Str(v)));
            }
            (_, w) => {
                s.unknown += 1;
                skip(b, &mut pos, w)?;
            }
        }
    }
    s.mid_key = MidKey::MidPrice;
    Ok(s)
}

fn tick_data(d: &[u8], s: &mut V2Side) -> Result<(), RecordError> {
    let mut pos = 0;
    while pos < d.len() {
        let key = varint(d, &mut pos)?;
        match (key >> 3, key & 7) {
            (1, 0) => s.data_cid = Some(varint(d, &mut pos)? as u32 as i64),
            (2, 2) => s.data_tt = Some(pb_str(d, &mut pos)?),
            (10, 2) => s.exchange = Some(pb_str(d, &mut pos)?),
            (11, 2) => {
                let c = pb_str(d, &mut pos)?;
                match &mut s.conditions {
                    Some(Conditions::List(v)) => v.push(c),
                    _ => s.conditions = Some(Conditions::List(vec![c])),
                }
            }
            (12, 0) => s.sequence = Some(varint(d, &mut pos)?),
            (3..=9, 1) | (13..=16, 0) => skip(d, &mut pos, key & 7)?,
            (_, w) => {
                s.unknown += 1;
                skip(d, &mut pos, w)?;
            }
        }
    }
    Ok(())
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes as Python's json.dumps(ensure_ascii=False) does.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Appends one v2 JSON line for `t` carrying `side`'s extras: the stream id,
/// `data` ids, `data.type`, `data.timestamp`, `unix_time` as written, the mid
/// key, integer sizes, `exchange`, `conditions`, `sequence` and every
/// metadata entry in its order. Nothing is invented that the side lacks.
pub fn encode_json(t: &Tick, side: &V2Side, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    out.extend_from_slice(br#"{"type":"tick","stream_id":"#);
    match &side.stream_id {
        Some(s) => json_str(out, s),
        None => {
            let _ = write!(out, "\"bg_{}_{}\"", t.cid, t.tt);
        }
    }
    out.extend_from_slice(br#","timestamp":""#);
    time::write_iso(t.st, out);
    out.extend_from_slice(br#"","data":{"#);
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    if let Some(ty) = &side.data_type {
        sep(out);
        out.extend_from_slice(br#""type":"#);
        json_str(out, ty);
    }
    if let Some(c) = side.data_cid {
        sep(out);
        let _ = write!(out, r#""contract_id":{c}"#);
    }
    if let Some(tt) = &side.data_tt {
        sep(out);
        out.extend_from_slice(br#""tick_type":"#);
        json_str(out, tt);
    }
    if let Some(ts) = &side.data_timestamp {
        sep(out);
        out.extend_from_slice(br#""timestamp":"#);
        json_str(out, ts);
    }
    if side.unix_time.is_some() {
        sep(out);
        let unix = if t.ts % time::US == 0 && t.ts.abs() < 1_000_000_000_000 * time::US {
            t.ts / time::US
        } else {
            t.ts
        };
        let _ = write!(out, r#""unix_time":{unix}"#);
    }
    // The live formatter (with `data.type`) writes both prices first; the
    // test script and the protobuf reader price, size, price, size.
    let (b, c) = if side.data_type.is_some() {
        ((Field::Ap, "ask_price"), (Field::Bs, "bid_size"))
    } else {
        ((Field::Bs, "bid_size"), (Field::Ap, "ask_price"))
    };
    for (f, key) in [
        (Field::Bp, "bid_price"),
        b,
        c,
        (Field::As, "ask_size"),
        (Field::P, "price"),
        (Field::S, "size"),
        (Field::Mp, side.mid_key.key()),
    ] {
        let Some(v) = t.get(f) else { continue };
        sep(out);
        let _ = write!(out, r#""{key}":"#);
        let i = Field::ALL.iter().position(|x| *x == f).unwrap_or(0);
        if side.int_fields & (1 << i) != 0 && v.fract() == 0.0 && v.abs() < 1e18 {
            let _ = write!(out, "{}", v as i64);
        } else {
            write_float(out, v);
        }
    }
    if let Some(e) = &side.exchange {
        sep(out);
        out.extend_from_slice(br#""exchange":"#);
        json_str(out, e);
    }
    match &side.conditions {
        Some(Conditions::Text(c)) => {
            sep(out);
            out.extend_from_slice(br#""conditions":"#);
            json_str(out, c);
        }
        Some(Conditions::List(v)) if !v.is_empty() => {
            sep(out);
            out.extend_from_slice(br#""conditions":"#);
            // One-character elements are the recorder's split of a string.
            if v.iter().all(|c| c.chars().count() == 1) {
                json_str(out, &v.concat());
            } else {
                let _ = serde_json::to_writer(&mut *out, v);
            }
        }
        _ => {}
    }
    if let Some(q) = side.sequence {
        sep(out);
        let _ = write!(out, r#""sequence":{q}"#);
    }
    for (key, b) in [
        ("bid_past_low", t.bpl),
        ("ask_past_high", t.aph),
        ("past_limit", t.past_limit),
        ("unreported", t.upt),
    ] {
        if let Some(b) = b {
            sep(out);
            let _ = write!(out, r#""{key}":{b}"#);
        }
    }
    out.push(b'}');
    if side.has_metadata {
        out.extend_from_slice(br#","metadata":{"#);
        for (i, (k, v)) in side.metadata.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, k);
            out.push(b':');
            match v {
                MetaValue::Str(s) => json_str(out, s),
                MetaValue::Raw(r) => out.extend_from_slice(r.as_bytes()),
            }
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, tag: u8, s: &[u8]) {
    out.push(tag);
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Encodes a v2 `StreamMessage` body for `t` carrying `side`'s extras the
/// way the recorder's protobuf writer did (spec §4.2): `tick_data` ids as
/// stored in `data` (the tick's own when neither data nor metadata has
/// them, so the record stays readable), `exchange`, `conditions` (a string
/// split into characters), `sequence`, and metadata entries in their order
/// with every value `str()`-ed. No `data.timestamp` and no IB time.
pub fn encode_pb(t: &Tick, side: &V2Side) -> Result<Vec<u8>, EncodeError> {
    let mut d = Vec::with_capacity(96);
    let cid = match side.data_cid {
        Some(c) => c,
        None if side.meta_has("contract_id") => 0,
        None => t.cid,
    };
    let cid = u32::try_from(cid).map_err(|_| EncodeError("contract id does not fit v2 uint32"))?;
    if cid != 0 {
        d.push(1 << 3);
        put_varint(&mut d, u64::from(cid));
    }
    let tt: &str = match &side.data_tt {
        Some(s) if !s.is_empty() || side.meta_has("tick_type") => s,
        _ if side.meta_has("tick_type") => "",
        _ => t.tt.as_str(),
    };
    if !tt.is_empty() {
        put_str(&mut d, 2 << 3 | 2, tt.as_bytes());
    }
    for (n, v) in [
        (3u8, t.p),
        (4, t.s),
        (5, t.bp),
        (6, t.bs),
        (7, t.ap),
        (8, t.as_),
        (9, t.mp),
    ] {
        if let Some(v) = v {
            d.push(n << 3 | 1);
            d.extend_from_slice(&v.to_le_bytes());
        }
    }
    if let Some(e) = &side.exchange {
        put_str(&mut d, 10 << 3 | 2, e.as_bytes());
    }
    match &side.conditions {
        Some(Conditions::Text(c)) => {
            let mut buf = [0u8; 4];
            for ch in c.chars() {
                put_str(&mut d, 11 << 3 | 2, ch.encode_utf8(&mut buf).as_bytes());
            }
        }
        Some(Conditions::List(v)) => {
            for c in v {
                put_str(&mut d, 11 << 3 | 2, c.as_bytes());
            }
        }
        None => {}
    }
    if let Some(q) = side.sequence {
        d.push(12 << 3);
        put_varint(&mut d, q);
    }
    for (n, f) in [(13u8, t.past_limit), (14, t.upt), (15, t.bpl)] {
        if let Some(f) = f {
            d.extend_from_slice(&[n << 3, u8::from(f)]);
        }
    }
    if let Some(f) = t.aph {
        d.extend_from_slice(&[0x80, 0x01, u8::from(f)]);
    }
    let mut m = Vec::with_capacity(d.len() + 128);
    put_str(&mut m, 1 << 3 | 2, b"tick");
    let sid;
    let sid: &str = match &side.stream_id {
        Some(s) => s,
        None => {
            sid = format!("bg_{}_{}", t.cid, t.tt);
            &sid
        }
    };
    if !sid.is_empty() {
        put_str(&mut m, 2 << 3 | 2, sid.as_bytes());
    }
    let mut ts = Vec::with_capacity(16);
    let (sec, nanos) = (t.st.div_euclid(time::US), t.st.rem_euclid(time::US) * 1000);
    if sec != 0 {
        ts.push(1 << 3);
        put_varint(&mut ts, sec as u64);
    }
    if nanos != 0 {
        ts.push(2 << 3);
        put_varint(&mut ts, nanos as u64);
    }
    put_str(&mut m, 3 << 3 | 2, &ts);
    put_str(&mut m, 4 << 3 | 2, &d);
    for (k, v) in &side.metadata {
        let v = v.python_str();
        let mut e = Vec::with_capacity(k.len() + v.len() + 4);
        put_str(&mut e, 0x0a, k.as_bytes());
        put_str(&mut e, 0x12, v.as_bytes());
        put_str(&mut m, 8 << 3 | 2, &e);
    }
    Ok(m)
}

/// The tick type name v2 JSON's `data.type` would hold.
pub fn data_type_of(tt: TickType) -> &'static str {
    match tt {
        TickType::BidAsk => "bid_ask",
        TickType::Last | TickType::AllLast => "time_sales",
        TickType::MidPoint => "midpoint",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &[u8] = br#"{"type":"tick","stream_id":"bg_7_all_last","timestamp":"2025-07-24T12:00:00.653906+00:00","data":{"type":"time_sales","tick_type":"AllLast","timestamp":"2025-07-24 07:00:37","unix_time":1753358437,"price":1.5,"size":100,"exchange":"ARCA","conditions":"T I","past_limit":false,"unreported":true},"metadata":{"source":"stream_manager","request_id":"60020","contract_id":"7","tick_type":"all_last"}}"#;

    #[test]
    fn json_extras_are_read() {
        let s = decode_json(LIVE).unwrap();
        assert_eq!(s.stream_id.as_deref(), Some("bg_7_all_last"));
        assert_eq!(s.data_tt.as_deref(), Some("AllLast"));
        assert_eq!(s.data_timestamp.as_deref(), Some("2025-07-24 07:00:37"));
        assert_eq!(s.exchange.as_deref(), Some("ARCA"));
        assert_eq!(s.conditions, Some(Conditions::Text("T I".into())));
        assert_eq!(s.int_fields, 1 << 1);
        assert_eq!(s.metadata.len(), 4);
        assert!(s.live_metadata() && s.unknown == 0);
        let t = Format::V2Json.decode(LIVE).unwrap().tick;
        assert!(s.derived_stream_id(&t));
    }

    #[test]
    fn json_side_writes_the_same_line() {
        let s = decode_json(LIVE).unwrap();
        let t = Format::V2Json.decode(LIVE).unwrap().tick;
        let mut out = Vec::new();
        encode_json(&t, &s, &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap().trim_end(),
            std::str::from_utf8(LIVE).unwrap()
        );
    }

    #[test]
    fn pb_from_json_and_back() {
        let s = decode_json(LIVE).unwrap();
        let t = Format::V2Json.decode(LIVE).unwrap().tick;
        let pb = encode_pb(&t, &s).unwrap();
        let back = Format::V2Pb.decode(&pb).unwrap().tick;
        assert_eq!(
            (back.cid, back.tt, back.rid, back.p, back.upt),
            (7, TickType::AllLast, 60_020, Some(1.5), Some(true))
        );
        let ps = decode_pb(&pb).unwrap();
        assert_eq!(
            ps.conditions,
            Some(Conditions::List(vec!["T".into(), " ".into(), "I".into()]))
        );
        assert_eq!(
            ps.metadata
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            ["source", "request_id", "contract_id", "tick_type"]
        );
        // PB → JSON → PB gives the same bytes.
        let mut j = Vec::new();
        encode_json(&back, &ps, &mut j).unwrap();
        let t2 = Format::V2Json.decode(&j[..j.len() - 1]).unwrap().tick;
        let s2 = decode_json(&j[..j.len() - 1]).unwrap();
        assert_eq!(encode_pb(&t2, &s2).unwrap(), pb);
    }

    /// One random v2 JSON line: every extra in each of its shapes (empty,
    /// escaped, another JSON type, a list, repeated), unknown keys at both
    /// levels, metadata of the live writer's and others.
    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pick = |v: &'static [&'static str]| proptest::sample::select(v.to_vec());
        let stream_id = pick(&[
            "",
            r#","stream_id":"bg_7_bid_ask""#,
            r#","stream_id":"bg_7_last""#,
            r#","stream_id":"bg_007_bid_ask""#,
            r#","stream_id":"7_bid_ask_1753358437000_4711""#,
            r#","stream_id":"bg\u005f7_bid_ask""#,
            r#","stream_id":7"#,
            r#","stream_id":null"#,
            r#","stream_id":{"id":"x"}"#,
            r#","stream_id":"\ud800x""#,
        ]);
        let member = pick(&[
            r#","exchange":"ARCA""#,
            r#","exchange":"""#,
            r#","exchange":"A\"B""#,
            r#","exchange":5"#,
            r#","exchange":null"#,
            r#","conditions":"T I""#,
            r#","conditions":"""#,
            r#","conditions":["T","I"]"#,
            r#","conditions":[]"#,
            r#","conditions":[1]"#,
            r#","conditions":null"#,
            r#","conditions":7"#,
            r#","conditions":"\t""#,
            r#","sequence":12"#,
            r#","sequence":-1"#,
            r#","sequence":1.5"#,
            r#","sequence":"12""#,
            r#","timestamp":"2025-07-24 07:00:37""#,
            r#","timestamp":"2025\/07""#,
            r#","timestamp":1"#,
            r#","odd":1"#,
            r#","exchange":["ARCA"]"#,
            r#","exchange":"\ud800""#,
            r#","sequence":18446744073709551615"#,
            r#","sequence":null"#,
            r#","timestamp":null"#,
            r#","contract_id":999"#,
            r#","contract_id":0"#,
            r#","tick_type":"Last""#,
            r#","tick_type":"bid_ask""#,
            r#","type":"midpoint""#,
            r#","type":"time_sales""#,
            r#","exch\u0061nge":"ARCA""#,
            r#","sequence":1234567890123456789"#,
            r#","sequence":18446744073709551616"#,
            r#","sequence":1e3"#,
            r#","unix_time":1753358437"#,
            r#","price":1.5"#,
        ]);
        let meta = pick(&[
            r#""source":"stream_manager""#,
            r#""source":"test""#,
            r#""source":"stream\u005fmanager""#,
            r#""source":1"#,
            r#""request_id":"60020""#,
            r#""contract_id":"7""#,
            r#""tick_type":"bid_ask""#,
            r#""sequence":"4""#,
            r#""so\u0075rce":"stream_manager""#,
            r#""contract\u005fid":"8""#,
        ]);
        let top = pick(&["", r#","extra":1"#, r#","metadata":5"#, r#","type":"tick""#]);
        (
            stream_id,
            proptest::collection::vec(member, 0..5),
            proptest::option::of(proptest::collection::vec(meta, 0..5)),
            top,
        )
            .prop_map(|(sid, members, meta, top)| {
                let meta = match meta {
                    None => String::new(),
                    Some(m) => format!(r#","metadata":{{{}}}"#, m.join(",")),
                };
                format!(
                    r#"{{"type":"tick"{sid},"timestamp":"2025-07-24T12:00:00.653906+00:00","data":{{"type":"bid_ask","contract_id":7,"tick_type":"bid_ask","bid_price":1.5{}}}{meta}{top}}}"#,
                    members.concat()
                )
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// What the v2 JSON decoder notes on the way equals what the whole
        /// side says, unless it asked for the whole side (`RECHECK`).
        #[test]
        fn the_decoders_extras_equal_the_sides(line in line()) {
            let Ok(d) = Format::V2Json.decode(line.as_bytes()) else {
                return Ok(());
            };
            let side = decode_json(line.as_bytes()).unwrap();
            if !d.extras.has(Extras::RECHECK) {
                proptest::prop_assert_eq!(d.extras, side.extras(&d.tick), "{}", line);
            }
        }
    }

    #[test]
    fn the_decoder_notes_each_extra_and_rechecks_escapes() {
        let cases: &[(&str, u16)] = &[
            (
                std::str::from_utf8(LIVE).unwrap(),
                Extras::EXCHANGE | Extras::CONDITIONS | Extras::DATA_TIMESTAMP,
            ),
            (
                r#"{"type":"tick","stream_id":"7_bid_ask_1_2","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":7,"sequence":3,"x":1},"metadata":{"source":"test"},"y":2}"#,
                Extras::STREAM_ID | Extras::SEQUENCE | Extras::UNKNOWN | Extras::METADATA,
            ),
            (
                r#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":7,"exchange":"ARCA","exchange":""}}"#,
                0,
            ),
            (
                r#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":7,"conditions":["T"]}}"#,
                Extras::RECHECK,
            ),
            (
                r#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":7,"exchange":"\u0041"}}"#,
                Extras::RECHECK,
            ),
            // Values of a type no format has a place for, and a second contract id.
            (
                r#"{"type":"tick","stream_id":7,"timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":999,"exchange":5,"sequence":-1,"timestamp":1},"metadata":{"contract_id":"7"}}"#,
                Extras::UNKNOWN | Extras::IDS,
            ),
            (
                r#"{"type":"tick","timestamp":"2025-07-24T12:00:00+00:00","data":{"type":"bid_ask","contract_id":0,"tick_type":"Last"},"metadata":{"contract_id":"7","tick_type":"bid_ask"}}"#,
                Extras::IDS,
            ),
        ];
        for (line, want) in cases {
            let d = Format::V2Json.decode(line.as_bytes()).unwrap();
            assert_eq!(d.extras, Extras(*want), "{line}");
            if !d.extras.has(Extras::RECHECK) {
                assert_eq!(
                    d.extras,
                    decode_json(line.as_bytes()).unwrap().extras(&d.tick),
                    "{line}"
                );
            }
        }
        // The other decoders note nothing.
        let v3 = br#"{"ts":1,"st":2,"cid":7,"tt":"bid_ask","rid":0,"bp":1.5}"#;
        assert_eq!(Format::V3Json.decode(v3).unwrap().extras, Extras::default());
    }
}
