//! Run the built `trichometry` binary on phantoms and bad files.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_trichometry");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trichometry-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Phantoms good.png (PNG) and good.jpg (JPEG), 320×240 at 3.5 µm/px, plus
/// bad files: corrupt, truncated JPEG, empty.
fn fixtures(dir: &Path) -> Value {
    for (fmt, name) in [("png", "good"), ("jpeg", "good")] {
        let o = run(
            &[
                "synth", "--out", ".", "--name", name, "--format", fmt, "--width", "320",
                "--height", "240", "--seed", "3",
            ],
            dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let jpeg = std::fs::read(dir.join("good.jpg")).unwrap();
    std::fs::write(dir.join("truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    let mut corrupt = b"\x89PNG\r\n\x1a\n".to_vec();
    corrupt.extend([0x5Au8; 300]);
    std::fs::write(dir.join("corrupt.png"), corrupt).unwrap();
    std::fs::write(dir.join("empty.jpg"), b"").unwrap();
    serde_json::from_str(&std::fs::read_to_string(dir.join("good.truth.json")).unwrap()).unwrap()
}

/// Split one CSV line (quoted fields, doubled quotes; no embedded newlines).
fn split_csv_line(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    out.push(field);
    out
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
        .collect()
}

const BATCH: [&str; 6] = [
    "corrupt.png",
    "truncated.jpg",
    "good.png",
    "empty.jpg",
    "missing.jpg",
    "good.jpg",
];

fn check_batch(records: &[Value], truth: &Value) {
    assert_eq!(records.len(), BATCH.len());
    for (r, f) in records.iter().zip(BATCH) {
        assert_eq!(r["file"], f, "records keep the input order");
    }
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r.get("error_kind").and_then(Value::as_str).unwrap_or("ok"))
        .collect();
    assert_eq!(
        kinds,
        ["decoding", "decoding", "ok", "decoding", "io", "ok"]
    );
    for r in records.iter().filter(|r| r.get("error").is_some()) {
        assert!(!r["error"].as_str().unwrap().is_empty());
        assert!(r.get("width_px").is_none());
    }
    let a_truth = truth["truth"]["skin_a_star_mean"].as_f64().unwrap();
    for good in [&records[2], &records[5]] {
        assert!(good.get("error").is_none());
        assert_eq!(good["width_px"], 320);
        assert_eq!(good["height_px"], 240);
        assert_eq!(good["um_per_px"], 3.5);
        assert_eq!(good["colour_calibration"], "none");
        let area = good["analysed_area_mm2"].as_f64().unwrap();
        let full = 320.0 * 240.0 * 3.5 * 3.5 * 1e-6;
        assert!(area > 0.5 * full && area <= full + 1e-9, "area {area}");
        let a = good["erythema_a_star_mean"].as_f64().unwrap();
        assert!((a - a_truth).abs() < 0.5, "a* {a} vs truth {a_truth}");
        let w: Vec<&str> = good["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(w.contains(&"uncalibrated_colour"), "{w:?}");
        assert_eq!(
            good["provenance"]["input_sha256"].as_str().unwrap().len(),
            64
        );
        assert!(good["hairs"].is_array() && good["capillaries"].is_array());
    }
}

#[test]
fn batch_with_bad_files_goes_on_and_fails_the_exit_code() {
    let dir = tmpdir("batch");
    let truth = fixtures(&dir);
    let mut args = vec!["analyze", "--um-per-px", "3.5", "--out", "res.jsonl"];
    args.extend(BATCH);
    let o = run(&args, &dir);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    for f in ["corrupt.png", "truncated.jpg", "empty.jpg", "missing.jpg"] {
        assert!(stderr.contains(f), "stderr names {f}: {stderr}");
    }
    assert!(o.stdout.is_empty(), "with --out nothing goes to stdout");
    let text = std::fs::read_to_string(dir.join("res.jsonl")).unwrap();
    assert!(text.ends_with('\n'));
    check_batch(&lines(&text), &truth);

    // Same batch on stdout (JSON Lines) and as a JSON array: same records.
    let o = run(
        &args[..args.len() - 8]
            .iter()
            .chain(&BATCH)
            .copied()
            .collect::<Vec<_>>(),
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let stdout_records = lines(&String::from_utf8(o.stdout).unwrap());
    check_batch(&stdout_records, &truth);
    let mut json_args = args.clone();
    json_args[4] = "res.json";
    let o = run(&json_args, &dir);
    assert_eq!(o.status.code(), Some(1));
    let arr: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("res.json")).unwrap()).unwrap();
    check_batch(&arr, &truth);
    assert_eq!(arr, stdout_records, "the same records whatever the format");
    // No temporary files left behind.
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp-"), "{name}");
    }
}

#[test]
fn csv_columns_match_json_keys() {
    let dir = tmpdir("csv");
    fixtures(&dir);
    let o = run(
        &[
            "analyze",
            "good.png",
            "missing.jpg",
            "good.jpg",
            "--um-per-px",
            "3.5",
            "--out",
            "r.csv",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    let text = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    let rows: Vec<Vec<String>> = text.lines().map(split_csv_line).collect();
    let header = &rows[0];
    let o = run(&["analyze", "good.png", "--um-per-px", "3.5"], &dir);
    assert!(o.status.success());
    let rec = &lines(&String::from_utf8(o.stdout).unwrap())[0];
    // Every scalar summary key of the JSON record is a CSV column, same name.
    for (k, v) in rec.as_object().unwrap() {
        if v.is_object() || (v.is_array() && k != "warnings") {
            continue;
        }
        assert!(header.contains(k), "column {k} missing from {header:?}");
    }
    assert!(header.iter().any(|c| c == "provenance.version"));
    assert_eq!(&header[header.len() - 2..], ["error", "error_kind"]);
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter().all(|r| r.len() == header.len()),
        "rectangular table"
    );
    let col = |name: &str| header.iter().position(|c| c == name).unwrap();
    assert_eq!(rows[2][col("error_kind")], "io");
    let w = col("width_px");
    assert_eq!(rows[1][w], "320");
    assert_eq!(rows[2][w], "");
    // Lists are joined with ';' in the same order as the JSON array.
    let json_warnings: Vec<&str> = rec["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(json_warnings.contains(&"uncalibrated_colour"));
    assert_eq!(rows[1][col("warnings")], json_warnings.join(";"));
}

#[test]
fn masks_manifest_and_parameter_errors() {
    let dir = tmpdir("manifest");
    fixtures(&dir);
    std::fs::write(
        dir.join("m.csv"),
        "path,um_per_px,colour_constancy\n\
         good.png,3.5,\n\
         good.jpg,-1,\n\
         good.png,nan,\n\
         good.jpg,,\n",
    )
    .unwrap();
    let o = run(
        &["analyze", "--manifest", "m.csv", "--masks", "masks"],
        &dir,
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let recs = lines(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[0]["um_per_px"], 3.5);
    assert_eq!(recs[1]["error_kind"], "parameter");
    assert_eq!(recs[2]["error_kind"], "parameter");
    // No scale anywhere: analysed, no physical units, and it says so.
    assert!(recs[3]["um_per_px"].is_null() && recs[3]["analysed_area_mm2"].is_null());
    assert!(recs[3]["warnings"]
        .as_array()
        .unwrap()
        .contains(&Value::from("no_scale")));
    // good.png appears twice: mask stems made unique by input position.
    // (good.png and good.jpg share the stem "good").
    for f in [
        "good-1_skin.png",
        "good-1_glare.png",
        "good-1_hairs.png",
        "good-1_hair_labels.png",
        "good-1_vessels.png",
        "good-1_vessel_labels.png",
        "good-4_skin.png",
    ] {
        assert!(dir.join("masks").join(f).exists(), "{f}");
    }
    // Failed rows write nothing; without a scale the hair stage did not run.
    for f in ["good-2_skin.png", "good-3_skin.png", "good-4_hairs.png"] {
        assert!(!dir.join("masks").join(f).exists(), "{f}");
    }
    let skin = trichometry::load(dir.join("masks/good-1_skin.png")).unwrap();
    assert_eq!(
        (skin.width(), skin.height(), skin.channels()),
        (320, 240, 1)
    );
    let labels = trichometry::load(dir.join("masks/good-1_hair_labels.png")).unwrap();
    assert_eq!(labels.meta.bit_depth, 16);
    // One vessel label per capillary record (ids 1..=n), 16-bit (this
    // fixture has no capillaries: the label image must be all 0).
    let vl = trichometry::load(dir.join("masks/good-1_vessel_labels.png")).unwrap();
    assert_eq!(vl.meta.bit_depth, 16);
    let trichometry::Samples::U16(v) = vl.samples() else {
        panic!("vessel labels not 16-bit samples");
    };
    let n_caps = recs[0]["capillaries"].as_array().unwrap().len();
    assert_eq!(v.iter().copied().max().unwrap_or(0) as usize, n_caps);

    // A negative scale on the command line is a per-file parameter error too.
    let o = run(&["analyze", "good.png", "--um-per-px", "-2"], &dir);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        lines(&String::from_utf8(o.stdout).unwrap())[0]["error_kind"],
        "parameter"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tmpdir("usage");
    std::fs::write(
        dir.join("typo.json"),
        r#"{"hairs": {"min_lenght_um": 100}}"#,
    )
    .unwrap();
    for args in [
        vec!["analyze"],
        vec!["analyze", "a.jpg", "--out", "x.txt"],
        vec!["analyze", "a.jpg", "--out", "no/such/dir/x.json"],
        vec!["analyze", "a.jpg", "--chart-corners", "1,2,3"],
        vec!["analyze", "a.jpg", "--manifest", "missing.csv"],
        vec!["analyze", "a.jpg", "--um-per-px", "abc"],
        // A misspelt parameter is refused, not silently left at its default.
        vec!["analyze", "a.jpg", "--params", "typo.json"],
        vec!["bogus"],
    ] {
        let o = run(&args, &dir);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty());
    }
}

/// An output that cannot be written (/proc takes no new files, even for
/// root) is found before the batch, not after hours of analysis.
#[cfg(target_os = "linux")]
#[test]
fn unwritable_output_is_refused_before_the_batch() {
    let dir = tmpdir("unwritable");
    fixtures(&dir);
    let o = run(
        &[
            "analyze",
            "good.png",
            "--um-per-px",
            "3.5",
            "--out",
            "/proc/trichometry-out.jsonl",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/proc/trichometry-out.jsonl"), "{err}");
    assert!(o.stdout.is_empty());
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let dir = tmpdir("threads");
    fixtures(&dir);
    let out = |n: &str| {
        let o = run(
            &[
                "analyze",
                "good.png",
                "good.jpg",
                "--um-per-px",
                "3.5",
                "--threads",
                n,
            ],
            &dir,
        );
        assert!(o.status.success());
        o.stdout
    };
    assert_eq!(out("1"), out("2"));
}

#[test]
fn colour_options_reach_the_core() {
    let dir = tmpdir("colour");
    fixtures(&dir);
    std::fs::write(
        dir.join("m.csv"),
        "path,reference_rect,reference_lightness\n\
         good.png,\"10,10,40,30\",60\n\
         good.png,,\n",
    )
    .unwrap();
    let o = run(
        &[
            "analyze",
            "--manifest",
            "m.csv",
            "--um-per-px",
            "3.5",
            "--colour-constancy",
            "shades-of-gray",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let recs = lines(&String::from_utf8(o.stdout).unwrap());
    // The row's colour cells replace the flags; the empty row keeps them.
    assert_eq!(recs[0]["colour_calibration"], "reference_patch");
    assert_eq!(recs[1]["colour_calibration"], "estimated");
    assert!(recs[1]["warnings"]
        .as_array()
        .unwrap()
        .contains(&Value::from("estimated_colour")));
    // A colour reference on a greyscale image is that file's typed error.
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad/grey.png"),
        dir.join("grey.png"),
    )
    .unwrap();
    let o = run(
        &["analyze", "grey.png", "--reference-rect", "0,0,4,4"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        lines(&String::from_utf8(o.stdout).unwrap())[0]["error_kind"],
        "colour_required"
    );
}

/// One worker (`--threads 1`) reuses its scratch across the files of a
/// batch: images of other sizes and bad files in between; each record is
/// the one the file gives analysed alone.
#[test]
fn kept_scratch_gives_each_file_its_own_record() {
    let dir = tmpdir("scratch");
    fixtures(&dir);
    std::fs::write(dir.join("hairs.json"), r#"{"hairs": {}}"#).unwrap();
    for (name, w, h, seed) in [("big", "560", "420", "5"), ("small", "300", "200", "6")] {
        let o = run(
            &[
                "synth",
                "--out",
                ".",
                "--name",
                name,
                "--spec",
                "hairs.json",
                "--width",
                w,
                "--height",
                h,
                "--seed",
                seed,
            ],
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let alone = |f: &str| {
        let o = run(
            &["analyze", "--threads", "1", "--um-per-px", "3.5", f],
            &dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        lines(&String::from_utf8(o.stdout).unwrap()).remove(0)
    };
    let files = [
        "big.png",
        "corrupt.png",
        "small.png",
        "empty.jpg",
        "good.png",
        "big.png",
    ];
    let mut args = vec!["analyze", "--threads", "1", "--um-per-px", "3.5"];
    args.extend(files);
    let o = run(&args, &dir);
    assert_eq!(o.status.code(), Some(1));
    let records = lines(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(records.len(), files.len());
    for (r, f) in records.iter().zip(files) {
        if f.starts_with("big") || f.starts_with("small") || f.starts_with("good") {
            assert!(r.get("error").is_none(), "{f}: {r}");
            assert_eq!(r, &alone(f), "{f}");
        } else {
            assert_eq!(r["error_kind"], "decoding", "{f}");
        }
    }
    // The hair stage ran (and so used the scratch) on the hair phantoms.
    for r in [&records[0], &records[2]] {
        assert!(r["hair_count"].as_u64().unwrap() > 3, "{}", r["hair_count"]);
    }
}
