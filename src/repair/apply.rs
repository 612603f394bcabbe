//! Carrying out a plan, file by file, on the handles the scan opened (each
//! file is opened once per run). For each file: check it is still the file
//! that was scanned, copy every byte to be cut into the quarantine and fsync
//! it, journal it, stream the new content into a temp file and fsync it,
//! check the bytes read equal the scanned ones (CRC-32), journal the intent,
//! rename, fsync the folder, journal completion. A crash at any point leaves
//! the old or the new file, and the quarantine holds every cut byte before
//! the file changes. A file whose step fails is reported and left as it was;
//! the run goes on with the others.

use super::journal::{self, Step};
use super::plan::{Action, Cut, FilePlan, Move, SkipReason};
use crate::error::{Error, Result};
use crate::format::piece::Piece;
use crate::format::source::{Source, Stat, WINDOW};
use crate::format::{Compression, Format};
use crate::fsutil::{self, crash_point, crc32, Durable};
use crate::report::{Finding, Kind};
use crate::store::discover::STATE_DIR;
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Rewritten.
    Rewritten,
    /// Removed.
    Deleted,
    /// Left alone.
    Skipped(SkipReason),
    /// A step failed; the file is unchanged.
    Failed(String),
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
    /// The run id.
    pub run: String,
    root: PathBuf,
}

impl RunDirs {
    /// Paths for `run` under `root`.
    pub fn new(root: &Path, run: &str) -> Self {
        let state = root.join(crate::store::discover::STATE_DIR);
        Self {
            journal: state.join("journal").join(format!("{run}.jsonl")),
            quarantine: state.join("quarantine").join(run),
            state,
            run: run.to_owned(),
            root: root.to_owned(),
        }
    }

    /// Creates the journal's and the quarantine's folders (before anything
    /// in the store changes), real folders inside the store: a symbolic link
    /// anywhere on the way (`.ibstore`, `journal`, `quarantine`) is refused,
    /// as it is again on the way to every quarantine piece.
    pub fn create(&self) -> Result<()> {
        let journal = format!("{}/journal/{}.jsonl", STATE_DIR, self.run);
        fsutil::resolve_in(&self.root, &journal, true)?;
        fsutil::resolve_in(
            &self.root,
            &format!("{STATE_DIR}/quarantine/{}", self.run),
            true,
        )?;
        fsutil::fsync_dir(&self.state)
    }

    /// Where a quarantine piece named by [`RunDirs::piece`] goes, its folders
    /// created and checked as [`RunDirs::create`] does.
    fn piece_path(&self, q: &str) -> Result<PathBuf> {
        // `q` names the file literally (a `%XX` in it is part of the name).
        let key = fsutil::rel_key(&format!("{STATE_DIR}/{q}"), None);
        fsutil::resolve_in(&self.root, &key, true)
    }

    /// Quarantine path (relative to `.ibstore`) for a piece of `rel`.
    fn piece(&self, rel: &str, suffix: &str) -> String {
        format!("quarantine/{}/{rel}.{suffix}", self.run)
    }
}

/// A planned file with the handle its scan opened.
#[derive(Debug)]
pub struct Planned {
    /// The plan.
    pub plan: FilePlan,
    /// The open file (none when it could not be opened).
    pub source: Option<Source>,
    /// CRC-32 of its bytes on disk when scanned.
    pub crc32: Option<u32>,
}

/// Everything a run carries out.
#[derive(Debug)]
pub struct Work<'a> {
    /// Store root.
    pub root: &'a Path,
    /// Files with a plan.
    pub files: &'a mut [Planned],
    /// Open handles of files that receive relocated records but have no plan.
    pub targets: &'a mut HashMap<String, (Source, Format)>,
    /// Relocated records by target: (index into `files`, the move).
    pub appends: &'a BTreeMap<String, Vec<(usize, Move)>>,
    /// Temp files of an interrupted ibstore run (relative paths).
    pub stale_temps: &'a [String],
}

