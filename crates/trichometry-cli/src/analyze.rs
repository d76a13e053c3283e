//! `trichometry analyze`: many images in, one record each out.

use crate::calib::{self, ColourArgs, RefImages};
use crate::output::{self, Format};
use crate::{manifest, masks, Fatal};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use trichometry::{Error, Params, ScratchPool};

/// Flags of `trichometry analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images to analyse (JPEG, PNG 8/16-bit, TIFF).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Micrometres per pixel (the scale of every µm, mm² and cm² figure).
    /// Without it no physical unit is reported and the hair and vessel stages
    /// are skipped.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub um_per_px: Option<f64>,
    /// Output file; the format follows the extension: .jsonl, .json or .csv.
    /// Without it, JSON Lines on stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write masks as PNG: <stem>_skin.png, _hairs.png, _hair_labels.png (16-bit),
    /// _vessels.png, _vessel_labels.png, _scales.png, _yellow_dots.png, … (those
    /// the analysis produced).
    #[arg(long, value_name = "DIR")]
    pub masks: Option<PathBuf>,
    /// CSV with one row per image: path,um_per_px[,chart,chart_corners,reference,
    /// reference_rect,reference_lightness,colour_constancy]; empty cells take
    /// the flags' values; relative paths are relative to the manifest.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Analysis parameters as JSON (trichometry::Params, as in a record's
    /// provenance.params; missing keys take defaults, unknown keys are refused).
    #[arg(long, value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub colour: ColourArgs,
}

/// One image to analyse with its calibration options.
#[derive(Debug)]
pub struct Job {
    /// The name in the record (the path as given).
    pub file: String,
    /// Where to read it.
    pub path: PathBuf,
    /// Scale.
    pub um_per_px: Option<f64>,
    /// Colour options.
    pub colour: ColourArgs,
    /// A problem found while reading the manifest row.
    pub pre_error: Option<Error>,
}

/// Shared, read-only state of a batch.
struct Ctx {
    params: Params,
    refs: RefImages,
    masks: Option<PathBuf>,
    stems: Vec<String>,
    /// The analyses' working memory, kept across files.
    scratch: ScratchPool,
}

