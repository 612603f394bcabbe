//! v2 protobuf codec for `ib_stream.StreamMessage` (spec §4, §5.1), through
//! the prost types built from `proto/`.
//!
//! v2-PB carries no IB time (spec §4.2): `ts` and `st` are both the envelope
//! timestamp. `cid`/`tt`/`rid` come from `metadata` first, then `tick_data`.

use super::{Decoded, EncodeError, Note, Notes, RecordError};
use crate::proto::ib_stream::{stream_message::MessageData, StreamMessage, TickData};
use crate::tick::Tick;
use crate::time;
use prost::Message as _;
use std::collections::BTreeMap;

/// Decodes one StreamMessage body.
pub fn decode(b: &[u8]) -> Result<Decoded, RecordError> {
    let m = StreamMessage::decode(b).map_err(|_| RecordError::Wire("not a valid StreamMessage"))?;
    let mut notes = Notes::default();
    notes.add(Note::EnvelopeTimeOnly);
    if m.r#type != "tick" {
        return Err(if m.r#type.is_empty() {
            RecordError::MissingField("type")
        } else {
            RecordError::OtherMessage
        });
    }
    let Some(MessageData::TickData(d)) = m.message_data else {
        return Err(RecordError::MissingField("tick_data"));
    };
    let ts = m.timestamp.ok_or(RecordError::MissingField("timestamp"))?;
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(RecordError::BadValue {
            field: "timestamp",
            why: "has nanos outside 0..1e9",
        });
    }
    let us = ts
        .seconds
        .checked_mul(time::US)
        .ok_or(RecordError::BadValue {
            field: "timestamp",
            why: "is out of range",
        })?
        + i64::from(ts.nanos / 1000);
    let meta = |k: &str| m.metadata.get(k).filter(|v| !v.is_empty());
    let meta_int = |k: &'static str| -> Result<Option<i64>, RecordError> {
        meta(k)
            .map(|v| {
                v.parse::<i64>().map_err(|_| RecordError::BadValue {
                    field: k,
                    why: "is not an integer",
                })
            })
            .transpose()
    };
    let cid = match meta_int("contract_id")? {
        Some(c) => c,
        None => {
            notes.add(Note::IdsFromData);
            i64::from(d.contract_id)
        }
    };
    let tt_raw = match meta("tick_type") {
        Some(t) => t.as_str(),
        None => {
            notes.add(Note::IdsFromData);
            d.tick_type.as_str()
        }
    };
    if tt_raw.is_empty() {
        return Err(RecordError::MissingField("tick_type"));
    }
    let tt = super::v3_json::tick_type_bytes(tt_raw.as_bytes(), &mut notes)?;
    let tick = Tick {
        ts: us,
        st: us,
        cid,
        tt,
        rid: meta_int("request_id")?.unwrap_or(0),
        p: d.price,
        s: d.size,
        bp: d.bid_price,
        bs: d.bid_size,
        ap: d.ask_price,
        as_: d.ask_size,
        mp: d.mid_price,
        bpl: d.bid_past_low,
        aph: d.ask_past_high,
        upt: d.unreported,
        past_limit: d.past_limit,
    };
    Ok(Decoded {
        tick,
        notes,
        extras: Default::default(),
    })
}

/// Encodes a StreamMessage body the way the live writer would (spec §4.2):
/// envelope time = `st`, ids in metadata as strings, `stream_id = bg_{cid}_{tt}`.
pub fn encode(t: &Tick) -> Result<Vec<u8>, EncodeError> {
    let cid =
        u32::try_from(t.cid).map_err(|_| EncodeError("contract id does not fit v2 uint32"))?;
    let metadata: BTreeMap<String, String> = [
        ("source", "stream_manager".to_owned()),
        ("request_id", t.rid.to_string()),
        ("contract_id", t.cid.to_string()),
        ("tick_type", t.tt.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let m = StreamMessage {
        r#type: "tick".into(),
        stream_id: format!("bg_{}_{}", t.cid, t.tt),
        timestamp: Some(prost_types::Timestamp {
            seconds: t.st.div_euclid(time::US),
            nanos: (t.st.rem_euclid(time::US) * 1000) as i32,
        }),
        metadata,
        message_data: Some(MessageData::TickData(TickData {
            contract_id: cid,
            tick_type: t.tt.to_string(),
            price: t.p,
            size: t.s,
            bid_price: t.bp,
            bid_size: t.bs,
            ask_price: t.ap,
            ask_size: t.as_,
            mid_price: t.mp,
            past_limit: t.past_limit,
            unreported: t.upt,
            bid_past_low: t.bpl,
            ask_past_high: t.aph,
            ..TickData::default()
        })),
    };
    Ok(m.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tick::TickType;

    #[test]
    fn round_trip_sets_ts_to_envelope_time() {
        let t = Tick {
            ts: 1_752_169_970_039_295,
            st: 1_752_169_970_039_295,
            cid: 265_598,
            tt: TickType::BidAsk,
            rid: 60_000,
            bp: Some(175.25),
            bs: Some(100.0),
            ..Tick::default()
        };
        let d = decode(&encode(&t).unwrap()).unwrap();
        assert_eq!(d.tick, t);
        assert!(d.notes.has(Note::EnvelopeTimeOnly));
    }

    #[test]
    fn garbage_is_a_wire_error() {
        assert_eq!(
            decode(&[0xff, 0xff]).unwrap_err(),
            RecordError::Wire("not a valid StreamMessage")
        );
        assert_eq!(decode(&[]).unwrap_err(), RecordError::MissingField("type"));
    }
}