/// Applies a plan; skips and failures become findings. Only a journal that
/// cannot be written stops the run.
pub fn apply(work: Work<'_>, dirs: &RunDirs, out: &mut Vec<Finding>) -> Result<Vec<Outcome>> {
    let j = &dirs.journal;
    journal::append(
        j,
        &Step::Begin {
            run: dirs.run.clone(),
            root: work.root.display().to_string(),
        },
    )?;
    crash_point();
    // A stale temp file is moved into the quarantine, never deleted: it
    // may be the only copy of something.
    for t in work.stale_temps {
        if let Ok(p) = fsutil::resolve_in(work.root, t, false) {
            let q = dirs.piece(t, "stale");
            let dest = dirs.piece_path(&q)?;
            journal::append(
                j,
                &Step::RemovedTemp {
                    file: t.clone(),
                    path: Some(q.clone()),
                },
            )?;
            std::fs::rename(&p, &dest).map_err(|source| Error::Io {
                path: p.clone(),
                what: "move into the quarantine",
                source,
            })?;
            fsutil::fsync_dir(dest.parent().unwrap_or(&dirs.state))?;
            fsutil::fsync_dir(p.parent().unwrap_or(work.root))?;
            out.push(Finding::new(
                Kind::StaleTemp,
                t,
                format!("temp file of an interrupted ibstore write moved to .ibstore/{q}"),
            ));
            crash_point();
        }
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; work.files.len()];
    // Relocated records go into their target first: a crash before the
    // sources are cut leaves a copy in both places, never in neither, and a
    // new run does not append a record its target already holds.
    for (target, moves) in work.appends {
        if let Err(e) = append_records(&work, dirs, target, moves) {
            let why = format!("relocated records not appended to {target}: {e}");
            journal::append(
                j,
                &Step::Failed {
                    file: target.clone(),
                    why: why.clone(),
                },
            )?;
            out.push(Finding::new(Kind::RepairFailed, target, why.clone()));
            for (i, _) in moves {
                outcomes[*i] = Some(Outcome::Failed(why.clone()));
            }
        }
    }
    for (i, f) in work.files.iter_mut().enumerate() {
        let outcome = match (outcomes[i].take(), &f.plan.action) {
            (Some(o), _) => o,
            (None, Action::Skip(r)) => Outcome::Skipped(r.clone()),
            (None, Action::Delete) => step(dirs, f, work.root, delete)?,
            (None, Action::Rewrite) => step(dirs, f, work.root, rewrite)?,
        };
        match &outcome {
            Outcome::Skipped(r) => {
                journal::append(
                    j,
                    &Step::Skipped {
                        file: f.plan.rel.clone(),
                        reason: r.to_string(),
                    },
                )?;
                out.push(
                    Finding::new(
                        Kind::RepairSkipped,
                        &f.plan.display,
                        format!("not repaired: {r}"),
                    )
                    .bytes(f.plan.raw.clone()),
                );
            }
            Outcome::Failed(why) => out.push(
                Finding::new(
                    Kind::RepairFailed,
                    &f.plan.display,
                    format!("not repaired, file unchanged: {why}"),
                )
                .bytes(f.plan.raw.clone()),
            ),
            Outcome::Rewritten | Outcome::Deleted => {}
        }
        outcomes[i] = Some(outcome);
    }
    journal::append(j, &Step::End)?;
    crash_point();
    Ok(outcomes.into_iter().flatten().collect())
}

type StepFn = fn(&RunDirs, &mut Planned, &Path) -> Result<Outcome>;

