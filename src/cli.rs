//! The command line: clap-derive argument structs (raw user input), turned
//! once into checked library options, then one call into the library.

use anyhow::{bail, Context as _, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use ibstore::format::Format;
use ibstore::gen::{self, DamageKind, GenOptions, V2Layout};
use ibstore::report::render::{Renderer, Style, Summary, Units};
use ibstore::tick::TickType;
use ibstore::validate::{self, Options};
use std::io::{self, IsTerminal as _};
use std::path::PathBuf;

/// Validate, repair and migrate IB-Stream tick stores.
///
/// Exit codes: 0 no errors found, 1 errors found (or warnings with --strict),
/// 2 the command could not run.
#[derive(Debug, Parser)]
#[command(name = "ibstore", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check every file of a store: damage, schema, placement, time continuity.
    Validate(ValidateArgs),
    /// Write a deterministic synthetic store, optionally with injected damage.
    Gen(GenArgs),
    /// Repair crash damage: dry run by default, --apply to carry it out, --undo RUN to revert.
    Repair(RepairArgs),
    /// Check or show the recorder's environment files.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script.
    Completions {
        /// Shell to generate for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, clap::Args)]
struct RepairArgs {
    /// Store root.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Carry the plan out (without it, only show it).
    #[arg(long, conflicts_with = "undo")]
    apply: bool,
    /// Restore every file a run changed, byte for byte.
    #[arg(long, value_name = "RUN")]
    undo: Option<String>,
    /// Also repair the newest hour of each stream (the recorder may be writing it).
    #[arg(long)]
    include_active: bool,
    /// Rewrite good data too: stable sort of each file by ts.
    #[arg(long)]
    sort: bool,
    /// Rewrite good data too: remove exact duplicates (later copies are quarantined).
    #[arg(long)]
    dedup: bool,
    /// Rewrite good data too: CRLF line ends to LF.
    #[arg(long)]
    normalize_eol: bool,
    /// Move records of another contract, tick type or hour into the file they
    /// belong in (created in the store's layout when missing).
    #[arg(long)]
    relocate: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check env files: syntax, types and ranges, tracked contracts, and the
    /// port / client id / storage separation between environments.
    Check(ConfigCheckArgs),
    /// Show the effective configuration of one env file, each value with its source.
    Show(ConfigShowArgs),
}

#[derive(Debug, clap::Args)]
struct ConfigCheckArgs {
    /// Env files (default: every config/*.env below the current folder).
    files: Vec<PathBuf>,
    /// Exit 1 on warnings too.
    #[arg(long)]
    strict: bool,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct ConfigShowArgs {
    /// The env file.
    #[arg(long)]
    env: PathBuf,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct Common {
    /// Print JSON Lines (schema in the README) instead of text.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

#[derive(Debug, clap::Args)]
struct ValidateArgs {
    /// Store root, any folder in it, or one data file.
    #[arg(long, short = 'p')]
    path: PathBuf,
    /// Exit 1 on warnings too.
    #[arg(long)]
    strict: bool,
    /// Repair what can be repaired (same as `ibstore repair --apply`).
    #[arg(long)]
    repair: bool,
    /// Report silences longer than this many seconds inside a file.
    #[arg(long, value_name = "SECONDS", default_value_t = validate::DEFAULT_MAX_GAP_S)]
    max_gap: i64,
    #[command(flatten)]
    common: Common,
}

/// Data formats by their command-line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    #[value(name = "v2-json")]
    V2Json,
    #[value(name = "v2-pb")]
    V2Pb,
    #[value(name = "v3-json")]
    V3Json,
    #[value(name = "v3-pb")]
    V3Pb,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::V2Json => Format::V2Json,
            FormatArg::V2Pb => Format::V2Pb,
            FormatArg::V3Json => Format::V3Json,
            FormatArg::V3Pb => Format::V3Pb,
        }
    }
}

#[derive(Debug, clap::Args)]
struct GenArgs {
    /// Output store root (created; must not exist or be empty).
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Formats to write (repeatable or comma-separated).
    #[arg(long = "format", value_delimiter = ',', default_value = "v3-json")]
    formats: Vec<FormatArg>,
    /// Contracts.
    #[arg(long, default_value_t = 2)]
    contracts: usize,
    /// Tick types (comma-separated storage names).
    #[arg(long, value_delimiter = ',', default_value = "bid_ask,last")]
    tick_types: Vec<String>,
    /// Hourly partitions per stream.
    #[arg(long, default_value_t = 3)]
    hours: u32,
    /// First hour, UTC, as YYYY-MM-DDTHH.
    #[arg(long, default_value = "2025-08-01T00")]
    start: String,
    /// Records per file.
    #[arg(long, default_value_t = 100)]
    records: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Compress every file with zstd (.zst).
    #[arg(long)]
    zstd: bool,
    /// Write v2 files in the legacy `{root}/json|protobuf` layout instead of `{root}/v2/…`.
    #[arg(long)]
    legacy: bool,
    /// Inject a fault (repeatable): empty, truncated-tail, partial-prefix,
    /// trailing-nul, garbage-line, invalid-utf8, bad-record, bad-prefix,
    /// out-of-order, duplicate, misplaced, gap, missing-hour.
    #[arg(long, value_delimiter = ',')]
    damage: Vec<String>,
    /// Print JSON Lines (`damage` lines, then a `summary`) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the command; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Validate(a) if a.repair => run_repair(RepairArgs {
            path: a.path,
            apply: true,
            undo: None,
            include_active: false,
            sort: false,
            dedup: false,
            normalize_eol: false,
            relocate: false,
            common: a.common,
        }),
        Command::Validate(a) => run_validate(a),
        Command::Repair(a) => run_repair(a),
        Command::Gen(a) => run_gen(a),
        Command::Config(ConfigCommand::Check(a)) => run_config_check(a),
        Command::Config(ConfigCommand::Show(a)) => run_config_show(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ibstore", &mut io::stdout());
            Ok(0)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut io::stdout())?;
            Ok(0)
        }
    }
}

