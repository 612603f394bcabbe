//! A small `.jsonl.zst` that decompresses to far more than any real hour
//! file: validated as a stream in bounded memory, with the right finding.
//! (The peak RSS of that validate process alone, reaped with `wait4`.)
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::io::Write as _;
use tempfile::tempdir;

#[test]
fn a_two_gigabyte_zstd_of_newlines_is_validated_in_bounded_memory() {
    let d = tempdir().unwrap();
    let rel = "v3/json/2025/08/01/01/7_last_1754010000.jsonl.zst";
    let path = d.path().join("s").join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut enc =
        zstd::stream::write::Encoder::new(std::fs::File::create(&path).unwrap(), 3).unwrap();
    let mb = vec![b'\n'; 1 << 20];
    for _ in 0..2048 {
        enc.write_all(&mb).unwrap();
    }
    enc.finish().unwrap();
    let compressed = std::fs::metadata(&path).unwrap().len();
    assert!(compressed < 4 << 20, "{compressed} bytes compressed");
    let (r, maxrss_kib) = validate_measured(&d.path().join("s"), &[]);
    assert_eq!(r.code, 0);
    let blank = r.kind("blank_line");
    assert_eq!(blank.len(), 1);
    assert_eq!(
        (
            blank[0]["file"].as_str(),
            blank[0]["offset"].as_u64(),
            blank[0]["count"].as_u64(),
            blank[0]["len"].as_u64()
        ),
        (Some(rel), Some(0), Some(2048 << 20), Some(2048 << 20))
    );
    assert_eq!(
        blank[0]["message"],
        format!(
            "blank line ({} times in this file; the first is shown)",
            2048u64 << 20
        )
        .as_str()
    );
    assert_eq!(r.summary()["records"], 0);
    assert!(maxrss_kib < 64 * 1024, "peak RSS {maxrss_kib} KiB");
    eprintln!("peak RSS of validate: {maxrss_kib} KiB");
}
