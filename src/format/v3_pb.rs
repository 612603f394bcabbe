//! v3 protobuf codec for `ib_stream.v3.TickMessage` (spec §5.2, §7).
//!
//! Decoding uses a specialised wire reader (no allocation, unknown fields
//! noted rather than silently dropped); encoding uses the prost types built
//! from `proto/`. A test checks the two agree.

use super::{Decoded, EncodeError, Note, Notes, RecordError};
use crate::proto::ib_stream::v3::TickMessage;
use crate::tick::{Tick, TickType};
use prost::Message as _;

/// Reads a base-128 varint (one-byte values, such as every tag, inline).
#[inline(always)]
pub(crate) fn varint(b: &[u8], pos: &mut usize) -> Result<u64, RecordError> {
    match b.get(*pos) {
        Some(&c) if c < 0x80 => {
            *pos += 1;
            Ok(u64::from(c))
        }
        _ => varint_long(b, pos),
    }
}

/// Multi-byte varints: up to 8 bytes (56 bits, enough for µs times) from one
/// 64-bit load, compacting the 7-bit groups; longer ones byte by byte.
#[inline]
fn varint_long(b: &[u8], pos: &mut usize) -> Result<u64, RecordError> {
    if let Some(chunk) = b
        .get(*pos..*pos + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let w = u64::from_le_bytes(chunk);
        let stops = !w & 0x8080_8080_8080_8080;
        if stops != 0 {
            let len = (stops.trailing_zeros() + 1) / 8;
            let keep = if len == 8 {
                u64::MAX
            } else {
                (1u64 << (len * 8)) - 1
            };
            let x = w & keep & 0x7f7f_7f7f_7f7f_7f7f;
            let x = ((x & 0x7f00_7f00_7f00_7f00) >> 1) | (x & 0x007f_007f_007f_007f);
            let x = ((x & 0x3fff_0000_3fff_0000) >> 2) | (x & 0x0000_3fff_0000_3fff);
            let x = ((x & 0x0fff_ffff_0000_0000) >> 4) | (x & 0x0000_0000_0fff_ffff);
            *pos += len as usize;
            return Ok(x);
        }
    }
    varint_bytes(b, pos)
}

#[inline(never)]
fn varint_bytes(b: &[u8], pos: &mut usize) -> Result<u64, RecordError> {
    let mut v = 0u64;
    let mut shift = 0u32;
    while let Some(&c) = b.get(*pos) {
        *pos += 1;
        v |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Ok(v);
        }
        shift += 7;
        if shift >= 70 {
            return Err(RecordError::Wire("varint longer than 10 bytes"));
        }
    }
    Err(RecordError::Wire("varint runs past the end of the record"))
}

fn fixed64(b: &[u8], pos: &mut usize) -> Result<f64, RecordError> {
    let s = b
        .get(*pos..*pos + 8)
        .ok_or(RecordError::Wire("double runs past the end of the record"))?;
    *pos += 8;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(f64::from_le_bytes(a))
}

/// Skips a field of an unknown number.
pub(crate) fn skip(b: &[u8], pos: &mut usize, wire: u64) -> Result<(), RecordError> {
    let n = match wire {
        0 => return varint(b, pos).map(|_| ()),
        1 => 8,
        2 => usize::try_from(varint(b, pos)?).map_err(|_| RecordError::Wire("length overflow"))?,
        5 => 4,
        _ => return Err(RecordError::Wire("invalid wire type")),
    };
    if b.len() - *pos < n {
        return Err(RecordError::Wire("field runs past the end of the record"));
    }
    *pos += n;
    Ok(())
}

/// Decodes one TickMessage body.
pub fn decode(b: &[u8]) -> Result<Decoded, RecordError> {
    let mut d = Decoded::default();
    decode_into(b, &mut d)?;
    Ok(d)
}

/// [`decode`] into a caller's record (no copy of the result).
#[inline]
pub fn decode_into(b: &[u8], out: &mut Decoded) -> Result<(), RecordError> {
    out.notes = Notes::default();
    if fast(b, &mut out.tick).is_some() {
        return Ok(());
    }
    general(b, out)
}

