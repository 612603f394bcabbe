//! Findings are data: every problem any command notices is a [`Finding`]
//! with a typed [`Kind`], a [`Severity`], and a location. Renderers print
//! them; nothing else does.

use serde::Serialize;
use std::fmt;

/// How bad a finding is. Exit status depends only on this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Damage, invalid or misplaced records: the file cannot be trusted as is.
    Error,
    /// Continuity and ordering problems, known writer defects worth a look.
    Warning,
    /// Everything else worth knowing.
    Info,
}

impl Severity {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $sev:ident, $agg:literal; )*) => {
        /// What a finding is about. The snake_case names are the stable JSON
        /// `kind` values documented in the README.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind { $( $(#[$doc])* $v, )* }

        impl Kind {
            /// All kinds.
            pub const ALL: &'static [Kind] = &[$(Kind::$v),*];
            /// The stable snake_case name.
            pub fn name(self) -> &'static str { match self { $(Kind::$v => $name,)* } }
            /// Default severity.
            pub fn severity(self) -> Severity { match self { $(Kind::$v => Severity::$sev,)* } }
            /// Whether a file reports this kind once, with a count and the
            /// first location, rather than once per occurrence.
            pub fn aggregated(self) -> bool { match self { $(Kind::$v => $agg,)* } }
        }
    };
}

