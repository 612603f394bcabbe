//! `ibstore validate` end to end: the real binary on generated stores in temp
//! folders, asserting exact kinds, files, offsets, record numbers and counts.
#![allow(clippy::unwrap_used)]

use crate::common;
use common::*;
use serde_json::json;
use std::fs;
use tempfile::tempdir;

const ALL_FORMATS: &str = "v3-json,v3-pb,v2-json,v2-pb";

#[test]
fn clean_stores_in_every_format_pass_with_exact_totals() {
    for extra in [&[][..], &["--zstd"][..], &["--legacy"][..]] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        let mut args = vec![
            "--format",
            ALL_FORMATS,
            "--contracts",
            "2",
            "--tick-types",
            "bid_ask,last,all_last,mid_point",
            "--hours",
            "3",
            "--records",
            "25",
        ];
        args.extend_from_slice(extra);
        gen(&store, &args);
        let r = validate(&store, &["--strict"]);
        assert_eq!(r.code, 0, "{extra:?}: {:?}", r.findings());
        assert!(r.findings().is_empty(), "{extra:?}: {:?}", r.findings());
        let s = r.summary();
        assert_eq!(
            (
                s["files"].as_u64(),
                s["records"].as_u64(),
                s["streams"].as_u64()
            ),
            (Some(96), Some(2400), Some(32)),
            "{extra:?}"
        );
        let streams = r.of_type("stream");
        assert_eq!(streams.len(), 32);
        assert!(
            streams
                .iter()
                .all(|s| s["files"] == 3 && s["records"] == 75 && s["gaps"] == 0),
            "{extra:?}"
        );
    }
}

/// The finding each injected fault must produce: (gen damage, kind, whether
/// the offset/len are the injected ones).
fn expected_kind(damage: &str, json: bool) -> &'static str {
    match damage {
        "empty" => "empty_file",
        "truncated-tail" | "partial-prefix" => "truncated_tail",
        "trailing-nul" => "trailing_nul",
        "garbage-line" => "invalid_json",
        "invalid-utf8" => "invalid_utf8",
        "bad-record" if json => "wrong_type",
        "bad-record" => "invalid_protobuf",
        "bad-prefix" => "bad_prefix",
        "out-of-order" => "out_of_order",
        "duplicate" => "duplicate",
        "misplaced" => "misplaced_record",
        "gap" => "gap",
        "missing-hour" => "missing_hours",
        other => panic!("untested damage {other}"),
    }
}