/// Runs one file's step; a failure is journaled and becomes its outcome,
/// unless it is the journal itself that cannot be written.
fn step(dirs: &RunDirs, f: &mut Planned, root: &Path, run: StepFn) -> Result<Outcome> {
    match run(dirs, f, root) {
        Ok(o) => Ok(o),
        Err(e @ Error::Journal { .. }) => Err(e),
        Err(e) => {
            let tmp = fsutil::temp_path(&f.plan.abs);
            if tmp.is_file() {
                let _ = std::fs::remove_file(&tmp);
            }
            let why = e.to_string();
            journal::append(
                &dirs.journal,
                &Step::Failed {
                    file: f.plan.rel.clone(),
                    why: why.clone(),
                },
            )?;
            Ok(Outcome::Failed(why))
        }
    }
}

/// Whether the path still names the file the scan opened, unchanged.
fn unchanged(abs: &Path, was: &Stat) -> bool {
    Stat::of_path(abs).is_ok_and(|now| now == *was)
}

fn source(f: &mut Planned) -> Result<&mut Source> {
    let abs = f.plan.abs.clone();
    f.source.as_mut().ok_or(Error::NotFound { path: abs })
}

fn delete(dirs: &RunDirs, f: &mut Planned, root: &Path) -> Result<Outcome> {
    let abs = fsutil::resolve_in(root, &f.plan.rel, false)?;
    let rel = f.plan.rel.clone();
    let src = source(f)?;
    if !unchanged(&abs, src.stat()) {
        return Ok(Outcome::Skipped(SkipReason::Changed));
    }
    // A compressed file of nothing still has bytes on disk: keep them.
    if src.stat().size > 0 {
        keep_original(dirs, &rel, src)?;
    }
    delete_journaled(&dirs.journal, &rel, &abs)?;
    journal::append(&dirs.journal, &Step::Done { file: rel })?;
    crash_point();
    Ok(Outcome::Deleted)
}

/// Journals the removal of a file, then removes it durably.
fn delete_journaled(j: &Path, rel: &str, abs: &Path) -> Result<()> {
    journal::append(
        j,
        &Step::Delete {
            file: rel.to_owned(),
        },
    )?;
    crash_point();
    fsutil::remove_durable(abs)?;
    crash_point();
    Ok(())
}

/// Copies a file's whole original (its bytes on disk) into the quarantine
/// and journals it; returns the original's CRC-32.
fn keep_original(dirs: &RunDirs, rel: &str, src: &Source) -> Result<u32> {
    let q = dirs.piece(rel, "original");
    let path = dirs.piece_path(&q)?;
    let mut w = Durable::create(&path, true)?;
    let crc = src.copy_disk(&mut w).map_err(|source| Error::Io {
        path: path.clone(),
        what: "copy the original into the quarantine",
        source,
    })?;
    w.finish()?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Original {
            file: rel.to_owned(),
            path: q,
        },
    )?;
    crash_point();
    Ok(crc)
}

/// Writes the bytes of one cut into the quarantine, then journals it.
fn quarantine(dirs: &RunDirs, rel: &str, c: &Cut, bytes: &[u8]) -> Result<()> {
    let q = dirs.piece(rel, &c.offset.to_string());
    fsutil::create_durable(&dirs.piece_path(&q)?, bytes)?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Quarantine {
            file: rel.to_owned(),
            offset: c.offset,
            len: c.len,
            crc32: crc32(bytes),
            path: q,
        },
    )?;
    crash_point();
    Ok(())
}

/// The temp file's writer: plain, or a zstd stream over it.
enum Out {
    Plain(Durable),
    Zstd(zstd::stream::write::Encoder<'static, Durable>),
}

impl Out {
    fn new(target: &Path, compression: Compression) -> Result<Self> {
        let t = Durable::temp_for(target)?;
        Ok(match compression {
            Compression::None => Self::Plain(t),
            Compression::Zstd => Self::Zstd(zstd::stream::write::Encoder::new(t, 3).map_err(
                |source| Error::Io {
                    path: target.to_owned(),
                    what: "start compressing",
                    source,
                },
            )?),
        })
    }

