//! `config check`: every variable of every file against its type and range,
//! as each of the recorder's loaders reads it, then the rules that keep
//! environments apart (spec §13.6, the seed's port, client-id and storage
//! conventions).
//!
//! Every finding names its place as `FILE:LINE` (`FILE:LINE:COLUMN` where a
//! column helps) at the start of its message, and the variable it is about.

use super::envfile::{self, Assignment, EnvFile};
use super::tracked::{self, Level};
use super::vars::{self, Type, Var, LEGACY, PYDANTIC};
use crate::report::{Finding, Kind, Severity};
use crate::Error;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// Background streams connect with the main client id + this (spec §13.6).
pub const BACKGROUND_OFFSET: i64 = 1000;
/// Storage root of production when no production file says otherwise.
pub const PRODUCTION_STORAGE: &str = "storage";

/// The environments of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Environment {
    /// Ports 8000–8099.
    Production,
    /// Ports 8100–8199.
    Development,
    /// Ports 8200–8299.
    Staging,
    /// Tests.
    Testing,
    /// Not inferrable.
    Unknown,
}

impl Environment {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Testing => "testing",
            Self::Unknown => "unknown",
        }
    }

    /// The HTTP port range of the environment.
    pub fn ports(self) -> Option<(i64, i64)> {
        match self {
            Self::Production => Some((8000, 8099)),
            Self::Development => Some((8100, 8199)),
            Self::Staging => Some((8200, 8299)),
            Self::Testing | Self::Unknown => None,
        }
    }

    fn from_name(stem: &str) -> Self {
        let s = stem.to_ascii_lowercase();
        if s.contains("prod") {
            Self::Production
        } else if s.contains("stag") {
            Self::Staging
        } else if s.contains("dev") {
            Self::Development
        } else if s.contains("test") {
            Self::Testing
        } else {
            Self::Unknown
        }
    }

    fn from_port(p: i64) -> Self {
        [Self::Production, Self::Development, Self::Staging]
            .into_iter()
            .find(|e| e.ports().is_some_and(|(a, b)| (a..=b).contains(&p)))
            .unwrap_or(Self::Unknown)
    }
}

/// Where a value the cross-file rules use was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The variable.
    pub var: &'static str,
    /// Its name as written (another spelling of a config-v2 field differs).
    pub key: String,
    /// 1-based line.
    pub line: u64,
}

impl Origin {
    fn of(var: &'static str, a: &Assignment) -> Self {
        Self {
            var,
            key: a.key.clone(),
            line: a.line,
        }
    }

    /// The variable as reports name it.
    pub fn name(&self) -> String {
        spelled(self.var, &self.key)
    }
}

/// A variable as reports name it: `IB_CLIENT_ID`, or
/// `IB_CLIENT_ID (spelled ib_client_id)` when written in another case.
fn spelled(var: &str, key: &str) -> String {
    if var == key {
        var.to_owned()
    } else {
        format!("{var} (spelled {key})")
    }
}

/// What the cross-file rules need from one file.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Report path.
    pub file: String,
    /// Environment.
    pub env: Environment,
    /// HTTP port.
    pub port: Option<(i64, Origin)>,
    /// Main TWS client id.
    pub client_id: Option<(i64, Origin)>,
    /// Storage root, normalised.
    pub storage: String,
    /// Where the storage root is set (none: the default).
    pub storage_origin: Option<Origin>,
    /// Whether any of the loaders would write storage.
    pub storage_enabled: bool,
}

/// Result of checking files.
#[derive(Debug, Default)]
pub struct ConfigReport {
    /// Findings, sorted.
    pub findings: Vec<Finding>,
    /// One profile per readable file.
    pub profiles: Vec<Profile>,
    /// Variables assigned, over all files.
    pub settings: u64,
    /// Bytes read.
    pub bytes: u64,
}

