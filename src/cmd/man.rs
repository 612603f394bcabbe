//! `ibstore man`: roff man pages from the same definitions as `--help`,
//! one per command, printed or written to a folder.

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory as _;
use std::io;
use std::path::PathBuf;

/// Print the man page of ibstore or of one command, or write them all.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The command whose page to print (`validate`, `repair`, `config`, …;
    /// `config check` as `config-check`); none for the overview page.
    command: Option<String>,
    /// Write every page (`ibstore.1`, `ibstore-validate.1`, …) into DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    out: Option<PathBuf>,
}

/// Every page: (file stem, command).
fn pages() -> Vec<(String, clap::Command)> {
    let top = crate::cli::Cli::command().name("ibstore");
    let mut out = vec![("ibstore".to_owned(), top.clone())];
    fn walk(prefix: &str, c: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in c.get_subcommands() {
            let name = format!("{prefix}-{}", sub.get_name());
            let page = sub.clone().name(&*name.clone().leak());
            out.push((name.clone(), page));
            walk(&name, sub, out);
        }
    }
    walk("ibstore", &top, &mut out);
    out
}

/// Runs `man`.
pub fn run(a: Args) -> Result<u8> {
    let pages = pages();
    if let Some(dir) = a.out {
        std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
        for (stem, cmd) in &pages {
            let path = dir.join(format!("{stem}.1"));
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
            std::fs::write(&path, buf).with_context(|| path.display().to_string())?;
        }
        println!("wrote {} man pages to {}", pages.len(), dir.display());
        return Ok(0);
    }
    let want = match &a.command {
        Some(c) => format!("ibstore-{c}"),
        None => "ibstore".to_owned(),
    };
    let Some((_, cmd)) = pages.iter().find(|(s, _)| *s == want) else {
        let known: Vec<&str> = pages
            .iter()
            .filter_map(|(s, _)| s.strip_prefix("ibstore-"))
            .collect();
        bail!(
            "no man page for {:?}; pages: {}",
            a.command.unwrap_or_default(),
            known.join(", ")
        );
    };
    clap_mangen::Man::new(cmd.clone()).render(&mut io::stdout())?;
    Ok(0)
}
