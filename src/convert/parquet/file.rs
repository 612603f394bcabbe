//! One Parquet file of a dataset: the stable schema (version
//! [`SCHEMA_VERSION`]), rows encoded into Arrow record batches of at most
//! [`ROW_GROUP_ROWS`] rows written with the `parquet` crate's `ArrowWriter`
//! into a [`Durable`] temp file, and the same file read back into rows.

use crate::error::{Error, Result};
use crate::fsutil::Durable;
use crate::tick::{Tick, TickType};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use std::path::Path;
use std::sync::Arc;

/// Version of the schema below; bumped on any change of column, type or
/// meaning (readers check the `ibstore.schema_version` key).
pub const SCHEMA_VERSION: u32 = 1;

/// Rows per row group (engines read a row group as one unit of work).
pub const ROW_GROUP_ROWS: usize = 1 << 20;

/// Column names, in schema order (documented in the README).
pub const COLUMNS: [&str; 18] = [
    "ts",
    "st",
    "contract_id",
    "tick_type",
    "request_id",
    "price",
    "size",
    "bid_price",
    "bid_size",
    "ask_price",
    "ask_size",
    "mid_price",
    "bid_past_low",
    "ask_past_high",
    "unreported",
    "past_limit",
    "source_file",
    "source_offset",
];

/// Compression of the column chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// zstd at a level (1 to 22).
    Zstd(i32),
    /// Snappy.
    Snappy,
    /// None.
    None,
}

impl Codec {
    /// Parses `zstd`, `zstd:LEVEL`, `snappy` or `none` (default zstd level 3).
    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None if s == "zstd" => Some(Self::Zstd(3)),
            None if s == "snappy" => Some(Self::Snappy),
            None if s == "none" => Some(Self::None),
            Some(("zstd", l)) => l
                .parse::<i32>()
                .ok()
                .filter(|l| (1..=22).contains(l))
                .map(Self::Zstd),
            _ => None,
        }
    }

    /// The name written into reports and the manifest.
    pub fn name(self) -> String {
        match self {
            Self::Zstd(l) => format!("zstd:{l}"),
            Self::Snappy => "snappy".into(),
            Self::None => "none".into(),
        }
    }

    fn parquet(self) -> Compression {
        match self {
            // The level is checked by `parse`; 3 is zstd's own default.
            Self::Zstd(l) => Compression::ZSTD(ZstdLevel::try_new(l).unwrap_or_default()),
            Self::Snappy => Compression::SNAPPY,
            Self::None => Compression::UNCOMPRESSED,
        }
    }
}

/// One row: a canonical record and where its bytes are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// The record.
    pub tick: Tick,
    /// Index of its source file in the file's (or run's) source list.
    pub src: u32,
    /// Byte offset of the record in its source file (decompressed).
    pub offset: u64,
}

