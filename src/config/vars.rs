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
    /// One of a fixed set.
    OneOf(&'static [&'static str]),
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
    /// Set in the recorder's files, but read by no code.
    pub unused: bool,
}

const PORT: Type = Type::Int(1, 65_535);
const POS: Type = Type::Int(1, i64::MAX);
const NONNEG: Type = Type::Int(0, i64::MAX);

const fn v(name: &'static str, ty: Type, default: Option<&'static str>) -> Var {
    Var {
        name,
        ty,
        default,
        unused: false,
    }
}
const fn dead(name: &'static str) -> Var {
    Var {
        name,
        ty: Type::Str,
        default: None,
        unused: true,
    }
}

/// Every known variable.
pub const VARS: &[Var] = &[
    v("IB_STREAM_ENV", Type::Str, Some("production")),
    v("IB_STREAM_CLIENT_ID", Type::Int(0, 32_767), Some("2")),
    v("IB_STREAM_HOST", Type::Str, Some("127.0.0.1")),
    v("IB_STREAM_PORTS", Type::Ports, Some("7497,7496,4002,4001")),
    v("IB_STREAM_MAX_STREAMS", POS, Some("50")),
    v("IB_STREAM_STREAM_TIMEOUT", POS, None),
    v("IB_STREAM_BUFFER_SIZE", POS, Some("100")),
    v("IB_STREAM_RECONNECT_ATTEMPTS", NONNEG, Some("3")),
    v("IB_STREAM_CONNECTION_TIMEOUT", POS, Some("5")),
    v("IB_STREAM_HEARTBEAT_INTERVAL", POS, Some("30")),
    v("HOST", Type::Str, Some("0.0.0.0")),
    v("PORT", PORT, Some("8000")),
    v("RELOAD", Type::Bool, None),
    v(
        "IB_STREAM_LOG_LEVEL",
        Type::OneOf(&["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]),
        Some("INFO"),
    ),
    v("IB_STREAM_LOG_FORMAT", Type::Str, None),
    v("IB_STREAM_ENABLE_STORAGE", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_JSON", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_PROTOBUF", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_V3_JSON", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_V3_PROTOBUF", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_V3_STORAGE", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_POSTGRES", Type::Bool, Some("true")),
    v(
        "IB_STREAM_ENABLE_CLIENT_STREAM_STORAGE",
        Type::Bool,
        Some("true"),
    ),
    v(
        "IB_STREAM_ENABLE_BACKGROUND_STREAMING",
        Type::Bool,
        Some("false"),
    ),
    v("IB_STREAM_ENABLE_METRICS", Type::Bool, Some("true")),
    v("IB_STREAM_ENABLE_CORS", Type::Bool, Some("true")),
    v("IB_STREAM_STORAGE_PATH", Type::Path, Some("storage")),
    v("IB_STREAM_JSON_PATH", Type::Path, None),
    v("IB_STREAM_PROTOBUF_PATH", Type::Path, None),
    v(
        "IB_STREAM_POSTGRES_URL",
        Type::Str,
        Some("postgresql://localhost:5432/ib_stream"),
    ),
    v(
        "IB_STREAM_POSTGRES_SCHEMA",
        Type::Str,
        Some("ib_stream_storage"),
    ),
    v("IB_STREAM_BATCH_SIZE", POS, Some("100")),
    v("IB_STREAM_BATCH_TIMEOUT", Type::Float, Some("1.0")),
    v("IB_STREAM_QUEUE_SIZE", POS, Some("10000")),
    v("IB_STREAM_WRITERS", POS, Some("4")),
    v("IB_STREAM_ROTATION_HOURS", POS, Some("1")),
    v("IB_STREAM_MAX_FILE_SIZE", POS, Some("100")),
    v("IB_STREAM_MAX_FILE_SIZE_MB", POS, Some("100")),
    v("IB_STREAM_JSON_RETENTION", NONNEG, Some("7")),
    v("IB_STREAM_PROTOBUF_RETENTION", NONNEG, Some("365")),
    v("IB_STREAM_HEALTH_RETENTION", NONNEG, Some("7")),
    v("IB_STREAM_METRICS_WINDOW", POS, Some("100")),
    v("IB_STREAM_HEALTH_INTERVAL", POS, Some("300")),
    v("IB_STREAM_HEALTH_STALENESS_MINUTES", POS, Some("15")),
    v("IB_STREAM_TRADING_HOURS_TTL_HOURS", POS, Some("24")),
    v("IB_STREAM_MAX_TRACKED", NONNEG, Some("10")),
    v("IB_STREAM_RECONNECT_DELAY", POS, Some("3")),
    v("IB_STREAM_BACKGROUND_RECONNECT_DELAY", POS, Some("30")),
    v("IB_STREAM_TRACKED_CONTRACTS", Type::Tracked, Some("")),
    v("IB_STREAM_PORT", PORT, None),
    v("IB_STREAM_BIND_HOST", Type::Str, None),
    v(
        "IB_ENVIRONMENT",
        Type::OneOf(&["development", "production", "staging", "testing"]),
        Some("development"),
    ),
    v("IB_HOST", Type::Str, Some("localhost")),
    v("IB_PORTS", Type::Ports, Some("4002")),
    v("IB_CLIENT_ID", Type::Int(1, 32_767), None),
    v("IB_CONNECTION_TIMEOUT", POS, Some("10")),
    v("IB_RECONNECT_ATTEMPTS", NONNEG, Some("5")),
    v("IB_CONTRACTS_CLIENT_ID", Type::Int(0, 32_767), None),
    v("IB_CONTRACTS_HOST", Type::Str, None),
    v("IB_CONTRACTS_PORT", PORT, None),
    dead("IB_STREAM_ENVIRONMENT"),
    dead("IB_STREAM_SERVER_TYPE"),
    dead("IB_STREAM_POSTGRES_HOST"),
    dead("IB_STREAM_POSTGRES_PORT"),
    dead("IB_STREAM_POSTGRES_DB"),
    dead("IB_STREAM_POSTGRES_USER"),
];

/// Looks a variable up by name.
pub fn find(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

/// Booleans as the two loaders read them: `(legacy, pydantic)`; pydantic
/// rejects anything outside its set (`None`).
pub fn parse_bool(v: &str) -> (bool, Option<bool>) {
    let l = v.trim().to_ascii_lowercase();
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

/// The known name closest to `name`, if close enough to be a typo.
pub fn closest(name: &str) -> Option<&'static str> {
    VARS.iter()
        .map(|v| (distance(name, v.name), v.name))
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
