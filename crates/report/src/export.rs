//! `memreport export`: the tables of `memreport_analysis::export` written as Parquet, CSV or JSON
//! Lines with polars, for pandas, polars and DuckDB users. This is the one place polars is used
//! (feature `export`, on by default).
//!
//! Rows go out in batches of [`BATCH_ROWS`]: a Parquet row group, a CSV or JSON Lines chunk each,
//! so that a table of any length (the allocations of a 100M-record capture) is written in the
//! memory of one batch.

use std::io::Write;

use memreport_analysis::export::{AllocationRow, LocationRow, SeriesRow, TimelineRow};
use polars::prelude::*;

/// Rows per batch (and per Parquet row group).
pub const BATCH_ROWS: usize = 1 << 16;

/// A file format of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet (zstd-compressed columns).
    Parquet,
    /// CSV with a header line.
    Csv,
    /// JSON Lines: one object per row.
    Json,
}

/// What can go wrong while writing a table.
#[derive(Debug)]
pub struct ExportError(String);

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExportError {}

impl From<PolarsError> for ExportError {
    fn from(e: PolarsError) -> ExportError {
        ExportError(e.to_string())
    }
}

impl From<ExportError> for std::io::Error {
    fn from(e: ExportError) -> std::io::Error {
        std::io::Error::other(e.0)
    }
}

/// A column being filled.
enum Values {
    U64(Vec<u64>),
    OptU64(Vec<Option<u64>>),
    I32(Vec<i32>),
    U32(Vec<u32>),
    F64(Vec<f64>),
    Str(Vec<String>),
    OptStr(Vec<Option<String>>),
}

impl Values {
    fn column(&mut self, name: &str) -> Column {
        let name = PlSmallStr::from(name);
        match self {
            Values::U64(v) => Column::new(name, std::mem::take(v)),
            Values::OptU64(v) => Column::new(name, std::mem::take(v)),
            Values::I32(v) => Column::new(name, std::mem::take(v)),
            Values::U32(v) => Column::new(name, std::mem::take(v)),
            Values::F64(v) => Column::new(name, std::mem::take(v)),
            Values::Str(v) => Column::new(name, std::mem::take(v)),
            Values::OptStr(v) => Column::new(name, std::mem::take(v)),
        }
    }
}

/// Where batches go.
enum Sink<W: Write> {
    Parquet(Box<polars::io::parquet::write::BatchedWriter<W>>),
    Csv(polars::io::csv::write::BatchedWriter<W>),
    Json(W),
}

/// A table written batch by batch: rows are pushed into its columns and flushed every
/// [`BATCH_ROWS`].
struct Table<W: Write> {
    names: &'static [&'static str],
    columns: Vec<Values>,
    rows: usize,
    format: Format,
    out: Option<W>,
    sink: Option<Sink<W>>,
    total: u64,
}