/// The dataset's Arrow schema.
pub fn schema() -> SchemaRef {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    let mut fields = vec![
        Field::new(COLUMNS[0], ts.clone(), false),
        Field::new(COLUMNS[1], ts, false),
        Field::new(COLUMNS[2], DataType::Int64, false),
        Field::new(COLUMNS[3], dict.clone(), false),
        Field::new(COLUMNS[4], DataType::Int64, false),
    ];
    for name in &COLUMNS[5..12] {
        fields.push(Field::new(*name, DataType::Float64, true));
    }
    for name in &COLUMNS[12..16] {
        fields.push(Field::new(*name, DataType::Boolean, true));
    }
    fields.push(Field::new(COLUMNS[16], dict, false));
    fields.push(Field::new(COLUMNS[17], DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

fn err<'a>(path: &'a Path, what: &'static str) -> impl Fn(String) -> Error + 'a {
    move |e| Error::Io {
        path: path.to_owned(),
        what,
        source: std::io::Error::other(e),
    }
}

/// The record batch of `rows` (whose `src` index `sources`).
fn batch(schema: &SchemaRef, rows: &[&Row], sources: &[String]) -> Result<RecordBatch, String> {
    let n = rows.len();
    let col_i64 = |f: &dyn Fn(&Row) -> i64| -> Vec<i64> { rows.iter().map(|r| f(r)).collect() };
    let tt_names: Vec<&str> = TickType::ALL.iter().map(|t| t.as_str()).collect();
    let tt_keys = Int32Array::from(rows.iter().map(|r| r.tick.tt as i32).collect::<Vec<i32>>());
    let tt = DictionaryArray::<Int32Type>::try_new(tt_keys, Arc::new(StringArray::from(tt_names)))
        .map_err(|e| e.to_string())?;
    let src_keys = Int32Array::from(rows.iter().map(|r| r.src as i32).collect::<Vec<i32>>());
    let src = DictionaryArray::<Int32Type>::try_new(
        src_keys,
        Arc::new(StringArray::from(
            sources.iter().map(String::as_str).collect::<Vec<_>>(),
        )),
    )
    .map_err(|e| e.to_string())?;
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(col_i64(&|r| r.tick.ts)).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(col_i64(&|r| r.tick.st)).with_timezone("UTC")),
        Arc::new(Int64Array::from(col_i64(&|r| r.tick.cid))),
        Arc::new(tt),
        Arc::new(Int64Array::from(col_i64(&|r| r.tick.rid))),
    ];
    for f in crate::tick::Field::ALL {
        let v: Vec<Option<f64>> = rows.iter().map(|r| r.tick.get(f)).collect();
        cols.push(Arc::new(Float64Array::from(v)));
    }
    let flags: [fn(&Tick) -> Option<bool>; 4] = [|t| t.bpl, |t| t.aph, |t| t.upt, |t| t.past_limit];
    for f in flags {
        let v: Vec<Option<bool>> = rows.iter().map(|r| f(&r.tick)).collect();
        cols.push(Arc::new(BooleanArray::from(v)));
    }
    cols.push(Arc::new(src));
    cols.push(Arc::new(Int64Array::from(
        rows.iter().map(|r| r.offset as i64).collect::<Vec<i64>>(),
    )));
    debug_assert!(cols.iter().all(|c| c.len() == n));
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

/// Writes `rows` (already in `(ts, st)` order) into `out`, a temp file,
/// with `meta` as key-value metadata. Returns the temp file, not synced.
pub fn write(
    out: Durable,
    rows: &[&Row],
    sources: &[String],
    codec: Codec,
    meta: Vec<(String, String)>,
) -> Result<Durable> {
    let path = out.path().to_owned();
    let e = err(&path, "write Parquet file");
    let props = WriterProperties::builder()
        .set_compression(codec.parquet())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(
            meta.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect(),
        ))
        .build();
    let schema = schema();
    let mut w =
        ArrowWriter::try_new(out, schema.clone(), Some(props)).map_err(|x| e(x.to_string()))?;
    for part in rows.chunks(ROW_GROUP_ROWS) {
        let b = batch(&schema, part, sources).map_err(&e)?;
        w.write(&b).map_err(|x| e(x.to_string()))?;
    }
    w.into_inner().map_err(|x| e(x.to_string()))
}

/// A file read back: its rows (`src` indexing `sources`), its source list
/// and its key-value metadata.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Rows in file order.
    pub rows: Vec<Row>,
    /// The `source_file` values, by index.
    pub sources: Vec<String>,
    /// Key-value metadata.
    pub meta: Vec<(String, String)>,
}

/// Reads a file written by [`write`] back with the `parquet` crate; a file
/// of another schema is an error naming the column.
pub fn read(path: &Path) -> Result<ReadBack> {
    let e = err(path, "read Parquet file");
    let f = std::fs::File::open(path).map_err(|x| Error::path(path, x))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|x| e(x.to_string()))?;
    let meta = b
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|k| (k.key.clone(), k.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let want = schema();
    for (i, f) in want.fields().iter().enumerate() {
        let got = b.schema().fields().get(i);
        if got.map(|g| (g.name(), g.data_type())) != Some((f.name(), f.data_type())) {
            return Err(e(format!(
                "column {i} is {:?}, expected {} {}",
                got.map(|g| format!("{} {}", g.name(), g.data_type())),
                f.name(),
                f.data_type()
            )));
        }
    }
    let reader = b
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|x| e(x.to_string()))?;
    let mut out = ReadBack {
        meta,
        ..ReadBack::default()
    };
    let mut names: std::collections::HashMap<String, u32> = Default::default();
    for batch in reader {
        let batch = batch.map_err(|x| e(x.to_string()))?;
        decode(&batch, &mut out, &mut names).map_err(&e)?;
    }
    Ok(out)
}

fn dict_strings<'a>(
    a: &'a ArrayRef,
    name: &str,
) -> Result<(&'a Int32Array, &'a StringArray), String> {
    let d = a
        .as_dictionary_opt::<Int32Type>()
        .ok_or_else(|| format!("column {name} is not a dictionary"))?;
    let v = d
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| format!("column {name} does not hold strings"))?;
    Ok((d.keys(), v))
}

