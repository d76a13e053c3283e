//! Records and output files: JSON Lines, a JSON array, or CSV (flat columns,
//! with per-object tables such as hairs and capillaries written beside it).
//! Every file is written atomically: a temporary file in the same folder,
//! then a rename, so a reader never sees half an output.

use crate::csvio;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use trichometry::{Analysis, Error};

/// Output format, from the extension of `--out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One JSON array.
    Json,
    /// Flat CSV plus `<stem>_<table>.csv` side tables.
    Csv,
}

impl Format {
    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Result<Format, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl") | Some("ndjson") => Ok(Format::Jsonl),
            Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            _ => Err(format!(
                "cannot tell the output format of {}: use .jsonl, .json or .csv",
                path.display()
            )),
        }
    }
}

/// The record of an analysed file: `file`, then the serialised `Analysis`
/// (summary fields, `warnings`, `provenance`, `hairs`, `capillaries`, and
/// whatever the core adds later).
pub fn record_ok(file: &str, analysis: &Analysis) -> Value {
    let mut m = Map::new();
    m.insert("file".into(), Value::String(file.to_string()));
    match serde_json::to_value(analysis) {
        Ok(Value::Object(a)) => m.extend(a),
        Ok(other) => {
            m.insert("analysis".into(), other);
        }
        Err(e) => return record_err(file, "internal", &format!("cannot serialise: {e}")),
    }
    Value::Object(m)
}

/// The record of a failed file.
pub fn record_error(file: &str, e: &Error) -> Value {
    record_err(file, e.kind(), &e.to_string())
}