impl<W: Write> Table<W> {
    fn new(out: W, format: Format, names: &'static [&'static str], columns: Vec<Values>) -> Self {
        Table { names, columns, rows: 0, format, out: Some(out), sink: None, total: 0 }
    }

    fn row_done(&mut self) -> Result<(), ExportError> {
        self.rows += 1;
        if self.rows >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<DataFrame, ExportError> {
        let names = self.names;
        let columns: Vec<Column> =
            self.columns.iter_mut().zip(names).map(|(v, n)| v.column(n)).collect();
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// Writes the rows gathered so far (the first batch also opens the writer, so that even an
    /// empty table gets its header or schema).
    fn flush(&mut self) -> Result<(), ExportError> {
        let mut df = self.frame()?;
        self.total += self.rows as u64;
        self.rows = 0;
        if self.sink.is_none() {
            let out = self.out.take().expect("the output is taken once");
            self.sink = Some(match self.format {
                Format::Parquet => Sink::Parquet(Box::new(
                    ParquetWriter::new(out)
                        .with_row_group_size(Some(BATCH_ROWS))
                        .batched(df.schema())?,
                )),
                Format::Csv => Sink::Csv(CsvWriter::new(out).batched(df.schema())?),
                Format::Json => Sink::Json(out),
            });
        }
        match self.sink.as_mut().expect("opened above") {
            Sink::Parquet(w) if df.height() > 0 => w.write_batch(&df)?,
            Sink::Csv(w) => w.write_batch(&df)?,
            Sink::Json(w) if df.height() > 0 => JsonWriter::new(w).finish(&mut df)?,
            _ => {}
        }
        Ok(())
    }

    /// Writes what is left and closes the file format; returns the number of rows.
    fn finish(mut self) -> Result<u64, ExportError> {
        self.flush()?;
        match self.sink.as_mut() {
            Some(Sink::Parquet(w)) => {
                w.finish()?;
            }
            Some(Sink::Csv(w)) => w.finish()?,
            Some(Sink::Json(w)) => w.flush().map_err(|e| ExportError(e.to_string()))?,
            None => {}
        }
        Ok(self.total)
    }
}

trait Push<T> {
    fn push(&mut self, value: T);
}

macro_rules! push_impl {
    ($t:ty, $variant:ident) => {
        impl Push<$t> for Values {
            fn push(&mut self, value: $t) {
                match self {
                    Values::$variant(v) => v.push(value),
                    _ => unreachable!("column types are fixed by the table's constructor"),
                }
            }
        }
    };
}
push_impl!(u64, U64);
push_impl!(Option<u64>, OptU64);
push_impl!(i32, I32);
push_impl!(u32, U32);
push_impl!(f64, F64);
push_impl!(String, Str);
push_impl!(Option<String>, OptStr);

/// Writes the `locations` table; returns the number of rows.
pub fn write_locations<W: Write>(
    out: W,
    format: Format,
    rows: &[LocationRow],
) -> Result<u64, ExportError> {
    const NAMES: &[&str] = &[
        "location",
        "function",
        "file",
        "line",
        "module",
        "peak_bytes",
        "peak_count",
        "leaked_bytes",
        "leaked_count",
        "allocated_bytes",
        "allocated_count",
    ];
    let columns = vec![
        Values::Str(Vec::new()),
        Values::Str(Vec::new()),
        Values::Str(Vec::new()),
        Values::I32(Vec::new()),
        Values::Str(Vec::new()),
        Values::U64(Vec::new()),
        Values::U64(Vec::new()),
        Values::U64(Vec::new()),
        Values::U64(Vec::new()),
        Values::U64(Vec::new()),
        Values::U64(Vec::new()),
    ];
    let mut table = Table::new(out, format, NAMES, columns);
    for r in rows {
        let c = &mut table.columns;
        c[0].push(r.location.clone());
        c[1].push(r.function.clone());
        c[2].push(r.file.clone());
        c[3].push(r.line);
        c[4].push(r.module.clone());
        for (i, usage) in [r.peak, r.leaked, r.allocated].into_iter().enumerate() {
            c[5 + 2 * i].push(usage.bytes);
            c[6 + 2 * i].push(usage.count);
        }
        table.row_done()?;
    }
    table.finish()
}

/// Writes the `timeline` table; returns the number of rows.
pub fn write_timeline<W: Write>(
    out: W,
    format: Format,
    rows: &[TimelineRow],
) -> Result<u64, ExportError> {
    const NAMES: &[&str] = &["time_s", "rss_bytes", "heap_bytes"];
    let columns = vec![Values::F64(Vec::new()), Values::U64(Vec::new()), Values::U64(Vec::new())];
    let mut table = Table::new(out, format, NAMES, columns);
    for r in rows {
        table.columns[0].push(r.time_s);
        table.columns[1].push(r.rss_bytes);
        table.columns[2].push(r.heap_bytes);
        table.row_done()?;
    }
    table.finish()
}

/// Writes the `series` table; returns the number of rows.
pub fn write_series<'a, W: Write>(
    out: W,
    format: Format,
    rows: impl Iterator<Item = SeriesRow<'a>>,
) -> Result<u64, ExportError> {
    const NAMES: &[&str] = &["location", "time_s", "live_bytes"];
    let columns = vec![Values::Str(Vec::new()), Values::F64(Vec::new()), Values::U64(Vec::new())];
    let mut table = Table::new(out, format, NAMES, columns);
    for r in rows {
        table.columns[0].push(r.location.to_string());
        table.columns[1].push(r.time_s);
        table.columns[2].push(r.live_bytes);
        table.row_done()?;
    }
    table.finish()
}

/// The `allocations` table, written as its rows stream in ([`AllocationsWriter::row`]).
pub struct AllocationsWriter<W: Write> {
    table: Table<W>,
}

impl<W: Write> AllocationsWriter<W> {
    /// A table of allocations into `out`.
    pub fn new(out: W, format: Format) -> AllocationsWriter<W> {
        const NAMES: &[&str] = &[
            "index",
            "time_s",
            "tid",
            "thread",
            "address",
            "size",
            "allocator",
            "location",
            "stack_id",
            "freed_index",
        ];
        let columns = vec![
            Values::U64(Vec::new()),
            Values::F64(Vec::new()),
            Values::U64(Vec::new()),
            Values::OptStr(Vec::new()),
            Values::U64(Vec::new()),
            Values::U64(Vec::new()),
            Values::Str(Vec::new()),
            Values::Str(Vec::new()),
            Values::U32(Vec::new()),
            Values::OptU64(Vec::new()),
        ];
        AllocationsWriter { table: Table::new(out, format, NAMES, columns) }
    }

    /// Adds a row (written with its batch).
    pub fn row(&mut self, r: AllocationRow<'_>) -> Result<(), ExportError> {
        let c = &mut self.table.columns;
        c[0].push(r.index);
        c[1].push(r.time_s);
        c[2].push(r.tid);
        c[3].push(r.thread.map(str::to_string));
        c[4].push(r.address);
        c[5].push(r.size);
        c[6].push(r.allocator.to_string());
        c[7].push(r.location.to_string());
        c[8].push(r.stack_id);
        c[9].push(r.freed_index);
        self.table.row_done()
    }

    /// Writes the last batch and closes the format; returns the number of rows.
    pub fn finish(self) -> Result<u64, ExportError> {
        self.table.finish()
    }
}
