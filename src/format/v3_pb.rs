//! v3 protobuf codec for `ib_stream.v3.TickMessage` (spec §5.2, §7).
//!
//! Decoding uses a specialised wire reader (no allocation, unknown fields
//! noted rather than silently dropped); encoding uses the prost types built
//! from `proto/`. A test checks the two agree.

use super::{Decoded, EncodeError, Note, Notes, RecordError};
use crate::proto::ib_stream::v3::TickMessage;
use crate::tick::{Tick, TickType};
use prost::Message as _;

/// Reads a base-128 varint.
pub(crate) fn varint(b: &[u8], pos: &mut usize) -> Result<u64, RecordError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&c) = b.get(*pos) else {
            return Err(RecordError::Wire("varint runs past the end of the record"));
        };
        *pos += 1;
        v |= u64::from(c & 0x7f) << shift;
        if c < 0x80 {
            return Ok(v);
        }
    }
    Err(RecordError::Wire("varint longer than 10 bytes"))
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

fn expect(wire: u64, want: u64) -> Result<(), RecordError> {
    if wire == want {
        Ok(())
    } else {
        Err(RecordError::Wire("known field with the wrong wire type"))
    }
}

/// Decodes one TickMessage body.
pub fn decode(b: &[u8]) -> Result<Decoded, RecordError> {
    let mut t = Tick::default();
    let mut notes = Notes::default();
    let mut tt: &[u8] = b"";
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (field, wire) = (key >> 3, key & 7);
        match field {
            1..=5 | 20..=22 if wire == 0 || field == 4 => match field {
                1 => t.ts = varint(b, &mut pos)? as i64,
                2 => t.st = varint(b, &mut pos)? as i64,
                3 => t.cid = i64::from(varint(b, &mut pos)? as i32),
                4 => {
                    expect(wire, 2)?;
                    let n = varint(b, &mut pos)? as usize;
                    tt = b
                        .get(pos..pos.saturating_add(n))
                        .ok_or(RecordError::Wire("string runs past the end of the record"))?;
                    pos += n;
                }
                5 => t.rid = i64::from(varint(b, &mut pos)? as i32),
                20 => t.bpl = Some(varint(b, &mut pos)? != 0),
                21 => t.aph = Some(varint(b, &mut pos)? != 0),
                _ => t.upt = Some(varint(b, &mut pos)? != 0),
            },
            10..=16 => {
                expect(wire, 1)?;
                let v = Some(fixed64(b, &mut pos)?);
                match field {
                    10 => t.p = v,
                    11 => t.s = v,
                    12 => t.bp = v,
                    13 => t.bs = v,
                    14 => t.ap = v,
                    15 => t.as_ = v,
                    _ => t.mp = v,
                }
            }
            0 => return Err(RecordError::Wire("field number 0")),
            1..=5 | 20..=22 => {
                return Err(RecordError::Wire("known field with the wrong wire type"))
            }
            _ => {
                notes.add(Note::UnknownKey);
                skip(b, &mut pos, wire)?;
            }
        }
    }
    if std::str::from_utf8(tt).is_err() {
        return Err(RecordError::Wire("tt is not UTF-8"));
    }
    if tt.is_empty() {
        return Err(RecordError::MissingField("tt"));
    }
    t.tt = super::v3_json::tick_type_bytes(tt, &mut notes)?;
    Ok(Decoded { tick: t, notes })
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

/// The tick type of a TickMessage (exposed for tests of the decoder).
pub fn tick_type_of(m: &TickMessage) -> Option<TickType> {
    TickType::from_storage_name(m.tt.as_bytes())
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
