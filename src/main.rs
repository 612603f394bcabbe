//! The `ibstore` binary: parse, run, map the outcome to an exit code
//! (0 clean, 1 findings, 2 could not run). Exits 0 quietly on a broken pipe.

mod cli;

use clap::Parser as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
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
            eprintln!("ibstore: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
