//! `ibstore repair` end to end: exact bytes kept and quarantined for every
//! damage kind in every format, validate clean afterwards, undo byte for
//! byte, a crash at every step boundary, live appends, locks, bad input.
#![allow(clippy::unwrap_used)]

use crate::common;
use common::*;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

/// Decompresses through the library's own reader.
fn unzstd(b: &[u8]) -> Vec<u8> {
    let dir = tempdir().unwrap();
    let p = dir.path().join("x.jsonl.zst");
    fs::write(&p, b).unwrap();
    ibstore::format::source::Source::open(&p, ibstore::format::Compression::Zstd, false)
        .unwrap()
        .read_all()
        .unwrap()
}

fn expected_cut(damage: &str, json: bool) -> Option<&'static str> {
    Some(match damage {
        "truncated-tail" | "partial-prefix" => "truncated_tail",
        "trailing-nul" => "trailing_nul",
        "garbage-line" => "invalid_json",
        "invalid-utf8" => "invalid_utf8",
        "bad-record" if json => "wrong_type",
        "bad-record" => "invalid_protobuf",
        "bad-prefix" => "bad_prefix",
        _ => return None,
    })
}

#[test]
fn every_damage_kind_in_every_format_is_cut_exactly_and_undone_exactly() {
    let json_damage = "empty,truncated-tail,trailing-nul,garbage-line,invalid-utf8,bad-record";
    let pb_damage = "empty,truncated-tail,partial-prefix,trailing-nul,bad-record,bad-prefix";
    for (format, damage, zstd) in [
        ("v3-json", json_damage, false),
        ("v2-json", json_damage, false),
        ("v3-pb", pb_damage, false),
        ("v2-pb", pb_damage, false),
        ("v3-json", json_damage, true),
        ("v3-pb", pb_damage, true),
    ] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        let mut args = vec![
            "--format",
            format,
            "--contracts",
            "3",
            "--tick-types",
            "bid_ask,last,mid_point",
            "--hours",
            "3",
            "--records",
            "40",
            "--damage",
            damage,
        ];
        if zstd {
            args.push("--zstd");
        }
        let injected = gen(&store, &args);
        let before = data(&store);
        let plain = |p: &Path| -> Vec<u8> {
            let b = &before.iter().find(|(x, _)| x == p).unwrap().1;
            if zstd {
                unzstd(b)
            } else {
                b.clone()
            }
        };
        // The dry run changes nothing and exits 1 (work to do).
        let (code, dry) = repair(&store, &[]);
        assert_eq!(code, 1, "{format}");
        assert_eq!(data(&store), before);
        assert!(!store.join(".ibstore").exists());
        assert_eq!(repair_lines(&dry).len(), 6, "{format}: {dry:?}");

        let (code, done) = repair(&store, &["--apply"]);
        assert_eq!(code, 0, "{format} zstd={zstd}: {done:?}");
        let run = run_id(&done);
        let lines = repair_lines(&done);
        let json = format.ends_with("json");
        for inj in &injected {
            let line = lines
                .iter()
                .find(|l| l["file"] == inj.file.as_str())
                .unwrap_or_else(|| panic!("{format} {}: no repair line", inj.kind));
            assert_eq!(line["status"], "done", "{format} {}", inj.kind);
            let abs = store.join(&inj.file);
            if inj.kind == "empty" {
                assert_eq!(line["action"], "delete");
                assert!(!abs.exists());
                continue;
            }
            let kind = expected_cut(&inj.kind, json).unwrap();
            assert_eq!(
                line["cuts"],
                serde_json::json!([{"offset": inj.offset, "len": inj.len, "kind": kind}]),
                "{format} {}",
                inj.kind
            );
            assert_eq!(line["bytes_quarantined"], inj.len);
            // The file is the original minus exactly the cut bytes.
            let orig = plain(&abs);
            let (o, n) = (inj.offset as usize, inj.len as usize);
            let mut want = orig[..o].to_vec();
            want.extend_from_slice(&orig[o + n..]);
            let now = fs::read(&abs).unwrap();
            assert_eq!(
                if zstd { unzstd(&now) } else { now },
                want,
                "{format} {}",
                inj.kind
            );
            // The cut bytes are in the quarantine.
            let q = store
                .join(".ibstore/quarantine")
                .join(&run)
                .join(format!("{}.{}", inj.file, inj.offset));
            assert_eq!(
                fs::read(q).unwrap(),
                &orig[o..o + n],
                "{format} {}",
                inj.kind
            );
        }
        let v = validate(&store, &[]);
        assert!(
            v.errors().is_empty(),
            "{format} zstd={zstd}: {:?}",
            v.errors()
        );
        assert_eq!(v.code, 0);

        let (code, undone) = repair(&store, &["--undo", &run]);
        assert_eq!(code, 0, "{undone:?}");
        assert_eq!(repair_lines(&undone).len(), 6);
        assert_eq!(
            data(&store),
            before,
            "{format} zstd={zstd}: undo is byte for byte"
        );
    }
}