    fn write(&mut self, b: &[u8], target: &Path) -> Result<()> {
        let r = match self {
            Self::Plain(w) => w.write_all(b),
            Self::Zstd(w) => w.write_all(b),
        };
        r.map_err(|source| Error::Io {
            path: target.to_owned(),
            what: "write temp file",
            source,
        })
    }

    fn finish(self, target: &Path) -> Result<(PathBuf, u64, u32)> {
        match self {
            Self::Plain(w) => w.finish(),
            Self::Zstd(w) => w
                .finish()
                .map_err(|source| Error::Io {
                    path: target.to_owned(),
                    what: "compress",
                    source,
                })?
                .finish(),
        }
    }
}

/// Rewrites one file; skips when it changed since its scan.
fn rewrite(dirs: &RunDirs, f: &mut Planned, root: &Path) -> Result<Outcome> {
    let abs = fsutil::resolve_in(root, &f.plan.rel, false)?;
    let plan = f.plan.clone();
    let scanned_crc = f.crc32;
    let src = source(f)?;
    let was = *src.stat();
    if !unchanged(&abs, &was) {
        return Ok(Outcome::Skipped(SkipReason::Changed));
    }
    journal::append(
        &dirs.journal,
        &Step::Start {
            file: plan.rel.clone(),
        },
    )?;
    let disk_crc = if plan.whole_copy() {
        Some(keep_original(dirs, &plan.rel, src)?)
    } else {
        None
    };
    src.rewind().map_err(|e| read_error(&abs, e))?;
    let mut out = Out::new(&abs, plan.compression)?;
    if plan.segments.is_some() {
        let content = src.read_all().map_err(|e| read_error(&abs, e))?;
        for c in &plan.cuts {
            let piece = content
                .get(c.offset as usize..(c.offset + c.len) as usize)
                .ok_or(Error::Unsafe {
                    path: abs.clone(),
                    why: "shorter than when it was scanned".into(),
                })?;
            quarantine(dirs, &plan.rel, c, piece)?;
        }
        out.write(&plan.reordered_output(&content), &abs)?;
    } else {
        copy_without_cuts(dirs, &plan, src, &mut out, &abs)?;
        if plan.append_newline {
            out.write(b"\n", &abs)?;
        }
    }
    let (tmp, new_size, new_crc32) = out.finish(&abs)?;
    crash_point();
    test_hook_append(&abs);
    let read_crc = src.crc32();
    if !unchanged(&abs, &was) || (scanned_crc.is_some() && read_crc != scanned_crc) {
        fsutil::remove_durable(&tmp)?;
        return Ok(Outcome::Skipped(SkipReason::AppendedDuringRepair));
    }
    let step = Step::Rewrite {
        file: plan.rel.clone(),
        orig_size: was.size,
        orig_crc32: disk_crc.or(read_crc).unwrap_or(0),
        new_size,
        new_crc32,
        cuts: plan.cuts.iter().map(|c| (c.offset, c.len)).collect(),
        append_newline: plan.append_newline,
        whole_copy: plan.whole_copy(),
    };
    journal::append(&dirs.journal, &step)?;
    crash_point();
    fsutil::commit(&tmp, &abs)?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Done {
            file: plan.rel.clone(),
        },
    )?;
    crash_point();
    if new_size == 0 {
        // Nothing good was left (every record moved out, or all damage): an
        // empty file would only be the next run's `empty_file`.
        delete_journaled(&dirs.journal, &plan.rel, &abs)?;
    }
    Ok(Outcome::Rewritten)
}

fn read_error(abs: &Path, e: crate::format::source::ReadError) -> Error {
    Error::Io {
        path: abs.to_owned(),
        what: "read",
        source: std::io::Error::other(e.to_string()),
    }
}

