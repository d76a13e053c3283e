//! `trichometry compare` on a phantom pair.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use trichometry::synth::pair::{render_pair, PairSpec, VisitSpec};

const BIN: &str = env!("CARGO_BIN_EXE_trichometry");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("trichometry-cmp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn save(img: &trichometry::Image, path: &Path) {
    let trichometry::Samples::U8(data) = img.samples() else {
        panic!("8-bit phantom")
    };
    image::save_buffer(
        path,
        data,
        img.width() as u32,
        img.height() as u32,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
}

fn pair(seed: u64) -> trichometry::synth::pair::Pair {
    let mut spec = PairSpec {
        followup: VisitSpec {
            rotation_deg: 5.0,
            scale: 1.03,
            shift_frac: [0.1, -0.05],
            white_balance: [1.05, 1.0, 0.95],
            jpeg_quality: Some(85),
            ..VisitSpec::default()
        },
        ..PairSpec::default()
    };
    spec.scene.seed = seed;
    spec.scene.width = 640;
    spec.scene.height = 480;
    render_pair(&spec).unwrap()
}

#[test]
fn compare_writes_the_record_and_the_overlay() {
    let dir = tmpdir("ok");
    let p = pair(3);
    save(&p.baseline.image, &dir.join("b.png"));
    save(&p.followup.image, &dir.join("f.png"));
    let out = Command::new(BIN)
        .args([
            "compare",
            "b.png",
            "f.png",
            "--um-per-px",
            "5",
            "--out",
            "r.json",
            "--overlay",
            "o.png",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    let reg = &r["registration"];
    for k in [
        "rotation_deg",
        "scale",
        "translation_um",
        "overlap_fraction",
        "residual_um",
        "inliers",
    ] {
        assert!(!reg[k].is_null(), "registration.{k} missing: {reg}");
    }
    let truth = p.truth.followup_to_baseline;
    assert!(
        (reg["rotation_deg"].as_f64().unwrap() - truth.rotation_deg).abs() < 0.2,
        "{reg}"
    );
    assert!(
        (reg["scale"].as_f64().unwrap() - truth.scale).abs() < 0.005,
        "{reg}"
    );
    let d = &r["deltas"]["erythema_a_star_median"];
    for k in [
        "baseline",
        "followup",
        "delta",
        "ci95_low",
        "ci95_high",
        "significant",
    ] {
        assert!(
            !d[k].is_null(),
            "deltas.erythema_a_star_median.{k} missing: {d}"
        );
    }
    // No colour reference on either side: redness is reported, flagged.
    assert_eq!(d["comparable"], Value::Bool(false));
    for k in [
        "hairs_gained",
        "hairs_lost",
        "hairs_thinned",
        "hairs_thickened",
        "capillaries_gained",
        "capillaries_lost",
    ] {
        assert!(r["matches"][k].is_u64(), "matches.{k}: {}", r["matches"]);
    }
    let o = image::open(dir.join("o.png")).unwrap();
    assert_eq!((o.width(), o.height()), (640, 480));
}

#[test]
fn compare_refuses_two_different_spots_and_needs_a_scale() {
    let dir = tmpdir("refuse");
    save(&pair(4).baseline.image, &dir.join("b.png"));
    save(&pair(5).followup.image, &dir.join("f.png"));
    let out = Command::new(BIN)
        .args(["compare", "b.png", "f.png", "--um-per-px", "5"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["error_kind"], "registration", "{r}");
    let out = Command::new(BIN)
        .args(["compare", "b.png", "f.png"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