/// The record as the recorder's writers serialise it: known fields once
/// each, in field-number order, one-byte string length, storage tick-type
/// name. Anything else returns `None` for the general decoder, which gives
/// the same record (a property test checks it) or the precise error.
#[inline]
fn fast(b: &[u8], t: &mut Tick) -> Option<()> {
    *t = Tick::default();
    let mut pos = 0;
    let at = |pos: usize, tag: u8| b.get(pos) == Some(&tag);
    if at(pos, 0x08) {
        pos += 1;
        t.ts = varint(b, &mut pos).ok()? as i64;
    }
    if at(pos, 0x10) {
        pos += 1;
        t.st = varint(b, &mut pos).ok()? as i64;
    }
    if at(pos, 0x18) {
        pos += 1;
        t.cid = i64::from(varint(b, &mut pos).ok()? as i32);
    }
    if !at(pos, 0x22) {
        return None;
    }
    let n = usize::from(*b.get(pos + 1)?);
    t.tt = TickType::from_storage_name(b.get(pos + 2..pos + 2 + n)?)?;
    pos += 2 + n;
    if at(pos, 0x28) {
        pos += 1;
        t.rid = i64::from(varint(b, &mut pos).ok()? as i32);
    }
    let double = |pos: &mut usize| -> Option<f64> {
        let s = b.get(*pos..*pos + 8)?;
        *pos += 8;
        Some(f64::from_le_bytes(s.try_into().ok()?))
    };
    for (tag, slot) in [
        (0x51, &mut t.p),
        (0x59, &mut t.s),
        (0x61, &mut t.bp),
        (0x69, &mut t.bs),
        (0x71, &mut t.ap),
        (0x79, &mut t.as_),
    ] {
        if at(pos, tag) {
            pos += 1;
            *slot = Some(double(&mut pos)?);
        }
    }
    if at(pos, 0x81) && at(pos + 1, 0x01) {
        pos += 2;
        t.mp = Some(double(&mut pos)?);
    }
    for (tag, slot) in [(0xa0, &mut t.bpl), (0xa8, &mut t.aph), (0xb0, &mut t.upt)] {
        if at(pos, tag) && at(pos + 1, 0x01) {
            *slot = Some(match *b.get(pos + 2)? {
                0 => false,
                1 => true,
                _ => return None,
            });
            pos += 3;
        }
    }
    (pos == b.len()).then_some(())
}

/// Any valid TickMessage.
fn general(b: &[u8], out: &mut Decoded) -> Result<(), RecordError> {
    out.tick = Tick::default();
    out.notes = Notes::default();
    let t = &mut out.tick;
    let notes = &mut out.notes;
    let mut tt: &[u8] = b"";
    let mut pos = 0;
    while pos < b.len() {
        // The whole tag (field << 3 | wire type) picks the field; a known
        // field number with another wire type is an error, not skipped.
        match varint(b, &mut pos)? {
            0x08 => t.ts = varint(b, &mut pos)? as i64,
            0x10 => t.st = varint(b, &mut pos)? as i64,
            0x18 => t.cid = i64::from(varint(b, &mut pos)? as i32),
            0x22 => {
                let n = varint(b, &mut pos)? as usize;
                tt = b
                    .get(pos..pos.saturating_add(n))
                    .ok_or(RecordError::Wire("string runs past the end of the record"))?;
                pos += n;
            }
            0x28 => t.rid = i64::from(varint(b, &mut pos)? as i32),
            key @ (0x51 | 0x59 | 0x61 | 0x69 | 0x71 | 0x79 | 0x81) => {
                let v = Some(fixed64(b, &mut pos)?);
                match key {
                    0x51 => t.p = v,
                    0x59 => t.s = v,
                    0x61 => t.bp = v,
                    0x69 => t.bs = v,
                    0x71 => t.ap = v,
                    0x79 => t.as_ = v,
                    _ => t.mp = v,
                }
            }
            0xa0 => t.bpl = Some(varint(b, &mut pos)? != 0),
            0xa8 => t.aph = Some(varint(b, &mut pos)? != 0),
            0xb0 => t.upt = Some(varint(b, &mut pos)? != 0),
            key => match key >> 3 {
                0 => return Err(RecordError::Wire("field number 0")),
                1..=5 | 10..=16 | 20..=22 => {
                    return Err(RecordError::Wire("known field with the wrong wire type"))
                }
                _ => {
                    notes.add(Note::UnknownKey);
                    skip(b, &mut pos, key & 7)?;
                }
            },
        }
    }
    if tt.is_empty() {
        return Err(RecordError::MissingField("tt"));
    }
    t.tt = match TickType::from_storage_name(tt) {
        Some(x) => x,
        None if std::str::from_utf8(tt).is_err() => {
            return Err(RecordError::Wire("tt is not UTF-8"))
        }
        None => super::v3_json::tick_type_bytes(tt, notes)?,
    };
    Ok(())
}

fn int32(v: i64, what: &'static str) -> Result<i32, EncodeError> {
    i32::try_from(v).map_err(|_| EncodeError(what))
}

