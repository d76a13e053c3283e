//! Records and output files: JSON Lines, a JSON array, or CSV (flat columns,
//! with per-object tables such as hairs and capillaries written beside it).
//! Every file is written atomically: a temporary file in the same folder,
//! then a rename, so a reader never sees half an output.

use crate::csvio;
use serde_json::{Map, Value};
use std::io::Write;
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

/// Write `path` atomically: a temporary file in the same folder, synced, renamed.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let out_err = |e: std::io::Error| Error::Output {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| out_err(std::io::Error::other("not a file name")))?
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(out_err)
}

/// One JSON Lines line (with `\n`).
pub fn jsonl_line(record: &Value) -> String {
    let mut s = serde_json::to_string(record).unwrap_or_else(|e| {
        serde_json::to_string(&record_err("?", "internal", &e.to_string())).unwrap_or_default()
    });
    s.push('\n');
    s
}

/// Write all records to `out` in `format`; returns the files written.
pub fn write_all(out: &Path, format: Format, records: &[Value]) -> Result<Vec<PathBuf>, Error> {
    match format {
        Format::Jsonl => {
            write_atomic(out, |w| {
                for r in records {
                    w.write_all(jsonl_line(r).as_bytes())?;
                }
                Ok(())
            })?;
            Ok(vec![out.to_path_buf()])
        }
        Format::Json => {
            write_atomic(out, |w| {
                serde_json::to_writer_pretty(&mut *w, records)?;
                w.write_all(b"\n")
            })?;
            Ok(vec![out.to_path_buf()])
        }
        Format::Csv => write_csv(out, records),
    }
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

/// Rows of flattened cells with the union of their columns, in first-seen order.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<(String, String)>>,
}

impl Table {
    fn new() -> Self {
        Table {
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }
    fn push(&mut self, cells: Vec<(String, String)>) {
        for (k, _) in &cells {
            if !self.columns.contains(k) {
                self.columns.push(k.clone());
            }
        }
        self.rows.push(cells);
    }
    /// Move the named columns to the end (error columns after the results).
    fn move_last(&mut self, names: &[&str]) {
        for n in names {
            if let Some(i) = self.columns.iter().position(|c| c == n) {
                let c = self.columns.remove(i);
                self.columns.push(c);
            }
        }
    }
    fn write(&self, path: &Path) -> Result<(), Error> {
        write_atomic(path, |w| {
            w.write_all(csvio::line(&self.columns).as_bytes())?;
            for row in &self.rows {
                let cells: Vec<&str> = self
                    .columns
                    .iter()
                    .map(|c| {
                        row.iter()
                            .find(|(k, _)| k == c)
                            .map(|(_, v)| v.as_str())
                            .unwrap_or("")
                    })
                    .collect();
                w.write_all(csvio::line(&cells).as_bytes())?;
            }
            Ok(())
        })
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

fn write_csv(out: &Path, records: &[Value]) -> Result<Vec<PathBuf>, Error> {
    let mut main = Table::new();
    let mut sides: Vec<(String, Table)> = Vec::new();
    for r in records {
        let Value::Object(m) = r else { continue };
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
                        sides.push((k.clone(), Table::new()));
                        sides.len() - 1
                    }
                };
                for item in items {
                    let mut row = vec![("file".to_string(), file.clone())];
                    flatten_into("", item, &mut row);
                    sides[idx].1.push(row);
                }
            } else {
                flatten_into(k, v, &mut cells);
            }
        }
        main.push(cells);
    }
    main.move_last(&["error", "error_kind"]);
    main.write(out)?;
    let mut written = vec![out.to_path_buf()];
    for (name, table) in &sides {
        let p = side_table_path(out, name);
        table.write(&p)?;
        written.push(p);
    }
    // A side table left by an earlier run would now describe other results.
    for name in ["hairs", "capillaries", "yellow_dots"] {
        if !sides.iter().any(|(n, _)| n == name) {
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
    fn failed_atomic_write_leaves_nothing() {
        let e = write_atomic(Path::new("/nonexistent-dir/x.json"), |_| Ok(())).unwrap_err();
        assert_eq!(e.kind(), "output");
    }
}