#[test]
fn every_damage_kind_in_every_format_is_found_at_its_offset() {
    let common = "empty,truncated-tail,trailing-nul,bad-record,out-of-order,duplicate,misplaced,gap,missing-hour";
    for (format, extra) in [
        ("v3-json", "garbage-line,invalid-utf8"),
        ("v2-json", "garbage-line,invalid-utf8"),
        ("v3-pb", "partial-prefix,bad-prefix"),
        ("v2-pb", "partial-prefix,bad-prefix"),
    ] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        let damage = format!("{common},{extra}");
        let injected = gen(
            &store,
            &[
                "--format",
                format,
                "--contracts",
                "4",
                "--tick-types",
                "bid_ask,last,mid_point",
                "--hours",
                "3",
                "--records",
                "60",
                "--damage",
                &damage,
            ],
        );
        assert_eq!(injected.len(), 11, "{format}");
        let r = validate(&store, &[]);
        assert_eq!(r.code, 1);
        let json = format.ends_with("json");
        for inj in &injected {
            let kind = expected_kind(&inj.kind, json);
            let found = r.kind(kind);
            if kind == "missing_hours" {
                // The stream of the removed file: family folder + stream name.
                let stem = inj
                    .file
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap();
                let stream = if format.starts_with("v3") {
                    stem.rsplit_once('_').unwrap().0.to_owned()
                } else {
                    stem.to_owned()
                };
                let base = inj
                    .file
                    .splitn(3, '/')
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("/");
                assert_eq!(found.len(), 1, "{format} {kind}: {found:?}");
                assert_eq!(found[0]["file"], format!("{base}/{stream}"));
                assert_eq!(found[0]["count"], 1);
                assert_eq!(found[0]["severity"], "warning");
                continue;
            }
            let hits: Vec<_> = found
                .iter()
                .filter(|f| f["file"] == inj.file.as_str())
                .collect();
            assert_eq!(hits.len(), 1, "{format} {}: {:?}", inj.kind, r.findings());
            let f = hits[0];
            assert_eq!(f["offset"], inj.offset, "{format} {}", inj.kind);
            if matches!(
                inj.kind.as_str(),
                "empty"
                    | "truncated-tail"
                    | "partial-prefix"
                    | "trailing-nul"
                    | "garbage-line"
                    | "invalid-utf8"
                    | "bad-record"
                    | "bad-prefix"
            ) {
                assert_eq!(f["len"], inj.len, "{format} {}", inj.kind);
            }
            if matches!(
                inj.kind.as_str(),
                "garbage-line" | "invalid-utf8" | "bad-record" | "bad-prefix" | "misplaced"
            ) {
                assert_eq!(
                    f["record"], 31,
                    "{format} {}: the 31st line/frame of 60",
                    inj.kind
                );
            }
            let sev = if matches!(kind, "out_of_order" | "duplicate" | "gap") {
                "warning"
            } else {
                "error"
            };
            assert_eq!(f["severity"], sev, "{format} {kind}");
            // Exactly the damaged files have findings of this kind.
            let injections_of_kind = injected
                .iter()
                .filter(|i| expected_kind(&i.kind, json) == kind)
                .count();
            assert_eq!(
                found.len(),
                injections_of_kind,
                "{format} {kind}: {found:?}"
            );
        }
        // Nothing else is an error: every error is explained by an injection.
        let damaged: Vec<&str> = injected.iter().map(|i| i.file.as_str()).collect();
        for e in r.errors() {
            assert!(
                damaged.contains(&e["file"].as_str().unwrap()),
                "{format}: unexpected {e}"
            );
        }
        assert_eq!(
            r.summary()["errors"].as_u64().unwrap(),
            r.errors().len() as u64
        );
    }
}

#[test]
fn warnings_alone_exit_zero_unless_strict() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "duplicate"]);
    let r = validate(&store, &[]);
    assert_eq!(
        (
            r.code,
            r.summary()["errors"].as_u64(),
            r.summary()["warnings"].as_u64()
        ),
        (0, Some(0), Some(1))
    );
    assert_eq!(validate(&store, &["--strict"]).code, 1);
}

#[test]
fn validate_never_changes_the_store() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &[
            "--format",
            ALL_FORMATS,
            "--damage",
            "truncated-tail,trailing-nul,empty",
        ],
    );
    let before = snapshot(&store);
    validate(&store, &[]);
    ibstore()
        .args(["validate", "--path"])
        .arg(&store)
        .assert()
        .code(1);
    assert_eq!(snapshot(&store), before);
    assert!(!store.join(".ibstore").exists());
}

#[test]
fn text_output_puts_the_summary_first_and_errors_before_warnings() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "duplicate,empty"]);
    let out = ibstore()
        .args(["validate", "--path"])
        .arg(&store)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ibstore validate: "));
    // 12 files of 100 records, one emptied, one record duplicated.
    assert!(
        lines[1].starts_with("12 data files, 1101 records, ")
            && lines[1].ends_with(" bytes, 4 streams"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "1 error, 1 warning, 0 info");
    let e = text.find("error[empty_file]").unwrap();
    let w = text.find("warning[duplicate]").unwrap();
    assert!(e < w);
    assert!(!text.contains('\x1b'));
}