/// `FILE:LINE`, the way config findings name a place.
pub fn loc(file: &str, line: u64) -> String {
    format!("{file}:{line}")
}

fn at(file: &str, a: &Assignment, col: u64, kind: Kind, msg: String) -> Finding {
    Finding::new(kind, file, format!("{}:{col}: {msg}", loc(file, a.line)))
        .at(a.offset + col - 1, Some(a.line))
}

/// The value a loader sees: the default of an exact `${VAR:-default}`.
fn effective(a: &Assignment) -> &str {
    a.substitution
        .as_ref()
        .map_or(a.value.as_str(), |(_, d)| d.as_str())
}

/// The error for a path that does not exist.
pub fn not_found(path: &Path) -> Error {
    Error::NotFound {
        path: path.to_path_buf(),
    }
}

/// Largest env file read: the recorder's are a few KiB.
pub const MAX_ENV_FILE: u64 = 1 << 20;

/// Reads an env file: a regular file (a FIFO, device or folder is refused
/// before it is opened, so nothing blocks) of at most [`MAX_ENV_FILE`]
/// bytes (`/dev/zero` or a data file named by mistake never fills memory).
fn read_env_file(p: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read as _;
    let meta = std::fs::metadata(p)?;
    if !meta.is_file() {
        return Err(io::Error::other(
            "not a regular file (a folder, FIFO, device or socket)",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(p)?
        .take(MAX_ENV_FILE + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ENV_FILE {
        return Err(io::Error::other(format!(
            "larger than {} KiB: not an env file",
            MAX_ENV_FILE >> 10
        )));
    }
    Ok(bytes)
}

/// Checks files one by one, then across environments. A path that does
/// not exist stops the check (the command cannot run as asked); a file that
/// exists but cannot be read is an `unreadable` finding.
pub fn check_files(paths: &[PathBuf]) -> Result<ConfigReport, Error> {
    check_parsed(paths).map(|(rep, _)| rep)
}

/// [`check_files`], also returning each file as parsed (empty when it
/// cannot be read), from the one read.
pub fn check_parsed(paths: &[PathBuf]) -> Result<(ConfigReport, Vec<EnvFile>), Error> {
    let mut rep = ConfigReport::default();
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let file = p.display().to_string();
        let parsed = match read_env_file(p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found(p)),
            Err(e) => {
                rep.findings.push(Finding::new(
                    Kind::Unreadable,
                    &file,
                    format!("{file}: cannot read: {e}"),
                ));
                EnvFile::default()
            }
            Ok(bytes) => {
                rep.bytes += bytes.len() as u64;
                let parsed = envfile::parse(&bytes);
                rep.settings += parsed.assignments.len() as u64;
                let profile = check_one(p, &file, &parsed, &mut rep.findings);
                rep.profiles.push(profile);
                parsed
            }
        };
        files.push(parsed);
    }
    across(&rep.profiles, &mut rep.findings);
    rep.findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok((rep, files))
}

fn check_one(path: &Path, file: &str, f: &EnvFile, out: &mut Vec<Finding>) -> Profile {
    for e in &f.errors {
        out.push(
            Finding::new(
                Kind::EnvSyntax,
                file,
                format!("{}:{}: {}", loc(file, e.line), e.column, e.message),
            )
            .at(e.offset, Some(e.line)),
        );
    }
    if let Some((line, offset)) = f.first_crlf {
        let mut c = Finding::new(
            Kind::Crlf,
            file,
            format!(
                "{}: {} lines end in CRLF, the first here: the recorder's Python loaders read them as LF, but a shell that loads the file (env $(cat {file} | xargs), set -a; . {file}) keeps the \\r at the end of every value",
                loc(file, line),
                f.crlf_lines
            ),
        )
        .at(offset, Some(line));
        c.count = f.crlf_lines;
        out.push(c);
    }
    duplicates(file, f, out);
    let max_tracked = f
        .get("IB_STREAM_MAX_TRACKED")
        .and_then(|a| effective(a).trim().parse().ok())
        .unwrap_or(10usize);
    for a in f.assignments.iter().filter(|a| f.is_effective(a)) {
        check_value(file, a, max_tracked, out);
    }
    profile(path, file, f, out)
}

/// A variable set twice: the loaders keep the first value. Another
/// spelling of a config-v2 field is the same variable to config-v2.
fn duplicates(file: &str, f: &EnvFile, out: &mut Vec<Finding>) {
    let mut exact: BTreeMap<&str, &Assignment> = BTreeMap::new();
    let mut folded: BTreeMap<&str, &Assignment> = BTreeMap::new();
    for a in &f.assignments {
        let canon = vars::lookup(&a.key).map_or(a.key.as_str(), |v| v.name);
        let msg = if let Some(b) = exact.get(a.key.as_str()) {
            format!(
                "{} is set again (first at {}); the loaders keep the first value",
                a.key,
                loc(file, b.line)
            )
        } else if let Some(b) = folded.get(canon) {
            format!(
                "{canon} is set again, spelled {} (first at {}, spelled {}); config-v2, whose names are case-insensitive, reads this spelling",
                a.key,
                loc(file, b.line),
                b.key
            )
        } else {
            exact.insert(&a.key, a);
            folded.insert(canon, a);
            continue;
        };
        exact.entry(&a.key).or_insert(a);
        out.push(at(file, a, 1, Kind::DuplicateKey, msg));
    }
}

/// An unknown name, with the known name it is likely meant to be.
fn unknown(key: &str) -> String {
    if let Some(v) = vars::find_ignore_case(key).filter(|v| !v.unused()) {
        // Not a config-v2 field (`vars::lookup` would have found it).
        let n = v.readers.count_ones();
        return format!(
            "{key} is not read by the recorder; did you mean {}? Only {} read{} it, by that exact name (only config-v2's own fields are case-insensitive)",
            v.name,
            vars::reader_names(v.readers),
            if n == 1 { "s" } else { "" }
        );
    }
    let hint = vars::closest(key).map_or(String::new(), |n| format!("; did you mean {n}?"));
    format!("{key} is not read by the recorder{hint}")
}

fn check_value(file: &str, a: &Assignment, max_tracked: usize, out: &mut Vec<Finding>) {
    let Some(var) = vars::lookup(&a.key) else {
        out.push(at(file, a, 1, Kind::UnknownSetting, unknown(&a.key)));
        return;
    };
    if var.unused() {
        out.push(at(
            file,
            a,
            1,
            Kind::UnusedSetting,
            format!(
                "{} appears in the recorder's env files but no code reads it",
                a.key
            ),
        ));
        return;
    }
    let exact = a.key == var.name;
    let name = spelled(var.name, &a.key);
    if !exact && var.exact_readers() != 0 {
        let readers = var.exact_readers();
        let (reads, misses) = if readers.count_ones() == 1 {
            ("reads", "misses")
        } else {
            ("read", "miss")
        };
        out.push(at(
            file,
            a,
            1,
            Kind::LoaderDisagreement,
            format!(
                "{key} is {n} to config-v2, whose names are case-insensitive, but {who} {reads} only {n} and {misses} {key}; write {n}",
                key = a.key,
                n = var.name,
                who = vars::reader_names(readers)
            ),
        ));
    }
    // The legacy loader reads only the exact name; config-v2 reads its
    // fields in any case.
    let legacy = exact && var.readers & LEGACY != 0;
    let pydantic = var.readers & PYDANTIC != 0;
    let raw = effective(a);
    // Python's int() and float(), and pydantic's int and float parsing,
    // ignore surrounding whitespace.
    let v = raw.trim();
    let col = a.value_column;
    let bad = |msg: String| {
        at(
            file,
            a,
            col,
            Kind::InvalidSetting,
            format!("{name} = {raw:?}: {msg}"),
        )
    };
    match var.ty {
        Type::Int(lo, hi) => match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => {}
            Ok(_) if hi == i64::MAX => out.push(bad(format!("must be at least {lo}"))),
            Ok(_) => out.push(bad(format!("must be {lo}..{hi}"))),
            Err(_) => out.push(bad("is not a whole number".into())),
        },
        Type::Float => {
            if !v.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0) {
                out.push(bad("is not a number above 0".into()));
            }
        }
        Type::Bool => match vars::parse_bool(raw) {
            (_, None) => out.push(bad("is not a boolean (true/false)".into())),
            (l, Some(p)) if l != p && legacy && pydantic => out.push(at(
                file,
                a,
                col,
                Kind::LoaderDisagreement,
                format!("{name} = {raw:?}: the legacy loader reads {l}, the HEAD server (config-v2) reads {p}; write {p}"),
            )),
            (l, Some(p)) if l != p && legacy => out.push(bad(format!(
                "the legacy loader (config.py), the only loader that reads it, reads {l} (only \"true\" is true to it); write {p}"
            ))),
            _ => {}
        },
        Type::Str => {}
        Type::Path => {
            if v.is_empty() {
                out.push(bad("is empty".into()));
            }
        }
        Type::Ports => {
            // config-v2 also takes a JSON list; the legacy and connection
            // loaders int() each comma-separated part.
            let list = if pydantic {
                v.trim_start_matches('[').trim_end_matches(']')
            } else {
                v
            };
            if list.split(',').any(|p| {
                !p.trim()
                    .parse::<i64>()
                    .is_ok_and(|n| (1..=65_535).contains(&n))
            }) {
                out.push(bad(
                    "must be TWS ports 1..65535 separated by commas".into(),
                ));
            }
        }
        Type::OneOf(set, case) => {
            if !set
                .iter()
                .any(|s| if case { *s == v } else { s.eq_ignore_ascii_case(v) })
            {
                let exactly = if case { "exactly " } else { "" };
                out.push(bad(format!("must be {exactly}one of {}", set.join(", "))));
            }
        }
        Type::Tracked => {
            let (_, problems) = tracked::parse(raw, max_tracked);
            for p in problems {
                let kind = if p.level == Level::Error {
                    Kind::InvalidTrackedContracts
                } else {
                    Kind::LoaderDisagreement
                };
                out.push(at(
                    file,
                    a,
                    col + p.pos as u64,
                    kind,
                    format!("{name}: {}", p.message),
                ));
            }
        }
    }
    if let Some(lv) = &a.legacy_value {
        out.push(at(
            file,
            a,
            col,
            Kind::LoaderDisagreement,
            format!("{name} = {raw:?}: the recorder's readers of *.env files (config.py, and config-v2's reader of legacy env files) know no inline comments and read {lv:?}; put the comment on a line of its own"),
        ));
    }
    if a.crlf {
        if let Some(why) = crlf_effect(var, legacy, raw) {
            out.push(at(
                file,
                a,
                col,
                Kind::LoaderDisagreement,
                format!(
                    "{name} = {raw:?} is on a CRLF line: loaded through a shell (env $(cat {file} | xargs)) the value is {:?}, and {why}",
                    format!("{raw}\r")
                ),
            ));
        }
    }
}

