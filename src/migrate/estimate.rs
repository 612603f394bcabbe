//! `migrate --dry-run`'s time estimates: a sample of FROM's files (spread
//! over the store, about [`SAMPLE_BYTES`]) is copied to a scratch folder
//! under the system temp folder and run through the same library calls as
//! the real steps (backup, convert, compare, index, the switch's
//! validation), each timed; every step's time is scaled by the store's
//! bytes over the sample's. The scratch folder is removed after; the stores
//! are only read.

use crate::error::{Error, Result};
use crate::scan::ScanOptions;
use crate::store::discover::{discover, Discovery};
use std::path::PathBuf;
use std::time::Instant;

/// Bytes sampled (or the whole store when smaller).
pub const SAMPLE_BYTES: u64 = 8 << 20;

/// Estimated seconds per step, in [`super::Step::ALL`] order.
#[derive(Debug, Clone)]
pub struct Estimate {
    /// Files sampled.
    pub files: usize,
    /// Bytes sampled.
    pub bytes: u64,
    /// Seconds the sample took per step.
    pub sample_seconds: [f64; 5],
    /// Estimated seconds per step for the whole store.
    pub seconds: [f64; 5],
    /// Estimated bytes of TO (the sample's output scaled).
    pub to_bytes: u64,
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Files spread over the store, about `target` bytes in all.
pub fn pick(d: &Discovery, target: u64) -> Vec<usize> {
    let n = d.files.len();
    if n == 0 {
        return Vec::new();
    }
    let step = usize::try_from(d.total_bytes / target.max(1))
        .unwrap_or(usize::MAX)
        .clamp(1, n);
    let mut out = Vec::new();
    let mut got = 0;
    for start in 0..step {
        for i in (start..n).step_by(step) {
            if got >= target.min(d.total_bytes) {
                return out;
            }
            out.push(i);
            got += d.files[i].file.size;
        }
    }
    out
}

/// Times the steps on a sample of `d` (FROM) migrated as `o` says.
pub fn estimate(d: &Discovery, o: &super::Options) -> Result<Estimate> {
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "ibstore-estimate-{}-{}",
        std::process::id(),
        crate::time::now_us()
    )));
    let src = scratch.0.join("from");
    let mut bytes = 0;
    let picked = pick(d, SAMPLE_BYTES);
    for &i in &picked {
        let f = &d.files[i];
        let to = src.join(&f.file.rel);
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::path(p, e))?;
        }
        bytes += std::fs::copy(&f.abs, &to).map_err(|e| Error::path(&f.abs, e))?;
    }
    let out = scratch.0.join("to");
    let mut t = [0.0f64; 5];
    let time = |slot: &mut f64, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let s = Instant::now();
        f()?;
        *slot = s.elapsed().as_secs_f64();
        Ok(())
    };
    time(&mut t[0], &mut || {
        crate::backup::backup(&src, Some(&scratch.0.join("backup")), &()).map(drop)
    })?;
    time(&mut t[1], &mut || {
        let opts = crate::convert::Options {
            target: o.format,
            zstd: o.zstd,
            filter: Default::default(),
            source_format: o.source_format,
            skip_damaged: true,
            allow_loss: o.allow_loss.clone(),
        };
        crate::convert::run(&src, &out, &opts, &()).map(drop)
    })?;
    let to_d = discover(&out)?;
    let out_bytes = to_d.total_bytes;
    drop(to_d);
    time(&mut t[2], &mut || {
        crate::compare::run(
            &crate::compare::Options {
                old: src.clone(),
                new: out.clone(),
                old_format: o.source_format,
                new_format: None,
                details: 0,
                allow: super::allowances(&o.allow_loss),
                scan: ScanOptions::default(),
            },
            &(),
        )
        .map(drop)
    })?;
    time(&mut t[3], &mut || {
        let root = std::fs::canonicalize(&out).map_err(|e| Error::path(&out, e))?;
        crate::index::run(
            discover(&root)?,
            &crate::index::default_dir(&root),
            false,
            crate::index::Mode::Refresh,
            &ScanOptions::default(),
            &(),
        )
        .map(drop)
    })?;
    if o.link.is_some() {
        time(&mut t[4], &mut || {
            crate::validate::run(discover(&out)?, &ScanOptions::default(), &()).map(drop)
        })?;
    }
    let scale = if bytes == 0 {
        1.0
    } else {
        d.total_bytes as f64 / bytes as f64
    };
    let round = |s: f64| (s * 100.0).round() / 100.0;
    Ok(Estimate {
        files: picked.len(),
        bytes,
        sample_seconds: t.map(round),
        seconds: t.map(|s| round(s * scale)),
        to_bytes: (out_bytes as f64 * scale).round() as u64,
    })
}
