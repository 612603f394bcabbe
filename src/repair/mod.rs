//! `repair`: crash damage repaired with nothing lost and everything undoable.
//!
//! A dry run ([`plan::plan_store`]) says per file what would be kept, cut,
//! moved or deleted. Applying ([`apply::apply`]) copies every cut byte into
//! `.ibstore/quarantine/<run>/`, journals every step in
//! `.ibstore/journal/<run>.jsonl`, and replaces files atomically;
//! [`undo::undo`] restores the originals byte for byte.

pub mod apply;
pub mod journal;
pub mod lock;
pub mod plan;
pub mod undo;

/// Repair options (the opt-in rewrites of good data are off by default).
#[derive(Debug, Clone, Default)]
pub struct RepairOptions {
    /// Also repair the newest hour of each stream.
    pub include_active: bool,
    /// Stable sort by ts.
    pub sort: bool,
    /// Remove exact duplicates (later copies are quarantined).
    pub dedup: bool,
    /// CRLF → LF.
    pub normalize_eol: bool,
    /// Move misplaced records into the file of their own contract, tick type and hour.
    pub relocate: bool,
}

/// A run id: UTC time and process id, sortable.
pub fn new_run_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let iso = crate::time::format_iso(now - now % crate::time::US);
    let compact: String = iso
        .trim_end_matches("+00:00")
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    format!("{compact}Z-{}", std::process::id())
}
