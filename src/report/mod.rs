//! The bottom layer of every command's output: findings ([`Finding`],
//! [`Kind`], [`Severity`]), their tally, and one [`Writer`] that prints a
//! report as readable text or as JSON Lines with a stable, versioned schema
//! (documented in the README). Each command renders its own lines through it.

pub mod finding;
mod writer;

pub use finding::{Finding, Kind, Severity};
pub use writer::{escape, Style, Summary, Units, Writer, SCHEMA_VERSION};

/// `n` and the noun for it: `1 file`, `2 files`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Counts of findings by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Tally {
    /// Error findings.
    pub errors: u64,
    /// Warning findings.
    pub warnings: u64,
    /// Info findings.
    pub infos: u64,
}

impl Tally {
    /// Tallies findings.
    pub fn of<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Self {
        let mut t = Self::default();
        for f in findings {
            match f.severity {
                Severity::Error => t.errors += 1,
                Severity::Warning => t.warnings += 1,
                Severity::Info => t.infos += 1,
            }
        }
        t
    }

    /// Exit status: 1 on errors (or on warnings too when `strict`), else 0.
    pub fn exit_code(self, strict: bool) -> u8 {
        u8::from(self.errors > 0 || (strict && self.warnings > 0))
    }
}