#[test]
fn a_crash_at_any_step_loses_nothing_and_a_new_run_finishes() {
    let d = tempdir().unwrap();
    let pristine = d.path().join("pristine");
    let injected = gen(
        &pristine,
        &[
            "--format",
            "v3-json,v3-pb",
            "--contracts",
            "2",
            "--tick-types",
            "bid_ask,last",
            "--hours",
            "3",
            "--records",
            "20",
            "--damage",
            "empty,truncated-tail,garbage-line,bad-prefix",
        ],
    );
    let before = data(&pristine);
    let mut crashes = 0;
    for k in 1.. {
        let store = d.path().join(format!("k{k}"));
        copy_store(&pristine, &store);
        let out = ibstore()
            .args(["repair", "--apply", "--path"])
            .arg(&store)
            .env("IBSTORE_CRASH_AT", k.to_string())
            .output()
            .unwrap();
        if out.status.success() {
            break; // past the last step boundary
        }
        assert_eq!(
            out.status.code(),
            None,
            "k={k}: killed by the crash point, {}",
            String::from_utf8_lossy(&out.stderr)
        );
        crashes += 1;
        // Every original byte is still in the file or in the quarantine.
        for inj in &injected {
            let abs = store.join(&inj.file);
            let orig = &before
                .iter()
                .find(|(p, _)| p == &pristine.join(&inj.file))
                .unwrap()
                .1;
            match fs::read(&abs) {
                Ok(now) if &now == orig => {}
                Ok(now) => {
                    let qdir = store.join(".ibstore/quarantine");
                    let run = fs::read_dir(&qdir).unwrap().next().unwrap().unwrap().path();
                    let piece = fs::read(run.join(format!("{}.{}", inj.file, inj.offset))).unwrap();
                    let mut rebuilt = now[..inj.offset as usize].to_vec();
                    rebuilt.extend_from_slice(&piece);
                    rebuilt.extend_from_slice(&now[inj.offset as usize..]);
                    assert_eq!(&rebuilt, orig, "k={k} {}", inj.file);
                }
                Err(_) => assert!(orig.is_empty(), "k={k}: only the empty file may be gone"),
            }
        }
        // A new run finishes the job.
        let (code, lines) = repair(&store, &["--apply"]);
        assert_eq!(code, 0, "k={k}: {lines:?}");
        let v = validate(&store, &[]);
        assert!(v.errors().is_empty(), "k={k}: {:?}", v.errors());
        assert!(
            v.kind("unknown_file").is_empty(),
            "k={k}: no temp file is left: {:?}",
            v.kind("unknown_file")
        );
    }
    assert!(crashes >= 20, "crash points exercised: {crashes}");
}

#[test]
fn a_file_appended_to_during_repair_is_skipped_and_intact() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "truncated-tail"]);
    let abs = store.join(&inj[0].file);
    let before = fs::read(&abs).unwrap();
    let out = ibstore()
        .args(["repair", "--apply", "--json", "--path"])
        .arg(&store)
        .env("IBSTORE_TEST_APPEND", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<Value> = json_lines(&out.stdout);
    assert_eq!(repair_lines(&lines)[0]["status"], "skipped");
    let f = lines
        .iter()
        .find(|l| l["kind"] == "repair_skipped")
        .unwrap();
    assert_eq!(
        f["message"],
        "not repaired: appended to while being repaired; left as it is"
    );
    let mut want = before;
    want.extend_from_slice(b"{\"appended\":true}\n");
    assert_eq!(fs::read(&abs).unwrap(), want);
    assert!(!ibstore::fsutil::temp_path(&abs).exists());
}