/// What the `\r` of a CRLF line does to a value when a shell loads the
/// file (`env $(cat FILE | xargs)`, `set -a; . FILE`) and the loaders get
/// it from the process environment, if anything. (Reading the file
/// themselves, the loaders never see it: `config.py` opens the file in text
/// mode, which turns CRLF into LF, and strips each line; python-dotenv
/// splits lines on CRLF too.) Numbers are unaffected: Python's `int()` and
/// `float()` and pydantic's int and float parsing strip whitespace, and
/// both tracked-contracts parsers strip each entry.
fn crlf_effect(var: &Var, legacy: bool, raw: &str) -> Option<String> {
    match var.ty {
        Type::Bool => {
            let mut why = Vec::new();
            if legacy && vars::parse_bool(raw).0 {
                why.push("the legacy loader (config.py) reads false instead of true");
            }
            // Assumption: pydantic rejects "true\r" — pydantic-core's
            // str_as_bool compares the whole string, it does not trim.
            if var.readers & PYDANTIC != 0 {
                why.push("config-v2 rejects it (pydantic does not trim booleans), so config-v2 falls back to its compat mapping for every setting");
            }
            (!why.is_empty()).then(|| why.join("; "))
        }
        Type::Str => Some("every loader that reads it keeps the \\r in the value".into()),
        Type::Path => {
            Some("every loader that reads it uses a folder whose name ends in \\r".into())
        }
        Type::OneOf(set, _) => Some(format!("no loader accepts it as one of {}", set.join(", "))),
        Type::Int(..) | Type::Float | Type::Ports | Type::Tracked => None,
    }
}