fn style(json: bool) -> Style {
    if json {
        Style::Json
    } else {
        Style::Text {
            color: io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool> {
    let n = match jobs {
        Some(0) => bail!("--jobs must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .context("cannot start worker threads")
}

fn progress_bar(total_hint: bool) -> Option<indicatif::ProgressBar> {
    (total_hint && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {bytes} read, {binary_bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb
    })
}

fn run_validate(a: ValidateArgs) -> Result<u8> {
    if a.max_gap <= 0 {
        bail!("--max-gap must be a positive number of seconds");
    }
    let opts = Options {
        max_gap_us: a.max_gap.saturating_mul(ibstore::time::US),
        ..Options::default()
    };
    let pb = progress_bar(true);
    let on_file = |n: u64| {
        if let Some(pb) = &pb {
            pb.inc(n);
        }
    };
    let report =
        pool(a.common.jobs)?.install(|| validate::validate_store(&a.path, &opts, &on_file))?;
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
    let tally = report.tally();
    let summary = Summary {
        files: report.files.len() as u64,
        records: report.records(),
        bytes: report.bytes(),
        streams: report.streams.len() as u64,
        tally,
        exit_code: tally.exit_code(a.strict),
        run: None,
        units: Units::Data,
    };
    let path = report.root.display().to_string();
    Renderer::new(io::stdout().lock(), style(a.common.json)).report(
        "validate",
        &path,
        &report.findings,
        &report.streams,
        &summary,
    )?;
    Ok(summary.exit_code)
}

fn parse_start(s: &str) -> Result<i64> {
    let parts: Option<(i64, u32, u32, u32)> = (|| {
        let (date, hour) = s.split_once('T')?;
        let mut d = date.split('-');
        Some((
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
            d.next()?.parse().ok()?,
            hour.parse().ok()?,
        ))
    })();
    let (y, m, d, h) = parts.with_context(|| format!("--start {s:?} is not YYYY-MM-DDTHH"))?;
    ibstore::time::epoch_of(y, m, d, h)
        .with_context(|| format!("--start {s:?} is not a real UTC hour"))
}

fn run_gen(a: GenArgs) -> Result<u8> {
    if a.out.exists()
        && a.out
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{}: exists and is not an empty folder; gen never writes into an existing store",
            a.out.display()
        );
    }
    let tick_types = a
        .tick_types
        .iter()
        .map(|t| {
            TickType::from_storage_name(t.as_bytes()).with_context(|| {
                format!("unknown tick type {t:?}; known: bid_ask, last, all_last, mid_point")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let damage = a
        .damage
        .iter()
        .map(|d| DamageKind::from_name(d).with_context(|| format!("unknown damage kind {d:?}")))
        .collect::<Result<Vec<_>>>()?;
    if a.contracts == 0 || a.hours == 0 || a.records == 0 || tick_types.is_empty() {
        bail!("--contracts, --hours, --records and --tick-types must be at least 1");
    }
    let o = GenOptions {
        out: a.out.clone(),
        formats: a.formats.into_iter().map(Format::from).collect(),
        contracts: a.contracts,
        tick_types,
        hours: a.hours,
        start: parse_start(&a.start)?,
        records: a.records,
        seed: a.seed,
        zstd: a.zstd,
        v2_layout: if a.legacy {
            V2Layout::Legacy
        } else {
            V2Layout::Modern
        },
        damage,
    };
    let s = gen::generate(&o)?;
    if a.json {
        for i in &s.injected {
            println!(
                "{}",
                serde_json::json!({"type": "damage", "kind": i.kind.name(), "file": i.file, "offset": i.offset, "len": i.len})
            );
        }
        println!(
            "{}",
            serde_json::json!({"type": "summary", "files": s.files, "records": s.records, "bytes": s.bytes, "path": a.out.display().to_string()})
        );
        return Ok(0);
    }
    println!(
        "wrote {} files, {} records, {} bytes to {}",
        s.files,
        s.records,
        s.bytes,
        a.out.display()
    );
    for i in &s.injected {
        println!(
            "damage\t{}\t{}\toffset={}\tlen={}",
            i.kind.name(),
            i.file,
            i.offset,
            i.len
        );
    }
    Ok(0)
}

fn run_config_check(a: ConfigCheckArgs) -> Result<u8> {
    let files = if a.files.is_empty() {
        let mut v: Vec<PathBuf> = std::fs::read_dir("config")
            .context("no files given and no config/ folder here")?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "env"))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no files given and no config/*.env here");
        }
        v
    } else {
        a.files
    };
    let rep = ibstore::config::check::check_files(&files)?;
    let tally = ibstore::report::Tally::of(&rep.findings);
    let summary = Summary {
        files: files.len() as u64,
        records: rep.settings,
        bytes: rep.bytes,
        streams: 0,
        tally,
        exit_code: tally.exit_code(a.strict),
        run: None,
        units: Units::Config,
    };
    let path = files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Renderer::new(io::stdout().lock(), style(a.json)).report(
        "config check",
        &path,
        &rep.findings,
        &[],
        &summary,
    )?;
    Ok(summary.exit_code)
}

fn run_config_show(a: ConfigShowArgs) -> Result<u8> {
    let env = |k: &str| std::env::var(k).ok();
    let (settings, rep) = ibstore::config::show::show_file(&a.env, &env)?;
    let tally = ibstore::report::Tally::of(&rep.findings);
    let summary = Summary {
        files: 1,
        records: settings.len() as u64,
        bytes: rep.bytes,
        streams: 0,
        tally,
        exit_code: tally.exit_code(false),
        run: None,
        units: Units::Config,
    };
    Renderer::new(io::stdout().lock(), style(a.json)).settings(
        &a.env.display().to_string(),
        &settings,
        &rep.findings,
        &summary,
    )?;
    Ok(summary.exit_code)
}

fn run_repair(a: RepairArgs) -> Result<u8> {
    use ibstore::repair::{apply, lock::Lock, plan, undo, RepairOptions};
    use ibstore::report::render::RepairLine;
    if !a.path.is_dir() {
        bail!("{}: repair needs the store root folder", a.path.display());
    }
    let root = a
        .path
        .canonicalize()
        .with_context(|| a.path.display().to_string())?;
    let path = root.display().to_string();
    let mut findings = Vec::new();
    if let Some(run) = &a.undo {
        let dirs = apply::RunDirs::new(&root, run);
        let (_lock, stale) = Lock::take(&dirs.state, &format!("undo {run}"))?;
        if let Some(s) = stale {
            findings.push(ibstore::report::Finding::new(
                ibstore::report::Kind::StaleLock,
                ".ibstore/lock",
                format!("took over a lock left by a process that is gone ({s})"),
            ));
        }
        let restored = undo::undo(&root, run, &mut findings)?;
        let lines: Vec<RepairLine> = restored
            .iter()
            .map(|f| RepairLine {
                file: f.clone(),
                action: "restore",
                status: "restored",
                reason: None,
                bytes_kept: 0,
                bytes_quarantined: 0,
                records_kept: 0,
                records_lost: 0,
                cuts: vec![],
                moved: vec![],
            })
            .collect();
        let tally = ibstore::report::Tally::of(&findings);
        let summary = Summary {
            files: restored.len() as u64,
            records: 0,
            bytes: 0,
            streams: 0,
            tally,
            exit_code: tally.exit_code(false),
            run: Some(run.clone()),
            units: Units::Data,
        };
        Renderer::new(io::stdout().lock(), style(a.common.json)).repair(
            "repair --undo",
            &path,
            &lines,
            &findings,
            &summary,
        )?;
        return Ok(summary.exit_code);
    }
    let opts = RepairOptions {
        include_active: a.include_active,
        sort: a.sort,
        dedup: a.dedup,
        normalize_eol: a.normalize_eol,
        relocate: a.relocate,
    };
    let store = pool(a.common.jobs)?.install(|| plan::plan_store(&root, &opts))?;
    let mut run = None;
    let mut outcomes = std::collections::BTreeMap::new();
    if a.apply && (!store.files.is_empty() || !store.stale_temps.is_empty()) {
        let id = ibstore::repair::new_run_id();
        let dirs = apply::RunDirs::new(&root, &id);
        dirs.create()?;
        let (_lock, stale) = Lock::take(&dirs.state, &id)?;
        if let Some(s) = stale {
            findings.push(ibstore::report::Finding::new(
                ibstore::report::Kind::StaleLock,
                ".ibstore/lock",
                format!("took over a lock left by a process that is gone ({s})"),
            ));
        }
        outcomes = apply::apply(&store, &id, &dirs, &mut findings)?
            .into_iter()
            .collect();
        run = Some(id);
    }
    let lines: Vec<RepairLine> = store
        .files
        .iter()
        .map(|f| {
            let (action, reason) = match &f.action {
                plan::Action::Rewrite => ("rewrite", None),
                plan::Action::Delete => ("delete", None),
                plan::Action::Skip(r) => ("skip", Some(r.clone())),
            };
            let status = match (a.apply, outcomes.get(&f.rel)) {
                (false, _) if action == "skip" => "skipped",
                (false, _) => "planned",
                (true, Some(apply::Outcome::Rewritten | apply::Outcome::Deleted)) => "done",
                (true, _) => "skipped",
            };
            RepairLine {
                file: f.rel.clone(),
                action,
                status,
                reason,
                bytes_kept: f.bytes_kept,
                bytes_quarantined: f.bytes_quarantined,
                records_kept: f.records_kept,
                records_lost: f.records_lost,
                cuts: f.cuts.clone(),
                moved: f
                    .moves
                    .iter()
                    .map(|m| (m.offset, m.target.clone()))
                    .collect(),
            }
        })
        .collect();
    if !a.apply {
        for f in store
            .files
            .iter()
            .filter(|f| matches!(f.action, plan::Action::Skip(_)))
        {
            if let plan::Action::Skip(r) = &f.action {
                findings.push(ibstore::report::Finding::new(
                    ibstore::report::Kind::RepairSkipped,
                    &f.rel,
                    format!("would not be repaired: {r}"),
                ));
            }
        }
    }
    let tally = ibstore::report::Tally::of(&findings);
    // Exit 1, as validate does on errors, while damage remains: a dry run
    // with work to do, a skipped file, or a failed step.
    let pending = !a.apply && lines.iter().any(|l| l.status == "planned");
    let code = u8::from(pending || tally.errors > 0 || lines.iter().any(|l| l.status == "skipped"));
    let command = if a.apply {
        "repair --apply"
    } else {
        "repair (dry run; --apply carries it out)"
    };
    let summary = Summary {
        files: store.examined,
        records: lines.iter().map(|l| l.records_kept).sum(),
        bytes: lines.iter().map(|l| l.bytes_kept).sum(),
        streams: 0,
        tally,
        exit_code: code,
        run,
        units: Units::Data,
    };
    Renderer::new(io::stdout().lock(), style(a.common.json))
        .repair(command, &path, &lines, &findings, &summary)?;
    Ok(code)
}
