//! The variables the recorder's loaders read (spec §13.2, §13.3), with
//! their types, ranges and defaults.

/// What a variable holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Whole number in an inclusive range.
    Int(i64, i64),
    /// Positive decimal number.
    Float,
    /// Boolean.
    Bool,
    /// Free text.
    Str,
    /// A path.
    Path,
    /// Comma-separated TWS ports.
    Ports,
    /// `IB_STREAM_TRACKED_CONTRACTS`.
    Tracked,
    /// One of a fixed set; `true`: the case must match too.
    OneOf(&'static [&'static str], bool),
}

/// The recorder's loaders that read a variable (spec §13.1–13.3), as bits.
/// Every loader but config-v2's pydantic model reads names case-sensitively
/// (`os.environ` / `os.getenv`, or its own file reader).
pub type Readers = u8;
/// The legacy loader, `ib_stream/config.py` (spec §13.2).
pub const LEGACY: Readers = 1;
/// The connection loader, `ib_util.config_loader.load_environment_config()`.
pub const CONNECTION: Readers = 1 << 1;
/// `BaseAPIServer.run()` (HTTP bind: `PORT` > `IB_STREAM_PORT`, `HOST`, `RELOAD`).
pub const SERVER: Readers = 1 << 2;
/// config-v2's pydantic model (spec §13.3): names are case-insensitive.
pub const PYDANTIC: Readers = 1 << 3;
/// config-v2's compat fallback, used when pydantic validation fails.
pub const COMPAT: Readers = 1 << 4;
/// config-v2's `load_config()`, which picks the environment with
/// `os.getenv("IB_ENVIRONMENT")`: listed in the §13.3 table, but not read
/// through a model field, so not case-insensitive.
pub const V2_ENV: Readers = 1 << 5;

/// How a report names each reader, in [`Readers`] bit order.
const READER_NAMES: [&str; 6] = [
    "the legacy loader (config.py)",
    "the connection loader (load_environment_config)",
    "BaseAPIServer.run()",
    "config-v2",
    "config-v2's compat fallback",
    "config-v2's environment selection",
];

