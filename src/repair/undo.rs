//! `repair --undo RUN`: restores every file a run changed, byte for byte,
//! from the repaired file plus the quarantined pieces (or the whole original
//! kept for compressed or reordered files), checking every CRC on the way.

use super::journal::{self, Step};
use crate::error::{Error, Result};
use crate::fsutil::{self, crc32};
use crate::report::{Finding, Kind};
use std::collections::BTreeMap;
use std::path::Path;

/// Runs with a journal under `state`.
pub fn runs(state: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state.join("journal"))
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".jsonl")
                .map(str::to_owned)
        })
        .filter(|n| !n.ends_with(".undo"))
        .collect();
    v.sort();
    v
}

#[derive(Default)]
struct FileSteps {
    pieces: Vec<(u64, u64, u32, String)>,
    original: Option<String>,
    rewrite: Option<Step>,
    appended: Option<Step>,
    deleted: bool,
}

/// Whether `s` has the shape of a run id (`YYYYMMDDTHHMMSSZ-PID`).
pub fn is_run_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(u8::is_ascii_digit)
}

/// What an undo did.
#[derive(Debug, Default)]
pub struct Undone {
    /// Files restored, with their restored size.
    pub restored: Vec<(String, u64)>,
    /// Every file was already as before the run: nothing was changed.
    pub already: bool,
    /// The run's journal is incomplete (the run was killed, or the journal
    /// was cut short): only what it records was undone.
    pub incomplete: bool,
    /// Temp files of the killed run that were removed.
    pub temps_removed: u64,
}

/// Restores the files of `run`; refusals are findings.
pub fn undo(root: &Path, run: &str, out: &mut Vec<Finding>) -> Result<Undone> {
    let state = root.join(crate::store::discover::STATE_DIR);
    let path = state.join("journal").join(format!("{run}.jsonl"));
    if !is_run_id(run) || !path.is_file() {
        let known = runs(&state);
        return Err(Error::UnknownRun {
            run: run.to_owned(),
            state,
            known: if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            },
        });
    }
    let j = journal::read(&path)?;
    let mut done = Undone {
        incomplete: !j.complete(),
        ..Undone::default()
    };
    let mut files: BTreeMap<String, FileSteps> = BTreeMap::new();
    for s in &j.steps {
        match s {
            Step::Quarantine {
                file,
                offset,
                len,
                crc32,
                path,
            } => files.entry(file.clone()).or_default().pieces.push((
                *offset,
                *len,
                *crc32,
                path.clone(),
            )),
            Step::Original { file, path } => {
                files.entry(file.clone()).or_default().original = Some(path.clone())
            }
            Step::Rewrite { file, .. } => {
                files.entry(file.clone()).or_default().rewrite = Some(s.clone())
            }
            Step::Delete { file } => files.entry(file.clone()).or_default().deleted = true,
            Step::Append { file, .. } => {
                files.entry(file.clone()).or_default().appended = Some(s.clone())
            }
            Step::Skipped { file, .. } | Step::Failed { file, .. } | Step::Start { file } => {
                files.entry(file.clone()).or_default();
            }
            _ => {}
        }
    }
    // A real file in a real folder of the store, never through a link.
    let undo_journal = crate::fsutil::resolve_in(
        root,
        &format!(
            "{}/journal/{run}.undo.jsonl",
            crate::store::discover::STATE_DIR
        ),
        true,
    )?;
    journal::append(
        &undo_journal,
        &Step::Begin {
            run: format!("undo {run}"),
            root: root.display().to_string(),
        },
    )?;
    for (file, steps) in files.iter().rev() {
        let abs = match fsutil::resolve_in(root, file, true) {
            Ok(a) => a,
            Err(e) => {
                out.push(Finding::new(
                    Kind::UndoRefused,
                    file,
                    format!("not restored: {e}"),
                ));
                continue;
            }
        };
        // A killed run may have left its temp file behind.
        let tmp = fsutil::temp_path(&abs);
        if std::fs::symlink_metadata(&tmp).is_ok_and(|m| m.is_file()) {
            fsutil::remove_durable(&tmp)?;
            done.temps_removed += 1;
        }
        let result = if let Some(ap) = &steps.appended {
            unappend(&state, &abs, ap)
        } else if let Some(rw) = &steps.rewrite {
            restore(&state, &abs, rw, steps)
        } else if steps.deleted && std::fs::symlink_metadata(&abs).is_err() {
            let bytes = match &steps.original {
                Some(p) => std::fs::read(state.join(p)).map_err(|source| Error::Io {
                    path: state.join(p),
                    what: "read quarantine",
                    source,
                }),
                None => Ok(Vec::new()),
            };
            bytes
                .and_then(|b| fsutil::create_durable(&abs, &b).map(|()| b.len() as u64))
                .map(Some)
        } else {
            Ok(None)
        };
        match result {
            Ok(Some(size)) => {
                journal::append(&undo_journal, &Step::Done { file: file.clone() })?;
                done.restored.push((file.clone(), size));
            }
            Ok(None) => {}
            Err(e) => out.push(Finding::new(Kind::UndoRefused, file, e.to_string())),
        }
    }
    journal::append(&undo_journal, &Step::End)?;
    done.already = done.restored.is_empty() && !out.iter().any(|f| f.kind == Kind::UndoRefused);
    if done.incomplete {
        out.push(Finding::new(
            Kind::JournalIncomplete,
            &format!(".ibstore/journal/{run}.jsonl"),
            "the journal of this run is incomplete (the run was killed, or the journal was cut short): what it records was undone; files it does not record were not touched",
        ));
    }
    Ok(done)
}