fn normalise(p: &str) -> String {
    let p = p.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        p.to_owned()
    } else {
        t.to_owned()
    }
}

fn profile(path: &Path, file: &str, f: &EnvFile, out: &mut Vec<Finding>) -> Profile {
    // The assignment a variable takes: config-v2 reads its fields in any
    // case; every other loader only the exact name.
    let get = |name: &'static str| {
        if vars::find(name).is_some_and(|v| v.readers & PYDANTIC != 0) {
            f.get_ignore_case(name)
        } else {
            f.get(name)
        }
    };
    let int = |name: &'static str| {
        get(name).and_then(|a| {
            effective(a)
                .trim()
                .parse::<i64>()
                .ok()
                .map(|n| (n, Origin::of(name, a)))
        })
    };
    let port = int("PORT").or_else(|| int("IB_STREAM_PORT"));
    let client_id = int("IB_STREAM_CLIENT_ID").or_else(|| int("IB_CLIENT_ID"));
    let storage_at = get("IB_STREAM_STORAGE_PATH");
    let storage = storage_at.map_or(PRODUCTION_STORAGE.to_owned(), |a| normalise(effective(a)));
    let storage_origin = storage_at.map(|a| Origin::of("IB_STREAM_STORAGE_PATH", a));
    // Storage is written if any loader enables it. Unset, both enable it;
    // the legacy loader takes only "true" as true, config-v2 also 1, yes
    // and on (and when it rejects the value, its compat fallback reads it
    // the legacy way).
    let legacy_on = f
        .get("IB_STREAM_ENABLE_STORAGE")
        .is_none_or(|a| vars::parse_bool(effective(a)).0);
    let v2_on = get("IB_STREAM_ENABLE_STORAGE").is_none_or(|a| {
        let (l, p) = vars::parse_bool(effective(a));
        p.unwrap_or(l)
    });
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let mut env = Environment::from_name(stem);
    if env == Environment::Unknown {
        env = port
            .as_ref()
            .map_or(Environment::Unknown, |(p, _)| Environment::from_port(*p));
        if env == Environment::Unknown {
            out.push(Finding::new(Kind::UnknownEnvironment, file, format!("{file}: neither the file name nor the HTTP port (PORT, IB_STREAM_PORT) says which environment this is; it is compared with every other file")));
        }
    }
    Profile {
        file: file.to_owned(),
        env,
        port,
        client_id,
        storage,
        storage_origin,
        storage_enabled: legacy_on || v2_on,
    }
}

