//! A store converted by `ibstore convert` compares clean against its source
//! with `ibstore compare`, for every target format, on live-like data
//! (whole-second `ts`, same-second repeats differing only in `st`), with
//! exactly the allowances the format pair needs.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use tempfile::tempdir;

fn convert(src: &std::path::Path, dst: &std::path::Path, format: &str, extra: &[&str]) {
    let out = ibstore()
        .args(["convert", "--json", "--format", format, "--from"])
        .arg(src)
        .arg("--to")
        .arg(dst)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{format}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `compare --json`: (exit code, lost, extra, changed totals).
fn compare(
    old: &std::path::Path,
    new: &std::path::Path,
    allow: &[&str],
) -> (i32, Vec<serde_json::Value>) {
    let mut c = ibstore();
    c.args(["compare", "--json", "--old"])
        .arg(old)
        .arg("--new")
        .arg(new);
    for a in allow {
        c.args(["--allow", a]);
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap(), json_lines(&out.stdout))
}

#[test]
fn converted_stores_compare_clean_against_their_source() {
    let d = tempdir().unwrap();
    for (source, pairs) in [
        (
            "v3-json",
            vec![
                ("v3-pb", vec![], vec![]),
                ("v3-json", vec!["--compress", "zstd"], vec![]),
                ("v2-json", vec![], vec![]),
                ("v2-pb", vec!["--allow-loss", "ts"], vec!["no-ib-time"]),
            ],
        ),
        (
            "v2-json",
            vec![
                (
                    "v3-pb",
                    vec!["--allow-loss", "past_limit"],
                    vec!["v3-drops"],
                ),
                ("v2-pb", vec!["--allow-loss", "ts"], vec!["no-ib-time"]),
            ],
        ),
    ] {
        let src = d.path().join(format!("src-{source}"));
        gen(
            &src,
            &["--format", source, "--contracts", "2", "--hours", "3"],
        );
        for (target, extra, allow) in pairs {
            let dst = d
                .path()
                .join(format!("{source}-to-{target}-{}", extra.len()));
            convert(&src, &dst, target, &extra);
            let (code, lines) = compare(&src, &dst, &allow);
            let summary = lines.last().unwrap();
            assert_eq!(code, 0, "{source} → {target}: {summary}");
            let hours: Vec<_> = lines
                .iter()
                .filter(|l| l["type"] == "compare_hour")
                .collect();
            assert!(
                hours
                    .iter()
                    .all(|h| h["status"] == "same" || h["status"] == "moved"),
                "{source} → {target}: {hours:?}"
            );
            // And the other way round: nothing the new store holds is extra.
            let (code, _) = compare(&dst, &src, &allow);
            assert_eq!(code, 0, "{target} → {source} reversed");
        }
    }
}
