//! Repair and undo stream a large cut: quarantining 128 MiB of trailing
//! NULs and putting them back keeps the resident set small (the peak RSS
//! of the undo process alone, reaped with `wait4`).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::io::Write as _;
use tempfile::tempdir;

#[test]
fn undo_of_a_large_cut_runs_in_bounded_memory() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "1"],
    );
    let rel = "v3/json/2025/08/01/00/711280073_last_1754006400.jsonl";
    let path = store.join(rel);
    let good = std::fs::read(&path).unwrap();
    let len: u64 = 128 << 20;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&[0u8; 4096]).unwrap();
    f.set_len(good.len() as u64 + len).unwrap();
    drop(f);
    let (code, lines) = repair(&store, &["--apply", "--include-active"]);
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(std::fs::read(&path).unwrap(), good);
    let (code, undo, maxrss_kib) = repair_measured(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(code, 0, "{undo:?}");
    let back = std::fs::read(&path).unwrap();
    assert_eq!(back.len() as u64, good.len() as u64 + len);
    assert_eq!(&back[..good.len()], good.as_slice());
    assert!(back[good.len()..].iter().all(|&b| b == 0));
    assert!(maxrss_kib < 64 * 1024, "peak RSS {maxrss_kib} KiB");
}