/// A failure record with an explicit kind.
pub fn record_err(file: &str, kind: &str, message: &str) -> Value {
    let mut m = Map::new();
    m.insert("file".into(), Value::String(file.to_string()));
    m.insert("error".into(), Value::String(message.to_string()));
    m.insert("error_kind".into(), Value::String(kind.to_string()));
    Value::Object(m)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn output_err(path: &Path, e: std::io::Error) -> Error {
    Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// A hidden temporary file name beside `path`: `.<name>.<what>-<pid>-<n>`.
fn temp_beside(path: &Path, what: &str) -> Result<PathBuf, Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| output_err(path, std::io::Error::other("not a file name")))?
        .to_string_lossy();
    Ok(dir.join(format!(
        ".{name}.{what}-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    )))
}

/// A file written into a temporary file in the same folder and renamed into
/// place by [`AtomicFile::commit`]; dropped before that (an error on the
/// way), the temporary file is removed and nothing appears.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    w: Option<BufWriter<File>>,
    committed: bool,
}

impl AtomicFile {
    /// Start writing `path`.
    pub fn create(path: &Path) -> Result<Self, Error> {
        let tmp = temp_beside(path, "tmp")?;
        let file = File::create(&tmp).map_err(|e| output_err(path, e))?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            w: Some(BufWriter::new(file)),
            committed: false,
        })
    }

    fn writer(&mut self) -> std::io::Result<&mut BufWriter<File>> {
        self.w
            .as_mut()
            .ok_or_else(|| std::io::Error::other("already committed"))
    }

    /// Sync the data and rename the file into place.
    pub fn commit(mut self) -> Result<(), Error> {
        let result = (|| {
            let w = self
                .w
                .take()
                .ok_or_else(|| std::io::Error::other("no writer"))?;
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.tmp, &self.path)
        })();
        self.committed = result.is_ok();
        result.map_err(|e| output_err(&self.path, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer()?.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.writer()?.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            drop(self.w.take());
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Write `path` atomically: a temporary file in the same folder, synced, renamed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let mut file = AtomicFile::create(path)?;
    write(&mut file).map_err(|e| output_err(path, e))?;
    file.commit()
}

/// One JSON Lines line (with `\n`).
pub fn jsonl_line(record: &Value) -> String {
    let mut s = serde_json::to_string(record).unwrap_or_else(|e| {
        serde_json::to_string(&record_err("?", "internal", &e.to_string())).unwrap_or_default()
    });
    s.push('\n');
    s
}

/// The output of a batch, written record by record as the records come, so
/// that memory does not grow with the number of images (a 12 MP record with
/// its hair centrelines is megabytes). Everything goes to temporary files
/// beside `--out`, renamed into place by [`RecordWriter::finish`]; dropped
/// before that, it leaves no file behind.
pub struct RecordWriter {
    out: PathBuf,
    sink: Sink,
}

enum Sink {
    Jsonl(AtomicFile),
    /// The JSON array, and how many records it has so far.
    Json(AtomicFile, usize),
    /// The flat table and the side tables (hairs, capillaries, …) by key.
    Csv(Table, Vec<(String, Table)>),
}

impl RecordWriter {
    /// Start writing `out` in `format` (the temporary files are made now, so
    /// an output that cannot be written is found before any analysis).
    pub fn create(out: &Path, format: Format) -> Result<Self, Error> {
        let sink = match format {
            Format::Jsonl => Sink::Jsonl(AtomicFile::create(out)?),
            Format::Json => Sink::Json(AtomicFile::create(out)?, 0),
            Format::Csv => Sink::Csv(Table::new(out)?, Vec::new()),
        };
        Ok(RecordWriter {
            out: out.to_path_buf(),
            sink,
        })
    }

    /// Add one record.
    pub fn push(&mut self, record: &Value) -> Result<(), Error> {
        let out = &self.out;
        match &mut self.sink {
            Sink::Jsonl(f) => f
                .write_all(jsonl_line(record).as_bytes())
                .map_err(|e| output_err(out, e)),
            Sink::Json(f, count) => {
                // The layout of `serde_json::to_writer_pretty` on the whole
                // array: each element indented by two spaces (a JSON string
                // holds no raw newline, so indenting lines is exact).
                let pretty = serde_json::to_string_pretty(record)
                    .map_err(|e| output_err(out, std::io::Error::other(e)))?;
                let sep = if *count == 0 { "[\n  " } else { ",\n  " };
                *count += 1;
                f.write_all(sep.as_bytes())
                    .and_then(|_| f.write_all(pretty.replace('\n', "\n  ").as_bytes()))
                    .map_err(|e| output_err(out, e))
            }
            Sink::Csv(main, sides) => push_csv(out, main, sides, record),
        }
    }

    /// Put the output files in place; returns the files written.
    pub fn finish(self) -> Result<Vec<PathBuf>, Error> {
        let out = self.out;
        match self.sink {
            Sink::Jsonl(f) => {
                f.commit()?;
                Ok(vec![out])
            }
            Sink::Json(mut f, count) => {
                let end: &[u8] = if count == 0 { b"[]\n" } else { b"\n]\n" };
                f.write_all(end).map_err(|e| output_err(&out, e))?;
                f.commit()?;
                Ok(vec![out])
            }
            Sink::Csv(main, sides) => finish_csv(&out, main, sides),
        }
    }
}

/// Write all records to `out` in `format`; returns the files written.
#[cfg(test)]
pub fn write_all(out: &Path, format: Format, records: &[Value]) -> Result<Vec<PathBuf>, Error> {
    let mut w = RecordWriter::create(out, format)?;
    for r in records {
        w.push(r)?;
    }
    w.finish()
}

/// A top-level array of objects (hairs, capillaries, …) becomes a side table.
fn is_table(key: &str, v: &Value) -> bool {
    key != "warnings" && matches!(v, Value::Array(items) if items.iter().all(Value::is_object))
}

/// Flatten a JSON value into `(column, cell)` pairs: objects recurse with
/// `parent.child` names, lists of scalars are joined with `;`, other lists
/// are kept as compact JSON, null is an empty cell.
fn flatten_into(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten_into(&key, x, out);
            }
        }
        Value::Array(items) if items.iter().all(|x| !x.is_object() && !x.is_array()) => {
            let cells: Vec<String> = items.iter().map(scalar).collect();
            out.push((prefix.to_string(), cells.join(";")));
        }
        Value::Array(_) => out.push((prefix.to_string(), v.to_string())),
        _ => out.push((prefix.to_string(), scalar(v))),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows of flattened cells with the union of their columns, in first-seen
/// order. The rows wait in a temporary file beside the table's destination
/// (one JSON line of `(column index, cell)` pairs each), not in memory; the
/// file is removed when the table is dropped.
struct Table {
    columns: Vec<String>,
    index: HashMap<String, usize>,
    rows_path: PathBuf,
    rows: BufWriter<File>,
}

impl Table {
    /// A table to be written to `dest`.
    fn new(dest: &Path) -> Result<Self, Error> {
        let rows_path = temp_beside(dest, "rows")?;
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&rows_path)
            .map_err(|e| output_err(dest, e))?;
        Ok(Table {
            columns: Vec::new(),
            index: HashMap::new(),
            rows_path,
            rows: BufWriter::new(file),
        })
    }

    fn push(&mut self, cells: Vec<(String, String)>) -> std::io::Result<()> {
        let (columns, index) = (&mut self.columns, &mut self.index);
        let row: Vec<(usize, String)> = cells
            .into_iter()
            .map(|(k, v)| {
                let next = index.len();
                let i = *index.entry(k).or_insert_with_key(|k| {
                    columns.push(k.clone());
                    next
                });
                (i, v)
            })
            .collect();
        serde_json::to_writer(&mut self.rows, &row)?;
        self.rows.write_all(b"\n")
    }

    /// Write the table to `path` (atomically), the `last` columns at the end.
    fn write(mut self, path: &Path, last: &[&str]) -> Result<(), Error> {
        let err = |e: std::io::Error| output_err(path, e);
        let mut order: Vec<usize> = (0..self.columns.len())
            .filter(|&i| !last.contains(&self.columns[i].as_str()))
            .collect();
        order.extend(last.iter().filter_map(|n| self.index.get(*n).copied()));
        self.rows.flush().map_err(err)?;
        let rows = BufReader::new(File::open(&self.rows_path).map_err(err)?);
        write_atomic(path, |w| {
            let header: Vec<&str> = order.iter().map(|&i| self.columns[i].as_str()).collect();
            w.write_all(csvio::line(&header).as_bytes())?;
            let mut cells = vec![String::new(); self.columns.len()];
            for line in rows.lines() {
                let row: Vec<(usize, String)> = serde_json::from_str(&line?)?;
                cells.iter_mut().for_each(String::clear);
                for (i, v) in row {
                    cells[i] = v;
                }
                let ordered: Vec<&str> = order.iter().map(|&i| cells[i].as_str()).collect();
                w.write_all(csvio::line(&ordered).as_bytes())?;
            }
            Ok(())
        })
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.rows_path);
    }
}

