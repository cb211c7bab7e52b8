//! Reading records out of files: NDJSON, a JSON array or CSV, each optionally gzipped, streamed
//! so that memory stays flat whatever the file size.
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::record::{field_index, Cell, Cells, CellsSeed, FieldError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (`.ndjson`, `.jsonl`; `.json` that does not start with `[`).
    Ndjson,
    /// A JSON array of objects (`.json`).
    JsonArray,
    /// A header row with the vendor's field names, then one record per row (`.csv`).
    Csv,
}

/// Where a record stands in its file, for error messages and the rejects file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Line(u64),
    /// 1-based position in a JSON array.
    Element(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Element(n) => write!(f, "array element {n}"),
        }
    }
}

/// The record's text as it stood in the file, rendered only when it is rejected.
pub enum RawText<'a> {
    Line(&'a [u8]),
    Csv(&'a csv::ByteRecord),
    Json(&'a str),
}

impl RawText<'_> {
    pub fn render(&self) -> String {
        match self {
            RawText::Line(bytes) => String::from_utf8_lossy(bytes).trim_end().to_string(),
            RawText::Json(text) => text.to_string(),
            RawText::Csv(record) => {
                let mut writer = csv::WriterBuilder::new().from_writer(Vec::new());
                let _ = writer.write_byte_record(record);
                let bytes = writer.into_inner().unwrap_or_default();
                String::from_utf8_lossy(&bytes).trim_end().to_string()
            }
        }
    }
}

/// A file that cannot be read as a whole (as opposed to one bad record in it).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open: {0}")]
    Open(std::io::Error),
    #[error("{0}")]
    Format(String),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The format a file name implies (a `.gz` suffix is looked through).
pub fn format_of(path: &Path) -> Result<(Format, bool), SourceError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (inner, gzip) = match name.strip_suffix(".gz") {
        Some(inner) => (inner.to_string(), true),
        None => (name.clone(), false),
    };
    let format = match inner.rsplit('.').next() {
        Some("ndjson") | Some("jsonl") => Format::Ndjson,
        Some("json") => Format::JsonArray,
        Some("csv") => Format::Csv,
        _ => {
            return Err(SourceError::Format(format!(
                "cannot tell the format of `{name}`: name it .ndjson, .jsonl, .json or .csv (optionally .gz)"
            )))
        }
    };
    Ok((format, gzip))
}

/// Opens `path` for streaming, decompressing `.gz`; `wrap` sees the raw bytes (for progress).
pub fn open(
    path: &Path,
    wrap: impl FnOnce(File) -> Box<dyn Read + Send>,
) -> Result<(Format, Box<dyn BufRead + Send>), SourceError> {
    let (format, gzip) = format_of(path)?;
    let file = File::open(path).map_err(SourceError::Open)?;
    let raw = wrap(file);
    let reader: Box<dyn BufRead + Send> = if gzip {
        Box::new(BufReader::with_capacity(1 << 16, MultiGzDecoder::new(raw)))
    } else {
        Box::new(BufReader::with_capacity(1 << 16, raw))
    };
    Ok((format, reader))
}

/// What the reader hands the caller for each record: where it stood, its text, and its cells
/// (or why they could not be read).
pub type Sink<'s> =
    dyn FnMut(Location, RawText<'_>, Result<Cells, FieldError>) -> ControlFlow<()> + 's;

/// A JSON error as a record error: serde_json's text without its own " at line 1 column N"
/// (the record's line in the file is the location; the column is kept apart, when it helps).
fn json_error(prefix: &str, error: &serde_json::Error, with_column: bool) -> FieldError {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let reason = text.strip_suffix(&position).unwrap_or(&text);
    let column =
        (with_column && error.line() == 1 && error.column() > 0).then_some(error.column() as u64);
    FieldError::unreadable(column, format!("{prefix}: {reason}"))
}

/// Streams every record of `reader` to `sink` until the end or until `sink` breaks.
pub fn read_records(
    format: Format,
    mut reader: Box<dyn BufRead + Send>,
    fields: &'static [&'static str],
    sink: &mut Sink<'_>,
) -> Result<(), SourceError> {
    match format {
        Format::Ndjson => read_ndjson(reader, fields, sink),
        Format::Csv => read_csv(reader, fields, sink),
        Format::JsonArray => {
            // A `.json` file may hold NDJSON too: sniff the first significant byte.
            let first = loop {
                let buf = reader.fill_buf()?;
                match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                    Some(i) => break Some(buf[i]),
                    None if buf.is_empty() => break None,
                    None => {
                        let n = buf.len();
                        reader.consume(n);
                    }
                }
            };
            match first {
                Some(b'[') => read_json_array(reader, fields, sink),
                Some(_) => read_ndjson(reader, fields, sink),
                None => Ok(()),
            }
        }
    }
}