/// Streams the file from its first byte: kept bytes into `out`, each cut
/// into its own quarantine file (journaled as soon as it is whole).
fn copy_without_cuts(
    dirs: &RunDirs,
    plan: &FilePlan,
    src: &mut Source,
    out: &mut Out,
    abs: &Path,
) -> Result<()> {
    let mut buf = vec![0u8; WINDOW];
    let mut pos = 0u64;
    let mut cuts = plan.cuts.iter().peekable();
    // The cut being copied into the quarantine, streamed (a cut can be
    // gigabytes of NULs).
    let mut piece: Option<(Durable, String)> = None;
    loop {
        let n = src.read_slice(&mut buf);
        if n == 0 {
            break;
        }
        let end = pos + n as u64;
        let mut at = pos;
        while at < end {
            let next_cut = cuts.peek().copied();
            match next_cut {
                Some(c) if c.offset <= at => {
                    let stop = (c.offset + c.len).min(end);
                    if piece.is_none() {
                        let q = dirs.piece(&plan.rel, &c.offset.to_string());
                        piece = Some((Durable::create(&dirs.piece_path(&q)?, true)?, q));
                    }
                    if let Some((w, q)) = &mut piece {
                        w.write_all(&buf[(at - pos) as usize..(stop - pos) as usize])
                            .map_err(|source| Error::Io {
                                path: dirs.state.join(q.as_str()),
                                what: "write quarantine",
                                source,
                            })?;
                    }
                    at = stop;
                    if stop == c.offset + c.len {
                        if let Some((w, q)) = piece.take() {
                            let (_, len, crc) = w.finish()?;
                            crash_point();
                            journal::append(
                                &dirs.journal,
                                &Step::Quarantine {
                                    file: plan.rel.clone(),
                                    offset: c.offset,
                                    len,
                                    crc32: crc,
                                    path: q,
                                },
                            )?;
                            crash_point();
                        }
                        cuts.next();
                    }
                }
                _ => {
                    let stop = next_cut.map_or(end, |c| c.offset.min(end));
                    out.write(&buf[(at - pos) as usize..(stop - pos) as usize], abs)?;
                    at = stop;
                }
            }
        }
        pos = end;
    }
    if let Some(p) = src.problem() {
        return Err(read_error(abs, clone_problem(p)));
    }
    if cuts.next().is_some() {
        return Err(Error::Unsafe {
            path: abs.to_owned(),
            why: "shorter than when it was scanned".into(),
        });
    }
    Ok(())
}

fn clone_problem(p: &crate::format::source::ReadError) -> crate::format::source::ReadError {
    crate::format::source::ReadError::Io(std::io::Error::other(p.to_string()))
}

