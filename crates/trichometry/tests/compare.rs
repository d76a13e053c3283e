//! Baseline vs follow-up on phantom pairs with exact truth.

use trichometry::compare::{register, RegistrationParams, Similarity};
use trichometry::synth::pair::{render_pair, Pair, PairSpec, SceneChanges, VisitSpec};

fn nuisance_followup(rot: f64, scale: f64, shift: [f64; 2]) -> VisitSpec {
    VisitSpec {
        rotation_deg: rot,
        scale,
        shift_frac: shift,
        white_balance: [1.08, 1.0, 0.9],
        exposure: 0.85,
        jpeg_quality: Some(75),
        ..VisitSpec::default()
    }
}

fn pair(seed: u64, followup: VisitSpec, changes: SceneChanges) -> Pair {
    let mut spec = PairSpec {
        followup,
        changes,
        ..PairSpec::default()
    };
    spec.scene.seed = seed;
    render_pair(&spec).unwrap()
}

/// Largest distance between where the estimated and the true transform put
/// the follow-up's corners (baseline pixels).
fn corner_error(est: &Similarity, truth: &Similarity, w: usize, h: usize) -> f64 {
    let mut worst = 0.0f64;
    for (x, y) in [
        (0.0, 0.0),
        (w as f64 - 1.0, 0.0),
        (0.0, h as f64 - 1.0),
        (w as f64 - 1.0, h as f64 - 1.0),
    ] {
        let (a, b) = est.apply(x, y);
        let (c, d) = truth.apply(x, y);
        worst = worst.max((a - c).hypot(b - d));
    }
    worst
}

#[test]
fn registration_recovers_nuisance_transforms() {
    let cases = [
        (1, 10.0, 1.05, [0.2, -0.1]),
        (2, -10.0, 0.95, [-0.15, 0.2]),
        (3, 4.0, 1.02, [0.05, 0.05]),
        (4, -6.5, 0.97, [-0.2, -0.2]),
    ];
    let changes = SceneChanges {
        capillaries_added: 0.2,
        capillaries_removed: 0.2,
        hairs_lost: 0.1,
        hairs_gained: 0.1,
        growth_um: 150.0,
        ..SceneChanges::default()
    };
    for (seed, rot, scale, shift) in cases {
        let p = pair(seed, nuisance_followup(rot, scale, shift), changes.clone());
        let t0 = std::time::Instant::now();
        let reg = register(
            &p.baseline.image.view(),
            &p.followup.image.view(),
            Some(5.0),
            &RegistrationParams::default(),
        )
        .unwrap();
        let err = corner_error(
            &reg.followup_to_baseline,
            &p.truth.followup_to_baseline,
            p.followup.image.width(),
            p.followup.image.height(),
        );
        eprintln!(
            "seed {seed}: rot {rot} scale {scale} shift {shift:?} → est rot {:.3} scale {:.4}; corner error {err:.3} px; inliers {}/{}; residual {:.3} px; overlap {:.2}; psr {:.1}; {:?}",
            reg.rotation_deg, reg.scale, reg.inliers, reg.landmarks_tested, reg.residual_px, reg.overlap_fraction, reg.peak_to_sidelobe, t0.elapsed()
        );
        assert!(err <= 2.0, "corner error {err} px (seed {seed})");
    }
}

#[test]
fn different_spots_are_refused() {
    let a = pair(
        7,
        nuisance_followup(3.0, 1.0, [0.05, 0.0]),
        SceneChanges::default(),
    );
    let b = pair(
        8,
        nuisance_followup(3.0, 1.0, [0.05, 0.0]),
        SceneChanges::default(),
    );
    let r = register(
        &a.baseline.image.view(),
        &b.followup.image.view(),
        Some(5.0),
        &RegistrationParams::default(),
    );
    eprintln!("{r:?}");
    assert!(
        matches!(r, Err(trichometry::Error::Registration(_))),
        "{r:?}"
    );
}