#[test]
fn the_newest_hour_is_left_alone_unless_asked() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--contracts", "1", "--tick-types", "last"]);
    let newest = store.join("v3/json/2025/08/01/02/711280073_last_1754013600.jsonl");
    let mut b = fs::read(&newest).unwrap();
    let len = b.len() as u64;
    b.extend_from_slice(b"{\"ts\":17540");
    fs::write(&newest, &b).unwrap();
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 1);
    let l = repair_lines(&lines);
    assert_eq!(
        (l[0]["action"].as_str(), l[0]["status"].as_str()),
        (Some("skip"), Some("skipped"))
    );
    assert_eq!(fs::read(&newest).unwrap(), b);
    let (code, lines) = repair(&store, &["--apply", "--include-active"]);
    assert_eq!(code, 0);
    assert_eq!(
        repair_lines(&lines)[0]["cuts"],
        serde_json::json!([{"offset": len, "len": 11, "kind": "truncated_tail"}])
    );
    assert_eq!(fs::read(&newest).unwrap().len() as u64, len);
}

#[test]
fn opt_in_sort_and_dedup_rewrite_and_undo() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--format", "v3-pb", "--damage", "out-of-order,duplicate"],
    );
    let before = data(&store);
    let (code, _) = repair(&store, &["--apply"]);
    assert_eq!(code, 0);
    assert_eq!(
        data(&store),
        before,
        "warnings alone change nothing without the opt-in flags"
    );
    let (code, lines) = repair(&store, &["--apply", "--sort", "--dedup"]);
    assert_eq!(code, 0, "{lines:?}");
    let l = repair_lines(&lines);
    assert_eq!(l.len(), 2);
    let dup = l.iter().find(|x| x["records_lost"] == 1).unwrap();
    assert_eq!(dup["cuts"][0]["kind"], "duplicate");
    let v = validate(&store, &["--strict"]);
    assert_eq!((v.code, v.findings().len()), (0, 0), "{:?}", v.findings());
    repair(&store, &["--undo", &run_id(&lines)]);
    assert_eq!(data(&store), before);
}

