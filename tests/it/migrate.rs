//! `ibstore migrate` end to end: the blue-green flow in one command, its
//! gate, its journal under crashes, rollback to the untouched original.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use std::fs;
use std::path::Path;
use tempfile::tempdir;

/// `migrate --json ARGS` in `dir`: (exit code, step lines as (step, status)).
fn migrate(
    dir: &Path,
    args: &[&str],
    crash: Option<u64>,
) -> (Option<i32>, Vec<(String, String)>, String) {
    let mut c = ibstore();
    c.current_dir(dir).args(["migrate", "--json"]).args(args);
    if let Some(k) = crash {
        c.env("IBSTORE_CRASH_AT", k.to_string());
    }
    let out = c.output().unwrap();
    let steps = json_lines(&out.stdout)
        .iter()
        .filter(|l| l["type"] == "migrate_step")
        .map(|l| {
            (
                l["step"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (
        out.status.code(),
        steps,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

const ARGS: [&str; 8] = [
    "--from",
    "storage",
    "--to",
    "storage-new",
    "--format",
    "v3-pb",
    "--link",
    "storage-active",
];

fn setup(dir: &Path) {
    gen(
        &dir.join("storage"),
        &["--format", "v2-json", "--contracts", "2", "--hours", "3"],
    );
    std::os::unix::fs::symlink("storage", dir.join("storage-active")).unwrap();
}

#[test]
fn v2_json_store_migrated_to_v3_pb_then_rolled_back_unchanged() {
    let d = tempdir().unwrap();
    setup(d.path());
    let before = snapshot(&d.path().join("storage"));
    let (code, steps, err) = migrate(d.path(), &ARGS, None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        steps,
        pairs(&[
            ("backup", "done"),
            ("convert", "done"),
            ("compare", "done"),
            ("index", "done"),
            ("switch", "done")
        ])
    );
    assert_eq!(
        fs::canonicalize(d.path().join("storage-active")).unwrap(),
        fs::canonicalize(d.path().join("storage-new")).unwrap()
    );
    // The new store holds every record of the old one.
    let out = ibstore()
        .current_dir(d.path())
        .args(["compare", "--old", "storage", "--new", "storage-active"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The backup verifies against its manifest.
    let backup = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("storage-backup-"))
        .unwrap();
    let out = ibstore()
        .current_dir(d.path())
        .args(["verify", "--backup", &backup])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // A finished migration run again changes nothing.
    let new_before = snapshot(&d.path().join("storage-new"));
    let (code, steps, _) = migrate(d.path(), &ARGS, None);
    assert_eq!(code, Some(0));
    assert!(steps.iter().all(|(_, s)| s == "skipped"), "{steps:?}");
    assert_eq!(snapshot(&d.path().join("storage-new")), new_before);
    // Rollback: the link resolves to the original store, every byte unchanged.
    let out = ibstore()
        .current_dir(d.path())
        .args(["rollback", "--link", "storage-active"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::canonicalize(d.path().join("storage-active")).unwrap(),
        fs::canonicalize(d.path().join("storage")).unwrap()
    );
    assert_eq!(snapshot(&d.path().join("storage")), before);
}

#[test]
fn a_failed_gate_stops_before_the_switch_and_a_rerun_finishes() {
    let d = tempdir().unwrap();
    setup(d.path());
    // v2 protobuf has no IB time: without --allow-loss ts convert refuses.
    let args = [
        "--from",
        "storage",
        "--to",
        "storage-new",
        "--format",
        "v2-pb",
        "--link",
        "storage-active",
    ];
    let (code, steps, _) = migrate(d.path(), &args, None);
    assert_eq!(code, Some(1));
    assert_eq!(
        steps,
        pairs(&[
            ("backup", "done"),
            ("convert", "failed"),
            ("compare", "not_run"),
            ("index", "not_run"),
            ("switch", "not_run")
        ])
    );
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
    let mut fixed = args.to_vec();
    fixed.extend(["--allow-loss", "ts"]);
    let (code, steps, err) = migrate(d.path(), &fixed, None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        steps,
        pairs(&[
            ("backup", "skipped"),
            ("convert", "done"),
            ("compare", "done"),
            ("index", "done"),
            ("switch", "done")
        ])
    );
    assert_eq!(
        fs::canonicalize(d.path().join("storage-active")).unwrap(),
        fs::canonicalize(d.path().join("storage-new")).unwrap()
    );
}

#[test]
fn killed_at_every_step_the_link_names_a_whole_store_and_a_rerun_finishes() {
    let d = tempdir().unwrap();
    let proto = d.path().join("proto");
    fs::create_dir(&proto).unwrap();
    setup(&proto);
    let old = snapshot(&proto.join("storage"));
    let mut crashes = 0;
    for k in 1.. {
        let dir = d.path().join(format!("k{k}"));
        fs::create_dir(&dir).unwrap();
        copy_store(&proto.join("storage"), &dir.join("storage"));
        std::os::unix::fs::symlink("storage", dir.join("storage-active")).unwrap();
        let (code, _, err) = migrate(&dir, &ARGS, Some(k));
        // The link always names a complete store: the old one, or the new one.
        let target = fs::canonicalize(dir.join("storage-active")).unwrap();
        if target == fs::canonicalize(dir.join("storage")).unwrap() {
            assert_eq!(
                snapshot(&dir.join("storage"))
                    .iter()
                    .map(|(_, b, _)| b.clone())
                    .collect::<Vec<_>>(),
                old.iter().map(|(_, b, _)| b.clone()).collect::<Vec<_>>()
            );
        } else {
            assert_eq!(target, fs::canonicalize(dir.join("storage-new")).unwrap());
            let out = ibstore()
                .current_dir(&dir)
                .args(["compare", "--old", "storage", "--new", "storage-new"])
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "k={k}: switched to an incomplete store"
            );
        }
        if code == Some(0) {
            break;
        }
        assert_eq!(code, None, "k={k}: {err}");
        crashes += 1;
        let (code, steps, err) = migrate(&dir, &ARGS, None);
        assert_eq!(code, Some(0), "k={k}: rerun: {steps:?} {err}");
        assert_eq!(
            fs::canonicalize(dir.join("storage-active")).unwrap(),
            fs::canonicalize(dir.join("storage-new")).unwrap()
        );
        let out = ibstore()
            .current_dir(&dir)
            .args(["compare", "--old", "storage", "--new", "storage-active"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "k={k}");
        fs::remove_dir_all(&dir).unwrap();
    }
    assert!(crashes >= 20, "only {crashes} crash points");
}

#[test]
fn bad_inputs_exit_2_and_change_nothing() {
    let d = tempdir().unwrap();
    setup(d.path());
    fs::create_dir(d.path().join("empty")).unwrap();
    for (args, msg) in [
        (
            vec!["--from", "storage", "--to", "storage", "--format", "v3-pb"],
            "are the same or nested",
        ),
        (
            vec![
                "--from",
                "storage",
                "--to",
                "storage/inner",
                "--format",
                "v3-pb",
            ],
            "are the same or nested",
        ),
        (
            vec!["--from", "empty", "--to", "new", "--format", "v3-pb"],
            "no data files: nothing to migrate",
        ),
        (
            vec!["--from", "missing", "--to", "new", "--format", "v3-pb"],
            "missing",
        ),
        (
            vec!["--from", "storage", "--to", "new", "--format", "v4"],
            "expected v2-json, v2-pb, v3-json or v3-pb",
        ),
    ] {
        let (code, steps, err) = migrate(d.path(), &args, None);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(steps.is_empty());
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert!(!d.path().join("new").exists());
    assert!(!d.path().join("storage/inner").exists());
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
}

/// What a hostile review broke: a target folder holding another store, a
/// link serving another store, a re-run with other options.
#[test]
fn foreign_targets_links_and_changed_options_are_refused() {
    let d = tempdir().unwrap();
    setup(d.path());
    gen(
        &d.path().join("other"),
        &["--format", "v3-json", "--hours", "2"],
    );
    let other = snapshot(&d.path().join("other"));
    // convert and migrate never write into a folder holding something else.
    let out = ibstore()
        .current_dir(d.path())
        .args([
            "convert", "--from", "storage", "--to", "other", "--format", "v3-json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("is not empty and holds no conversion of ibstore's"));
    let (code, _, err) = migrate(
        d.path(),
        &[
            "--from",
            "storage",
            "--to",
            "other",
            "--format",
            "v3-json",
            "--link",
            "storage-active",
        ],
        None,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("is not empty and holds no conversion of ibstore's"),
        "{err}"
    );
    assert_eq!(
        snapshot(&d.path().join("other")),
        other,
        "nothing written into a foreign TO"
    );
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
    // A link serving another store is not switched away from it.
    std::os::unix::fs::symlink("other", d.path().join("other-active")).unwrap();
    let (code, _, err) = migrate(
        d.path(),
        &[
            "--from",
            "storage",
            "--to",
            "n1",
            "--format",
            "v3-pb",
            "--link",
            "other-active",
        ],
        None,
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("points at"), "{err}");
    assert!(!d.path().join("n1").exists());
    // A re-run with other options is refused, not reported as done.
    let (code, _, _) = migrate(
        d.path(),
        &["--from", "storage", "--to", "n2", "--format", "v3-pb"],
        None,
    );
    assert_eq!(code, Some(0));
    let (code, _, err) = migrate(d.path(), &ARGS_N2, None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("holds a migration made with other options"),
        "{err}"
    );
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
}

const ARGS_N2: [&str; 8] = [
    "--from",
    "storage",
    "--to",
    "n2",
    "--format",
    "v3-pb",
    "--link",
    "storage-active",
];

fn data_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name() == ".ibstore" {
            continue;
        }
        let t = e.file_type().unwrap();
        if t.is_dir() {
            n += data_bytes(&e.path());
        } else {
            n += e.metadata().unwrap().len();
        }
    }
    n
}

#[test]
fn dry_run_prints_sizes_and_estimates_from_a_timed_sample_and_changes_nothing() {
    let d = tempdir().unwrap();
    setup(d.path());
    let mut args = ARGS.to_vec();
    args.push("--dry-run");
    let out = ibstore()
        .current_dir(d.path())
        .args(["migrate", "--json"])
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let l = json_lines(&out.stdout);
    let steps: Vec<_> = l.iter().filter(|x| x["type"] == "migrate_step").collect();
    assert_eq!(steps.len(), 5);
    for s in &steps {
        assert_eq!(s["status"], "planned");
        assert!(s["estimated_seconds"].as_f64().unwrap() >= 0.0, "{s}");
    }
    let sample = &l.last().unwrap()["sample"];
    let from_bytes = data_bytes(&d.path().join("storage"));
    // A small store is sampled whole: the estimate of TO's size is exact.
    assert_eq!(sample["files"], 12);
    assert_eq!(sample["store_files"], 12);
    assert_eq!(sample["bytes"], from_bytes);
    assert_eq!(sample["store_bytes"], from_bytes);
    assert_eq!(sample["sample_seconds"].as_array().unwrap().len(), 5);
    assert!(!d.path().join("storage-new").exists(), "dry run");
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
    let to_bytes = sample["to_bytes"].as_u64().unwrap();
    assert!(
        steps[1]["detail"]
            .as_str()
            .unwrap()
            .ends_with(&format!("as v3-pb (about {to_bytes} bytes)")),
        "{}",
        steps[1]["detail"]
    );
    let (code, _, err) = migrate(d.path(), &ARGS, None);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(to_bytes, data_bytes(&d.path().join("storage-new")));
    // Text: one line per step with its estimate, then the sample.
    let out = ibstore()
        .current_dir(d.path())
        .args([
            "migrate",
            "--from",
            "storage",
            "--to",
            "other",
            "--format",
            "v3-json",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("s) (about "), "{text}");
    assert!(
        text.contains(&format!(
            "scaled from a sample of 12 of 12 files ({from_bytes} of {from_bytes} bytes)"
        )),
        "{text}"
    );
}

#[test]
fn records_written_to_from_during_the_migration_are_caught_up_or_named() {
    let rel = "v2/json/2025/08/01/02/bg_711280073_last.jsonl";
    for when in ["convert", "switch"] {
        let d = tempdir().unwrap();
        setup(d.path());
        let f = d.path().join("storage").join(rel);
        let size = fs::metadata(&f).unwrap().len();
        let first = fs::read(&f)
            .unwrap()
            .iter()
            .position(|&b| b == b'\n')
            .unwrap() as u64
            + 1;
        let out = ibstore()
            .current_dir(d.path())
            .args(["migrate", "--json"])
            .args(ARGS)
            .env("IBSTORE_TEST_GROW_FROM", format!("{when}:{rel}"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{when}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fs::metadata(&f).unwrap().len(),
            size + first,
            "{when}: it grew"
        );
        let l = json_lines(&out.stdout);
        let detail = |step: &str| {
            l.iter()
                .find(|x| x["type"] == "migrate_step" && x["step"] == step)
                .unwrap()["detail"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let sum = l.last().unwrap();
        let cmp = ibstore()
            .current_dir(d.path())
            .args([
                "compare",
                "--old",
                "storage",
                "--new",
                "storage-new",
                "--json",
            ])
            .output()
            .unwrap();
        let cs = json_lines(&cmp.stdout);
        let cs = cs.last().unwrap();
        if when == "convert" {
            // Arrived after convert's cut-off: the compare gate excuses only
            // that hour, the catch-up converts and compares it again.
            assert!(
                detail("compare").contains("1 lost, 0 changed, 0 extra records, 0 missing hours: every differing hour (1) is in a file the recorder wrote to after the cut-off"),
                "{}",
                detail("compare")
            );
            assert!(
                detail("switch").starts_with(&format!(
                    "caught up 1 file that received records after the cut-off: {rel} (hour 2025/08/01/02, bytes {size}..{}) (converted, compared, indexed again); storage-active now points at storage-new",
                    size + first
                )),
                "{}",
                detail("switch")
            );
            assert_eq!(sum["late"], serde_json::Value::Null);
            assert_eq!(cmp.status.code(), Some(0));
            assert_eq!(cs["lost"], 0);
        } else {
            // Arrived after the last cut-off, as the link switched: named
            // exactly, the new store does not hold it.
            assert!(detail("switch").starts_with("nothing arrived in FROM after the cut-off; "));
            assert_eq!(
                sum["late"],
                serde_json::json!([{"path": rel, "hour": "2025/08/01/02", "from_byte": size, "to_byte": size + first}])
            );
            assert_eq!(cmp.status.code(), Some(1));
            assert_eq!(cs["lost"], 1);
        }
    }
}

#[test]
fn an_empty_source_file_fails_the_gate_naming_its_file_and_hour() {
    let d = tempdir().unwrap();
    setup(d.path());
    let rel = "v2/json/2025/08/01/01/bg_711280073_last.jsonl";
    fs::write(d.path().join("storage").join(rel), b"").unwrap();
    let out = ibstore()
        .current_dir(d.path())
        .args(["migrate", "--json"])
        .args(ARGS)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let l = json_lines(&out.stdout);
    let c = l.iter().find(|x| x["step"] == "compare").unwrap();
    assert_eq!(c["status"], "failed");
    let want = format!(
        "the gate failed: 12 hours compared: 0 lost, 0 changed, 0 extra records, 0 missing hours, 1 damaged hours, 1 error findings: \
         711280073_last hour 2025/08/01/01 damaged; old:{rel} @0: file is empty (0 bytes); run `ibstore compare"
    );
    assert!(
        c["detail"].as_str().unwrap().starts_with(&want),
        "{}",
        c["detail"]
    );
    assert_eq!(
        fs::read_link(d.path().join("storage-active")).unwrap(),
        Path::new("storage")
    );
}
