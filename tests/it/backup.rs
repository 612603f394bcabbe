//! `backup`, `verify` and `restore` on real folders: exact reports, real
//! copies, a manifest that matches, every mismatch caught, crash points at
//! every step, a full disk, and bad inputs refused with exit 2.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::{data, gen, ibstore, json_lines, run, snapshot};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use tempfile::tempdir;

/// A canonical temp folder with the store `s` (4 v3 JSON files, 400 records).
fn store() -> (tempfile::TempDir, PathBuf) {
    let d = tempdir().unwrap();
    let root = fs::canonicalize(d.path()).unwrap();
    gen(&root.join("s"), &["--hours", "1"]);
    (d, root)
}

/// Relative path → bytes of every file under `dir` except the manifest.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .map(|(p, b, _)| (p.strip_prefix(dir).unwrap().to_path_buf(), b))
        .filter(|(p, _)| p != Path::new(".ibstore/backup-manifest.json"))
        .collect()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&fs::read(dir.join(".ibstore/backup-manifest.json")).unwrap()).unwrap()
}

#[test]
fn backup_copies_every_byte_with_a_manifest_and_verify_says_good() {
    let (_d, root) = store();
    let r = root.display();
    let o = run(&["backup", "--path", "s", "--dest", "bk"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let bytes: usize = files(&root.join("s")).iter().map(|(_, b)| b.len()).sum();
    assert_eq!(
        o.stdout,
        format!(
            "ibstore backup: {r}/s\ncopied 4 files (400 records, {bytes} bytes) to {r}/bk\nmanifest: {r}/bk/.ibstore/backup-manifest.json\n"
        )
    );
    assert_eq!(
        files(&root.join("bk")),
        files(&root.join("s")),
        "every byte"
    );
    for (rel, b) in files(&root.join("s")) {
        let (a, c) = (
            fs::metadata(root.join("s").join(&rel)).unwrap(),
            fs::metadata(root.join("bk").join(&rel)).unwrap(),
        );
        assert_ne!(a.ino(), c.ino(), "a real copy, not a hard link");
        assert_eq!(c.nlink(), 1);
        let m = manifest(&root.join("bk"));
        let e = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == rel.to_str().unwrap())
            .unwrap();
        assert_eq!(e["size"], b.len());
        assert_eq!(e["crc32"], crc32fast::hash(&b));
        assert_eq!(e["records"], 100);
        assert_eq!(e["changed"], false);
        assert!(e["first_ts"].as_i64().unwrap() <= e["last_ts"].as_i64().unwrap());
    }
    let m = manifest(&root.join("bk"));
    assert_eq!(m["version"], 1);
    assert_eq!(m["source"], format!("{r}/s"));
    assert_eq!(m["files"].as_array().unwrap().len(), 4);

    let o = run(&["verify", "--backup", "bk"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.stdout,
        format!("ibstore verify: {r}/bk\ngood: 4 files, 400 records, {bytes} bytes match the manifest\n")
    );
    let o = run(&["verify", "--backup", "bk", "--json"], &root, None);
    let l = json_lines(o.stdout.as_bytes());
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["type"], "summary");
    assert_eq!(l[1]["exit_code"], 0);
    assert_eq!(l[1]["files"], 4);
    assert_eq!(l[1]["records"], 400);

    // The default destination is beside the store.
    let o = run(&["backup", "--path", "s", "--json"], &root, None);
    assert_eq!(o.code, 0);
    let l = json_lines(o.stdout.as_bytes());
    let dest = l[1]["dest"].as_str().unwrap();
    let name = Path::new(dest).file_name().unwrap().to_str().unwrap();
    assert!(
        name.starts_with("s-backup-") && name.len() == "s-backup-20250801-000000".len(),
        "{name}"
    );
    assert_eq!(Path::new(dest).parent().unwrap(), root);
}

#[test]
fn verify_catches_every_difference() {
    let (_d, root) = store();
    assert_eq!(
        run(&["backup", "--path", "s", "--dest", "bk"], &root, None).code,
        0
    );
    let bk = root.join("bk");
    let m = manifest(&bk);
    let names: Vec<String> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    // A flipped byte (same size), a longer file, a missing file, an extra file.
    let mut b = fs::read(bk.join(&names[0])).unwrap();
    b[40] ^= 1; // a digit of st: the records and ts stay the same
    fs::write(bk.join(&names[0]), &b).unwrap();
    let size1 = fs::metadata(bk.join(&names[1])).unwrap().len();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(bk.join(&names[1]))
        .unwrap();
    std::io::Write::write_all(&mut f, b"x\n").unwrap();
    fs::remove_file(bk.join(&names[2])).unwrap();
    fs::write(bk.join("v3/extra.txt"), "hi").unwrap();
    let o = run(&["verify", "--backup", "bk"], &root, None);
    assert_eq!(o.code, 1);
    let crc = m["files"][0]["crc32"].as_u64().unwrap();
    let now = crc32fast::hash(&b);
    let size2 = m["files"][2]["size"].as_u64().unwrap();
    let mut want = [
        format!("crc32: {}: expected {crc:08x}, found {now:08x}", names[0]),
        format!(
            "size: {}: expected {size1} bytes, found {} bytes",
            names[1],
            size1 + 2
        ),
        format!(
            "missing: {}: expected {size2} bytes, found nothing",
            names[2]
        ),
        "extra: v3/extra.txt: expected not in the manifest, found a file".to_owned(),
    ];
    want.sort_by_key(|l| l.split(": ").nth(1).unwrap().to_owned());
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], format!("ibstore verify: {}", bk.display()));
    assert_eq!(
        &lines[1..5],
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(lines[5], "bad: 4 problems against the manifest");
    assert_eq!(lines.len(), 6);
    let o = run(&["verify", "--backup", "bk", "--json"], &root, None);
    let l = json_lines(o.stdout.as_bytes());
    assert_eq!(l.iter().filter(|x| x["type"] == "problem").count(), 4);
    assert_eq!(l.last().unwrap()["exit_code"], 1);
    assert_eq!(l.last().unwrap()["errors"], 4);
    // A restore refuses a backup that does not verify, and touches nothing.
    let before = snapshot(&root.join("s"));
    let o = run(&["restore", "--backup", "bk", "--to", "s"], &root, None);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(&format!(
            "the backup {} does not verify (4 problems)",
            bk.display()
        )),
        "{}",
        o.stderr
    );
    assert_eq!(snapshot(&root.join("s")), before);
}

