//! Every format's framing and decoder over arbitrary bytes: no panic, and
//! every piece lies inside the input.
#![no_main]
use ibstore::format::piece::Piece;
use ibstore::format::{v3_fast, v3_json, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for format in Format::ALL {
        let _ = format.decode(data);
        format.walk(data, |p| {
            let (offset, len) = match p {
                Piece::Record { offset, len, .. } | Piece::Blank { offset, len, .. } | Piece::Damage { offset, len, .. } => (offset, len),
            };
            assert!(offset + len <= data.len() as u64);
        });
    }
    // The v3 JSON fast path never disagrees with the general decoder.
    if let Some(fast) = v3_fast::decode(data) {
        let general = v3_json::decode_general(data).expect("fast path accepted what the general path rejects");
        assert_eq!(format!("{:?}", fast.tick), format!("{:?}", general.tick));
    }
});