#[test]
fn locks_name_their_holder() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "truncated-tail"]);
    fs::create_dir_all(store.join(".ibstore")).unwrap();
    // Another process holds the lock (an OS lock, not a pid file).
    let held = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(store.join(".ibstore/lock"))
        .unwrap();
    held.lock().unwrap();
    fs::write(store.join(".ibstore/lock"), "pid=4242 run=other\n").unwrap();
    let out = ibstore()
        .args(["repair", "--apply", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("is locked: held by another repair or convert (pid=4242 run=other)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(held);
    // A holder that died without releasing: its line is still there, the
    // kernel released its lock, the next run takes it and says so.
    fs::write(store.join(".ibstore/lock"), "pid=999999999 run=gone\n").unwrap();
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 0);
    assert!(lines.iter().any(|l| l["kind"] == "stale_lock"));
    assert_eq!(
        fs::read(store.join(".ibstore/lock")).unwrap(),
        b"",
        "released at the end, holder line cleared"
    );
}

#[test]
fn bad_inputs_are_clear_errors_with_nothing_changed() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "garbage-line"]);
    let before = data(&store);
    // A quarantine that cannot be created.
    fs::create_dir_all(store.join(".ibstore")).unwrap();
    fs::write(store.join(".ibstore/quarantine"), "not a folder").unwrap();
    let out = ibstore()
        .args(["repair", "--apply", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(".ibstore/quarantine"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(data(&store), before);
    fs::remove_file(store.join(".ibstore/quarantine")).unwrap();
    // --path must be the store root folder.
    let out = ibstore()
        .args(["repair", "--path"])
        .arg(&before[0].0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Unknown run id.
    let (_, lines) = repair(&store, &["--apply"]);
    let run = run_id(&lines);
    let out = ibstore()
        .args(["repair", "--undo", "20990101T000000Z-1", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("(known runs: {run})")));
    // A torn last journal line is tolerated; the undo still restores.
    let journal = store.join(".ibstore/journal").join(format!("{run}.jsonl"));
    let mut j = fs::read(&journal).unwrap();
    j.truncate(j.len() - 5);
    fs::write(&journal, &j).unwrap();
    // ... and says the journal was incomplete (exit 1).
    let (code, lines) = repair(&store, &["--undo", &run]);
    assert_eq!(code, 1);
    assert!(lines.iter().any(|l| l["kind"] == "journal_incomplete"));
    assert_eq!(data(&store), before);
    // A journal that names a path outside the store is refused for that path.
    let evil_run = "20990101T000000Z-7";
    let evil = store.join(format!(".ibstore/journal/{evil_run}.jsonl"));
    fs::write(&evil, "{\"step\":\"begin\",\"run\":\"evil\",\"root\":\"x\"}\n{\"step\":\"delete\",\"file\":\"../escape.jsonl\"}\n{\"step\":\"end\"}\n").unwrap();
    let (code, lines) = repair(&store, &["--undo", evil_run]);
    assert_eq!(code, 1);
    assert!(lines
        .iter()
        .any(|l| l["kind"] == "undo_refused" && l["file"] == "../escape.jsonl"));
    assert!(!d.path().join("escape.jsonl").exists());
    // A journal that is not one.
    let junk_run = "20990101T000000Z-8";
    fs::write(
        store.join(format!(".ibstore/journal/{junk_run}.jsonl")),
        "garbage\n{}\n",
    )
    .unwrap();
    let out = ibstore()
        .args(["repair", "--undo", junk_run, "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("line 1 is not a journal step: it is not JSON"));
    // Ids that are not run ids are refused before any file is read.
    let out = ibstore()
        .args(["repair", "--undo", "../../etc", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no repair run \"../../etc\""));
}

#[test]
fn validate_repair_is_repair_apply() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(&store, &["--damage", "trailing-nul"]);
    let out = ibstore()
        .args(["validate", "--repair", "--path"])
        .arg(&store)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(validate(&store, &[]).errors().is_empty());
}

#[test]
fn relocate_moves_misplaced_records_and_undo_moves_them_back() {
    for format in ["v3-json", "v2-json", "v3-pb", "v2-pb"] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        let inj = gen(&store, &["--format", format, "--damage", "misplaced"]);
        let before = data(&store);
        let (code, lines) = repair(&store, &["--apply"]);
        assert_eq!(
            (code, repair_lines(&lines).len()),
            (0, 0),
            "{format}: not moved without --relocate"
        );
        let (code, lines) = repair(&store, &["--apply", "--relocate"]);
        assert_eq!(code, 0, "{format}: {lines:?}");
        let l = repair_lines(&lines);
        assert_eq!(l.len(), 1);
        assert_eq!(
            l[0]["cuts"],
            serde_json::json!([{"offset": inj[0].offset, "len": inj[0].len, "kind": "misplaced_record"}])
        );
        let target = l[0]["moved"][0][1].as_str().unwrap().to_owned();
        assert!(target.contains("711280074_bid_ask"), "{format}: {target}");
        // The target holds exactly the moved bytes; the source lost exactly them.
        let orig = &before
            .iter()
            .find(|(p, _)| p == &store.join(&inj[0].file))
            .unwrap()
            .1;
        let (o, n) = (inj[0].offset as usize, inj[0].len as usize);
        assert_eq!(
            fs::read(store.join(&target)).unwrap(),
            &orig[o..o + n],
            "{format}"
        );
        let mut rest = orig[..o].to_vec();
        rest.extend_from_slice(&orig[o + n..]);
        assert_eq!(fs::read(store.join(&inj[0].file)).unwrap(), rest);
        let v = validate(&store, &["--strict"]);
        assert_eq!(
            (v.code, v.findings().len()),
            (0, 0),
            "{format}: {:?}",
            v.findings()
        );
        let (code, _) = repair(&store, &["--undo", &run_id(&lines)]);
        assert_eq!(code, 0);
        assert_eq!(data(&store), before, "{format}");
    }
}

#[test]
fn relocate_moves_a_whole_misnamed_file_and_survives_crashes() {
    let d = tempdir().unwrap();
    let pristine = d.path().join("pristine");
    gen(
        &pristine,
        &[
            "--contracts",
            "1",
            "--tick-types",
            "bid_ask",
            "--records",
            "15",
        ],
    );
    let good = data(&pristine);
    // The file of hour 1 ends up under another contract's name.
    let right = pristine.join("v3/json/2025/08/01/01/711280073_bid_ask_1754010000.jsonl");
    let wrong = pristine.join("v3/json/2025/08/01/01/999_bid_ask_1754010000.jsonl");
    fs::rename(&right, &wrong).unwrap();
    let mut crashes = 0;
    for k in 1.. {
        let store = d.path().join(format!("k{k}"));
        copy_store(&pristine, &store);
        // The misnamed file is its own stream's only (so newest) hour: --include-active.
        let out = ibstore()
            .args([
                "repair",
                "--apply",
                "--relocate",
                "--include-active",
                "--path",
            ])
            .arg(&store)
            .env("IBSTORE_CRASH_AT", k.to_string())
            .output()
            .unwrap();
        let finished = out.status.success();
        if !finished {
            crashes += 1;
            let (code, lines) = repair(&store, &["--apply", "--relocate", "--include-active"]);
            assert_eq!(code, 0, "k={k}: {lines:?}");
        }
        // Every record is back in the right file, exactly once, and the wrong name is gone.
        let now: Vec<(PathBuf, Vec<u8>)> = data(&store)
            .into_iter()
            .map(|(p, b)| (pristine.join(p.strip_prefix(&store).unwrap()), b))
            .collect();
        assert_eq!(now, good, "k={k}");
        if finished {
            break;
        }
    }
    assert!(crashes >= 8, "{crashes}");
}

#[test]
fn a_store_reached_through_a_symlink_is_validated_and_repaired_in_place() {
    // The seed switches stores with `ln -sfn storage-new storage-active`.
    let d = tempdir().unwrap();
    let real = d.path().join("storage-new");
    let inj = gen(&real, &["--damage", "truncated-tail"]);
    let link = d.path().join("storage-active");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let r = validate(&link, &[]);
    assert_eq!(r.kind("truncated_tail")[0]["file"], inj[0].file.as_str());
    assert!(
        r.kind("symlink").is_empty(),
        "the root link itself is followed"
    );
    let (code, _) = repair(&link, &["--apply"]);
    assert_eq!(code, 0);
    assert!(
        real.join(".ibstore/journal").is_dir(),
        "state lives in the real store folder"
    );
    assert!(validate(&link, &[]).errors().is_empty());
}

#[test]
fn a_failed_step_leaves_the_file_unchanged() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "truncated-tail"]);
    let abs = store.join(&inj[0].file);
    let before = fs::read(&abs).unwrap();
    // A folder where the temp file must go: the write fails, even as root.
    fs::create_dir(ibstore::fsutil::temp_path(&abs)).unwrap();
    let (code, lines) = repair(&store, &["--apply"]);
    assert_eq!(code, 1);
    let f = lines.iter().find(|l| l["kind"] == "repair_failed").unwrap();
    assert_eq!(f["file"], inj[0].file.as_str());
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("not repaired, file unchanged: "),
        "{f}"
    );
    assert_eq!(fs::read(&abs).unwrap(), before);
    assert_eq!(repair_lines(&lines)[0]["status"], "failed");
}