#[test]
fn backup_killed_at_every_step_has_no_manifest_and_verify_says_incomplete() {
    let mut crashes = 0;
    for k in 1.. {
        let (_d, root) = store();
        let o = run(&["backup", "--path", "s", "--dest", "bk"], &root, Some(k));
        if o.code == 0 {
            break;
        }
        assert_eq!(o.code, -1, "k={k}: {}", o.stderr);
        crashes += 1;
        assert!(
            !root.join("bk/.ibstore/backup-manifest.json").exists(),
            "k={k}"
        );
        let o = run(&["verify", "--backup", "bk"], &root, None);
        assert_eq!(o.code, 1, "k={k}");
        assert_eq!(
            o.stdout,
            format!(
                "ibstore verify: {}/bk\nincomplete: no manifest (.ibstore/backup-manifest.json): the backup was interrupted or is not an ibstore backup\n",
                root.display()
            )
        );
        let o = run(&["restore", "--backup", "bk", "--to", "s2"], &root, None);
        assert_eq!(o.code, 2, "k={k}");
        assert!(o.stderr.contains("no manifest: incomplete"), "{}", o.stderr);
        assert!(!root.join("s2").exists());
        // The source is untouched and a new backup finishes.
        let o = run(&["backup", "--path", "s", "--dest", "bk2"], &root, None);
        assert_eq!(o.code, 0, "k={k}: {}", o.stderr);
        assert_eq!(run(&["verify", "--backup", "bk2"], &root, None).code, 0);
        // The killed backup resumes into its own folder (its claim names
        // the source), with a stray temp file left by the kill removed.
        fs::write(root.join("bk/stray.ibstore-tmp"), b"x").unwrap();
        let o = run(&["backup", "--path", "s", "--dest", "bk"], &root, None);
        assert_eq!(o.code, 0, "k={k}: resume: {}", o.stderr);
        let o = run(&["verify", "--backup", "bk"], &root, None);
        assert_eq!(o.code, 0, "k={k}: {}", o.stdout);
        assert!(!root.join("bk/stray.ibstore-tmp").exists());
        // A finished backup is not written into again, nor a claimed
        // folder by another store.
        let o = run(&["backup", "--path", "s", "--dest", "bk"], &root, None);
        assert_eq!(o.code, 2);
        assert!(
            o.stderr.contains("already holds a finished backup"),
            "{}",
            o.stderr
        );
        if k == 1 {
            let o = run(&["backup", "--path", "s", "--dest", "bk3"], &root, Some(1));
            assert_eq!(o.code, -1);
            gen(&root.join("t"), &["--hours", "1"]);
            let o = run(&["backup", "--path", "t", "--dest", "bk3"], &root, None);
            assert_eq!(o.code, 2);
            assert!(
                o.stderr.contains(&format!(
                    "holds an interrupted backup of {r}/s, not of {r}/t",
                    r = root.display()
                )),
                "{}",
                o.stderr
            );
        }
    }
    assert_eq!(crashes, 5, "4 files and the manifest");
}

