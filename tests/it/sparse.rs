//! A sparse all-NUL `.jsonl` (a preallocated file, or a power cut's zeroed
//! blocks) is read in bounded memory: the resident set does not follow the
//! file's size (the peak RSS of that validate process alone).
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use tempfile::tempdir;

#[test]
fn a_sparse_nul_file_is_read_in_bounded_memory() {
    let d = tempdir().unwrap();
    let rel = "v3/json/2025/08/01/01/7_last_1754010000.jsonl";
    let path = d.path().join("s").join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let len: u64 = 512 << 20;
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    let (r, maxrss_kib) = validate_measured(&d.path().join("s"), &[]);
    assert_eq!(r.code, 1);
    let f = r.findings();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(
        (
            f[0]["kind"].as_str(),
            f[0]["offset"].as_u64(),
            f[0]["len"].as_u64()
        ),
        (Some("trailing_nul"), Some(0), Some(len))
    );
    assert!(maxrss_kib < 64 * 1024, "peak RSS {maxrss_kib} KiB");
    eprintln!("peak RSS of validate: {maxrss_kib} KiB");
}
