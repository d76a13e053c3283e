//! Time `compare()` on two analysed 12 MP phantom visits.
//!
//! `cargo run --release -p trichometry --example compare_12mp`
//!
//! Hair and capillary labels come from the phantom (ideal detectors), so the
//! comparison sees a realistic number of objects whatever the state of the
//! detection stages.

use std::time::Instant;
use trichometry::compare::{compare, CompareParams, Visit};
use trichometry::image::Mask;
use trichometry::synth::pair::{render_pair, PairSpec, PairVisit, SceneChanges, VisitSpec};
use trichometry::{analyze, Analysis, Calibration, Params};

fn oracle(v: &PairVisit) -> Analysis {
    let cal = Calibration::with_um_per_px(v.um_per_px_nominal).unwrap();
    let mut a = analyze(&v.image, &cal, &Params::default()).unwrap();
    let (w, h) = (v.image.width(), v.image.height());
    let mask = |l: &trichometry::Labels| Mask {
        width: w,
        height: h,
        data: l.data.iter().map(|&x| x > 0).collect(),
    };
    let (hm, vm) = (mask(&v.hair_labels), mask(&v.capillary_labels));
    let on = |m: &Option<Mask>, i: usize| m.as_ref().is_some_and(|m| m.data[i]);
    for i in 0..w * h {
        let analysable = a.maps.skin_mask.data[i]
            || on(&a.maps.hair_mask, i)
            || on(&a.maps.vessel_mask, i)
            || on(&a.maps.scale_mask, i);
        a.maps.skin_mask.data[i] = analysable && !hm.data[i] && !vm.data[i];
    }
    a.hairs = v.oracle_shafts();
    a.capillaries = v.oracle_capillaries();
    a.maps.hair_mask = Some(mask(&v.hair_labels));
    a.maps.hair_labels = Some(v.hair_labels.clone());
    a.maps.vessel_mask = Some(mask(&v.capillary_labels));
    a.maps.vessel_labels = Some(v.capillary_labels.clone());
    a.maps.scale_mask = Some(Mask::filled(w, h, false));
    a
}

/// User + system CPU seconds of this process (Linux), 0 elsewhere.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime), counted from after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let mut spec = PairSpec {
        followup: VisitSpec {
            rotation_deg: 6.0,
            scale: 1.03,
            shift_frac: [0.08, -0.05],
            white_balance: [1.05, 1.0, 0.93],
            exposure: 0.9,
            jpeg_quality: Some(80),
            ..VisitSpec::default()
        },
        changes: SceneChanges {
            capillaries_added: 0.2,
            capillaries_removed: 0.1,
            hairs_lost: 0.1,
            growth_um: 100.0,
            ..SceneChanges::default()
        },
        margin: 0.2,
        ..PairSpec::default()
    };
    spec.scene.width = 4000;
    spec.scene.height = 3000;
    spec.scene.um_per_px = 5.0;
    let t = Instant::now();
    let p = render_pair(&spec).unwrap();
    eprintln!("rendered 2 × 12 MP in {:?}", t.elapsed());
    let (ab, af) = (oracle(&p.baseline), oracle(&p.followup));
    let b = Visit::new(&p.baseline.image, &ab);
    let f = Visit::new(&p.followup.image, &af);
    let params = CompareParams::default();
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut last = None;
    for _ in 0..7 {
        let (t, c0) = (Instant::now(), cpu_seconds());
        let c = compare(&b, &f, &params).unwrap();
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c0);
        last = Some(c);
    }
    cpu.sort_by(f64::total_cmp);
    println!(
        "CPU time per compare: median {:.3} s (so ≥ {:.3} s wall on 2 idle cores); load average now {}",
        cpu[3],
        cpu[3] / 2.0,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    let c = last.unwrap();
    let t = Instant::now();
    let reg = trichometry::compare::register(
        &p.baseline.image.view(),
        &p.followup.image.view(),
        Some(5.0),
        &params.registration,
    )
    .unwrap();
    eprintln!("registration alone {:?}", t.elapsed());
    times.sort_by(f64::total_cmp);
    println!(
        "compare 12 MP: median {:.3} s (min {:.3}, max {:.3}); {} threads",
        times[3],
        times[0],
        times[6],
        rayon::current_num_threads()
    );
    let truth = p.truth.followup_to_baseline;
    let mut worst = 0.0f64;
    for (x, y) in [(0.0, 0.0), (3999.0, 0.0), (0.0, 2999.0), (3999.0, 2999.0)] {
        let (a, b) = reg.followup_to_baseline.apply(x, y);
        let (u, v) = truth.apply(x, y);
        worst = worst.max((a - u).hypot(b - v));
    }
    println!(
        "registration: rotation {:.3}° scale {:.4} corner error {:.2} px, inliers {}/{}, residual {:.2} µm",
        reg.rotation_deg, reg.scale, worst, reg.inliers, reg.landmarks_tested, reg.residual_um.unwrap()
    );
    println!("matches {:?}", c.matches);
}