/// Appends relocated records to `target` (atomically, as a rewrite),
/// skipping records it already holds (compared field by field).
fn append_records(
    work: &Work<'_>,
    dirs: &RunDirs,
    target: &str,
    moves: &[(usize, Move)],
) -> Result<()> {
    let Some(&(first, _)) = moves.first() else {
        return Ok(());
    };
    let Some(format) = work.files[first].plan.format else {
        return Ok(());
    };
    let abs = fsutil::resolve_in(work.root, target, true)?;
    let compression = if target.ends_with(".zst") {
        Compression::Zstd
    } else {
        Compression::None
    };
    let existing = work.targets.get(target).map(|(s, _)| s);
    let content = match existing {
        Some(s) => {
            if !unchanged(&abs, s.stat()) {
                return Err(Error::Unsafe {
                    path: abs,
                    why: "changed since it was examined".into(),
                });
            }
            read_fresh(s, &abs)?
        }
        None if abs.exists() => {
            return Err(Error::Unsafe {
                path: abs,
                why: "appeared during the run".into(),
            })
        }
        None => Vec::new(),
    };
    // A second decode of the target: it tells which records a crashed
    // earlier run already moved here.
    let mut have: HashMap<u64, Vec<crate::tick::Tick>> = HashMap::new();
    for (_, r) in format.decode_all(&content) {
        if let Ok(d) = r {
            have.entry(d.tick.key(true)).or_default().push(d.tick);
        }
    }
    let mut new = content.clone();
    if format.is_json() && new.last().is_some_and(|&b| b != b'\n') {
        new.push(b'\n');
    }
    let before = new.len();
    let mut sources: HashMap<usize, Vec<u8>> = HashMap::new();
    for (i, m) in moves {
        let f = &work.files[*i];
        let bytes = match sources.get(i) {
            Some(b) => b,
            None => {
                let s = f.source.as_ref().ok_or_else(|| Error::NotFound {
                    path: f.plan.abs.clone(),
                })?;
                let b = read_fresh(s, &f.plan.abs)?;
                sources.entry(*i).or_insert(b)
            }
        };
        let run = bytes
            .get(m.offset as usize..(m.offset + m.len) as usize)
            .ok_or_else(|| Error::Unsafe {
                path: f.plan.abs.clone(),
                why: "shorter than when it was scanned".into(),
            })?;
        let mut append = |rec: &[u8], body: &[u8]| {
            let Ok(d) = format.decode(body) else { return };
            let same = have.entry(d.tick.key(true)).or_default();
            if same.iter().any(|t| t.same(&d.tick, true)) {
                return;
            }
            same.push(d.tick);
            new.extend_from_slice(rec);
            if format.is_json() && !rec.ends_with(b"\n") {
                new.push(b'\n');
            }
        };
        format.walk(run, |p| {
            if let Piece::Record {
                offset, len, bytes, ..
            } = p
            {
                append(&run[offset as usize..(offset + len) as usize], bytes);
            }
        });
    }
    if new.len() == before {
        return Ok(()); // an earlier, interrupted run already moved them
    }
    let mut original = None;
    if let (Some(s), Compression::Zstd) = (existing, compression) {
        let q = dirs.piece(target, "original");
        let path = dirs.piece_path(&q)?;
        let mut w = Durable::create(&path, true)?;
        s.copy_disk(&mut w).map_err(|source| Error::Io {
            path: path.clone(),
            what: "copy the original into the quarantine",
            source,
        })?;
        w.finish()?;
        crash_point();
        original = Some(q);
    }
    let (orig_size, orig_crc32) = match existing {
        Some(s) => (s.stat().size, disk_crc(s, &abs)?),
        None => (0, crc32(b"")),
    };
    journal::append(
        &dirs.journal,
        &Step::Start {
            file: target.to_owned(),
        },
    )?;
    let mut out = Out::new(&abs, compression)?;
    out.write(&new, &abs)?;
    let (tmp, new_size, new_crc32) = out.finish(&abs)?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Append {
            file: target.to_owned(),
            orig_size,
            orig_crc32,
            new_size,
            new_crc32,
            created: existing.is_none(),
            original,
        },
    )?;
    crash_point();
    fsutil::commit(&tmp, &abs)?;
    crash_point();
    journal::append(
        &dirs.journal,
        &Step::Done {
            file: target.to_owned(),
        },
    )?;
    crash_point();
    Ok(())
}

/// The whole (decompressed) content of an open file, read from its first
/// byte on the same handle.
fn read_fresh(s: &Source, abs: &Path) -> Result<Vec<u8>> {
    s.read_all_from_start().map_err(|e| read_error(abs, e))
}

/// CRC-32 of an open file's bytes on disk.
fn disk_crc(s: &Source, abs: &Path) -> Result<u32> {
    let mut w = CrcSink(crc32fast::Hasher::new());
    s.copy_disk(&mut w).map_err(|source| Error::Io {
        path: abs.to_owned(),
        what: "read",
        source,
    })?;
    Ok(w.0.finalize())
}

struct CrcSink(crc32fast::Hasher);

impl std::io::Write for CrcSink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Debug builds only: `IBSTORE_TEST_APPEND=1` appends a line to the file
/// being repaired just before the final check, as a live recorder would.
fn test_hook_append(path: &Path) {
    if cfg!(debug_assertions) && std::env::var_os("IBSTORE_TEST_APPEND").is_some() {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = f.write_all(b"{\"appended\":true}\n");
        }
    }
}