/// Run the batch.
pub fn run(args: Args) -> Result<ExitCode, Fatal> {
    let format = match &args.out {
        Some(out) => {
            let f = Format::from_path(out).map_err(Fatal::Usage)?;
            let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(d) = dir.filter(|d| !d.is_dir()) {
                return Err(Fatal::Usage(format!(
                    "the folder of --out does not exist: {}",
                    d.display()
                )));
            }
            Some(f)
        }
        None => None,
    };
    let params = match &args.params {
        Some(p) => read_params(p)?,
        None => Params::default(),
    };
    let mut jobs: Vec<Job> = args
        .paths
        .iter()
        .map(|p| Job {
            file: p.display().to_string(),
            path: p.clone(),
            um_per_px: args.um_per_px,
            colour: args.colour.clone(),
            pre_error: None,
        })
        .collect();
    if let Some(m) = &args.manifest {
        jobs.extend(manifest::read(m, args.um_per_px, &args.colour)?);
    }
    if jobs.is_empty() {
        return Err(Fatal::Usage(
            "no images: give PATH... or --manifest FILE (see --help)".into(),
        ));
    }
    if let Some(dir) = &args.masks {
        std::fs::create_dir_all(dir).map_err(|e| {
            Fatal::Usage(format!(
                "cannot create --masks folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let mut refs = RefImages::default();
    refs.preload(jobs.iter().flat_map(|j| j.colour.extra_images(&j.path)));
    let ctx = Ctx {
        params,
        refs,
        masks: args.masks.clone(),
        stems: unique_stems(&jobs),
        scratch: ScratchPool::new(),
    };

    let pool = {
        let mut b = rayon::ThreadPoolBuilder::new();
        if let Some(n) = args.threads {
            b = b.num_threads(n.max(1));
        }
        b.build()
            .map_err(|e| Fatal::Runtime(format!("cannot start threads: {e}")))?
    };
    let progress = if std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(jobs.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} images [{elapsed_precise} < {eta}]")
        {
            pb.set_style(style);
        }
        pb
    } else {
        ProgressBar::hidden()
    };

    // The output is written record by record (not held in memory until the
    // end), into temporary files that appear only once the batch is done.
    let mut writer = match (&args.out, format) {
        (Some(out), Some(format)) => Some(
            output::RecordWriter::create(out, format).map_err(|e| Fatal::Usage(e.to_string()))?,
        ),
        _ => None,
    };
    let mut write_error = None;
    let mut stdout = std::io::stdout().lock();
    let mut stdout_ok = true;
    let mut failed = 0usize;
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Value)>();
    std::thread::scope(|scope| {
        let (jobs, ctx) = (&jobs, &ctx);
        scope.spawn(move || {
            pool.install(|| {
                jobs.par_iter()
                    .enumerate()
                    .for_each_with(tx, |tx, (i, job)| {
                        let _ = tx.send((i, process(job, i, ctx)));
                    })
            })
        });
        // Emit in input order as soon as each record's turn comes.
        let mut pending = BTreeMap::new();
        let mut next = 0;
        for (i, rec) in rx {
            progress.inc(1);
            pending.insert(i, rec);
            while let Some(rec) = pending.remove(&next) {
                if let Some(err) = rec.get("error").and_then(Value::as_str) {
                    failed += 1;
                    let file = rec.get("file").and_then(Value::as_str).unwrap_or("?");
                    progress.suspend(|| eprintln!("trichometry: {file}: {err}"));
                }
                match writer.as_mut() {
                    Some(w) if write_error.is_none() => write_error = w.push(&rec).err(),
                    Some(_) => {}
                    None if stdout_ok => {
                        let line = output::jsonl_line(&rec);
                        stdout_ok = stdout
                            .write_all(line.as_bytes())
                            .and_then(|_| stdout.flush())
                            .is_ok();
                    }
                    None => {}
                }
                next += 1;
            }
        }
    });
    progress.finish_and_clear();

    if let Some(e) = write_error {
        return Err(Fatal::Runtime(e.to_string()));
    }
    if let Some(w) = writer {
        w.finish().map_err(|e| Fatal::Runtime(e.to_string()))?;
    }
    if failed > 0 {
        eprintln!("trichometry: {failed} of {} files failed", jobs.len());
        Ok(ExitCode::from(1))
    } else if !stdout_ok {
        Err(Fatal::Runtime("cannot write to stdout".into()))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

fn read_params(path: &Path) -> Result<Params, Fatal> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Fatal::Usage(format!("cannot read --params {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Fatal::Usage(format!("--params {}: {e}", path.display())))
}

/// Mask file stems: the image's stem, made unique with `-<n>` (n = the
/// 1-based input position) when two inputs share a stem.
fn unique_stems(jobs: &[Job]) -> Vec<String> {
    let stem = |j: &Job| {
        j.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "image".into())
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for j in jobs {
        *counts.entry(stem(j)).or_default() += 1;
    }
    jobs.iter()
        .enumerate()
        .map(|(i, j)| {
            let s = stem(j);
            if counts[&s] > 1 {
                format!("{s}-{}", i + 1)
            } else {
                s
            }
        })
        .collect()
}

/// One file: calibration → decode → analyse → masks → record. Never panics
/// out: a panic in the core becomes this file's `internal` error.
fn process(job: &Job, index: usize, ctx: &Ctx) -> Value {
    let work = || -> Result<Value, Error> {
        if let Some(e) = &job.pre_error {
            return Err(Error::param(
                match e {
                    Error::Parameter { name, .. } => name,
                    _ => "manifest",
                },
                match e {
                    Error::Parameter { reason, .. } => reason.clone(),
                    other => other.to_string(),
                },
            ));
        }
        let cal = calib::build(job.um_per_px, &job.colour, &job.path, &ctx.refs)?;
        let image = trichometry::load(&job.path)?;
        // A worker keeps reusing an idle scratch of the pool (one per file
        // in progress): the same result as `analyze`, less work per file.
        ctx.scratch.with(|scratch| {
            let analysis = trichometry::analyze_with(&image, &cal, &ctx.params, scratch)?;
            drop(image);
            if let Some(dir) = &ctx.masks {
                masks::write_all(dir, &ctx.stems[index], &analysis.maps)?;
            }
            let record = output::record_ok(&job.file, &analysis);
            // Its masks are written: their memory serves the next file.
            scratch.recycle(analysis);
            Ok(record)
        })
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => output::record_error(&job.file, &e),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            output::record_err(
                &job.file,
                "internal",
                &format!("internal error (a bug; please report it): {msg}"),
            )
        }
    }
}