kinds! {
    /// A file or folder that cannot be read.
    Unreadable = "unreadable", Error, false;
    /// A symbolic link inside the store (never followed).
    Symlink = "symlink", Info, false;
    /// A file that is not a data file.
    UnknownFile = "unknown_file", Info, false;
    /// A folder outside the known layout.
    UnknownFolder = "unknown_folder", Info, false;
    /// A folder whose name looks like a data file.
    FolderNamedLikeData = "folder_named_like_data", Warning, false;
    /// A `.jsonl`/`.pb` file that holds no tick data (logs, reports).
    NotTickData = "not_tick_data", Warning, false;
    /// Content is another version or byte order than the layout says.
    FormatMismatch = "format_mismatch", Info, false;
    /// A file name that does not follow its layout's naming scheme.
    BadFileName = "bad_file_name", Warning, false;
    /// A partition folder that disagrees with the file name's time.
    BadPartition = "bad_partition", Error, false;
    /// A 0-byte data file.
    EmptyFile = "empty_file", Error, false;
    /// A partial last line, prefix or frame body.
    TruncatedTail = "truncated_tail", Error, false;
    /// NUL bytes to the end of the file.
    TrailingNul = "trailing_nul", Error, false;
    /// A run of NUL bytes inside a line.
    NulRun = "nul_run", Error, false;
    /// A corrupt length prefix; reading resumed at the next valid frame.
    BadPrefix = "bad_prefix", Error, false;
    /// Bytes after a corrupt prefix where no valid frame resumes.
    Unframed = "unframed", Error, false;
    /// A zstd stream that does not decompress (or decompresses beyond the size limit).
    Compression = "compression", Error, false;
    /// A file that shrank while it was read (truncated by another process).
    ChangedDuringRun = "changed_during_run", Error, false;
    /// A line longer than any record (1 MiB); not parsed.
    OverlongLine = "overlong_line", Error, false;
    /// A line that is not valid JSON.
    InvalidJson = "invalid_json", Error, false;
    /// A line with bytes that are not UTF-8.
    InvalidUtf8 = "invalid_utf8", Error, false;
    /// A frame whose body is not a valid protobuf message.
    InvalidProtobuf = "invalid_protobuf", Error, false;
    /// A record that is not a tick (another JSON shape, a v2 non-tick message).
    NotTickRecord = "not_tick_record", Error, false;
    /// A required field is absent.
    MissingField = "missing_field", Error, false;
    /// A field of the wrong type.
    WrongType = "wrong_type", Error, false;
    /// A value outside its domain (non-finite or non-positive price, negative size, implausible time).
    InvalidValue = "invalid_value", Error, false;
    /// A tick type outside bid_ask, last, all_last, mid_point.
    UnknownTickType = "unknown_tick_type", Error, false;
    /// A record of another contract, tick type or hour than its file.
    MisplacedRecord = "misplaced_record", Error, false;
    /// A key or field the format does not define.
    UnknownKey = "unknown_key", Warning, true;
    /// A record without any value of its tick type.
    EmptyRecord = "empty_record", Warning, true;
    /// A value of another tick type's field set.
    ForeignField = "foreign_field", Warning, true;
    /// Event time well after system time.
    StBeforeTs = "st_before_ts", Warning, true;
    /// v2: envelope time in the previous hour, within write batching tolerance.
    V2Spillover = "v2_spillover", Warning, true;
    /// Records earlier than a record before them.
    OutOfOrder = "out_of_order", Warning, true;
    /// Duplicate records: exact copies (st included), or a repeated block of records (st aside).
    Duplicate = "duplicate", Warning, true;
    /// A silence longer than --max-gap inside a file.
    Gap = "gap", Warning, false;
    /// Hours with no file between a stream's first and last hour.
    MissingHours = "missing_hours", Warning, false;
    /// Lines ending in CRLF.
    Crlf = "crlf", Warning, true;
    /// The last line has no newline (a record that may have been cut short).
    MissingNewline = "missing_newline", Warning, false;
    /// `mid_point` without a value (a known historical defect).
    MissingMidValue = "missing_mid_value", Info, true;
    /// Contract id 0 (written for client streams by the HEAD writer).
    ZeroContractId = "zero_contract_id", Info, true;
    /// System time long after event time (converted data).
    StAfterTs = "st_after_ts", Info, true;
    /// An integer field written as an integral float.
    FloatInteger = "float_integer", Info, true;
    /// Tick type written in IB's PascalCase (`Last`, `AllLast`).
    PascalTickType = "pascal_tick_type", Info, true;
    /// v2 record without `unix_time`: event time taken from the envelope (test-script data).
    NoEventTime = "no_event_time", Info, true;
    /// v2 envelope timestamp with the malformed `+00:00Z` suffix (the recorder's reader skips it).
    OffsetZTimestamp = "offset_z_timestamp", Warning, true;
    /// A flag given as a number or null.
    NonBoolFlag = "non_bool_flag", Info, true;
    /// v2 contract id or tick type only in `data`/`tick_data`, not `metadata`.
    IdsFromData = "ids_from_data", Info, true;
    /// Empty or whitespace-only lines.
    BlankLine = "blank_line", Info, true;
    /// config: a line that is not `KEY=VALUE`, a binary file, an overlong line.
    EnvSyntax = "env_syntax", Error, false;
    /// config: a variable set twice in one file (the last value wins).
    DuplicateKey = "duplicate_key", Warning, false;
    /// config: a value of the wrong type or out of range.
    InvalidSetting = "invalid_setting", Error, false;
    /// config: a variable no loader reads (with the closest known name).
    UnknownSetting = "unknown_setting", Warning, false;
    /// config: a variable set in the recorder's files but read by no code.
    UnusedSetting = "unused_setting", Info, false;
    /// config: a value the recorder's two loaders read differently.
    LoaderDisagreement = "loader_disagreement", Warning, false;
    /// config: `IB_STREAM_TRACKED_CONTRACTS` outside its grammar.
    InvalidTrackedContracts = "invalid_tracked_contracts", Error, false;
    /// config: an HTTP port outside its environment's range.
    PortOutOfRange = "port_out_of_range", Error, false;
    /// config: two environments on one HTTP port.
    SharedPort = "shared_port", Error, false;
    /// config: two environments with one TWS client id (main or background).
    SharedClientId = "shared_client_id", Error, false;
    /// config: two environments writing one storage path.
    SharedStoragePath = "shared_storage_path", Error, false;
    /// config: a non-production environment writing to production storage.
    WritesProductionStorage = "writes_production_storage", Error, false;
    /// config: neither the file name nor the port says which environment a file is.
    UnknownEnvironment = "unknown_environment", Info, false;
    /// repair: a damaged file left alone (active hour, changed during the run, unrepairable).
    RepairSkipped = "repair_skipped", Warning, false;
    /// repair: a step failed; the file is unchanged.
    RepairFailed = "repair_failed", Error, false;
    /// repair --undo: a file not restored (changed since the repair, quarantine damaged).
    UndoRefused = "undo_refused", Error, false;
    /// repair: a lock left by a process that no longer runs was taken over.
    StaleLock = "stale_lock", Info, false;
    /// repair --undo: the run's journal is incomplete (killed run or cut journal).
    JournalIncomplete = "journal_incomplete", Warning, false;
    /// index: an index or catalog that no longer matches its data (changed size, mtime or CRC-32); rebuilt.
    StaleIndex = "stale_index", Warning, false;
    /// index: an index or catalog file that does not open (truncated, foreign, other version, bad checksum, self-contradicting); rebuilt.
    CorruptIndex = "corrupt_index", Warning, false;
    /// index --check: a data file without an index.
    MissingIndex = "missing_index", Warning, false;
    /// A temp file an interrupted ibstore write left beside a data file;
    /// repair --apply moves it to the quarantine.
    StaleTemp = "stale_temp", Warning, false;
    /// convert: a damaged span of a source skipped with --skip-damaged (its intact records were converted).
    ConvertSkipped = "convert_skipped", Warning, false;
    /// convert: stream-hours not written: a damaged source (without --skip-damaged) or a value the target cannot hold (without --allow-loss).
    ConvertRefused = "convert_refused", Error, false;
    /// convert: records that lost a field the target cannot hold, allowed by --allow-loss.
    ConvertLoss = "convert_loss", Info, false;
    /// convert: a data file in DST this conversion did not make (its sources are gone); removed only with --prune.
    ConvertOrphan = "convert_orphan", Warning, false;
    /// convert: an output stream-hour read back differs from its input (count, first/last time or fingerprint).
    VerifyMismatch = "verify_mismatch", Error, false;
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What.
    pub kind: Kind,
    /// How bad.
    pub severity: Severity,
    /// Path relative to the scanned root, `/`-separated; for stream-level
    /// findings, the stream's family folder and name. A name that is not
    /// UTF-8 shows U+FFFD here; its exact bytes are in `file_bytes`.
    pub file: String,
    /// The exact bytes of `file`, only when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<Vec<u8>>,
    /// Byte offset in the file (in decompressed bytes for `.zst` files).
    pub offset: Option<u64>,
    /// 1-based line or frame number.
    pub record: Option<u64>,
    /// Bytes involved (e.g. dangling bytes of a truncated tail).
    pub len: Option<u64>,
    /// Occurrences this finding stands for (≥ 1).
    pub count: u64,
    /// A sentence a person can act on.
    pub message: String,
    /// Sorts after the other findings of its file (the "N more" line).
    #[serde(skip)]
    pub last_in_file: bool,
}

