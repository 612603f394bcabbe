//! `ibstore config` end to end: the seed's files pass; every rule has a test
//! with its exact message and line.
#![allow(clippy::unwrap_used)]

use crate::common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

fn check(files: &[PathBuf], extra: &[&str]) -> Report {
    let out = ibstore()
        .args(["config", "check", "--json"])
        .args(extra)
        .args(files)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let lines: Vec<Value> = json_lines(&out.stdout);
    assert!(
        code == 0 || code == 1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(lines.last().unwrap()["exit_code"], code);
    Report { code, lines }
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const PROD: &str = "PORT=8001\nIB_STREAM_CLIENT_ID=2\nIB_STREAM_STORAGE_PATH=storage\nIB_STREAM_ENABLE_STORAGE=true\nIB_STREAM_TRACKED_CONTRACTS=711280073:MNQ:bid_ask;last:1\n";
const DEV: &str = "PORT=8101\nIB_STREAM_CLIENT_ID=12\nIB_STREAM_STORAGE_PATH=storage-dev\nIB_STREAM_ENABLE_STORAGE=true\nIB_STREAM_TRACKED_CONTRACTS=\n";

/// Every finding of a run: kind, severity, line and message.
fn all(r: &Report) -> Vec<(String, String, Option<u64>, String)> {
    r.findings()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["severity"].as_str().unwrap().to_owned(),
                f["record"].as_u64(),
                f["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn finding(
    kind: &str,
    sev: &str,
    line: Option<u64>,
    msg: String,
) -> (String, String, Option<u64>, String) {
    (kind.to_owned(), sev.to_owned(), line, msg)
}

/// The only finding of a run, with its kind, line and message.
fn only(r: &Report) -> (String, Option<u64>, String) {
    let f = r.findings();
    assert_eq!(f.len(), 1, "{f:?}");
    (
        f[0]["kind"].as_str().unwrap().to_owned(),
        f[0]["record"].as_u64(),
        f[0]["message"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn the_seed_files_and_templates_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config");
    let files: Vec<PathBuf> = [
        "production.env",
        "development.env",
        "staging.env",
        "templates/development-recording.env",
        "templates/development-api-only.env",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    let r = check(&files, &["--strict"]);
    assert_eq!((r.code, r.findings().len()), (0, 0), "{:?}", r.findings());
    assert_eq!(
        (
            r.summary()["files"].as_u64(),
            r.summary()["records"].as_u64()
        ),
        (Some(5), Some(25))
    );
    // With no files, config check reads config/*.env below the current folder.
    let out = ibstore()
        .args(["config", "check"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 env files, 15 settings"));
}

#[test]
fn syntax_duplicates_types_and_names() {
    let d = tempdir().unwrap();
    let cases: [(&str, &str, &str, u64, &str); 9] = [
        ("development.env", "PORT=8101\nnot an assignment\n", "env_syntax", 2, "2:1: expected KEY=VALUE, found \"not an assignment\""),
        ("development.env", "PORT=8101\nPORT=8102\n", "duplicate_key", 2, "2:1: PORT is set again (first at {F}:1); the loaders keep the first value"),
        ("development.env", "PORT=81o1\n", "invalid_setting", 1, "1:6: PORT = \"81o1\": is not a whole number"),
        ("development.env", "PORT=8101\nIB_STREAM_CLIENT_ID=40000\n", "invalid_setting", 2, "2:21: IB_STREAM_CLIENT_ID = \"40000\": must be 0..32767"),
        ("development.env", "PORT=8101\nIB_STREAM_ENABLE_STORAGE=maybe\n", "invalid_setting", 2, "2:26: IB_STREAM_ENABLE_STORAGE = \"maybe\": is not a boolean (true/false)"),
        ("development.env", "PORT=8101\nIB_STREAM_CLIENTID=12\n", "unknown_setting", 2, "2:1: IB_STREAM_CLIENTID is not read by the recorder; did you mean IB_STREAM_CLIENT_ID?"),
        ("development.env", "PORT=8101\nIB_STREAM_SERVER_TYPE=stream\n", "unused_setting", 2, "2:1: IB_STREAM_SERVER_TYPE appears in the recorder's env files but no code reads it"),
        ("development.env", "PORT=8101\nIB_STREAM_ENABLE_STORAGE=1\n", "loader_disagreement", 2, "2:26: IB_STREAM_ENABLE_STORAGE = \"1\": the legacy loader reads false, the HEAD server (config-v2) reads true; write true"),
        ("development.env", "PORT=8101\nIB_STREAM_TRACKED_CONTRACTS=711280073:MNQ:bid_ask;lsat:1\n", "invalid_tracked_contracts", 2, "2:51: IB_STREAM_TRACKED_CONTRACTS: unknown tick type \"lsat\"; known: bid_ask, last, all_last, mid_point"),
    ];
    for (name, body, kind, line, msg) in cases {
        // Its own storage path, after the lines under test: not production's.
        let f = write(
            d.path(),
            name,
            &format!("{body}IB_STREAM_STORAGE_PATH=storage-dev\n"),
        );
        let r = check(std::slice::from_ref(&f), &[]);
        let f = f.display().to_string();
        assert_eq!(
            only(&r),
            (
                kind.to_owned(),
                Some(line),
                format!("{f}:{}", msg.replace("{F}", &f))
            ),
            "{body:?}"
        );
        let sev = r.findings()[0]["severity"].as_str().unwrap().to_owned();
        assert_eq!(r.code, i32::from(sev == "error"), "{kind}");
    }
}

#[test]
fn short_tracked_entries_are_flagged_for_the_head_server() {
    let d = tempdir().unwrap();
    let f = write(d.path(), "staging.env", "PORT=8201\nIB_STREAM_TRACKED_CONTRACTS=711280073:MNQ\nIB_STREAM_STORAGE_PATH=storage-staging\n");
    let r = check(std::slice::from_ref(&f), &[]);
    let (kind, line, msg) = only(&r);
    assert_eq!((kind.as_str(), line), ("loader_disagreement", Some(2)));
    assert_eq!(msg, format!("{}:2:29: IB_STREAM_TRACKED_CONTRACTS: entry \"711280073:MNQ\" has 2 parts: the legacy loader accepts it, but the HEAD server (config-v2) silently ignores entries with fewer than 4 (write 711280073:MNQ:bid_ask;last:1)", f.display()));
    assert_eq!(r.code, 0);
}

#[test]
fn environments_are_kept_apart() {
    let d = tempdir().unwrap();
    let prod = write(d.path(), "production.env", PROD);
    // Development on a production port.
    let dev = write(d.path(), "development.env", &DEV.replace("8101", "8001"));
    let r = check(&[prod.clone(), dev.clone()], &[]);
    let kinds: Vec<(&str, Option<u64>)> = r
        .findings()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap(), f["record"].as_u64()))
        .collect();
    assert_eq!(
        kinds,
        [("port_out_of_range", Some(1)), ("shared_port", Some(1))]
    );
    assert_eq!(
        r.kind("port_out_of_range")[0]["message"],
        format!(
            "{}:1: PORT = 8001 is outside the development range 8100–8199",
            dev.display()
        )
    );
    assert_eq!(
        r.kind("shared_port")[0]["message"],
        format!(
            "{}:1: PORT = 8001 is also the HTTP port of {}:1 (PORT, production)",
            dev.display(),
            prod.display()
        )
    );

    // Staging's main client id is development's background id (12 + 1000).
    let d = tempdir().unwrap();
    let dev = write(d.path(), "development.env", DEV);
    let stg = write(
        d.path(),
        "staging.env",
        "PORT=8201\nIB_STREAM_CLIENT_ID=1012\nIB_STREAM_STORAGE_PATH=storage-staging\n",
    );
    let r = check(&[dev.clone(), stg.clone()], &[]);
    let (kind, line, msg) = only(&r);
    assert_eq!((kind.as_str(), line), ("shared_client_id", Some(2)));
    assert_eq!(
        msg,
        format!(
            "{}:2: IB_STREAM_CLIENT_ID = 1012: TWS client id 1012 (main) is also the background client id of {}:2 (IB_STREAM_CLIENT_ID = 12, development)",
            stg.display(),
            dev.display()
        )
    );

    // Two non-production environments writing one folder.
    let d = tempdir().unwrap();
    let dev = write(d.path(), "development.env", DEV);
    let stg = write(
        d.path(),
        "staging.env",
        "PORT=8201\nIB_STREAM_CLIENT_ID=22\nIB_STREAM_STORAGE_PATH=./storage-dev/\n",
    );
    let r = check(&[dev.clone(), stg.clone()], &[]);
    assert_eq!(
        only(&r),
        (
            "shared_storage_path".into(),
            Some(3),
            format!(
                "{}:3: IB_STREAM_STORAGE_PATH: storage \"storage-dev\" is also written by {}:3 (IB_STREAM_STORAGE_PATH, development)",
                stg.display(),
                dev.display()
            )
        )
    );
    assert_eq!(r.code, 1);
}

#[test]
fn production_storage_only_read_only_from_other_environments() {
    let d = tempdir().unwrap();
    let prod = write(d.path(), "production.env", PROD);
    let migration = "PORT=8101\nIB_STREAM_CLIENT_ID=12\nIB_STREAM_STORAGE_PATH=storage\nIB_STREAM_ENABLE_STORAGE=false\n";
    let dev = write(d.path(), "development.env", migration);
    let r = check(&[prod.clone(), dev.clone()], &["--strict"]);
    assert_eq!(
        (r.code, r.findings().len()),
        (0, 0),
        "the seed's read-only migration mode: {:?}",
        r.findings()
    );
    let dev = write(
        d.path(),
        "development.env",
        &migration.replace("=false", "=true"),
    );
    let r = check(&[prod, dev.clone()], &[]);
    assert_eq!(only(&r), ("writes_production_storage".into(), Some(3), format!("{}:3: IB_STREAM_STORAGE_PATH: development environment writes to the production storage \"storage\"; set IB_STREAM_ENABLE_STORAGE=false for read-only use, or give it its own path", dev.display())));
    // Without a production file the production default `storage` still counts.
    let d = tempdir().unwrap();
    let dev = write(
        d.path(),
        "development.env",
        "PORT=8101\nIB_STREAM_CLIENT_ID=12\n",
    );
    let r = check(std::slice::from_ref(&dev), &[]);
    assert_eq!(only(&r).0, "writes_production_storage");
    assert_eq!(only(&r).1, None, "the default storage path has no line");
    assert_eq!(only(&r).2, format!("{}: IB_STREAM_STORAGE_PATH unset (default \"storage\"): development environment writes to the production storage \"storage\"; set IB_STREAM_ENABLE_STORAGE=false for read-only use, or give it its own path", dev.display()));
}

#[test]
fn bad_files_get_clear_errors() {
    let d = tempdir().unwrap();
    let bin = d.path().join("production.env");
    std::fs::write(&bin, b"PORT=8001\n\x00\x01\x02binary").unwrap();
    let r = check(std::slice::from_ref(&bin), &[]);
    assert_eq!(
        only(&r),
        (
            "env_syntax".into(),
            Some(2),
            format!(
                "{}:2:1: the file is binary (a NUL byte), not an environment file",
                bin.display()
            )
        )
    );
    let long = write(
        d.path(),
        "staging.env",
        &format!(
            "PORT=8201\nIB_STREAM_LOG_FORMAT={}\nIB_STREAM_STORAGE_PATH=storage-staging\n",
            "x".repeat(70_000)
        ),
    );
    let r = check(std::slice::from_ref(&long), &[]);
    assert_eq!(
        only(&r).2,
        format!(
            "{}:2:1: IB_STREAM_LOG_FORMAT: line is 70021 bytes long (limit 65536)",
            long.display()
        )
    );
    let unknown = write(
        d.path(),
        "box.env",
        "IB_STREAM_CLIENT_ID=50\nIB_STREAM_STORAGE_PATH=box\n",
    );
    let r = check(std::slice::from_ref(&unknown), &[]);
    assert_eq!(
        only(&r),
        (
            "unknown_environment".into(),
            None,
            format!("{}: neither the file name nor the HTTP port (PORT, IB_STREAM_PORT) says which environment this is; it is compared with every other file", unknown.display())
        )
    );
}

#[test]
fn show_labels_every_value_with_its_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/config/development.env");
    let out = ibstore()
        .args(["config", "show", "--json", "--env"])
        .arg(&root)
        .env("IB_STREAM_CLIENT_ID", "77")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = json_lines(&out.stdout);
    let get = |n: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "setting" && l["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        get("IB_STREAM_CLIENT_ID"),
        serde_json::json!({"type": "setting", "name": "IB_STREAM_CLIENT_ID", "value": "77", "source": "process", "line": null, "known": true})
    );
    assert_eq!(
        get("PORT"),
        serde_json::json!({"type": "setting", "name": "PORT", "value": "8101", "source": "file", "line": 2, "known": true})
    );
    assert_eq!(get("IB_STREAM_BUFFER_SIZE")["source"], "default");
    let text = ibstore()
        .args(["config", "show", "--env"])
        .arg(&root)
        .env_remove("IB_STREAM_CLIENT_ID")
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!("IB_STREAM_CLIENT_ID=12  # {}:3\n", root.display())),
        "{text}"
    );
}

/// A path that does not exist: the command cannot run (exit 2) and says
/// which path. A file that exists but cannot be read stays a finding.
#[test]
fn paths_that_do_not_exist_exit_2() {
    let d = tempdir().unwrap();
    let missing = d.path().join("nope.env");
    let prod = write(d.path(), "production.env", PROD);
    let runs: [Vec<&std::ffi::OsStr>; 4] = [
        vec!["config".as_ref(), "check".as_ref(), missing.as_os_str()],
        vec![
            "config".as_ref(),
            "check".as_ref(),
            "--json".as_ref(),
            prod.as_os_str(),
            missing.as_os_str(),
        ],
        vec![
            "config".as_ref(),
            "show".as_ref(),
            "--env".as_ref(),
            missing.as_os_str(),
        ],
        vec![
            "config".as_ref(),
            "show".as_ref(),
            "--json".as_ref(),
            "--env".as_ref(),
            missing.as_os_str(),
        ],
    ];
    for args in runs {
        let out = ibstore().args(&args).output().unwrap();
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                out.stdout.len()
            ),
            (
                Some(2),
                format!(
                    "ibstore: error: {}: no such file or folder\n",
                    missing.display()
                ),
                0
            ),
            "{args:?}"
        );
    }

    // A folder where a file should be: unreadable, exit 1, for check and show.
    let folder = d.path().join("folder.env");
    std::fs::create_dir(&folder).unwrap();
    let r = check(std::slice::from_ref(&folder), &[]);
    let (kind, line, msg) = only(&r);
    assert_eq!((kind.as_str(), line, r.code), ("unreadable", None, 1));
    assert!(
        msg.starts_with(&format!("{}: cannot read: ", folder.display())),
        "{msg}"
    );
    let out = ibstore()
        .args(["config", "show", "--json", "--env"])
        .arg(&folder)
        .output()
        .unwrap();
    let lines = json_lines(&out.stdout);
    let kinds: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "finding")
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!((out.status.code(), kinds), (Some(1), vec!["unreadable"]));

    // A binary file: a syntax finding, exit 1.
    let bin = d.path().join("production.env");
    std::fs::write(&bin, b"PORT=8201\n\x00\x01").unwrap();
    let out = ibstore()
        .args(["config", "show", "--json", "--env"])
        .arg(&bin)
        .output()
        .unwrap();
    let lines = json_lines(&out.stdout);
    let f: Vec<&Value> = lines.iter().filter(|l| l["type"] == "finding").collect();
    assert_eq!(
        (
            out.status.code(),
            f.len(),
            f[0]["kind"].as_str(),
            f[0]["message"].as_str()
        ),
        (
            Some(1),
            1,
            Some("env_syntax"),
            Some(
                format!(
                    "{}:2:1: the file is binary (a NUL byte), not an environment file",
                    bin.display()
                )
                .as_str()
            )
        )
    );
}

