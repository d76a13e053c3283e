//! The batch manifest: a CSV with one row per image and per-image calibration.
//!
//! Columns: `path` (required), `um_per_px`, `chart`, `chart_corners`,
//! `reference`, `reference_rect`, `reference_lightness`, `colour_constancy`
//! — the same names as the flags. An empty cell takes the flag's value; a row
//! with any colour cell set replaces the flags' colour options as a whole.
//! Relative paths are relative to the manifest's folder. A bad cell is that
//! row's error (a record with `error`); an unknown column is a usage error.

use crate::analyze::Job;
use crate::calib::{self, ColourArgs};
use crate::{csvio, Fatal};
use std::path::{Path, PathBuf};
use trichometry::Error;

const COLUMNS: [&str; 8] = [
    "path",
    "um_per_px",
    "chart",
    "chart_corners",
    "reference",
    "reference_rect",
    "reference_lightness",
    "colour_constancy",
];

/// Read a manifest into jobs, filling empty cells from the flags.
pub fn read(
    manifest: &Path,
    um_per_px: Option<f64>,
    colour: &ColourArgs,
) -> Result<Vec<Job>, Fatal> {
    let text = std::fs::read_to_string(manifest)
        .map_err(|e| Fatal::Usage(format!("cannot read manifest {}: {e}", manifest.display())))?;
    let rows = csvio::parse(&text)
        .map_err(|e| Fatal::Usage(format!("manifest {}: {e}", manifest.display())))?;
    let Some((header, body)) = rows.split_first() else {
        return Err(Fatal::Usage(format!(
            "manifest {} is empty",
            manifest.display()
        )));
    };
    let header: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    for (i, h) in header.iter().enumerate() {
        if !COLUMNS.contains(&h.as_str()) {
            return Err(Fatal::Usage(format!(
                "manifest {}: unknown column `{h}` (known: {})",
                manifest.display(),
                COLUMNS.join(", ")
            )));
        }
        if header[..i].contains(h) {
            return Err(Fatal::Usage(format!(
                "manifest {}: column `{h}` appears twice",
                manifest.display()
            )));
        }
    }
    if !header.iter().any(|h| h == "path") {
        return Err(Fatal::Usage(format!(
            "manifest {}: no `path` column",
            manifest.display()
        )));
    }
    let base = manifest.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok(body
        .iter()
        .enumerate()
        .map(|(i, row)| row_to_job(&header, row, i + 2, manifest, &base, um_per_px, colour))
        .collect())
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn row_to_job(
    header: &[String],
    row: &[String],
    line: usize,
    manifest: &Path,
    base: &Path,
    um_per_px: Option<f64>,
    colour: &ColourArgs,
) -> Job {
    let cell = |name: &str| -> Option<&str> {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| row.get(i))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    };
    let path_cell = cell("path");
    let file = path_cell
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}:{line}", manifest.display()));
    let path = resolve(base, path_cell.unwrap_or(""));
    let mut job = Job {
        file,
        path,
        um_per_px,
        colour: colour.clone(),
        pre_error: None,
    };
    let parsed = (|| -> Result<(), Error> {
        if row.len() != header.len() {
            return Err(Error::param(
                "manifest",
                format!(
                    "line {line} has {} fields, the header has {}",
                    row.len(),
                    header.len()
                ),
            ));
        }
        if path_cell.is_none() {
            return Err(Error::param("path", format!("line {line}: empty path")));
        }
        if let Some(s) = cell("um_per_px") {
            job.um_per_px = Some(
                s.parse::<f64>()
                    .map_err(|_| Error::param("um_per_px", format!("`{s}` is not a number")))?,
            );
        }
        let colour_cols = &COLUMNS[2..];
        if colour_cols.iter().any(|c| cell(c).is_some()) {
            let mut c = ColourArgs {
                chart: cell("chart").map(|p| resolve(base, p)),
                reference: cell("reference").map(|p| resolve(base, p)),
                ..ColourArgs::default()
            };
            if let Some(s) = cell("chart_corners") {
                c.chart_corners =
                    Some(calib::parse_corners(s).map_err(|e| Error::param("chart_corners", e))?);
            }
            if let Some(s) = cell("reference_rect") {
                c.reference_rect =
                    Some(calib::parse_rect(s).map_err(|e| Error::param("reference_rect", e))?);
            }
            if let Some(s) = cell("reference_lightness") {
                c.reference_lightness = Some(s.parse::<f64>().map_err(|_| {
                    Error::param("reference_lightness", format!("`{s}` is not a number"))
                })?);
            }
            if let Some(s) = cell("colour_constancy") {
                c.colour_constancy = Some(
                    calib::parse_constancy(s).map_err(|e| Error::param("colour_constancy", e))?,
                );
            }
            job.colour = c;
        }
        Ok(())
    })();
    job.pre_error = parsed.err();
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("trichometry-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn rows_fill_from_flags_and_override_them() {
        let m = write(
            "m1.csv",
            "path,um_per_px,reference_rect,reference_lightness\n\
             a.jpg,,,\n\
             /abs/b.png,2.5,\"1,2,3,4\",70\n\
             c.jpg,abc,,\n\
             ,3,,\n\
             d.jpg,1\n",
        );
        let flags = ColourArgs {
            colour_constancy: Some(calib::ColourConstancy::ShadesOfGray),
            ..Default::default()
        };
        let jobs = read(&m, Some(3.5), &flags).unwrap();
        assert_eq!(jobs.len(), 5);
        assert_eq!(jobs[0].path, m.parent().unwrap().join("a.jpg"));
        assert_eq!(jobs[0].um_per_px, Some(3.5));
        assert_eq!(jobs[0].colour.colour_constancy, flags.colour_constancy);
        assert!(jobs[0].pre_error.is_none());
        assert_eq!(jobs[1].path, PathBuf::from("/abs/b.png"));
        assert_eq!(jobs[1].um_per_px, Some(2.5));
        assert_eq!(jobs[1].colour.colour_constancy, None);
        assert_eq!(jobs[1].colour.reference_lightness, Some(70.0));
        assert_eq!(jobs[1].colour.reference_rect.unwrap().w, 3);
        assert_eq!(jobs[2].pre_error.as_ref().unwrap().kind(), "parameter");
        assert_eq!(jobs[3].pre_error.as_ref().unwrap().kind(), "parameter");
        assert!(jobs[3].file.ends_with(":5"));
        assert_eq!(jobs[4].pre_error.as_ref().unwrap().kind(), "parameter");
    }

    #[test]
    fn header_problems_are_usage_errors() {
        for (name, text) in [
            ("m2.csv", "path,um_per_pixel\na.jpg,3\n"),
            ("m3.csv", "um_per_px\n3\n"),
            ("m4.csv", ""),
            ("m5.csv", "path,path\na,b\n"),
        ] {
            let m = write(name, text);
            assert!(
                matches!(read(&m, None, &ColourArgs::default()), Err(Fatal::Usage(_))),
                "{name}"
            );
        }
        assert!(matches!(
            read(
                Path::new("/nonexistent/m.csv"),
                None,
                &ColourArgs::default()
            ),
            Err(Fatal::Usage(_))
        ));
    }
}