/// The names of `readers`, joined for a sentence ("a, b and c").
pub fn reader_names(readers: Readers) -> String {
    let names: Vec<&str> = READER_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| readers & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// A known variable.
#[derive(Debug, Clone, Copy)]
pub struct Var {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub ty: Type,
    /// Default when unset (legacy loader's), if any.
    pub default: Option<&'static str>,
    /// The loaders that read it; none: set in the recorder's files, but
    /// read by no code.
    pub readers: Readers,
}

impl Var {
    /// Set in the recorder's files, but read by no code.
    pub fn unused(&self) -> bool {
        self.readers == 0
    }

    /// The loaders that read it by its exact (upper-case) name.
    pub fn exact_readers(&self) -> Readers {
        self.readers & !PYDANTIC
    }
}

const PORT: Type = Type::Int(1, 65_535);
const POS: Type = Type::Int(1, i64::MAX);
const NONNEG: Type = Type::Int(0, i64::MAX);
/// Read by the legacy loader only.
const L: Readers = LEGACY;
/// Read by both config-v2 and its compat fallback, and the legacy loader.
const LPC: Readers = LEGACY | PYDANTIC | COMPAT;

const fn v(name: &'static str, ty: Type, default: Option<&'static str>, readers: Readers) -> Var {
    Var {
        name,
        ty,
        default,
        readers,
    }
}
const fn dead(name: &'static str) -> Var {
    Var {
        name,
        ty: Type::Str,
        default: None,
        readers: 0,
    }
}

/// Every known variable, with the loaders that read it (spec §13.1–13.3).
pub const VARS: &[Var] = &[
    v(
        "IB_STREAM_ENV",
        Type::Str,
        Some("production"),
        L | CONNECTION,
    ),
    v(
        "IB_STREAM_CLIENT_ID",
        Type::Int(0, 32_767),
        Some("2"),
        L | CONNECTION | COMPAT,
    ),
    v(
        "IB_STREAM_HOST",
        Type::Str,
        Some("127.0.0.1"),
        LPC | CONNECTION,
    ),
    v(
        "IB_STREAM_PORTS",
        Type::Ports,
        Some("7497,7496,4002,4001"),
        L | CONNECTION | COMPAT,
    ),
    v("IB_STREAM_MAX_STREAMS", POS, Some("50"), LPC),
    v("IB_STREAM_STREAM_TIMEOUT", POS, None, L),
    v("IB_STREAM_BUFFER_SIZE", POS, Some("100"), LPC),
    v("IB_STREAM_RECONNECT_ATTEMPTS", NONNEG, Some("3"), L),
    v(
        "IB_STREAM_CONNECTION_TIMEOUT",
        POS,
        Some("5"),
        L | CONNECTION,
    ),
    v("IB_STREAM_HEARTBEAT_INTERVAL", POS, Some("30"), L),
    v("HOST", Type::Str, Some("0.0.0.0"), L | SERVER | COMPAT),
    v("PORT", PORT, Some("8000"), L | SERVER | COMPAT),
    v("RELOAD", Type::Bool, None, SERVER),
    v(
        "IB_STREAM_LOG_LEVEL",
        Type::OneOf(&["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], false),
        Some("INFO"),
        LPC,
    ),
    v("IB_STREAM_LOG_FORMAT", Type::Str, None, L),
    v("IB_STREAM_ENABLE_STORAGE", Type::Bool, Some("true"), LPC),
    v("IB_STREAM_ENABLE_JSON", Type::Bool, Some("true"), LPC),
    v("IB_STREAM_ENABLE_PROTOBUF", Type::Bool, Some("true"), LPC),
    v("IB_STREAM_ENABLE_V3_JSON", Type::Bool, Some("true"), L),
    v("IB_STREAM_ENABLE_V3_PROTOBUF", Type::Bool, Some("true"), L),
    v(
        "IB_STREAM_ENABLE_V3_STORAGE",
        Type::Bool,
        Some("true"),
        PYDANTIC,
    ),
    v("IB_STREAM_ENABLE_POSTGRES", Type::Bool, Some("true"), LPC),
    v(
        "IB_STREAM_ENABLE_CLIENT_STREAM_STORAGE",
        Type::Bool,
        Some("true"),
        L,
    ),
    v(
        "IB_STREAM_ENABLE_BACKGROUND_STREAMING",
        Type::Bool,
        Some("false"),
        PYDANTIC | COMPAT,
    ),
    v(
        "IB_STREAM_ENABLE_METRICS",
        Type::Bool,
        Some("true"),
        L | PYDANTIC,
    ),
    v("IB_STREAM_ENABLE_CORS", Type::Bool, Some("true"), PYDANTIC),
    v("IB_STREAM_STORAGE_PATH", Type::Path, Some("storage"), LPC),
    v("IB_STREAM_JSON_PATH", Type::Path, None, L),
    v("IB_STREAM_PROTOBUF_PATH", Type::Path, None, L),
    v(
        "IB_STREAM_POSTGRES_URL",
        Type::Str,
        Some("postgresql://localhost:5432/ib_stream"),
        L,
    ),
    v(
        "IB_STREAM_POSTGRES_SCHEMA",
        Type::Str,
        Some("ib_stream_storage"),
        L,
    ),
    v("IB_STREAM_BATCH_SIZE", POS, Some("100"), L),
    v("IB_STREAM_BATCH_TIMEOUT", Type::Float, Some("1.0"), L),
    v("IB_STREAM_QUEUE_SIZE", POS, Some("10000"), L),
    v("IB_STREAM_WRITERS", POS, Some("4"), L),
    v("IB_STREAM_ROTATION_HOURS", POS, Some("1"), L),
    v("IB_STREAM_MAX_FILE_SIZE", POS, Some("100"), L),
    v("IB_STREAM_MAX_FILE_SIZE_MB", POS, Some("100"), PYDANTIC),
    v("IB_STREAM_JSON_RETENTION", NONNEG, Some("7"), L),
    v("IB_STREAM_PROTOBUF_RETENTION", NONNEG, Some("365"), L),
    v("IB_STREAM_HEALTH_RETENTION", NONNEG, Some("7"), L),
    v("IB_STREAM_METRICS_WINDOW", POS, Some("100"), L),
    v("IB_STREAM_HEALTH_INTERVAL", POS, Some("300"), L),
    v("IB_STREAM_HEALTH_STALENESS_MINUTES", POS, Some("15"), L),
    v("IB_STREAM_TRADING_HOURS_TTL_HOURS", POS, Some("24"), L),
    v("IB_STREAM_MAX_TRACKED", NONNEG, Some("10"), L),
    v("IB_STREAM_RECONNECT_DELAY", POS, Some("3"), L),
    v(
        "IB_STREAM_BACKGROUND_RECONNECT_DELAY",
        POS,
        Some("30"),
        PYDANTIC,
    ),
    v("IB_STREAM_TRACKED_CONTRACTS", Type::Tracked, Some(""), LPC),
    v("IB_STREAM_PORT", PORT, None, PYDANTIC | SERVER | COMPAT),
    v("IB_STREAM_BIND_HOST", Type::Str, None, COMPAT),
    v(
        "IB_ENVIRONMENT",
        Type::OneOf(&["development", "production", "staging", "testing"], true),
        Some("development"),
        V2_ENV | COMPAT,
    ),
    v("IB_HOST", Type::Str, Some("localhost"), PYDANTIC | COMPAT),
    v("IB_PORTS", Type::Ports, Some("4002"), PYDANTIC | COMPAT),
    v(
        "IB_CLIENT_ID",
        Type::Int(1, 32_767),
        None,
        PYDANTIC | COMPAT,
    ),
    v("IB_CONNECTION_TIMEOUT", POS, Some("10"), PYDANTIC),
    v("IB_RECONNECT_ATTEMPTS", NONNEG, Some("5"), PYDANTIC),
    v(
        "IB_CONTRACTS_CLIENT_ID",
        Type::Int(0, 32_767),
        None,
        CONNECTION | COMPAT,
    ),
    v("IB_CONTRACTS_HOST", Type::Str, None, COMPAT),
    v("IB_CONTRACTS_PORT", PORT, None, COMPAT),
    dead("IB_STREAM_ENVIRONMENT"),
    dead("IB_STREAM_SERVER_TYPE"),
    dead("IB_STREAM_POSTGRES_HOST"),
    dead("IB_STREAM_POSTGRES_PORT"),
    dead("IB_STREAM_POSTGRES_DB"),
    dead("IB_STREAM_POSTGRES_USER"),
];

/// Looks a variable up by its exact name.
pub fn find(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

/// Looks a variable up by any spelling of its name.
pub fn find_ignore_case(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name.eq_ignore_ascii_case(name))
}

/// The variable a name in a file sets for at least one loader: the exact
/// name, or another spelling of a config-v2 field (pydantic names are
/// case-insensitive, spec §13.4). Every other loader reads names
/// case-sensitively, so `ib_stream_max_tracked` sets nothing.
pub fn lookup(name: &str) -> Option<&'static Var> {
    find(name).or_else(|| find_ignore_case(name).filter(|v| v.readers & PYDANTIC != 0))
}

/// Booleans as the loaders read the exact value they are given:
/// `(legacy, pydantic)`. The legacy loader tests `value.lower() == "true"`
/// (so `1` and `yes` are false); pydantic compares the whole value with its
/// set, ignoring case but not whitespace (pydantic-core `str_as_bool`), and
/// rejects anything else (`None`): `"true\r"` is false to the legacy loader
/// and invalid to pydantic.
pub fn parse_bool(v: &str) -> (bool, Option<bool>) {
    let l = v.to_ascii_lowercase();
    let pydantic = match l.as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    };
    (l == "true", pydantic)
}

/// Levenshtein distance (for "did you mean").
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The known name closest to `name` (in any case), if close enough to be
/// a typo.
pub fn closest(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    VARS.iter()
        .map(|v| (distance(&upper, v.name), v.name))
        .filter(|(d, _)| *d <= 3.max(name.len() / 4))
        .min()
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bools_and_typos() {
        assert_eq!(parse_bool("TRUE"), (true, Some(true)));
        assert_eq!(parse_bool("1"), (false, Some(true)));
        assert_eq!(parse_bool("maybe"), (false, None));
        assert_eq!(parse_bool("true\r"), (false, None));
        assert_eq!(parse_bool(" true"), (false, None));
        assert_eq!(
            closest("ib_stream_max_trackd"),
            Some("IB_STREAM_MAX_TRACKED")
        );
        assert_eq!(lookup("ib_client_id").map(|v| v.name), Some("IB_CLIENT_ID"));
        assert_eq!(
            lookup("Ib_Stream_Storage_Path").map(|v| v.name),
            Some("IB_STREAM_STORAGE_PATH")
        );
        assert!(
            lookup("ib_stream_client_id").is_none(),
            "not a config-v2 field"
        );
        assert!(lookup("ib_environment").is_none(), "read with os.getenv");
        assert_eq!(
            reader_names(find("IB_STREAM_CLIENT_ID").unwrap().exact_readers()),
            "the legacy loader (config.py), the connection loader (load_environment_config) and config-v2's compat fallback"
        );
        assert_eq!(closest("IB_STREAM_CLIENTID"), Some("IB_STREAM_CLIENT_ID"));
        assert_eq!(
            closest("IB_STREAM_TRACKED_CONTRACT"),
            Some("IB_STREAM_TRACKED_CONTRACTS")
        );
        assert_eq!(closest("TOTALLY_DIFFERENT_THING"), None);
        assert!(VARS.iter().all(|v| v
            .name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())));
    }
}