fn read_ndjson(
    mut reader: Box<dyn BufRead + Send>,
    fields: &'static [&'static str],
    sink: &mut Sink<'_>,
) -> Result<(), SourceError> {
    let mut line = Vec::with_capacity(1024);
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        let cells = match std::str::from_utf8(&line) {
            Err(_) => Err(FieldError::unreadable(None, "the line is not valid UTF-8")),
            Ok(text) => {
                let mut de = serde_json::Deserializer::from_str(text);
                CellsSeed(fields)
                    .deserialize(&mut de)
                    .and_then(|cells| de.end().map(|_| cells))
                    .map_err(|e| json_error("invalid JSON", &e, true))
            }
        };
        if sink(Location::Line(number), RawText::Line(&line), cells).is_break() {
            return Ok(());
        }
    }
}

fn read_csv(
    reader: Box<dyn BufRead + Send>,
    fields: &'static [&'static str],
    sink: &mut Sink<'_>,
) -> Result<(), SourceError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let headers = csv
        .byte_headers()
        .map_err(|e| SourceError::Format(format!("cannot read the CSV header: {e}")))?
        .clone();
    let columns: Vec<Option<usize>> = headers
        .iter()
        .map(|h| {
            field_index(
                fields,
                String::from_utf8_lossy(h).trim_start_matches('\u{feff}'),
            )
        })
        .collect();
    if !columns.iter().any(|c| c.is_some()) {
        return Err(SourceError::Format(format!(
            "the CSV header names none of the expected fields ({})",
            fields.join(", ")
        )));
    }
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => {
                    return Err(SourceError::Format(format!("read failed: {e}")))
                }
                _ => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    if sink(
                        Location::Line(line),
                        RawText::Csv(&record),
                        Err(FieldError::unreadable(None, format!("invalid CSV: {e}"))),
                    )
                    .is_break()
                    {
                        return Ok(());
                    }
                    continue;
                }
            },
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let cells = if record.len() != headers.len() {
            Err(FieldError::unreadable(
                None,
                format!(
                    "the row has {} columns, the header has {}",
                    record.len(),
                    headers.len()
                ),
            ))
        } else {
            let mut cells = Cells::new(fields);
            let mut error = None;
            for (value, column) in record.iter().zip(&columns) {
                let Some(index) = column else { continue };
                match std::str::from_utf8(value) {
                    Ok("") => {}
                    Ok(text) => cells.set(*index, Cell::Text(text.to_string())),
                    Err(_) => error = Some(FieldError::new(fields[*index], "is not valid UTF-8")),
                }
            }
            error.map_or(Ok(cells), Err)
        };
        if sink(Location::Line(line), RawText::Csv(&record), cells).is_break() {
            return Ok(());
        }
    }
}

fn read_json_array(
    reader: Box<dyn BufRead + Send>,
    fields: &'static [&'static str],
    sink: &mut Sink<'_>,
) -> Result<(), SourceError> {
    struct ArrayVisitor<'a, 's> {
        fields: &'static [&'static str],
        sink: &'a mut Sink<'s>,
        stopped: &'a mut bool,
    }
    impl<'de> Visitor<'de> for ArrayVisitor<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut element = 0u64;
            while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
                element += 1;
                let mut de = serde_json::Deserializer::from_str(raw.get());
                let cells = CellsSeed(self.fields)
                    .deserialize(&mut de)
                    .map_err(|e| json_error("invalid record", &e, false));
                if (self.sink)(Location::Element(element), RawText::Json(raw.get()), cells)
                    .is_break()
                {
                    *self.stopped = true;
                    return Ok(());
                }
            }
            Ok(())
        }
    }
    let mut stopped = false;
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = serde::Deserializer::deserialize_seq(
        &mut de,
        ArrayVisitor {
            fields,
            sink,
            stopped: &mut stopped,
        },
    );
    if stopped {
        return Ok(());
    }
    result
        .and_then(|_| de.end())
        .map_err(|e| SourceError::Format(format!("invalid JSON array: {e}")))
}