#[test]
fn path_may_be_a_subfolder_or_one_file() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--format", "v3-pb", "--damage", "truncated-tail"]);
    let file = store.join(&inj[0].file);
    let r = validate(&file, &[]);
    assert_eq!(r.summary()["files"], 1);
    let f = &r.kind("truncated_tail")[0];
    assert_eq!(f["file"], file.file_name().unwrap().to_str().unwrap());
    assert_eq!(f["offset"], inj[0].offset);
    let hour = file.parent().unwrap();
    let r = validate(hour, &[]);
    assert_eq!(r.summary()["files"], 4);
    assert_eq!(r.kind("truncated_tail").len(), 1);
    assert_eq!(r.kind("truncated_tail")[0]["offset"], inj[0].offset);
}

#[test]
fn json_schema_is_stable() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(
        &store,
        &[
            "--contracts",
            "1",
            "--tick-types",
            "last",
            "--damage",
            "empty",
        ],
    );
    let r = validate(&store, &[]);
    assert_eq!(
        r.lines[0],
        json!({"type": "begin", "schema": 1, "tool": "ibstore", "version": env!("CARGO_PKG_VERSION"), "command": "validate", "path": store.canonicalize().unwrap().to_str().unwrap()})
    );
    assert_eq!(
        r.findings(),
        [
            &json!({"type": "finding", "kind": "empty_file", "severity": "error", "file": inj[0].file, "offset": 0, "record": null, "len": 0, "count": 1, "message": "file is empty (0 bytes)"})
        ]
    );
    let s = r.of_type("stream");
    assert_eq!(s.len(), 1);
    let mut keys: Vec<&str> = s[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "base",
            "bytes",
            "contract_id",
            "files",
            "first_ts",
            "format",
            "gaps",
            "last_ts",
            "missing_hours",
            "name",
            "records",
            "repeats",
            "tick_type",
            "type"
        ]
    );
    assert_eq!(
        (
            s[0]["name"].as_str(),
            s[0]["files"].as_u64(),
            s[0]["records"].as_u64()
        ),
        (Some("711280073_last"), Some(3), Some(200))
    );
    let sum = r.summary().as_object().unwrap();
    let mut keys: Vec<&str> = sum.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "bytes",
            "errors",
            "exit_code",
            "files",
            "infos",
            "records",
            "streams",
            "type",
            "warnings"
        ]
    );
}

