//! The `ibstore` binary: parse, run one command, map the outcome to an exit
//! code (0 clean, 1 findings, 2 could not run). Exits 0 quietly on a broken
//! pipe.

mod cli;
mod cmd;

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