/// `<dir>/<stem>_<table>.csv` beside the main CSV.
pub fn side_table_path(out: &Path, table: &str) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}_{table}.csv"))
}

/// One record into the flat table and its side tables.
fn push_csv(
    out: &Path,
    main: &mut Table,
    sides: &mut Vec<(String, Table)>,
    record: &Value,
) -> Result<(), Error> {
    let Value::Object(m) = record else {
        return Ok(());
    };
    let err = |e: std::io::Error| output_err(out, e);
    let mut cells = Vec::new();
    let file = m.get("file").map(scalar).unwrap_or_default();
    for (k, v) in m {
        if is_table(k, v) {
            let Value::Array(items) = v else { continue };
            if items.is_empty() {
                continue;
            }
            let idx = match sides.iter().position(|(n, _)| n == k) {
                Some(i) => i,
                None => {
                    sides.push((k.clone(), Table::new(&side_table_path(out, k))?));
                    sides.len() - 1
                }
            };
            for item in items {
                let mut row = vec![("file".to_string(), file.clone())];
                flatten_into("", item, &mut row);
                sides[idx].1.push(row).map_err(err)?;
            }
        } else {
            flatten_into(k, v, &mut cells);
        }
    }
    main.push(cells).map_err(err)
}

/// Write the flat table and its side tables; remove side tables of an
/// earlier run that this one has none of.
fn finish_csv(out: &Path, main: Table, sides: Vec<(String, Table)>) -> Result<Vec<PathBuf>, Error> {
    main.write(out, &["error", "error_kind"])?;
    let mut written = vec![out.to_path_buf()];
    let names: Vec<String> = sides.iter().map(|(n, _)| n.clone()).collect();
    for (name, table) in sides {
        let p = side_table_path(out, &name);
        table.write(&p, &[])?;
        written.push(p);
    }
    // A side table left by an earlier run would now describe other results.
    for name in ["hairs", "capillaries", "yellow_dots"] {
        if !names.iter().any(|n| n == name) {
            let stale = side_table_path(out, name);
            if stale.exists() && std::fs::remove_file(&stale).is_ok() {
                eprintln!("trichometry: removed stale {}", stale.display());
            }
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_rules() {
        let v = json!({
            "file": "a.jpg", "x": 1.5, "none": null, "warnings": ["glare", "blurred"],
            "provenance": {"version": "0.1.0", "input_size_px": [4, 3],
                           "colour_matrix": [[1, 0], [0, 1]], "params": {"hairs": {"k": true}}}
        });
        let mut out = Vec::new();
        flatten_into("", &v, &mut out);
        let get = |k: &str| out.iter().find(|(c, _)| c == k).unwrap().1.clone();
        assert_eq!(get("file"), "a.jpg");
        assert_eq!(get("x"), "1.5");
        assert_eq!(get("none"), "");
        assert_eq!(get("warnings"), "glare;blurred");
        assert_eq!(get("provenance.input_size_px"), "4;3");
        assert_eq!(get("provenance.colour_matrix"), "[[1,0],[0,1]]");
        assert_eq!(get("provenance.params.hairs.k"), "true");
    }

    #[test]
    fn csv_with_side_tables_and_error_columns_last() {
        let dir = std::env::temp_dir().join(format!("trichometry-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("res.csv");
        let records = vec![
            json!({"file": "e.jpg", "error": "bad, \"really\"", "error_kind": "decoding"}),
            json!({"file": "a.jpg", "hair_count": 2, "warnings": [],
                   "hairs": [{"id": 1, "diameter_um": 40.0, "centreline_px": [[0, 1], [2, 3]]},
                             {"id": 2, "diameter_um": 20.5, "centreline_px": []}],
                   "capillaries": []}),
        ];
        let written = write_all(&out, Format::Csv, &records).unwrap();
        assert_eq!(written.len(), 2);
        let main = csvio::parse(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(
            main[0],
            vec!["file", "hair_count", "warnings", "error", "error_kind"]
        );
        assert_eq!(
            main[1],
            vec!["e.jpg", "", "", "bad, \"really\"", "decoding"]
        );
        assert_eq!(main[2], vec!["a.jpg", "2", "", "", ""]);
        let hairs =
            csvio::parse(&std::fs::read_to_string(dir.join("res_hairs.csv")).unwrap()).unwrap();
        assert_eq!(hairs[0], vec!["file", "id", "diameter_um", "centreline_px"]);
        assert_eq!(hairs[1], vec!["a.jpg", "1", "40.0", "[[0,1],[2,3]]"]);
        assert_eq!(hairs[2], vec!["a.jpg", "2", "20.5", ""]);
        assert!(!dir.join("res_capillaries.csv").exists());
        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a.JSONL")), Ok(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("a.json")), Ok(Format::Json));
        assert_eq!(Format::from_path(Path::new("d/a.csv")), Ok(Format::Csv));
        assert!(Format::from_path(Path::new("a.txt")).is_err());
        assert!(Format::from_path(Path::new("a")).is_err());
    }

    #[test]
    fn streamed_json_is_the_pretty_array_and_a_dropped_writer_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("trichometry-stream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let records = [
            json!({"file": "a.jpg", "x": [1, 2], "p": {"q": "line\nbreak", "r": []}}),
            json!({"file": "b.jpg", "error": "bad", "error_kind": "decoding"}),
        ];
        for n in 0..=records.len() {
            let out = dir.join(format!("r{n}.json"));
            write_all(&out, Format::Json, &records[..n]).unwrap();
            let mut expected = serde_json::to_string_pretty(&records[..n]).unwrap();
            expected.push('\n');
            assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        }
        // A batch that ends before finish() (an error) leaves no file at all.
        for (name, format) in [
            ("d.jsonl", Format::Jsonl),
            ("d.json", Format::Json),
            ("d.csv", Format::Csv),
        ] {
            let mut w = RecordWriter::create(&dir.join(name), format).unwrap();
            w.push(&records[0]).unwrap();
            w.push(&json!({"file": "c.jpg", "hairs": [{"id": 1}]}))
                .unwrap();
            drop(w);
        }
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('d') || n.starts_with(".d"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn failed_atomic_write_leaves_nothing() {
        let e = write_atomic(Path::new("/nonexistent-dir/x.json"), |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), "output");
    }
}
