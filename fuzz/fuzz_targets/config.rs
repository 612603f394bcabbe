//! The env-file parser and the tracked-contracts grammar over arbitrary input.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = ibstore::config::envfile::parse(data);
    for a in &f.assignments {
        let _ = ibstore::config::tracked::parse(&a.value, 10);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        for p in ibstore::config::tracked::parse(s, 10).1 {
            assert!(p.pos <= s.len());
        }
    }
});