fn decode(
    b: &RecordBatch,
    out: &mut ReadBack,
    names: &mut std::collections::HashMap<String, u32>,
) -> Result<(), String> {
    let c = b.columns();
    let ts = c[0].as_primitive::<TimestampMicrosecondType>();
    let st = c[1].as_primitive::<TimestampMicrosecondType>();
    let cid = c[2].as_primitive::<Int64Type>();
    let (tt_k, tt_v) = dict_strings(&c[3], "tick_type")?;
    let rid = c[4].as_primitive::<Int64Type>();
    let vals: Vec<&Float64Array> = (5..12)
        .map(|i| c[i].as_primitive::<Float64Type>())
        .collect();
    let flags: Vec<&BooleanArray> = (12..16).map(|i| c[i].as_boolean()).collect();
    let (src_k, src_v) = dict_strings(&c[16], "source_file")?;
    let off = c[17].as_primitive::<Int64Type>();
    let opt_f = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    let opt_b = |a: &BooleanArray, i: usize| (!a.is_null(i)).then(|| a.value(i));
    for i in 0..b.num_rows() {
        let key = |k: &Int32Array, what: &str| -> Result<usize, String> {
            if k.is_null(i) {
                return Err(format!("row {i}: {what} is null"));
            }
            Ok(k.value(i) as usize)
        };
        let tt_name = tt_v.value(key(tt_k, "tick_type")?);
        let tt = TickType::from_storage_name(tt_name.as_bytes())
            .ok_or_else(|| format!("row {i}: unknown tick_type {tt_name:?}"))?;
        let src_name = src_v.value(key(src_k, "source_file")?);
        let src = match names.get(src_name) {
            Some(&k) => k,
            None => {
                let k = out.sources.len() as u32;
                out.sources.push(src_name.to_owned());
                names.insert(src_name.to_owned(), k);
                k
            }
        };
        if ts.is_null(i) || st.is_null(i) || cid.is_null(i) || rid.is_null(i) || off.is_null(i) {
            return Err(format!("row {i}: a required column is null"));
        }
        let tick = Tick {
            ts: ts.value(i),
            st: st.value(i),
            cid: cid.value(i),
            tt,
            rid: rid.value(i),
            p: opt_f(vals[0], i),
            s: opt_f(vals[1], i),
            bp: opt_f(vals[2], i),
            bs: opt_f(vals[3], i),
            ap: opt_f(vals[4], i),
            as_: opt_f(vals[5], i),
            mp: opt_f(vals[6], i),
            bpl: opt_b(flags[0], i),
            aph: opt_b(flags[1], i),
            upt: opt_b(flags[2], i),
            past_limit: opt_b(flags[3], i),
        };
        out.rows.push(Row {
            tick,
            src,
            offset: off.value(i) as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_field_and_null() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("part-00.parquet");
        let rows = [
            Row {
                tick: Tick {
                    ts: 1_754_010_291_910_988,
                    st: 1_754_010_291_911_004,
                    cid: 1 << 40,
                    tt: TickType::BidAsk,
                    rid: -(1 << 35),
                    bp: Some(-0.0),
                    bs: Some(f64::MIN_POSITIVE),
                    ap: Some(1.0 + f64::EPSILON),
                    as_: Some(0.1),
                    bpl: Some(false),
                    aph: Some(true),
                    past_limit: Some(true),
                    ..Tick::default()
                },
                src: 1,
                offset: 7,
            },
            Row {
                tick: Tick {
                    tt: TickType::MidPoint,
                    mp: Some(f64::MAX),
                    ..Tick::default()
                },
                src: 0,
                offset: u32::MAX as u64 + 3,
            },
        ];
        let refs: Vec<&Row> = rows.iter().collect();
        let srcs = vec!["a.jsonl".to_owned(), "b.pb.zst".to_owned()];
        let out = Durable::temp_for(&target).unwrap();
        let meta = vec![("k".to_owned(), "v".to_owned())];
        let w = write(out, &refs, &srcs, Codec::Zstd(3), meta.clone()).unwrap();
        let (_, tmp, _, _) = w.into_unsynced();
        let back = read(&tmp).unwrap();
        assert_eq!(back.meta.iter().find(|(k, _)| k == "k"), Some(&meta[0]));
        // Sources come back in first-seen order.
        assert_eq!(back.sources, vec!["b.pb.zst", "a.jsonl"]);
        assert_eq!(back.rows.len(), 2);
        assert_eq!(back.rows[0].tick, rows[0].tick);
        assert_eq!(back.rows[0].tick.bp.unwrap().to_bits(), (-0.0f64).to_bits());
        assert_eq!(back.rows[1].tick, rows[1].tick);
        assert_eq!(back.rows[1].offset, u32::MAX as u64 + 3);
        assert_eq!(back.rows[1].src, 1);
    }

    #[test]
    fn codec_names() {
        assert_eq!(Codec::parse("zstd"), Some(Codec::Zstd(3)));
        assert_eq!(Codec::parse("zstd:19"), Some(Codec::Zstd(19)));
        assert_eq!(Codec::parse("zstd:0"), None);
        assert_eq!(Codec::parse("snappy"), Some(Codec::Snappy));
        assert_eq!(Codec::parse("none"), Some(Codec::None));
        assert_eq!(Codec::parse("gzip"), None);
    }
}