/// Every config finding begins with its place, `FILE:LINE` (or `FILE` for
/// a whole file), names the variable it is about, and the text report
/// prints it as it is.
#[test]
fn findings_name_file_line_and_variable() {
    let d = tempdir().unwrap();
    let prod = write(d.path(), "production.env", PROD);
    let dev = write(d.path(), "development.env", "PORT=8001\nIB_STREAM_CLIENT_ID=2\nIB_STREAM_STORAGE_PATH=storage\nIB_STREAM_TRACKED_CONTRACTS=711280073:MNQ\n");
    let stg = write(d.path(), "staging.env", "PORT=8201\nPORT=8202\nIB_STREAM_CLIENT_ID=22\nIB_STREAM_STORAGE_PATH=storage-dev\nIB_STREAM_ENABLE_JSON=maybe\nIB_STREAM_CLIENTID=1\nIB_STREAM_SERVER_TYPE=x\nIB_STREAM_TRACKED_CONTRACTS=1:A:lsat:1\nbad line\n");
    let tst = write(
        d.path(),
        "testing.env",
        "IB_STREAM_CLIENT_ID=40\nIB_STREAM_STORAGE_PATH=storage-dev\n",
    );
    let bx = write(
        d.path(),
        "box.env",
        "IB_STREAM_CLIENT_ID=50\nIB_STREAM_STORAGE_PATH=box\r\n",
    );
    let folder = d.path().join("folder.env");
    std::fs::create_dir(&folder).unwrap();
    let files = [
        prod,
        dev.clone(),
        stg.clone(),
        tst.clone(),
        bx.clone(),
        folder.clone(),
    ];
    let r = check(&files, &[]);
    let name = |p: &Path| p.display().to_string();
    // (kind, file, line, the variable it is about)
    let expected: Vec<(&str, String, Option<u64>, Option<&str>)> = vec![
        ("port_out_of_range", name(&dev), Some(1), Some("PORT")),
        ("shared_port", name(&dev), Some(1), Some("PORT")),
        (
            "shared_client_id",
            name(&dev),
            Some(2),
            Some("IB_STREAM_CLIENT_ID"),
        ),
        (
            "shared_client_id",
            name(&dev),
            Some(2),
            Some("IB_STREAM_CLIENT_ID"),
        ),
        (
            "writes_production_storage",
            name(&dev),
            Some(3),
            Some("IB_STREAM_STORAGE_PATH"),
        ),
        ("unreadable", name(&folder), None, None),
        (
            "invalid_setting",
            name(&stg),
            Some(5),
            Some("IB_STREAM_ENABLE_JSON"),
        ),
        (
            "invalid_tracked_contracts",
            name(&stg),
            Some(8),
            Some("IB_STREAM_TRACKED_CONTRACTS"),
        ),
        ("env_syntax", name(&stg), Some(9), None),
        (
            "shared_storage_path",
            name(&tst),
            Some(2),
            Some("IB_STREAM_STORAGE_PATH"),
        ),
        (
            "loader_disagreement",
            name(&bx),
            Some(2),
            Some("IB_STREAM_STORAGE_PATH"),
        ),
        ("crlf", name(&bx), Some(2), None),
        (
            "loader_disagreement",
            name(&dev),
            Some(4),
            Some("IB_STREAM_TRACKED_CONTRACTS"),
        ),
        ("duplicate_key", name(&stg), Some(2), Some("PORT")),
        (
            "unknown_setting",
            name(&stg),
            Some(6),
            Some("IB_STREAM_CLIENTID"),
        ),
        ("unknown_environment", name(&bx), None, None),
        (
            "unused_setting",
            name(&stg),
            Some(7),
            Some("IB_STREAM_SERVER_TYPE"),
        ),
    ];
    let got: Vec<(&str, String, Option<u64>)> = r
        .findings()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap(),
                f["file"].as_str().unwrap().to_owned(),
                f["record"].as_u64(),
            )
        })
        .collect();
    let want: Vec<(&str, String, Option<u64>)> = expected
        .iter()
        .map(|(k, f, l, _)| (*k, f.clone(), *l))
        .collect();
    assert_eq!(got, want);
    for (f, (kind, file, line, var)) in r.findings().iter().zip(&expected) {
        let msg = f["message"].as_str().unwrap();
        let place = line.map_or_else(|| format!("{file}: "), |l| format!("{file}:{l}"));
        assert!(msg.starts_with(&place), "{kind}: {msg}");
        if let Some(var) = var {
            assert!(
                msg[place.len()..].contains(var),
                "{kind} does not name {var}: {msg}"
            );
        }
    }
    // The text report prints each as `severity[kind] message`.
    let out = ibstore()
        .args(["config", "check"])
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<&str> = text
        .split("\nfindings:\n")
        .nth(1)
        .unwrap()
        .lines()
        .collect();
    let want: Vec<String> = r
        .findings()
        .iter()
        .map(|f| {
            format!(
                "{}[{}] {}",
                f["severity"].as_str().unwrap(),
                f["kind"].as_str().unwrap(),
                f["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(printed, want);
    assert!(!text.contains(" #"), "{text}");
}

/// Spec §13.4: config-v2's (pydantic) field names are case-insensitive;
/// every other loader, and every name that is not a config-v2 field, is
/// case-sensitive.
#[test]
fn config_v2_fields_are_case_insensitive() {
    let d = tempdir().unwrap();
    let f = write(
        d.path(),
        "development.env",
        "PORT=8101\nIB_STREAM_CLIENT_ID=12\nib_client_id=40000\nib_stream_storage_path=storage-dev\nib_stream_max_tracked=3\nib_stream_client_id=13\n",
    );
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    // ib_stream_storage_path is config-v2's storage path, so this file does
    // not write production's `storage`.
    assert_eq!(
        all(&r),
        [
            finding("invalid_setting", "error", Some(3), format!("{f}:3:14: IB_CLIENT_ID (spelled ib_client_id) = \"40000\": must be 1..32767")),
            finding("loader_disagreement", "warning", Some(3), format!("{f}:3:1: ib_client_id is IB_CLIENT_ID to config-v2, whose names are case-insensitive, but config-v2's compat fallback reads only IB_CLIENT_ID and misses ib_client_id; write IB_CLIENT_ID")),
            finding("loader_disagreement", "warning", Some(4), format!("{f}:4:1: ib_stream_storage_path is IB_STREAM_STORAGE_PATH to config-v2, whose names are case-insensitive, but the legacy loader (config.py) and config-v2's compat fallback read only IB_STREAM_STORAGE_PATH and miss ib_stream_storage_path; write IB_STREAM_STORAGE_PATH")),
            finding("unknown_setting", "warning", Some(5), format!("{f}:5:1: ib_stream_max_tracked is not read by the recorder; did you mean IB_STREAM_MAX_TRACKED? Only the legacy loader (config.py) reads it, by that exact name (only config-v2's own fields are case-insensitive)")),
            finding("unknown_setting", "warning", Some(6), format!("{f}:6:1: ib_stream_client_id is not read by the recorder; did you mean IB_STREAM_CLIENT_ID? Only the legacy loader (config.py), the connection loader (load_environment_config) and config-v2's compat fallback read it, by that exact name (only config-v2's own fields are case-insensitive)")),
        ]
    );
    assert_eq!(r.code, 1);

    // `config show` lists the value under the variable's name.
    let out = ibstore()
        .args(["config", "show", "--json", "--env", &f])
        .env_remove("IB_CLIENT_ID")
        .env_remove("IB_STREAM_STORAGE_PATH")
        .output()
        .unwrap();
    let lines = json_lines(&out.stdout);
    let setting = |n: &str| {
        lines
            .iter()
            .find(|l| l["type"] == "setting" && l["name"] == n)
            .cloned()
    };
    assert_eq!(
        setting("IB_CLIENT_ID"),
        Some(
            serde_json::json!({"type": "setting", "name": "IB_CLIENT_ID", "value": "40000", "source": "file", "line": 3, "known": true})
        )
    );
    assert_eq!(
        setting("IB_STREAM_STORAGE_PATH").unwrap()["value"],
        "storage-dev"
    );
    assert_eq!(setting("ib_client_id"), None);
    assert_eq!(setting("ib_stream_max_tracked").unwrap()["known"], false);

    // The cross-file rules use config-v2's reading of its fields.
    let d = tempdir().unwrap();
    let prod = write(d.path(), "production.env", PROD);
    let stg = write(
        d.path(),
        "staging.env",
        "ib_stream_port=8001\nib_client_id=2\nIB_STREAM_STORAGE_PATH=storage-staging\n",
    );
    let r = check(&[prod.clone(), stg.clone()], &[]);
    let (p, s) = (prod.display(), stg.display());
    assert_eq!(
        all(&r),
        [
            finding("port_out_of_range", "error", Some(1), format!("{s}:1: IB_STREAM_PORT (spelled ib_stream_port) = 8001 is outside the staging range 8200–8299")),
            finding("shared_port", "error", Some(1), format!("{s}:1: IB_STREAM_PORT (spelled ib_stream_port) = 8001 is also the HTTP port of {p}:1 (PORT, production)")),
            finding("shared_client_id", "error", Some(2), format!("{s}:2: IB_CLIENT_ID (spelled ib_client_id) = 2: TWS client id 2 (main) is also the main client id of {p}:2 (IB_STREAM_CLIENT_ID = 2, production)")),
            finding("shared_client_id", "error", Some(2), format!("{s}:2: IB_CLIENT_ID (spelled ib_client_id) = 2: TWS client id 1002 (background) is also the background client id of {p}:2 (IB_STREAM_CLIENT_ID = 2, production)")),
            finding("loader_disagreement", "warning", Some(1), format!("{s}:1:1: ib_stream_port is IB_STREAM_PORT to config-v2, whose names are case-insensitive, but BaseAPIServer.run() and config-v2's compat fallback read only IB_STREAM_PORT and miss ib_stream_port; write IB_STREAM_PORT")),
            finding("loader_disagreement", "warning", Some(2), format!("{s}:2:1: ib_client_id is IB_CLIENT_ID to config-v2, whose names are case-insensitive, but config-v2's compat fallback reads only IB_CLIENT_ID and misses ib_client_id; write IB_CLIENT_ID")),
        ]
    );
}

/// The recorder's Python loaders read a CRLF file as LF (text-mode reads,
/// stripped lines); a shell that loads it keeps the `\r` in each value.
/// CRLF alone is one warning per file; a value the `\r` changes is one more.
#[test]
fn crlf_files_are_checked_as_each_loader_reads_them() {
    let d = tempdir().unwrap();
    // Numbers and tracked contracts are unaffected by a trailing \r.
    let f = write(
        d.path(),
        "development.env",
        "PORT=8101\r\nIB_STREAM_CLIENT_ID=12\r\nIB_STREAM_BATCH_TIMEOUT=1.5\r\nIB_STREAM_TRACKED_CONTRACTS=711280073:MNQ:bid_ask;last:1\r\nIB_STREAM_STORAGE_PATH=storage-dev\n",
    );
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    assert_eq!(
        all(&r),
        [finding("crlf", "warning", Some(1), format!("{f}:1: 4 lines end in CRLF, the first here: the recorder's Python loaders read them as LF, but a shell that loads the file (env $(cat {f} | xargs), set -a; . {f}) keeps the \\r at the end of every value"))]
    );
    assert_eq!(
        (
            r.findings()[0]["offset"].as_u64(),
            r.findings()[0]["count"].as_u64(),
            r.code
        ),
        (Some(9), Some(4), 0)
    );

    let f = write(
        d.path(),
        "development.env",
        "PORT=8101\r\nIB_STREAM_CLIENT_ID=12\r\nIB_STREAM_STORAGE_PATH=storage-dev\r\nIB_STREAM_ENABLE_STORAGE=true\r\nIB_STREAM_ENABLE_JSON=false\r\nIB_STREAM_LOG_LEVEL=INFO\r\n",
    );
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    let shell = format!("loaded through a shell (env $(cat {f} | xargs)) the value is");
    assert_eq!(
        all(&r),
        [
            finding("crlf", "warning", Some(1), format!("{f}:1: 6 lines end in CRLF, the first here: the recorder's Python loaders read them as LF, but a shell that loads the file (env $(cat {f} | xargs), set -a; . {f}) keeps the \\r at the end of every value")),
            finding("loader_disagreement", "warning", Some(3), format!("{f}:3:24: IB_STREAM_STORAGE_PATH = \"storage-dev\" is on a CRLF line: {shell} \"storage-dev\\r\", and every loader that reads it uses a folder whose name ends in \\r")),
            finding("loader_disagreement", "warning", Some(4), format!("{f}:4:26: IB_STREAM_ENABLE_STORAGE = \"true\" is on a CRLF line: {shell} \"true\\r\", and the legacy loader (config.py) reads false instead of true; config-v2 rejects it (pydantic does not trim booleans), so config-v2 falls back to its compat mapping for every setting")),
            finding("loader_disagreement", "warning", Some(5), format!("{f}:5:23: IB_STREAM_ENABLE_JSON = \"false\" is on a CRLF line: {shell} \"false\\r\", and config-v2 rejects it (pydantic does not trim booleans), so config-v2 falls back to its compat mapping for every setting")),
            finding("loader_disagreement", "warning", Some(6), format!("{f}:6:21: IB_STREAM_LOG_LEVEL = \"INFO\" is on a CRLF line: {shell} \"INFO\\r\", and no loader accepts it as one of DEBUG, INFO, WARNING, ERROR, CRITICAL")),
        ]
    );
    assert_eq!(r.code, 0, "warnings only");
}

/// Places where the checks contradicted spec §13 and the recorder's loaders.
#[test]
fn checks_follow_the_loaders() {
    let d = tempdir().unwrap();
    // Both readers of `*.env` files set a variable only if it is unset: the
    // first assignment is the one used (8101, in range).
    let f = write(
        d.path(),
        "development.env",
        "PORT=8101\nPORT=8001\nIB_STREAM_STORAGE_PATH=storage-dev\n",
    );
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    assert_eq!(
        all(&r),
        [finding(
            "duplicate_key",
            "warning",
            Some(2),
            format!(
                "{f}:2:1: PORT is set again (first at {f}:1); the loaders keep the first value"
            )
        )]
    );

    // config-v2 reads `1` as true, so this environment writes production's
    // storage although the legacy loader would not.
    let f = write(d.path(), "development.env", "PORT=8101\nIB_STREAM_CLIENT_ID=12\nIB_STREAM_STORAGE_PATH=storage\nIB_STREAM_ENABLE_STORAGE=1\n");
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    assert_eq!(
        all(&r),
        [
            finding("writes_production_storage", "error", Some(3), format!("{f}:3: IB_STREAM_STORAGE_PATH: development environment writes to the production storage \"storage\"; set IB_STREAM_ENABLE_STORAGE=false for read-only use, or give it its own path")),
            finding("loader_disagreement", "warning", Some(4), format!("{f}:4:26: IB_STREAM_ENABLE_STORAGE = \"1\": the legacy loader reads false, the HEAD server (config-v2) reads true; write true")),
        ]
    );

    // The recorder's readers of *.env files know no inline comments and no
    // `export`.
    let f = write(
        d.path(),
        "development.env",
        "PORT=8101 # http\nexport IB_STREAM_CLIENT_ID=12\nIB_STREAM_STORAGE_PATH=storage-dev\n",
    );
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    assert_eq!(
        all(&r),
        [
            finding("env_syntax", "error", Some(2), format!("{f}:2:1: IB_STREAM_CLIENT_ID: `export` is not part of the env-file syntax: the recorder's readers of *.env files would set a variable named \"export IB_STREAM_CLIENT_ID\" and leave IB_STREAM_CLIENT_ID unset")),
            finding("loader_disagreement", "warning", Some(1), format!("{f}:1:6: PORT = \"8101\": the recorder's readers of *.env files (config.py, and config-v2's reader of legacy env files) know no inline comments and read \"8101 # http\"; put the comment on a line of its own")),
        ]
    );

    // A legacy-only switch: config-v2 does not read it at all; IB_ENVIRONMENT
    // must match exactly (IBEnvironment(value)); the legacy loader int()s
    // each part of IB_STREAM_PORTS, so a JSON list fails there (config-v2's
    // IB_PORTS takes one).
    let f = write(d.path(), "development.env", "PORT=8101\nIB_STREAM_ENABLE_V3_JSON=1\nIB_ENVIRONMENT=Production\nIB_STREAM_PORTS=[4002,4001]\nIB_PORTS=[4002,4001]\nIB_STREAM_STORAGE_PATH=storage-dev\n");
    let r = check(std::slice::from_ref(&f), &[]);
    let f = f.display().to_string();
    assert_eq!(
        all(&r),
        [
            finding("invalid_setting", "error", Some(2), format!("{f}:2:26: IB_STREAM_ENABLE_V3_JSON = \"1\": the legacy loader (config.py), the only loader that reads it, reads false (only \"true\" is true to it); write true")),
            finding("invalid_setting", "error", Some(3), format!("{f}:3:16: IB_ENVIRONMENT = \"Production\": must be exactly one of development, production, staging, testing")),
            finding("invalid_setting", "error", Some(4), format!("{f}:4:17: IB_STREAM_PORTS = \"[4002,4001]\": must be TWS ports 1..65535 separated by commas")),
        ]
    );
}

/// A FIFO, a device or a huge file named as an env file is refused with an
/// `unreadable` finding before it is read: nothing hangs, memory stays
/// bounded.
#[test]
fn special_and_huge_files_are_refused_not_read() {
    let d = tempdir().unwrap();
    let fifo = d.path().join("production.env");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let big = d.path().join("staging.env");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((1 << 20) + 1).unwrap();
    for (p, why) in [
        (
            fifo.clone(),
            "not a regular file (a folder, FIFO, device or socket)",
        ),
        (
            PathBuf::from("/dev/zero"),
            "not a regular file (a folder, FIFO, device or socket)",
        ),
        (big.clone(), "larger than 1024 KiB: not an env file"),
    ] {
        let out = ibstore()
            .args(["config", "check", "--json"])
            .arg(&p)
            .timeout(std::time::Duration::from_secs(60))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", p.display());
        let lines = json_lines(&out.stdout);
        let f: Vec<_> = lines.iter().filter(|l| l["type"] == "finding").collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0]["kind"], "unreadable");
        assert_eq!(
            f[0]["message"],
            format!("{}: cannot read: {why}", p.display()).as_str()
        );
    }
}

/// The text summary counts in the singular for one.
#[test]
fn text_summary_says_one_file_and_one_error() {
    let d = tempdir().unwrap();
    let p = write(
        d.path(),
        "production.env",
        "PORT=8001\nIB_STREAM_CLIENT_ID=x\n",
    );
    let out = ibstore()
        .args(["config", "check"])
        .arg(&p)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 env file, 2 settings, 32 bytes\n"),
        "{text}"
    );
    assert!(text.contains("1 error, 0 warnings, 0 info\n"), "{text}");
}
