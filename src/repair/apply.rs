//! Carrying out a plan. For each file: copy every byte to be cut into the
//! quarantine and fsync it, journal it, write the new content to a temp file
//! and fsync it, check the original did not change meanwhile, journal the
//! intent, rename, fsync the folder, journal completion. A crash at any
//! point leaves the old or the new file, and the quarantine holds every cut
//! byte before the file changes.

use super::journal::{self, Step};
use super::plan::{Action, FilePlan, StorePlan};
use crate::error::{Error, Result};
use crate::format::reader::{decompress, FileBytes};
use crate::format::Compression;
use crate::fsutil::{self, crc32};
use crate::report::{Finding, Kind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static STEPS: AtomicU64 = AtomicU64::new(0);

/// A step boundary. Debug builds (the ones tests drive) abort the process at
/// the N-th boundary when `IBSTORE_CRASH_AT=N`, to prove crash safety.
pub fn crash_point() {
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if cfg!(debug_assertions)
        && std::env::var("IBSTORE_CRASH_AT")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            == Some(n)
    {
        std::process::abort();
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rewritten.
    Rewritten,
    /// Removed.
    Deleted,
    /// Left alone (a finding says why).
    Skipped,
}

/// Where a run keeps its state.
#[derive(Debug)]
pub struct RunDirs {
    /// `.ibstore`.
    pub state: PathBuf,
    /// The journal file.
    pub journal: PathBuf,
    /// `quarantine/<run>`.
    pub quarantine: PathBuf,
}

impl RunDirs {
    /// Paths for `run` under `root`.
    pub fn new(root: &Path, run: &str) -> Self {
        let state = root.join(crate::store::discover::STATE_DIR);
        Self {
            journal: state.join("journal").join(format!("{run}.jsonl")),
            quarantine: state.join("quarantine").join(run),
            state,
        }
    }

    /// Creates the folders (before anything in the store changes).
    pub fn create(&self) -> Result<()> {
        for d in [self.state.join("journal"), self.quarantine.clone()] {
            std::fs::create_dir_all(&d).map_err(|source| Error::Io {
                path: d.clone(),
                what: "create folder",
                source,
            })?;
        }
        fsutil::fsync_dir(&self.state)
    }
}

fn changed(plan: &FilePlan) -> bool {
    let m = std::fs::metadata(&plan.abs).ok();
    m.as_ref().map(|m| m.len()) != Some(plan.size)
        || m.and_then(|m| m.modified().ok()) != plan.mtime
}

/// Applies a plan; findings report skips and failures.
pub fn apply(
    plan: &StorePlan,
    run: &str,
    dirs: &RunDirs,
    out: &mut Vec<Finding>,
) -> Result<Vec<(String, Outcome)>> {
    let j = &dirs.journal;
    journal::append(
        j,
        &Step::Begin {
            run: run.to_owned(),
            root: plan.root.display().to_string(),
        },
    )?;
    crash_point();
    for t in &plan.stale_temps {
        journal::append(j, &Step::RemovedTemp { file: t.clone() })?;
        fsutil::remove_durable(&plan.root.join(t))?;
        crash_point();
    }
    // Relocated records go into their target first: a crash before the
    // sources are cut leaves a copy in both places, never in neither, and a
    // new run does not append a record its target already holds.
    for (target, sources) in &plan.appends {
        if let Err(e) = append_records(plan, dirs, target, sources) {
            out.push(Finding::new(
                Kind::RepairFailed,
                target,
                format!("relocated records not appended, file unchanged: {e}"),
            ));
            return Err(e);
        }
    }
    let mut results = Vec::new();
    for f in &plan.files {
        let outcome = match &f.action {
            Action::Skip(reason) => skip(j, f, reason, out)?,
            Action::Delete if changed(f) => skip(j, f, "changed since it was examined", out)?,
            Action::Delete => {
                // A compressed file of nothing still has bytes on disk: keep them.
                if f.size > 0 {
                    let disk = std::fs::read(&f.abs).map_err(|source| Error::Io {
                        path: f.abs.clone(),
                        what: "read",
                        source,
                    })?;
                    keep_original(dirs, f, &disk)?;
                }
                delete_journaled(j, f)?;
                journal::append(
                    j,
                    &Step::Done {
                        file: f.rel.clone(),
                    },
                )?;
                crash_point();
                Outcome::Deleted
            }
            Action::Rewrite => match rewrite(f, dirs) {
                Ok(Some(reason)) => skip(j, f, &reason, out)?,
                Ok(None) => Outcome::Rewritten,
                Err(e) => {
                    out.push(Finding::new(
                        Kind::RepairFailed,
                        &f.rel,
                        format!("not repaired, file unchanged: {e}"),
                    ));
                    Outcome::Skipped
                }
            },
        };
        results.push((f.rel.clone(), outcome));
    }
    journal::append(j, &Step::End)?;
    crash_point();
    Ok(results)
}

/// Journals the removal of a file, then removes it durably.
fn delete_journaled(j: &Path, f: &FilePlan) -> Result<()> {
    journal::append(
        j,
        &Step::Delete {
            file: f.rel.clone(),
        },
    )?;
    crash_point();
    fsutil::remove_durable(&f.abs)?;
    crash_point();
    Ok(())
}

/// Copies a file's whole original into the quarantine and journals it.
fn keep_original(dirs: &RunDirs, f: &FilePlan, disk: &[u8]) -> Result<()> {
    let rel = original_path(dirs, f);
    fsutil::create_durable(&dirs.state.join(&rel), disk)?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Original {
            file: f.rel.clone(),
            path: rel,
        },
    )?;
    crash_point();
    Ok(())
}

/// Quarantine path (relative to `.ibstore`) of a file's whole original.
fn original_path(dirs: &RunDirs, f: &FilePlan) -> String {
    format!(
        "quarantine/{}/{}.original",
        dirs.quarantine
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(""),
        f.rel
    )
}

fn skip(j: &Path, f: &FilePlan, reason: &str, out: &mut Vec<Finding>) -> Result<Outcome> {
    journal::append(
        j,
        &Step::Skipped {
            file: f.rel.clone(),
            reason: reason.to_owned(),
        },
    )?;
    out.push(Finding::new(
        Kind::RepairSkipped,
        &f.rel,
        format!("not repaired: {reason}"),
    ));
    Ok(Outcome::Skipped)
}

/// Rewrites one file; `Ok(Some(reason))` when it must be skipped.
fn rewrite(f: &FilePlan, dirs: &RunDirs) -> Result<Option<String>> {
    let j = &dirs.journal;
    let disk = std::fs::read(&f.abs).map_err(|source| Error::Io {
        path: f.abs.clone(),
        what: "read",
        source,
    })?;
    if disk.len() as u64 != f.size || changed(f) {
        return Ok(Some("changed since it was examined".into()));
    }
    // The bytes just read are the original: decode them, do not read again.
    let decoded;
    let buf: &[u8] = if f.compressed {
        decoded = decompress(disk.as_slice())
            .map_err(|e| Error::Usage(format!("{}: {e}", f.abs.display())))?;
        &decoded
    } else {
        &disk
    };
    for c in &f.cuts {
        let piece = &buf[c.offset as usize..(c.offset + c.len) as usize];
        let rel = format!(
            "quarantine/{}/{}.{}",
            dirs.quarantine
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or(""),
            f.rel,
            c.offset
        );
        fsutil::create_durable(&dirs.state.join(&rel), piece)?;
        crash_point();
        journal::append(
            j,
            &Step::Quarantine {
                file: f.rel.clone(),
                offset: c.offset,
                len: c.len,
                crc32: crc32(piece),
                path: rel,
            },
        )?;
        crash_point();
    }
    if f.whole_copy() {
        keep_original(dirs, f, &disk)?;
    }
    let new = f.output(buf);
    let new_is_empty = new.is_empty();
    let new_disk = if f.compressed {
        zstd::encode_all(new.as_slice(), 3).map_err(|source| Error::Io {
            path: f.abs.clone(),
            what: "compress",
            source,
        })?
    } else {
        new
    };
    let tmp = fsutil::write_temp(&f.abs, &new_disk)?;
    crash_point();
    test_hook_append(&f.abs);
    if changed(f) {
        fsutil::remove_durable(&tmp)?;
        return Ok(Some(
            "appended to while being repaired; left as it is".into(),
        ));
    }
    let step = Step::Rewrite {
        file: f.rel.clone(),
        orig_size: disk.len() as u64,
        orig_crc32: crc32(&disk),
        new_size: new_disk.len() as u64,
        new_crc32: crc32(&new_disk),
        cuts: f.cuts.iter().map(|c| (c.offset, c.len)).collect(),
        append_newline: f.append_newline,
        whole_copy: f.whole_copy(),
    };
    journal::append(j, &step)?;
    crash_point();
    fsutil::commit(&tmp, &f.abs)?;
    crash_point();
    journal::append(
        j,
        &Step::Done {
            file: f.rel.clone(),
        },
    )?;
    crash_point();
    if new_is_empty && !f.moves.is_empty() {
        // Every record moved out: the file of the wrong name goes too.
        delete_journaled(j, f)?;
    }
    Ok(None)
}

/// Appends relocated records to `target` (atomically, as a rewrite),
/// skipping records it already holds.
fn append_records(
    plan: &StorePlan,
    dirs: &RunDirs,
    target: &str,
    sources: &[(String, u64, u64)],
) -> Result<()> {
    let j = &dirs.journal;
    let abs = plan.root.join(target);
    let compression = if target.ends_with(".zst") {
        Compression::Zstd
    } else {
        Compression::None
    };
    let ext = crate::format::Extension::from_path(&abs)
        .ok_or_else(|| Error::Usage(format!("{target}: not a data file name")))?;
    let v3 = target.split('/').any(|c| c == "v3");
    let format = if v3 {
        crate::format::Format::V3Json
    } else {
        crate::format::Format::V2Json
    }
    .with_json(ext.json);
    let disk = if abs.exists() {
        Some(std::fs::read(&abs).map_err(|source| Error::Io {
            path: abs.clone(),
            what: "read",
            source,
        })?)
    } else {
        None
    };
    let mut content = match &disk {
        Some(d) if compression == Compression::Zstd => {
            decompress(d.as_slice()).map_err(|e| Error::Usage(format!("{}: {e}", abs.display())))?
        }
        Some(d) => d.clone(),
        None => Vec::new(),
    };
    let key = |rec: &[u8]| -> Option<u64> {
        let body = if format.is_json() {
            rec.strip_suffix(b"\n")
                .map(|r| r.strip_suffix(b"\r").unwrap_or(r))
                .unwrap_or(rec)
        } else {
            rec.get(4..)?
        };
        format.decode(body).ok().map(|d| d.tick.dedup_key())
    };
    let mut have: std::collections::HashSet<u64> = format
        .decode_all(&content)
        .into_iter()
        .filter_map(|(_, r)| r.ok().map(|d| d.tick.dedup_key()))
        .collect();
    if format.is_json() && content.last().is_some_and(|&b| b != b'\n') {
        content.push(b'\n');
    }
    let before = content.len();
    for (src, offset, len) in sources {
        let sabs = plan.root.join(src);
        let scomp = if src.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        };
        let sb = FileBytes::open(&sabs, scomp)
            .map_err(|e| Error::Usage(format!("{}: {e}", sabs.display())))?;
        let rec = sb
            .bytes()
            .get(*offset as usize..(offset + len) as usize)
            .ok_or_else(|| Error::Usage(format!("{src}: changed since it was examined")))?;
        if key(rec).is_some_and(|k| have.insert(k)) {
            content.extend_from_slice(rec);
            if format.is_json() && !rec.ends_with(b"\n") {
                content.push(b'\n');
            }
        }
    }
    if content.len() == before {
        return Ok(()); // an earlier, interrupted run already moved them
    }
    let new_disk = if compression == Compression::Zstd {
        zstd::encode_all(content.as_slice(), 3).map_err(|source| Error::Io {
            path: abs.clone(),
            what: "compress",
            source,
        })?
    } else {
        content
    };
    let mut original = None;
    if let (Some(d), Compression::Zstd) = (&disk, compression) {
        let rel = format!(
            "quarantine/{}/{target}.original",
            dirs.quarantine
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
        );
        fsutil::create_durable(&dirs.state.join(&rel), d)?;
        crash_point();
        original = Some(rel);
    }
    if let Some(dir) = abs.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_owned(),
            what: "create folder",
            source,
        })?;
    }
    let tmp = fsutil::write_temp(&abs, &new_disk)?;
    crash_point();
    let orig = disk.as_deref().unwrap_or(b"");
    journal::append(
        j,
        &Step::Append {
            file: target.to_owned(),
            orig_size: orig.len() as u64,
            orig_crc32: crc32(orig),
            new_size: new_disk.len() as u64,
            new_crc32: crc32(&new_disk),
            created: disk.is_none(),
            original,
        },
    )?;
    crash_point();
    fsutil::commit(&tmp, &abs)?;
    crash_point();
    journal::append(
        j,
        &Step::Done {
            file: target.to_owned(),
        },
    )?;
    crash_point();
    Ok(())
}

/// Debug builds only: `IBSTORE_TEST_APPEND=1` appends a line to the file
/// being repaired just before the final check, as a live recorder would.
fn test_hook_append(path: &Path) {
    if cfg!(debug_assertions) && std::env::var_os("IBSTORE_TEST_APPEND").is_some() {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = f.write_all(b"{\"appended\":true}\n");
        }
    }
}