#[test]
fn restore_moves_the_store_aside_and_puts_the_backup_in_place() {
    let (_d, root) = store();
    let r = root.display();
    assert_eq!(
        run(&["backup", "--path", "s", "--dest", "bk"], &root, None).code,
        0
    );
    let good = files(&root.join("s"));
    // The store goes bad after the backup.
    let first = &good[0].0;
    fs::write(root.join("s").join(first), b"garbage\n").unwrap();
    let bad = files(&root.join("s"));
    let o = run(&["restore", "--backup", "bk", "--to", "s"], &root, None);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines[0], format!("ibstore restore: {r}/s"));
    let aside = lines[1].strip_prefix("moved the store aside to ").unwrap();
    assert!(aside.starts_with(&format!("{r}/s-failed-")), "{aside}");
    let bytes: usize = good.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(
        lines[2],
        format!("restored 4 files ({bytes} bytes) from {r}/bk, each checked against the manifest")
    );
    assert_eq!(files(&root.join("s")), good, "every byte back");
    assert!(!root.join("s/.ibstore/backup-manifest.json").exists());
    assert_eq!(
        files(Path::new(aside)),
        bad,
        "the failed store is kept as it was"
    );
    assert_eq!(
        run(&["verify", "--backup", "bk"], &root, None).code,
        0,
        "the backup is untouched"
    );
    // Restoring to a folder that does not exist moves nothing aside.
    let o = run(
        &["restore", "--backup", "bk", "--to", "fresh", "--json"],
        &root,
        None,
    );
    assert_eq!(o.code, 0);
    let l = json_lines(o.stdout.as_bytes());
    assert_eq!(l[1]["moved_aside"], Value::Null);
    assert_eq!(files(&root.join("fresh")), good);
}