/// A record whose contract id is invalid (≤ 0) has no home file:
/// `--relocate` leaves it where it is (reported, not moved), and never
/// creates a file named after it.
#[test]
fn relocate_never_moves_a_record_with_an_invalid_contract_id() {
    for (format, rel, from, to) in [
        (
            "v3-json",
            "v3/json/2025/08/01/00/711280073_bid_ask_1754006400.jsonl",
            "\"cid\":711280073",
            "\"cid\":-5",
        ),
        (
            "v2-json",
            "v2/json/2025/08/01/00/bg_711280073_bid_ask.jsonl",
            "\"contract_id\":\"711280073\"",
            "\"contract_id\":\"-5\"",
        ),
    ] {
        let d = tempdir().unwrap();
        let store = d.path().join("s");
        gen(
            &store,
            &[
                "--format",
                format,
                "--contracts",
                "1",
                "--tick-types",
                "bid_ask",
                "--hours",
                "2",
            ],
        );
        let abs = store.join(rel);
        let text = fs::read_to_string(&abs).unwrap();
        let second = text.lines().nth(1).unwrap().to_owned();
        assert!(second.contains(from), "{second}");
        let changed = text.replacen(&second, &second.replace(from, to), 1);
        fs::write(&abs, &changed).unwrap();
        let v = validate(&store, &[]);
        let bad: Vec<_> = v.kind("invalid_value");
        assert_eq!(bad.len(), 1, "{format}");
        assert_eq!(bad[0]["file"], rel);
        assert_eq!(bad[0]["record"], 2);
        let before = data(&store);
        let (code, lines) = repair(&store, &["--apply", "--relocate", "--include-active"]);
        assert_eq!(code, 0, "{format}: {lines:?}");
        assert_eq!(repair_lines(&lines).len(), 0, "{format}: {lines:?}");
        assert_eq!(
            data(&store),
            before,
            "{format}: nothing moved, nothing created"
        );
    }
}

