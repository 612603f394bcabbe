//! Every format's framing and decoder over arbitrary bytes: no panic, every
//! piece lies inside the input, and framing in windows (as files are read)
//! gives the pieces of framing the whole buffer.
#![no_main]
use ibstore::format::piece::Piece;
use ibstore::format::{v3_fast, v3_json, Format};
use libfuzzer_sys::fuzz_target;

fn pieces(format: Format, data: &[u8], window: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |p: Piece<'_>| {
        let (offset, len) = p.span();
        assert!(offset + len <= data.len() as u64);
        if !matches!(p, Piece::Blank { .. }) {
            out.push(p.describe());
        }
    };
    let mut f = format.framer();
    match window {
        None => {
            f.feed(data, 0, true, &mut push);
        }
        Some(w) => {
            let mut carry = Vec::new();
            let (mut base, mut pos) = (0u64, 0usize);
            loop {
                let take = w.min(data.len() - pos);
                carry.extend_from_slice(&data[pos..pos + take]);
                pos += take;
                let eof = pos == data.len();
                let used = f.feed(&carry, base, eof, &mut push);
                if eof {
                    break;
                }
                carry.drain(..used);
                base += used as u64;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let w = data.first().map_or(1, |&b| usize::from(b % 61) + 1);
    for format in Format::ALL {
        let _ = format.decode(data);
        assert_eq!(pieces(format, data, None), pieces(format, data, Some(w)));
    }
    // The fast paths never disagree with the general decoders.
    if let Some(fast) = v3_fast::decode(data) {
        let general = v3_json::decode_general(data).expect("fast path accepted what the general path rejects");
        assert_eq!(format!("{:?}", fast.tick), format!("{:?}", general.tick));
    }
});
