//! `repair --undo RUN`: restores every file a run changed, byte for byte,
//! from the repaired file plus the quarantined pieces (or the whole original
//! kept for compressed or reordered files), checking every CRC on the way.

use super::journal::{self, Step};
use crate::error::{Error, Result};
use crate::fsutil::{self, crc32};
use crate::report::{Finding, Kind};
use std::collections::BTreeMap;
use std::io::Read as _;
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
            // Streamed into a new file: a deleted file may be large.
            fsutil::Durable::create(&abs, true).and_then(|mut out| {
                let n = match &steps.original {
                    Some(p) => copy_file(&state.join(p), &mut out, "read quarantine", None)?,
                    None => 0,
                };
                out.finish().map(|_| Some(n))
            })
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
/// Streams: memory does not grow with the file or its quarantined pieces.
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
    let (len, crc) = match file_crc(abs) {
        Ok(v) => v,
        // Every record was moved out and the file removed: it was empty.
        Err(_) if steps.deleted && *new_crc32 == crc32(b"") => (0, crc32(b"")),
        Err(source) => {
            return Err(Error::Io {
                path: abs.to_owned(),
                what: "read",
                source,
            })
        }
    };
    if crc == *orig_crc32 {
        return Ok(None);
    }
    if crc != *new_crc32 {
        return Err(refuse("the file changed after the repair (appended to or edited); not restored, to lose nothing".into()));
    }
    let mut out = fsutil::Durable::temp_for(abs)?;
    let written = if *whole_copy {
        let p = steps
            .original
            .as_ref()
            .ok_or_else(|| refuse("the journal has no copy of the original".into()))?;
        copy_file(&state.join(p), &mut out, "read quarantine", None)
    } else {
        rebuild(
            state,
            abs,
            len,
            cuts,
            *append_newline,
            &steps.pieces,
            &mut out,
        )
    };
    finish_checked(
        out,
        written,
        abs,
        *orig_crc32,
        "the rebuilt original does not match the journal's CRC; quarantine damaged, not restored",
    )
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
    let crc = match file_crc(abs) {
        Ok((_, c)) => c,
        Err(_) if *created => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: abs.to_owned(),
                what: "read",
                source,
            })
        }
    };
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
    let mut out = fsutil::Durable::temp_for(abs)?;
    let written = match original {
        Some(p) => copy_file(&state.join(p), &mut out, "read quarantine", None),
        None => copy_file(abs, &mut out, "read", Some(*orig_size)),
    };
    finish_checked(
        out,
        written,
        abs,
        *orig_crc32,
        "the file before the move does not match the journal's CRC; not restored",
    )
}

/// Size and CRC-32 of a file, streamed.
fn file_crc(path: &Path) -> std::io::Result<(u64, u32)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok((len, h.finalize()));
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
}

/// Copies `path` (its first `limit` bytes, or all) into `out`; the bytes
/// copied.
fn copy_file(
    path: &Path,
    out: &mut impl std::io::Write,
    what: &'static str,
    limit: Option<u64>,
) -> Result<u64> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        what,
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut r = f.take(limit.unwrap_or(u64::MAX));
    std::io::copy(&mut r, out).map_err(io)
}

/// fsyncs a restored temp file and renames it over `abs` if its CRC is the
/// original's; otherwise removes it and refuses with `why`.
fn finish_checked(
    out: fsutil::Durable,
    written: Result<u64>,
    abs: &Path,
    orig_crc32: u32,
    why: &str,
) -> Result<Option<u64>> {
    let tmp = out.path().to_owned();
    let done = written.and_then(|_| out.finish());
    match done {
        Ok((_, len, crc)) if crc == orig_crc32 => {
            fsutil::commit(&tmp, abs)?;
            Ok(Some(len))
        }
        Ok(_) => {
            let _ = std::fs::remove_file(&tmp);
            Err(refuse(why.into()))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Interleaves the repaired file's bytes (`len` of them on disk) with the
/// quarantined pieces, into `out`, streamed; each piece's length and CRC
/// checked on the way.
fn rebuild(
    state: &Path,
    abs: &Path,
    len: u64,
    cuts: &[(u64, u64)],
    append_newline: bool,
    pieces: &[(u64, u64, u32, String)],
    out: &mut fsutil::Durable,
) -> Result<u64> {
    use std::os::unix::fs::FileExt as _;
    let io = |source| Error::Io {
        path: abs.to_owned(),
        what: "read",
        source,
    };
    let current = std::fs::File::open(abs).map_err(io)?;
    let mut kept = len;
    if append_newline && len > 0 {
        let mut last = [0u8];
        current.read_exact_at(&mut last, len - 1).map_err(io)?;
        if last[0] == b'\n' {
            kept -= 1;
        }
    }
    let mut cur = (&current).take(kept);
    let mut written = 0u64;
    for &(offset, plen) in cuts {
        let take = offset
            .checked_sub(written)
            .ok_or_else(|| refuse("the journal's cuts overlap".into()))?;
        let n = std::io::copy(&mut (&mut cur).take(take), out).map_err(io)?;
        if n != take {
            return Err(refuse(
                "the repaired file is shorter than the journal says".into(),
            ));
        }
        written += n;
        let (_, _, crc, path) = pieces
            .iter()
            .find(|p| p.0 == offset && p.1 == plen)
            .ok_or_else(|| refuse(format!("no quarantined piece for offset {offset}")))?;
        let piece = state.join(path);
        let mut check = CrcWriter {
            inner: &mut *out,
            crc: crc32fast::Hasher::new(),
        };
        let n = copy_file(&piece, &mut check, "read quarantine", Some(plen + 1))?;
        if check.crc.finalize() != *crc || n != plen {
            return Err(refuse(format!("quarantined piece {path} is damaged")));
        }
        written += n;
    }
    written += std::io::copy(&mut cur, out).map_err(io)?;
    Ok(written)
}

/// Passes bytes on to a [`fsutil::Durable`], hashing them on the way.
struct CrcWriter<'a> {
    inner: &'a mut fsutil::Durable,
    crc: crc32fast::Hasher,
}

impl std::io::Write for CrcWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