/// A cross-file finding at `origin` in `p`'s file (the whole file if none).
fn finding(kind: Kind, p: &Profile, origin: Option<&Origin>, msg: String) -> Finding {
    let place = origin.map_or_else(|| p.file.clone(), |o| loc(&p.file, o.line));
    let mut f = Finding::new(kind, &p.file, format!("{place}: {msg}"));
    f.record = origin.map(|o| o.line);
    f
}

/// Where a file sets its storage path, for another file's finding.
fn storage_at(p: &Profile) -> String {
    match &p.storage_origin {
        Some(o) => format!("{} ({}, {})", loc(&p.file, o.line), o.name(), p.env.name()),
        None => format!(
            "{} (IB_STREAM_STORAGE_PATH unset, {})",
            p.file,
            p.env.name()
        ),
    }
}

fn across(ps: &[Profile], out: &mut Vec<Finding>) {
    for p in ps {
        if let (Some((lo, hi)), Some((port, o))) = (p.env.ports(), &p.port) {
            if !(lo..=hi).contains(port) {
                out.push(finding(
                    Kind::PortOutOfRange,
                    p,
                    Some(o),
                    format!(
                        "{} = {port} is outside the {} range {lo}–{hi}",
                        o.name(),
                        p.env.name()
                    ),
                ));
            }
        }
    }
    let prod_storage = ps
        .iter()
        .find(|p| p.env == Environment::Production)
        .map_or(PRODUCTION_STORAGE.to_owned(), |p| p.storage.clone());
    for p in ps.iter().filter(|p| {
        p.env != Environment::Production && p.storage_enabled && p.storage == prod_storage
    }) {
        let var = p.storage_origin.as_ref().map_or_else(
            || format!("IB_STREAM_STORAGE_PATH unset (default {PRODUCTION_STORAGE:?})"),
            Origin::name,
        );
        out.push(finding(Kind::WritesProductionStorage, p, p.storage_origin.as_ref(), format!("{var}: {} environment writes to the production storage {prod_storage:?}; set IB_STREAM_ENABLE_STORAGE=false for read-only use, or give it its own path", p.env.name())));
    }
    for (i, a) in ps.iter().enumerate() {
        for b in &ps[i + 1..] {
            if a.env == b.env && a.env != Environment::Unknown {
                continue; // alternatives for one environment (templates)
            }
            if let (Some((pa, oa)), Some((pb, ob))) = (&a.port, &b.port) {
                if pa == pb {
                    out.push(finding(
                        Kind::SharedPort,
                        b,
                        Some(ob),
                        format!(
                            "{} = {pb} is also the HTTP port of {} ({}, {})",
                            ob.name(),
                            loc(&a.file, oa.line),
                            oa.name(),
                            a.env.name()
                        ),
                    ));
                }
            }
            if let (Some((ca, oa)), Some((cb, ob))) = (&a.client_id, &b.client_id) {
                let ids = |c: i64| [(c, "main"), (c + BACKGROUND_OFFSET, "background")];
                for (x, xn) in ids(*cb) {
                    for (y, yn) in ids(*ca) {
                        if x == y {
                            out.push(
                                finding(
                                    Kind::SharedClientId,
                                    b,
                                    Some(ob),
                                    format!(
                                        "{} = {cb}: TWS client id {x} ({xn}) is also the {yn} client id of {} ({} = {ca}, {})",
                                        ob.name(),
                                        loc(&a.file, oa.line),
                                        oa.name(),
                                        a.env.name()
                                    ),
                                )
                                .severity(Severity::Error),
                            );
                        }
                    }
                }
            }
            let involves_prod =
                a.env == Environment::Production || b.env == Environment::Production;
            if a.storage == b.storage && a.storage_enabled && b.storage_enabled && !involves_prod {
                let var = b
                    .storage_origin
                    .as_ref()
                    .map_or_else(|| "IB_STREAM_STORAGE_PATH unset".to_owned(), Origin::name);
                out.push(finding(
                    Kind::SharedStoragePath,
                    b,
                    b.storage_origin.as_ref(),
                    format!(
                        "{var}: storage {:?} is also written by {}",
                        b.storage,
                        storage_at(a)
                    ),
                ));
            }
        }
    }
}