#[test]
fn bad_inputs_get_findings_not_panics() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let v3 = store.join("v3/json/2025/08/01/01");
    fs::create_dir_all(&v3).unwrap();
    let good = br#"{"ts":1754010291000000,"st":1754010291000100,"cid":7,"tt":"last","rid":1,"p":1.5,"s":2.0}"#;
    // Garbage bytes named .jsonl, then deep nesting, then invalid UTF-8 in one line with a good line after it.
    fs::write(
        v3.join("7_last_1754010000.jsonl"),
        [
            &good[..],
            b"\n",
            &b"[".repeat(5000),
            b"\n",
            br#"{"ts":1,"tt":""#,
            b"\xc3\x28",
            b"\"}\n",
            good,
            b"\n",
        ]
        .concat(),
    )
    .unwrap();
    fs::write(
        v3.join("8_last_1754010000.jsonl"),
        (0..=255u8).cycle().take(3000).collect::<Vec<_>>(),
    )
    .unwrap();
    // A 4 GB length prefix.
    let pb = store.join("v3/protobuf/2025/08/01/01");
    fs::create_dir_all(&pb).unwrap();
    fs::write(
        pb.join("7_last_1754010000.pb"),
        [0xffu8, 0xff, 0xff, 0xff, 1, 2, 3],
    )
    .unwrap();
    fs::write(pb.join("9_last_1754010000.pb"), b"").unwrap();
    // A folder named like a data file, a FIFO, a symlink loop and a link out of the store.
    fs::create_dir_all(store.join("v3/json/2025/08/01/02/x.jsonl")).unwrap();
    let fifo = store.join("v3/json/2025/08/01/01/fifo.jsonl");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("loop_b", store.join("loop_a.jsonl")).unwrap();
    std::os::unix::fs::symlink("loop_a.jsonl", store.join("loop_b")).unwrap();
    std::os::unix::fs::symlink("/etc", store.join("outside")).unwrap();
    fs::write(store.join("notes.txt"), "hello").unwrap();
    fs::create_dir_all(store.join("misc")).unwrap();
    // Zero-filled blocks inside a line, then appends after a restart.
    let nul = store.join("v3/json/2025/08/01/01/9_last_1754010000.jsonl");
    let good9 = good
        .iter()
        .map(|&b| if b == b'7' { b'9' } else { b })
        .collect::<Vec<u8>>();
    fs::write(
        &nul,
        [&good9[..], b"\n{\"ts\":17\0\0\0\0", &good9, b"\n"].concat(),
    )
    .unwrap();

    let r = validate(&store, &[]);
    assert_eq!(r.code, 1);
    let f = "v3/json/2025/08/01/01/7_last_1754010000.jsonl";
    let deep = r
        .kind("invalid_json")
        .into_iter()
        .find(|x| x["file"] == f)
        .unwrap()
        .clone();
    assert_eq!(
        (deep["offset"].as_u64(), deep["record"].as_u64()),
        (Some(good.len() as u64 + 1), Some(2))
    );
    assert!(
        deep["message"]
            .as_str()
            .unwrap()
            .contains("nested deeper than 32 levels"),
        "{deep}"
    );
    let utf8 = r.kind("invalid_utf8");
    assert_eq!(utf8.len(), 1);
    assert_eq!(
        (utf8[0]["file"].as_str(), utf8[0]["record"].as_u64()),
        (Some(f), Some(3))
    );
    // Both good lines were read, the one after the bad lines included.
    let stream = r
        .of_type("stream")
        .into_iter()
        .find(|s| s["name"] == "7_last" && s["format"] == "v3-json")
        .unwrap()
        .clone();
    assert_eq!(stream["records"], 2);
    assert!(!r
        .findings()
        .iter()
        .filter(|x| x["file"] == "v3/json/2025/08/01/01/8_last_1754010000.jsonl")
        .collect::<Vec<_>>()
        .is_empty());
    let unframed = r.kind("unframed");
    assert_eq!(
        (
            unframed.len(),
            unframed[0]["offset"].as_u64(),
            unframed[0]["len"].as_u64()
        ),
        (1, Some(0), Some(7))
    );
    assert_eq!(
        r.kind("empty_file")[0]["file"],
        "v3/protobuf/2025/08/01/01/9_last_1754010000.pb"
    );
    assert_eq!(
        r.kind("folder_named_like_data")[0]["file"],
        "v3/json/2025/08/01/02/x.jsonl"
    );
    let special: Vec<_> = r
        .kind("unknown_file")
        .into_iter()
        .filter(|x| x["severity"] == "warning")
        .collect();
    assert_eq!(special[0]["file"], "v3/json/2025/08/01/01/fifo.jsonl");
    let links = r.kind("symlink");
    assert_eq!(links.len(), 3);
    assert!(
        links.iter().all(|l| l["severity"] == "warning"),
        "{links:?}"
    );
    assert_eq!(r.kind("unknown_file").len(), 2);
    assert_eq!(
        r.kind("unknown_folder")
            .iter()
            .map(|f| f["file"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["misc"]
    );
    let n = r
        .kind("nul_run")
        .into_iter()
        .find(|f| f["file"] == "v3/json/2025/08/01/01/9_last_1754010000.jsonl")
        .unwrap()
        .clone();
    assert_eq!(
        (
            n["file"].as_str(),
            n["offset"].as_u64(),
            n["len"].as_u64(),
            n["record"].as_u64()
        ),
        (
            Some("v3/json/2025/08/01/01/9_last_1754010000.jsonl"),
            Some(good9.len() as u64 + 1),
            Some(12),
            Some(2)
        )
    );
    let s9 = r
        .of_type("stream")
        .into_iter()
        .find(|s| s["name"] == "9_last")
        .unwrap()
        .clone();
    assert_eq!(s9["records"], 2, "the record after the NUL run is read");
}

#[test]
fn a_missing_path_is_a_usage_error_naming_it() {
    let out = ibstore()
        .args(["validate", "--path", "/nonexistent/store"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ibstore: error: /nonexistent/store: no such file or folder\n"
    );
    assert!(out.stdout.is_empty());
    let out = ibstore()
        .args(["validate", "--path", ".", "--jobs", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_shipped_fixture_store_is_clean_and_reproducible() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store");
    let r = validate(&fixture, &["--strict"]);
    assert_eq!((r.code, r.findings().len()), (0, 0), "{:?}", r.findings());
    assert_eq!(
        (
            r.summary()["files"].as_u64(),
            r.summary()["records"].as_u64()
        ),
        (Some(72), Some(2160))
    );
    let d = tempdir().unwrap();
    let again = d.path().join("s");
    gen(
        &again,
        &[
            "--format",
            ALL_FORMATS,
            "--contracts",
            "2",
            "--tick-types",
            "bid_ask,last,mid_point",
            "--hours",
            "3",
            "--records",
            "30",
        ],
    );
    let strip = |v: Vec<(std::path::PathBuf, Vec<u8>, std::time::SystemTime)>,
                 root: &std::path::Path|
     -> Vec<(std::path::PathBuf, Vec<u8>)> {
        v.into_iter()
            .map(|(p, b, _)| (p.strip_prefix(root).unwrap().to_owned(), b))
            .collect()
    };
    let (a, b) = (
        strip(snapshot(&again), &again),
        strip(snapshot(&fixture), &fixture),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!(
            x == y,
            "{} differs from the regenerated file",
            y.0.display()
        );
    }
}

#[test]
fn gen_reports_in_json_too() {
    let d = tempdir().unwrap();
    let out = ibstore()
        .args(["gen", "--json", "--damage", "trailing-nul", "--out"])
        .arg(d.path().join("s"))
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = json_lines(&out.stdout);
    assert_eq!(
        lines[0],
        json!({"type": "damage", "kind": "trailing-nul", "file": "v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl", "offset": 13514, "len": 4096})
    );
    assert_eq!(
        (
            lines[1]["type"].as_str(),
            lines[1]["files"].as_u64(),
            lines[1]["records"].as_u64()
        ),
        (Some("summary"), Some(12), Some(1200))
    );
    let out = ibstore()
        .args(["gen", "--out"])
        .arg(d.path().join("s"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "gen never writes into an existing store"
    );
}

#[test]
fn completions_and_man_page() {
    let out = ibstore().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("validate"));
    let out = ibstore().arg("man").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(".ie"),
        "roff output"
    );
}

#[test]
fn the_readme_documents_every_finding_kind() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    for k in ibstore::report::Kind::ALL {
        let row = format!("| `{}` | {}", k.name(), k.severity().name());
        assert!(
            readme.contains(&row),
            "README lacks the row for {}",
            k.name()
        );
        let agg = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", k.name())))
            .unwrap();
        assert_eq!(
            agg.contains("| yes |"),
            k.aggregated(),
            "README aggregation mark for {}",
            k.name()
        );
    }
}

/// Writes `lines` (each given without its terminator, `\r` allowed) and
/// returns each line's byte offset.
fn write_lines(path: &std::path::Path, lines: &[&str], last_newline: bool) -> Vec<u64> {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut out = String::new();
    let mut offs = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        offs.push(out.len() as u64);
        out.push_str(l);
        if i + 1 < lines.len() || last_newline {
            out.push('\n');
        }
    }
    std::fs::write(path, out).unwrap();
    offs
}

#[test]
fn every_record_and_file_level_kind_is_reported_at_its_place() {
    let d = tempdir().unwrap();
    let s = d.path().join("s");
    let rec = |ts: &str, st: &str, rest: &str| {
        format!(r#"{{"ts":{ts},"st":{st},"cid":7,"tt":"last","rid":1{rest}}}"#)
    };
    let v3 = "v3/json/2025/08/01/01/7_last_1754010000.jsonl";
    let lines = [
        rec(
            "1754010001000000",
            "1754010001000100",
            r#","p":1.5,"s":2.0"#,
        ),
        String::new(),
        rec(
            "1754010002000000",
            "1754010002000100",
            r#","p":1.5,"s":2.0"#,
        ) + "\r",
        rec(
            "1754010003000000",
            "1754010003000100",
            r#","p":1.5,"s":2.0,"zz":1"#,
        ),
        rec("1754010004000000", "1754010004000100", ""),
        rec(
            "1754010005000000",
            "1754010005000100",
            r#","p":1.5,"s":2.0,"bp":1.0"#,
        ),
        rec(
            "1754010006000000",
            "1753990000000000",
            r#","p":1.5,"s":2.0"#,
        ),
        rec(
            "1754010007000000",
            "1754020000000000",
            r#","p":1.5,"s":2.0"#,
        ),
        rec(
            "1754010008000000.0",
            "1754010008000100",
            r#","p":1.5,"s":2.0"#,
        ),
        rec(
            "1754010009000000",
            "1754010009000100",
            r#","p":1.5,"s":2.0"#,
        )
        .replace(r#""tt":"last""#, r#""tt":"Last""#),
        rec(
            "1754010010000000",
            "1754010010000100",
            r#","p":1.5,"s":2.0,"upt":1"#,
        ),
        rec(
            "1754010011000000",
            "1754010011000100",
            r#","p":NaN,"s":2.0"#,
        ),
        rec("1754010012000000", "1754010012000100", r#","p":1.5"#).replace(r#","rid":1"#, ""),
        rec("1754010013000000", "1754010013000100", "")
            .replace(r#""tt":"last""#, r#""tt":"trades""#),
        "[1,2]".to_owned(),
        rec(
            "1754020000000000",
            "1754020000000100",
            r#","p":1.5,"s":2.0"#,
        ),
        rec(
            "1754010014000000",
            "1754010014000100",
            r#","p":1.5,"s":2.0"#,
        ),
    ];
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let offs = write_lines(&s.join(v3), &refs, false);
    let mid = "v3/json/2025/08/01/01/0_mid_point_1754010000.jsonl";
    write_lines(
        &s.join(mid),
        &[r#"{"ts":1754010001000000,"st":1754010001000100,"cid":0,"tt":"mid_point","rid":0}"#],
        true,
    );
    let epoch = "v3/json/1970/01/01/00/7_last_0.jsonl";
    write_lines(
        &s.join(epoch),
        &[r#"{"ts":1754010001,"st":1754010001,"cid":7,"tt":"last","rid":1,"p":1.5,"s":2.0}"#],
        true,
    );
    let wrong_hour = "v3/json/2025/08/01/02/7_last_1754010000.jsonl";
    write_lines(&s.join(wrong_hour), &[&lines[0]], true);
    let bad_name = "v3/json/2025/08/01/01/notes_for_today.jsonl";
    write_lines(&s.join(bad_name), &[&lines[0]], true);
    let env = |ts: &str, data: &str, meta: &str| {
        format!(
            r#"{{"type":"tick","stream_id":"bg_7_last","timestamp":"{ts}","data":{{{data}}}{meta}}}"#
        )
    };
    let live =
        r#""type":"time_sales","tick_type":"Last","unix_time":1754010005,"price":1.5,"size":2.0"#;
    let meta = r#","metadata":{"source":"stream_manager","request_id":"60001","contract_id":"7","tick_type":"last"}"#;
    let v2 = "v2/json/2025/08/01/01/bg_7_last.jsonl";
    let v2_lines = [
        env("2025-08-01T00:59:30.5+00:00", live, meta),
        env("2025-08-01T02:30:00+00:00", live, meta),
        env("2025-08-01T01:10:00.25+00:00Z", live, meta),
        env("2025-08-01T01:11:00+00:00", r#""contract_id":7,"tick_type":"last","price":1.5,"size":2.0"#, ""),
        r#"{"type":"info","stream_id":"bg_7_last","timestamp":"2025-08-01T01:12:00+00:00","data":{}}"#.to_owned(),
    ];
    let v2_refs: Vec<&str> = v2_lines.iter().map(String::as_str).collect();
    let v2_offs = write_lines(&s.join(v2), &v2_refs, true);
    std::fs::write(
        s.join("v3/json/2025/08/01/01/7_all_last_1754010000.jsonl.zst"),
        b"\x28\xb5\x2f\xfd garbage",
    )
    .unwrap();
    let mismatch = "v2/json/2025/08/01/01/bg_7_all_last.jsonl";
    write_lines(
        &s.join(mismatch),
        &[&lines[0].replace(r#""tt":"last""#, r#""tt":"all_last""#)],
        true,
    );

    let r = validate(&s, &["--max-gap", "100000"]);
    let at = |kind: &str, file: &str| -> Vec<(Option<u64>, Option<u64>, String)> {
        r.kind(kind)
            .iter()
            .filter(|f| f["file"] == file)
            .map(|f| {
                (
                    f["offset"].as_u64(),
                    f["record"].as_u64(),
                    f["severity"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let check = |kind: &str, file: &str, line: usize, sev: &str| {
        let o = if file == v3 {
            offs[line]
        } else {
            v2_offs[line]
        };
        assert_eq!(
            at(kind, file),
            [(Some(o), Some(line as u64 + 1), sev.to_owned())],
            "{kind} in {file}"
        );
    };
    check("blank_line", v3, 1, "info");
    check("crlf", v3, 2, "warning");
    check("unknown_key", v3, 3, "warning");
    check("empty_record", v3, 4, "warning");
    check("foreign_field", v3, 5, "warning");
    check("st_before_ts", v3, 6, "warning");
    check("st_after_ts", v3, 7, "info");
    check("float_integer", v3, 8, "info");
    check("pascal_tick_type", v3, 9, "info");
    check("non_bool_flag", v3, 10, "info");
    check("invalid_value", v3, 11, "error");
    check("missing_field", v3, 12, "error");
    check("unknown_tick_type", v3, 13, "error");
    check("not_tick_record", v3, 14, "error");
    check("misplaced_record", v3, 15, "error");
    check("out_of_order", v3, 16, "warning");
    check("missing_newline", v3, 16, "warning");
    check("v2_spillover", v2, 0, "warning");
    check("misplaced_record", v2, 1, "error");
    check("offset_z_timestamp", v2, 2, "warning");
    check("no_event_time", v2, 3, "info");
    check("ids_from_data", v2, 3, "info");
    check("not_tick_record", v2, 4, "warning");
    // Lines 0-2 differ only in `st`: repeats of their predecessor, counted
    // in the stream, never duplicates; line 1's envelope is 1.5 h after its
    // IB time.
    assert!(r.kind("duplicate").is_empty());
    let v2_stream = r
        .of_type("stream")
        .into_iter()
        .find(|s| s["base"] == "v2/json" && s["name"] == "bg_7_last")
        .unwrap();
    assert_eq!(v2_stream["repeats"], 2);
    check("st_after_ts", v2, 1, "info");
    let kinds = |file: &str| -> Vec<String> {
        let mut k: Vec<String> = r
            .findings()
            .iter()
            .filter(|f| f["file"] == file)
            .map(|f| f["kind"].as_str().unwrap().to_owned())
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(mid), ["missing_mid_value", "zero_contract_id"]);
    assert_eq!(
        kinds(epoch),
        ["bad_partition", "invalid_value", "invalid_value"]
    );
    assert_eq!(kinds(wrong_hour), ["bad_partition"]);
    assert_eq!(kinds(bad_name), ["bad_file_name"]);
    assert_eq!(
        kinds("v3/json/2025/08/01/01/7_all_last_1754010000.jsonl.zst"),
        ["compression"]
    );
    assert_eq!(kinds(mismatch), ["format_mismatch"]);
    // Nothing else in the crafted file: exactly the findings listed above.
    assert_eq!(r.findings().iter().filter(|f| f["file"] == v3).count(), 17);
    assert_eq!(
        r.findings().iter().filter(|f| f["file"] == v2).count(),
        7,
        "{:?}",
        kinds(v2)
    );
}