impl Finding {
    /// A finding of `kind` with its default severity.
    pub fn new(kind: Kind, file: &str, message: impl Into<String>) -> Self {
        Self {
            kind,
            severity: kind.severity(),
            file: file.to_owned(),
            file_bytes: None,
            offset: None,
            record: None,
            len: None,
            count: 1,
            message: message.into(),
            last_in_file: false,
        }
    }

    /// Sets the location.
    pub fn at(mut self, offset: u64, record: Option<u64>) -> Self {
        self.offset = Some(offset);
        self.record = record;
        self
    }

    /// Sets the byte length.
    pub fn len(mut self, len: u64) -> Self {
        self.len = Some(len);
        self
    }

    /// Sets the exact bytes of a file name that is not UTF-8.
    pub fn bytes(mut self, raw: Option<Vec<u8>>) -> Self {
        self.file_bytes = raw;
        self
    }

    /// Overrides the severity.
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    /// Sort key: severity, file, offset, kind.
    pub fn sort_key(&self) -> (Severity, &str, bool, u64, Kind) {
        (
            self.severity,
            &self.file,
            self.last_in_file,
            self.offset.unwrap_or(0),
            self.kind,
        )
    }

    /// Where it is, for text: `FILE @OFFSET #RECORD` for data, `FILE:LINE`
    /// for a line of a text file without an offset, else `FILE`.
    pub fn location(&self) -> String {
        match (self.offset, self.record) {
            (Some(o), Some(r)) => format!("{} @{o} #{r}", self.file),
            (Some(o), None) => format!("{} @{o}", self.file),
            (None, Some(r)) => format!("{}:{r}", self.file),
            (None, None) => self.file.clone(),
        }
    }
}
