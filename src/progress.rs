//! How long commands say how far they got: a [`Progress`] receives the total
//! bytes before work starts (discovery is a separate step, so the total is
//! known) and the bytes of each finished file, from worker threads. The
//! binary draws a bar on a terminal; the library never prints.

/// A receiver of progress.
pub trait Progress: Sync {
    /// The work ahead, in bytes.
    fn start(&self, total_bytes: u64);
    /// Bytes done (a finished file).
    fn advance(&self, bytes: u64);
}

/// No progress report.
impl Progress for () {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}
