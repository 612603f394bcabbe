//! Property tests over random ticks: for every (source, target) pair, a
//! record read from the source and written to the target reads back equal
//! on the fields both hold; the direct v3 protobuf writer equals prost's.

use super::plan::map_to_target;
use super::write;
use crate::fingerprint::{same, Fields};
use crate::format::Format;
use crate::tick::{Tick, TickType};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        (1u32..10_000_000).prop_map(|v| Some(f64::from(v) / 100.0)),
        (0u32..100_000).prop_map(|v| Some(f64::from(v))),
        prop_oneof![
            Just(1e-5),
            Just(1e16),
            Just(2.5e-7),
            Just(1.25e17),
            Just(0.0)
        ]
        .prop_map(Some),
    ]
}

fn flag() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![Just(None), Just(Some(false)), Just(Some(true))]
}

prop_compose! {
    fn tick()(
        ts in 1_700_000_000_000_000i64..1_800_000_000_000_000,
        whole in any::<bool>(),
        dst in 0i64..5_000_000,
        cid in prop_oneof![0i64..1_000_000_000, Just(2_147_483_648i64), Just(4_294_967_296i64)],
        tt in prop_oneof![Just(TickType::BidAsk), Just(TickType::Last), Just(TickType::AllLast), Just(TickType::MidPoint)],
        rid in prop_oneof![0i64..100_000, Just(2_147_483_648i64)],
        v in proptest::collection::vec(value(), 7),
        f in proptest::collection::vec(flag(), 4),
    ) -> Tick {
        let ts = if whole { ts - ts % 1_000_000 } else { ts };
        Tick {
            ts, st: ts + dst, cid, tt, rid,
            p: v[0], s: v[1], bp: v[2], bs: v[3], ap: v[4], as_: v[5], mp: v[6],
            bpl: f[0], aph: f[1], upt: f[2], past_limit: f[3],
        }
    }
}

fn read_back(format: Format, bytes: &[u8]) -> Tick {
    let all = format.decode_all(bytes);
    assert_eq!(all.len(), 1);
    all[0].1.clone().unwrap().tick
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_pair_keeps_the_fields_both_hold(t in tick()) {
        for src in Format::ALL {
            let mut b = Vec::new();
            if write::encode(&t, src, &mut b).is_err() {
                continue; // the source itself cannot hold it
            }
            let read = read_back(src, &b);
            for dst in Format::ALL {
                let mut mapped = read;
                let Some(losses) = map_to_target(&mut mapped, dst) else { continue };
                let mut out = Vec::new();
                write::encode(&mapped, dst, &mut out).unwrap();
                let back = read_back(dst, &out);
                let f = Fields::common(src, dst);
                // Without a declared loss, equal on every field the pair holds.
                prop_assert!(!losses.is_empty() || same(&read, &back, &f), "{src} -> {dst}: {read:?} vs {back:?}");
                // Always equal to the record as mapped (declared losses applied).
                prop_assert!(same(&mapped, &back, &Fields { past_limit: !dst.is_v3(), ..Fields::ALL }),
                    "{src} -> {dst}: {mapped:?} vs {back:?}");
            }
        }
    }

    #[test]
    fn direct_v3_pb_writer_equals_prost(t in tick()) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        let ra = write::encode_v3_pb(&t, &mut a);
        let rb = Format::V3Pb.encode(&t, &mut b);
        prop_assert_eq!(ra.is_ok(), rb.is_ok());
        prop_assert_eq!(a.len() > 4 || ra.is_err(), true);
        if ra.is_ok() {
            prop_assert_eq!(a, b);
        }
    }
}