#[test]
fn restore_killed_at_every_step_keeps_the_old_store_and_reruns() {
    let mut crashes = 0;
    for k in 1.. {
        let (_d, root) = store();
        assert_eq!(
            run(&["backup", "--path", "s", "--dest", "bk"], &root, None).code,
            0
        );
        let good = files(&root.join("s"));
        fs::write(root.join("s").join(&good[0].0), b"garbage\n").unwrap();
        let bad = files(&root.join("s"));
        let o = run(&["restore", "--backup", "bk", "--to", "s"], &root, Some(k));
        let finished = o.code == 0;
        if !finished {
            assert_eq!(o.code, -1, "k={k}: {}", o.stderr);
            crashes += 1;
            // The old store is in place or aside, whole.
            let aside: Vec<PathBuf> = fs::read_dir(&root)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    p.file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .starts_with("s-failed-")
                })
                .collect();
            match aside.as_slice() {
                [] => assert_eq!(files(&root.join("s")), bad, "k={k}"),
                [a] => {
                    assert_eq!(files(a), bad, "k={k}");
                    assert!(!root.join("s").exists(), "k={k}");
                }
                _ => panic!("k={k}: {aside:?}"),
            }
            let o = run(&["restore", "--backup", "bk", "--to", "s"], &root, None);
            assert_eq!(o.code, 0, "k={k}: {}", o.stderr);
        }
        assert_eq!(files(&root.join("s")), good, "k={k}");
        assert!(!root.join("s.ibstore-tmp").exists(), "k={k}");
        if finished {
            break;
        }
    }
    assert_eq!(crashes, 6, "4 files, copy done, moved aside");
}

#[test]
fn bad_inputs_exit_2() {
    let (_d, root) = store();
    fs::create_dir(root.join("empty")).unwrap();
    fs::create_dir_all(root.join("nodata/v3")).unwrap();
    fs::create_dir_all(root.join("full/x")).unwrap();
    assert_eq!(
        run(&["backup", "--path", "s", "--dest", "bk"], &root, None).code,
        0
    );
    std::os::unix::fs::symlink("s", root.join("act")).unwrap();
    let r = root.display();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["backup", "--path", "missing"], "missing: no such file or folder".into()),
        (
            vec!["backup", "--path", "empty"],
            "empty: not a store root (no v2/, v3/, json/ or protobuf/ folder directly below it)".into(),
        ),
        (
            vec!["backup", "--path", "nodata"],
            format!("refused: {r}/nodata holds no data files: nothing to back up"),
        ),
        (
            vec!["backup", "--path", "s", "--dest", "s"],
            format!("refused: the store and the backup must be apart: both are {r}/s"),
        ),
        (
            vec!["backup", "--path", "s", "--dest", "s/inside"],
            format!("refused: the store and the backup must be apart: {r}/s and {r}/s/inside are nested"),
        ),
        (
            vec!["backup", "--path", "s", "--dest", "full"],
            format!("refused: {r}/full exists and is not empty; give a new --dest"),
        ),
        (vec!["verify", "--backup", "missing"], "missing: no such file or folder".into()),
        (
            vec!["restore", "--backup", "bk", "--to", "act"],
            format!("refused: {r}/act is a symbolic link; restore to a new folder and `ibstore switch` the link to it"),
        ),
        (
            vec!["restore", "--backup", "bk", "--to", "bk/v3"],
            format!("refused: the backup and the store must be apart: {r}/bk and {r}/bk/v3 are nested"),
        ),
    ];
    let before = snapshot(&root);
    for (args, want) in cases {
        let o = run(&args, &root, None);
        assert_eq!(o.code, 2, "{args:?}: {}{}", o.stdout, o.stderr);
        assert_eq!(o.stderr, format!("ibstore: error: {want}\n"), "{args:?}");
        assert_eq!(o.stdout, "");
        assert_eq!(snapshot(&root), before, "{args:?}: nothing written");
    }
}

