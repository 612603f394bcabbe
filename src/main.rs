//! The `ibstore` binary: parse, run one command, map the outcome to an exit
//! code (0 clean, 1 findings, 2 could not run). Exits 0 quietly on a broken
//! pipe.

mod cli;
mod cmd;

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let code = run(args);
    report_peak_rss();
    code
}

fn run(args: cli::Cli) -> ExitCode {
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Each cause once: library errors already name their cause.
            let mut msg = String::new();
            for c in e.chain() {
                let t = c.to_string();
                if !msg.contains(&t) {
                    if !msg.is_empty() {
                        msg.push_str(": ");
                    }
                    msg.push_str(&t);
                }
            }
            eprintln!("ibstore: error: {}", ibstore::report::escape(&msg));
            ExitCode::from(2)
        }
    }
}

/// Debug builds only: `IBSTORE_TEST_PEAK_RSS=1` prints this process's own
/// peak resident set (`VmHWM`, KiB) to stderr at exit, for the memory tests.
/// (`getrusage` would not do: after a `vfork`-style spawn the kernel counts
/// the parent's resident set as the child's high-water mark.)
fn report_peak_rss() {
    if cfg!(debug_assertions) && std::env::var_os("IBSTORE_TEST_PEAK_RSS").is_some() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(kib) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            eprintln!("ibstore-test: peak-rss-kib {kib}");
        }
    }
}