/// Encodes the body of one TickMessage (no length prefix).
pub fn encode(t: &Tick) -> Result<Vec<u8>, EncodeError> {
    let m = TickMessage {
        ts: t.ts,
        st: t.st,
        cid: int32(t.cid, "contract id does not fit v3 int32")?,
        tt: t.tt.as_str().to_owned(),
        rid: int32(t.rid, "request id does not fit v3 int32")?,
        p: t.p,
        s: t.s,
        bp: t.bp,
        bs: t.bs,
        ap: t.ap,
        r#as: t.as_,
        mp: t.mp,
        bpl: t.bpl,
        aph: t.aph,
        upt: t.upt,
    };
    Ok(m.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §7.3 worked example (without the 4-byte prefix).
    const EXAMPLE: &str =
        "08 cc f2 86 c3 b5 e8 8e 03 10 dc f2 86 c3 b5 e8 8e 03 18 c9 8b 95 d3 02 \
        22 07 62 69 64 5f 61 73 6b 28 ea a7 c6 e3 03 61 00 00 00 00 00 b7 d6 40 \
        69 00 00 00 00 00 00 10 40 71 00 00 00 00 20 b7 d6 40 79 00 00 00 00 00 00 00 40";

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_worked_example() {
        let body = hex(EXAMPLE);
        assert_eq!(body.len(), 75);
        let d = decode(&body).unwrap();
        assert_eq!(d.tick.ts, 1_754_010_291_910_988);
        assert_eq!(d.tick.st, 1_754_010_291_911_004);
        assert_eq!(d.tick.cid, 711_280_073);
        assert_eq!(d.tick.rid, 1_014_076_394);
        assert_eq!(
            (d.tick.bp, d.tick.bs, d.tick.ap, d.tick.as_),
            (Some(23260.0), Some(4.0), Some(23260.5), Some(2.0))
        );
        assert_eq!(encode(&d.tick).unwrap(), body);
    }

    #[test]
    fn varints_of_every_length() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            1 << 20,
            1_754_010_291_910_988,
            (1 << 56) - 1,
            1 << 56,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(v, &mut buf);
            let n = buf.len();
            buf.extend_from_slice(&[0x99; 9]); // trailing bytes must not be read
            let mut pos = 0;
            assert_eq!(varint(&buf, &mut pos).unwrap(), v, "{v}");
            assert_eq!(pos, n, "{v}");
            let mut pos = 0;
            assert_eq!(
                varint(&buf[..n], &mut pos).unwrap(),
                v,
                "{v} at the very end"
            );
        }
    }

    proptest::proptest! {
        /// The fast path decodes exactly what the general decoder does, on
        /// the writer's shape and on mutations of it.
        #[test]
        fn fast_path_agrees_with_general(ts in proptest::prelude::any::<i64>(), st in proptest::prelude::any::<i64>(), cid in proptest::prelude::any::<i32>(), rid in proptest::prelude::any::<i32>(), tt in 0usize..4,
            vals in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<f64>()), 7),
            flags in proptest::collection::vec(proptest::option::of(proptest::prelude::any::<bool>()), 3),
            edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<u8>()), 0..3)) {
            let t = Tick { ts, st, cid: i64::from(cid), rid: i64::from(rid), tt: TickType::ALL[tt], p: vals[0], s: vals[1], bp: vals[2], bs: vals[3], ap: vals[4], as_: vals[5], mp: vals[6], bpl: flags[0], aph: flags[1], upt: flags[2], past_limit: None };
            let mut body = encode(&t).unwrap();
            for (i, v) in edits {
                let k = i.index(body.len());
                body[k] = v;
            }
            let mut fast_t = Tick::default();
            if fast(&body, &mut fast_t).is_some() {
                let mut g = Decoded::default();
                general(&body, &mut g).unwrap();
                proptest::prop_assert_eq!(format!("{:?}", fast_t), format!("{:?}", g.tick));
                proptest::prop_assert_eq!(g.notes, Notes::default());
            }
        }
    }

    #[test]
    fn negative_ids_and_unknown_fields() {
        let t = Tick {
            ts: 5,
            st: 6,
            cid: -3,
            rid: -7,
            tt: TickType::MidPoint,
            mp: Some(1.5),
            bpl: Some(false),
            ..Tick::default()
        };
        let mut body = encode(&t).unwrap();
        assert_eq!(decode(&body).unwrap().tick, t);
        body.extend_from_slice(&[0x38, 0x01]); // field 7 varint
        let d = decode(&body).unwrap();
        assert!(d.notes.has(Note::UnknownKey));
        assert_eq!(
            decode(&[0x08]).unwrap_err(),
            RecordError::Wire("varint runs past the end of the record")
        );
        assert_eq!(
            decode(&[0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x22, 0x01, b'x']).unwrap_err(),
            RecordError::Wire("known field with the wrong wire type")
        );
        assert_eq!(
            decode(&[0x08, 0x01]).unwrap_err(),
            RecordError::MissingField("tt")
        );
    }
}