#[test]
fn a_full_disk_stops_the_backup_with_no_manifest_and_no_temp_file() {
    let (_d, root) = store();
    gen(&root.join("big"), &["--hours", "3", "--records", "2000"]);
    let mnt = root.join("mnt");
    fs::create_dir(&mnt).unwrap();
    let Some(_u) = common::mount_tmpfs(&mnt, "256k") else {
        eprintln!("skipped: cannot mount a small tmpfs here to fill a disk");
        return;
    };
    let before = data(&root.join("big"));
    let o = run(
        &["backup", "--path", "big", "--dest", "mnt/bk", "-j", "1"],
        &root,
        None,
    );
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("No space left on device"), "{}", o.stderr);
    assert!(
        o.stderr.ends_with(&format!(
            "; the backup {}/mnt/bk is incomplete (it has no manifest): remove it and run again\n",
            root.display()
        )),
        "{}",
        o.stderr
    );
    assert_eq!(o.stdout, "");
    let left: Vec<_> = snapshot(&mnt.join("bk"))
        .into_iter()
        .filter(|(p, _, _)| p.to_string_lossy().contains("ibstore-tmp"))
        .collect();
    assert!(left.is_empty(), "no temp file under the backup");
    assert_eq!(run(&["verify", "--backup", "mnt/bk"], &root, None).code, 1);
    assert_eq!(data(&root.join("big")), before, "the source is untouched");
}

#[test]
fn a_file_growing_during_the_copy_is_cut_at_its_last_complete_record_and_reported() {
    let (_d, root) = store();
    let rel = "v3/json/2025/08/01/00/265598_bid_ask_1754006400.jsonl";
    let orig = fs::read(root.join("s").join(rel)).unwrap();
    let line = orig.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut c = ibstore();
    c.current_dir(&root)
        .args(["backup", "--path", "s", "--dest", "bk"])
        .env("IBSTORE_TEST_GROW", rel);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8(o.stdout).unwrap();
    let kept = orig.len() + line;
    let now = fs::read(root.join("s").join(rel)).unwrap();
    assert_eq!(now.len(), orig.len() + 2 * line);
    assert_eq!(
        out.lines().nth(2).unwrap(),
        format!(
            "changed during the copy: {rel}: still changing after the last copy: kept up to its last complete record ({kept} bytes; the source now has {})",
            now.len()
        )
    );
    assert_eq!(fs::read(root.join("bk").join(rel)).unwrap(), &now[..kept]);
    let m = manifest(&root.join("bk"));
    let e = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == rel)
        .unwrap();
    assert_eq!(e["changed"], true);
    assert_eq!(e["records"], 101);
    assert_eq!(e["size"], kept);
    assert_eq!(e["crc32"], crc32fast::hash(&now[..kept]));
    assert_eq!(run(&["verify", "--backup", "bk"], &root, None).code, 0);
}

#[test]
fn verify_compares_the_times_of_data_files() {
    let (_d, root) = store();
    assert_eq!(
        run(&["backup", "--path", "s", "--dest", "bk"], &root, None).code,
        0
    );
    let rel = "v3/json/2025/08/01/00/265598_bid_ask_1754006400.jsonl";
    let p = root.join("bk").join(rel);
    let b = fs::read(&p).unwrap();
    // The first record's ts 1h46m40s earlier (same size): crc32 and ts differ.
    let s = String::from_utf8(b.clone()).unwrap();
    let edited = s.replacen("{\"ts\":1754006406000000", "{\"ts\":1754000000000000", 1);
    assert_eq!(edited.len(), b.len());
    fs::write(&p, &edited).unwrap();
    let m = manifest(&root.join("bk"));
    let e = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == rel)
        .unwrap();
    assert_eq!(e["first_ts"], 1754006406000000i64);
    let last = ibstore::time::display_us(e["last_ts"].as_i64().unwrap());
    let o = run(&["verify", "--backup", "bk"], &root, None);
    assert_eq!(o.code, 1);
    assert_eq!(
        o.stdout,
        format!(
            "ibstore verify: {}/bk\ncrc32: {rel}: expected {:08x}, found {:08x}\nts: {rel}: expected 2025-08-01T00:00:06Z..{last}, found 2025-07-31T22:13:20Z..{last}\nbad: 2 problems against the manifest\n",
            root.display(),
            crc32fast::hash(&b),
            crc32fast::hash(edited.as_bytes())
        )
    );
}
