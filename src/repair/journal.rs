//! The repair journal: one JSON object per line in
//! `.ibstore/journal/<run>.jsonl`, appended and fsynced before and after
//! every change, so `repair --undo` (and a person) can see what was done.

use crate::error::{Error, Result};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One journal step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The run started.
    Begin {
        /// Run id.
        run: String,
        /// Store root.
        root: String,
    },
    /// Work on a file begins (its temp file may exist from here on).
    Start {
        /// File, relative to the root.
        file: String,
    },
    /// Bytes of a file were copied into the quarantine.
    Quarantine {
        /// File, relative to the root.
        file: String,
        /// Offset in the (decompressed) original.
        offset: u64,
        /// Bytes.
        len: u64,
        /// CRC-32 of the bytes.
        crc32: u32,
        /// Quarantine path relative to `.ibstore`.
        path: String,
    },
    /// A whole original file was copied into the quarantine.
    Original {
        /// File.
        file: String,
        /// Quarantine path relative to `.ibstore`.
        path: String,
    },
    /// About to replace a file (written before the rename).
    Rewrite {
        /// File.
        file: String,
        /// Original size on disk.
        orig_size: u64,
        /// Original CRC-32 (on-disk bytes).
        orig_crc32: u32,
        /// New size on disk.
        new_size: u64,
        /// New CRC-32 (on-disk bytes).
        new_crc32: u32,
        /// Byte ranges cut from the (decompressed) original, in order.
        cuts: Vec<(u64, u64)>,
        /// A newline was appended to a last line that lacked one.
        append_newline: bool,
        /// The original is in the quarantine whole (reordered or compressed files).
        whole_copy: bool,
    },
    /// Records were appended to a file (relocation), written atomically.
    Append {
        /// File.
        file: String,
        /// Size before (0 when created).
        orig_size: u64,
        /// CRC-32 before.
        orig_crc32: u32,
        /// Size after.
        new_size: u64,
        /// CRC-32 after.
        new_crc32: u32,
        /// The file did not exist before.
        created: bool,
        /// Where the whole previous file is kept (compressed files).
        original: Option<String>,
    },
    /// The replacement is in place.
    Done {
        /// File.
        file: String,
    },
    /// About to remove an empty file.
    Delete {
        /// File.
        file: String,
    },
    /// A file was left alone.
    Skipped {
        /// File.
        file: String,
        /// Why.
        reason: String,
    },
    /// A step for a file failed; the file is as it was.
    Failed {
        /// File.
        file: String,
        /// What went wrong.
        why: String,
    },
    /// A stale ibstore temp file of an interrupted run was removed.
    RemovedTemp {
        /// Temp file.
        file: String,
        /// Where it went in the quarantine, relative to `.ibstore` (journals
        /// of older versions, which deleted it, have none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// The run finished.
    End,
}

/// Appends a step.
pub fn append(path: &Path, step: &Step) -> Result<()> {
    let line = serde_json::to_vec(step).map_err(|e| Error::Journal {
        path: path.to_owned(),
        why: format!("cannot write a step: {e}"),
    })?;
    fsutil::append_line(path, &line)
}

/// A journal read back: its steps, and whether its last line was cut short
/// (a crash while appending; that step did not happen).
#[derive(Debug, Default)]
pub struct Journal {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// The last line was incomplete and was ignored.
    pub torn_tail: bool,
}

impl Journal {
    /// Whether the run it records got to its end step.
    pub fn complete(&self) -> bool {
        !self.torn_tail && matches!(self.steps.last(), Some(Step::End))
    }
}

/// Reads a journal. A torn last line is tolerated; any other bad line is an
/// error naming the line.
pub fn read(path: &Path) -> Result<Journal> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        what: "read journal",
        source,
    })?;
    let bad = |why: String| Error::Journal {
        path: path.to_owned(),
        why,
    };
    let mut j = Journal::default();
    let n = bytes.split(|&b| b == b'\n').count();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Step>(line) {
            Ok(s) => j.steps.push(s),
            Err(_) if i + 1 == n => j.torn_tail = true,
            Err(e) => {
                let what = if e.is_syntax() || e.is_eof() {
                    "is not JSON"
                } else {
                    "is JSON but not a step ibstore writes"
                };
                return Err(bad(format!(
                    "line {} is not a journal step: it {what}; the journal was edited or damaged, so undo will not trust it",
                    i + 1
                )));
            }
        }
    }
    if !matches!(j.steps.first(), Some(Step::Begin { .. })) {
        return Err(bad(
            "not an ibstore journal: it does not start with a begin step".into(),
        ));
    }
    Ok(j)
}