/// A record relocated out of a `.jsonl.zst` file goes into its stream-hour's
/// existing plain `.jsonl` file: never a second home file beside it.
#[test]
fn relocate_from_a_zst_file_appends_to_the_existing_plain_home() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    let inj = gen(&store, &["--damage", "misplaced"]);
    let src = store.join(&inj[0].file);
    let plain = fs::read(&src).unwrap();
    let zrel = format!("{}.zst", inj[0].file);
    fs::write(
        store.join(&zrel),
        zstd::encode_all(plain.as_slice(), 3).unwrap(),
    )
    .unwrap();
    fs::remove_file(&src).unwrap();
    // The stream-hour the misplaced record belongs to already has its
    // plain home file.
    let first =
        String::from_utf8(plain[..=plain.iter().position(|&b| b == b'\n').unwrap()].to_vec())
            .unwrap();
    let home = store.join("v3/json/2025/08/01/01/711280074_bid_ask_1754010000.jsonl");
    fs::write(
        &home,
        first.replace("\"cid\":711280073", "\"cid\":711280074"),
    )
    .unwrap();
    let files_before: Vec<_> = data(&store).into_iter().map(|(p, _)| p).collect();
    let (code, lines) = repair(&store, &["--apply", "--relocate", "--include-active"]);
    assert_eq!(code, 0, "{lines:?}");
    let l = repair_lines(&lines);
    assert_eq!(l.len(), 1, "{l:?}");
    let target = l[0]["moved"][0][1].as_str().unwrap().to_owned();
    assert!(target.ends_with(".jsonl"), "{target}");
    assert!(target.contains("711280074_bid_ask"), "{target}");
    let files_after: Vec<_> = data(&store).into_iter().map(|(p, _)| p).collect();
    assert_eq!(files_after, files_before, "no new file");
    let (o, n) = (inj[0].offset as usize, inj[0].len as usize);
    assert!(fs::read(store.join(&target))
        .unwrap()
        .ends_with(&plain[o..o + n]));
    let v = validate(&store, &[]);
    assert_eq!(v.errors().len(), 0, "{:?}", v.errors());
}

/// The report's `bytes_kept` is the size of the file a sorting,
/// EOL-normalising repair writes, blank and CRLF lines included.
#[test]
fn bytes_kept_is_the_written_size_when_sorting() {
    let d = tempdir().unwrap();
    let store = d.path().join("s");
    gen(
        &store,
        &["--contracts", "1", "--tick-types", "last", "--hours", "2"],
    );
    let rel = "v3/json/2025/08/01/00/711280073_last_1754006400.jsonl";
    let abs = store.join(rel);
    let text = fs::read_to_string(&abs).unwrap();
    let mut lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
    lines.swap(3, 40);
    lines[10] = lines[10].replace('\n', "\r\n");
    lines.insert(20, "\n".to_owned());
    let last = lines.len() - 1;
    lines[last] = lines[last].trim_end().to_owned();
    fs::write(&abs, lines.concat()).unwrap();
    let (code, out) = repair(
        &store,
        &["--apply", "--sort", "--normalize-eol", "--include-active"],
    );
    assert_eq!(code, 0, "{out:?}");
    let l = repair_lines(&out);
    assert_eq!(l.len(), 1, "{l:?}");
    let written = fs::read(&abs).unwrap();
    assert_eq!(
        l[0]["bytes_kept"].as_u64(),
        Some(written.len() as u64),
        "{l:?}"
    );
    assert_eq!(
        written,
        text.as_bytes(),
        "sorted back, LF only, blank line gone, newline added"
    );
}