fn refuse(msg: String) -> Error {
    Error::Refused(msg)
}

/// Restores one rewritten file; `Ok(None)` when it is already the original.
fn restore(state: &Path, abs: &Path, rw: &Step, steps: &FileSteps) -> Result<Option<u64>> {
    let Step::Rewrite {
        orig_crc32,
        new_crc32,
        cuts,
        append_newline,
        whole_copy,
        ..
    } = rw
    else {
        return Ok(None);
    };
    let current = match std::fs::read(abs) {
        // Every record was moved out and the file removed: it was empty.
        Err(_) if steps.deleted && *new_crc32 == crc32(b"") => Vec::new(),
        r => r.map_err(|source| Error::Io {
            path: abs.to_owned(),
            what: "read",
            source,
        })?,
    };
    let crc = crc32(&current);
    if crc == *orig_crc32 {
        return Ok(None);
    }
    if crc != *new_crc32 {
        return Err(refuse("the file changed after the repair (appended to or edited); not restored, to lose nothing".into()));
    }
    let original = if *whole_copy {
        let p = steps
            .original
            .as_ref()
            .ok_or_else(|| refuse("the journal has no copy of the original".into()))?;
        std::fs::read(state.join(p)).map_err(|source| Error::Io {
            path: state.join(p),
            what: "read quarantine",
            source,
        })?
    } else {
        rebuild(state, &current, cuts, *append_newline, &steps.pieces)?
    };
    if crc32(&original) != *orig_crc32 {
        return Err(refuse("the rebuilt original does not match the journal's CRC; quarantine damaged, not restored".into()));
    }
    fsutil::write_atomic(abs, &original)?;
    Ok(Some(original.len() as u64))
}

/// Takes relocated records back out of a target file; the size left, or
/// `None` for a removed (created) target.
fn unappend(state: &Path, abs: &Path, ap: &Step) -> Result<Option<u64>> {
    let Step::Append {
        orig_size,
        orig_crc32,
        new_crc32,
        created,
        original,
        ..
    } = ap
    else {
        return Ok(None);
    };
    let current = match std::fs::read(abs) {
        Ok(c) => c,
        Err(_) if *created => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: abs.to_owned(),
                what: "read",
                source,
            })
        }
    };
    let crc = crc32(&current);
    if crc == *orig_crc32 && !*created {
        return Ok(None);
    }
    if crc != *new_crc32 {
        return Err(refuse(
            "the file changed after the records were moved into it; not restored, to lose nothing"
                .into(),
        ));
    }
    if *created {
        fsutil::remove_durable(abs)?;
        return Ok(Some(0));
    }
    let before = match original {
        Some(p) => std::fs::read(state.join(p)).map_err(|source| Error::Io {
            path: state.join(p),
            what: "read quarantine",
            source,
        })?,
        None => current
            .get(..*orig_size as usize)
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
    };
    if crc32(&before) != *orig_crc32 {
        return Err(refuse(
            "the file before the move does not match the journal's CRC; not restored".into(),
        ));
    }
    fsutil::write_atomic(abs, &before)?;
    Ok(Some(before.len() as u64))
}

/// Interleaves the repaired bytes with the quarantined pieces.
fn rebuild(
    state: &Path,
    current: &[u8],
    cuts: &[(u64, u64)],
    append_newline: bool,
    pieces: &[(u64, u64, u32, String)],
) -> Result<Vec<u8>> {
    let mut kept = current;
    if append_newline && kept.last() == Some(&b'\n') {
        kept = &kept[..kept.len() - 1];
    }
    let mut out =
        Vec::with_capacity(current.len() + cuts.iter().map(|c| c.1 as usize).sum::<usize>());
    let mut pos = 0usize;
    for &(offset, len) in cuts {
        let take = offset as usize - out.len();
        let next = kept
            .get(pos..pos + take)
            .ok_or_else(|| refuse("the repaired file is shorter than the journal says".into()))?;
        out.extend_from_slice(next);
        pos += take;
        let (_, _, crc, path) = pieces
            .iter()
            .find(|p| p.0 == offset && p.1 == len)
            .ok_or_else(|| refuse(format!("no quarantined piece for offset {offset}")))?;
        let bytes = std::fs::read(state.join(path)).map_err(|source| Error::Io {
            path: state.join(path),
            what: "read quarantine",
            source,
        })?;
        if crc32(&bytes) != *crc || bytes.len() as u64 != len {
            return Err(refuse(format!("quarantined piece {path} is damaged")));
        }
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(&kept[pos..]);
    Ok(out)
}
