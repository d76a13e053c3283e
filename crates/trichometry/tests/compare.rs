//! Baseline vs follow-up on phantom pairs with exact truth.

use trichometry::compare::{
    compare, register, CompareParams, Comparison, Registration, RegistrationParams, Visit,
};
use trichometry::image::Mask;
use trichometry::synth::pair::{render_pair, Pair, PairSpec, PairVisit, SceneChanges, VisitSpec};
use trichometry::{analyze, Analysis, Calibration, Params};

/// The analysis of a visit with ideal hair and capillary detectors: the
/// real `analyze()` (colour, erythema maps, quality) with the phantom's
/// labels and diameters put in place of the detectors' output, so that these
/// tests measure the comparison itself.
fn oracle_analysis(v: &PairVisit) -> Analysis {
    oracle_analysis_with(v, Calibration::with_um_per_px(v.um_per_px_nominal).unwrap())
}

/// The analysis of a visit by the real stages (no oracle), at its nominal
/// scale.
fn real_analysis(v: &PairVisit) -> Analysis {
    analyze(
        &v.image,
        &Calibration::with_um_per_px(v.um_per_px_nominal).unwrap(),
        &Params::default(),
    )
    .unwrap()
}

fn oracle_analysis_with(v: &PairVisit, cal: Calibration) -> Analysis {
    // Without a scale `analyze` skips the hair and vessel stages (fast, and
    // their output would be replaced anyway); the scale is set afterwards.
    let um = cal.um_per_px;
    let cal = Calibration {
        um_per_px: None,
        ..cal
    };
    let mut a = analyze(&v.image, &cal, &Params::default()).unwrap();
    a.summary.um_per_px = um;
    let (w, h) = (v.image.width(), v.image.height());
    let mask = |l: &trichometry::Labels| Mask {
        width: w,
        height: h,
        data: l.data.iter().map(|&x| x > 0).collect(),
    };
    let hm = mask(&v.hair_labels);
    let vm = mask(&v.capillary_labels);
    // Skin = the analysable field (skin or what the real stages found on
    // it) minus the ideal detectors' hairs and capillaries.
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
    a.summary.hairs.hair_count = Some(a.hairs.len());
    a.summary.vessels.capillary_count = Some(a.capillaries.len());
    a.maps.hair_mask = Some(hm);
    a.maps.hair_labels = Some(v.hair_labels.clone());
    a.maps.vessel_mask = Some(vm);
    a.maps.vessel_labels = Some(v.capillary_labels.clone());
    a.maps.scale_mask = Some(Mask::filled(w, h, false));
    a
}

/// Records without centrelines: the comparison falls back to the label
/// images' moments.
fn without_centrelines(mut a: Analysis) -> Analysis {
    for s in &mut a.hairs {
        s.centreline_px.clear();
        s.exit_px = None;
    }
    a
}

fn compare_pair(p: &Pair) -> Comparison {
    compare_pair_with(p, false)
}

fn compare_pair_with(p: &Pair, labels_only: bool) -> Comparison {
    let prep = |a: Analysis| {
        if labels_only {
            without_centrelines(a)
        } else {
            a
        }
    };
    let ab = prep(oracle_analysis(&p.baseline));
    let af = prep(oracle_analysis(&p.followup));
    let t0 = std::time::Instant::now();
    let c = compare(
        &Visit::new(&p.baseline.image, &ab),
        &Visit::new(&p.followup.image, &af),
        &CompareParams::default(),
    )
    .unwrap();
    eprintln!("compare took {:?}", t0.elapsed());
    c
}

fn print(c: &Comparison) {
    eprintln!("{:?}", c.matches);
    if std::env::var_os("COMPARE_DEBUG").is_some() {
        for m in &c.hair_matches {
            if !matches!(m.change, trichometry::compare::ChangeKind::Unchanged) {
                eprintln!("  {m:?}");
            }
        }
    }
    for (k, d) in &c.deltas {
        eprintln!(
            "{k:28} {:9.3} → {:9.3}  Δ {:8.3} [{:8.3}, {:8.3}] p {:.3} sig {} cmp {}",
            d.baseline,
            d.followup,
            d.delta,
            d.ci95_low,
            d.ci95_high,
            d.p_value,
            d.significant,
            d.comparable
        );
    }
}

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
        let err = reg.followup_to_baseline.corner_distance_px(
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

#[test]
fn null_pair_shows_no_significant_change() {
    let p = pair(
        21,
        nuisance_followup(-8.0, 1.04, [0.15, 0.1]),
        SceneChanges::default(),
    );
    // The phantom paints the hairs of a unit over one another at their
    // exit: the records of the oracle see only the visible parts, so a few
    // unit-mates swap or split at the frame edges. Both ways are reported;
    // the label-moment path is asserted.
    let cr = compare_pair(&p);
    print(&cr);
    let c = compare_pair_with(&p, true);
    print(&c);
    let m = &c.matches;
    assert_eq!(
        (
            m.hairs_gained,
            m.hairs_lost,
            m.hairs_thinned,
            m.hairs_thickened
        ),
        (0, 0, 0, 0),
        "{m:?}"
    );
    assert_eq!((m.capillaries_gained, m.capillaries_lost), (0, 0), "{m:?}");
    assert!(c.deltas.len() >= 10, "{:?}", c.deltas.keys());
    for (k, d) in &c.deltas {
        assert!(!d.significant, "{k}: {d:?}");
    }
    // No colour reference on either side: redness is reported but flagged.
    assert!(!c.colour_comparable);
    assert!(!c.deltas["erythema_a_star_median"].comparable);
}

/// A record whose every width profile the field of view's edge clipped
/// (`HairShaft::diameter_clipped`) has no measured diameter: it is never
/// called thinned or thickened, its row carries no diameter, and the
/// diameter figures leave its hair out at both visits. On the oracle null
/// pair every third matched follow-up record is marked clipped (or, every
/// second of those, as read without width profiles: `width_samples` 0,
/// `HairShaft::diameter_measured`) with a diameter read at 0.3 of the
/// hair's (what a clipped profile reads). Before session 28 the comparison
/// took those diameters as measured.
#[test]
fn clipped_records_give_no_diameter_change() {
    use trichometry::compare::ChangeKind;
    let p = pair(
        21,
        nuisance_followup(-8.0, 1.04, [0.15, 0.1]),
        SceneChanges::default(),
    );
    let (ab, af) = (oracle_analysis(&p.baseline), oracle_analysis(&p.followup));
    let run = |af: &Analysis| {
        compare(
            &Visit::new(&p.baseline.image, &ab),
            &Visit::new(&p.followup.image, af),
            &CompareParams::default(),
        )
        .unwrap()
    };
    let c0 = run(&af);
    let ids: Vec<u32> = c0
        .hair_matches
        .iter()
        .filter(|r| {
            r.change == ChangeKind::Unchanged
                && !r.rechecked
                && r.baseline_diameter_um.is_some()
                && r.followup_diameter_um.is_some()
        })
        .filter_map(|r| r.followup_id)
        .step_by(3)
        .collect();
    assert!(ids.len() >= 5, "{ids:?}");
    // Alternately clipped, and without width profiles (`width_samples` 0:
    // the detection scale's estimate): neither is a measurement.
    let mut clipped = af.clone();
    for (k, s) in clipped
        .hairs
        .iter_mut()
        .filter(|s| ids.contains(&s.id))
        .enumerate()
    {
        s.diameter_um *= 0.3;
        if k % 2 == 0 {
            s.diameter_clipped = true;
        } else {
            s.width_samples = 0;
        }
    }
    let c = run(&clipped);
    let d = |c: &Comparison, k: &str| c.deltas[k].delta;
    eprintln!(
        "{} records clipped: {:?} -> {:?}; diameter delta {:.3} -> {:.3}, vellus delta {:.4} -> {:.4}",
        ids.len(),
        c0.matches,
        c.matches,
        d(&c0, "shaft_diameter_mean_um"),
        d(&c, "shaft_diameter_mean_um"),
        d(&c0, "vellus_fraction"),
        d(&c, "vellus_fraction"),
    );
    let rows: Vec<_> = c
        .hair_matches
        .iter()
        .filter(|r| r.followup_id.is_some_and(|id| ids.contains(&id)))
        .collect();
    assert!(rows.len() >= ids.len());
    for r in rows {
        assert!(
            !matches!(r.change, ChangeKind::Thinned | ChangeKind::Thickened),
            "{r:?}"
        );
        assert_eq!(r.followup_diameter_um, None, "{r:?}");
    }
    assert!(c.matches.hairs_thinned <= c0.matches.hairs_thinned);
    assert!(
        (d(&c, "shaft_diameter_mean_um") - d(&c0, "shaft_diameter_mean_um")).abs() < 1.0,
        "{:?}",
        c.deltas["shaft_diameter_mean_um"]
    );
    assert!(
        (d(&c, "vellus_fraction") - d(&c0, "vellus_fraction")).abs() < 0.02,
        "{:?}",
        c.deltas["vellus_fraction"]
    );
    for k in ["shaft_diameter_mean_um", "vellus_fraction"] {
        assert!(!c.deltas[k].significant, "{k}: {:?}", c.deltas[k]);
    }
}

#[test]
fn true_changes_are_found() {
    let changes = SceneChanges {
        capillaries_added: 0.35,
        capillaries_removed: 0.1,
        a_star_shift: 3.0,
        thickened_fraction: 0.3,
        diameter_change_um: 15.0,
        vellus_to_terminal: 0.6,
        hairs_lost: 0.25,
        hairs_gained: 0.06,
        growth_um: 100.0,
        ..SceneChanges::default()
    };
    // Geometric nuisances and a different JPEG quality, no colour drift (the
    // a* change must be measurable without a colour reference here).
    let fol = VisitSpec {
        rotation_deg: 7.0,
        scale: 0.96,
        shift_frac: [-0.12, 0.08],
        jpeg_quality: Some(80),
        ..VisitSpec::default()
    };
    // A larger, denser field (≈ 230 hairs): a net hair-count change is only
    // detectable against the turnover when the field holds enough hairs.
    let mut spec = PairSpec {
        followup: fol,
        changes,
        ..PairSpec::default()
    };
    spec.scene.seed = 22;
    spec.scene.width = 1280;
    spec.scene.height = 960;
    if let Some(h) = spec.hairs.as_mut() {
        h.units_per_cm2 = 400.0;
    }
    let p = render_pair(&spec).unwrap();
    let c = compare_pair(&p);
    print(&c);
    if std::env::var_os("COMPARE_DEBUG").is_some() {
        let (ab, af) = (oracle_analysis(&p.baseline), oracle_analysis(&p.followup));
        score_calls(&p, &ab, &af, &c);
        classify_true_losses(&p, &ab, &af, &c);
    }
    let params = CompareParams::default();
    let e = p.expected(params.vellus_max_um, params.diameter_tolerance_um);
    eprintln!("expected {e:?}");
    eprintln!(
        "scene skin a* median {} → {}",
        p.baseline.scene_truth.skin_a_star_median, p.followup.scene_truth.skin_a_star_median
    );
    let m = &c.matches;
    let d = &c.deltas;
    // Hair count change by matching: within 2 % of the baseline count.
    let true_change = e.hair_count[1] as i64 - e.hair_count[0] as i64;
    let err = (m.hair_count_change - true_change).abs() as f64;
    assert!(
        err <= 0.02 * e.hair_count[0] as f64,
        "hair change {} vs {true_change}",
        m.hair_count_change
    );
    eprintln!(
        "hairs gained {} (truth {}), lost {} (truth {}), thickened {} (truth {}), thinned {} (truth {})",
        m.hairs_gained, e.hairs_gained, m.hairs_lost, e.hairs_lost, m.hairs_thickened, e.hairs_thickened, m.hairs_thinned, e.hairs_thinned
    );
    // Gained and lost capillaries within 10 %.
    for (got, want) in [
        (m.capillaries_gained, e.capillaries_gained),
        (m.capillaries_lost, e.capillaries_lost),
    ] {
        assert!(
            (got as f64 - want as f64).abs() <= 0.1 * want as f64,
            "capillaries {got} vs {want}"
        );
    }
    // Every true change: right sign, within 20 % of its size, significant.
    let within = |name: &str, truth: f64| {
        let x = &d[name];
        assert!(
            x.delta.signum() == truth.signum() && (x.delta - truth).abs() <= 0.2 * truth.abs(),
            "{name}: {} vs {truth}",
            x.delta
        );
        assert!(x.significant || !x.comparable, "{name}: {x:?}");
    };
    within(
        "capillary_count",
        e.capillary_count[1] as f64 - e.capillary_count[0] as f64,
    );
    within("hair_count", true_change as f64);
    within(
        "shaft_diameter_mean_um",
        e.shaft_diameter_mean_um[1] - e.shaft_diameter_mean_um[0],
    );
    within(
        "vellus_fraction",
        e.vellus_count[1] as f64 / e.hair_count[1] as f64
            - e.vellus_count[0] as f64 / e.hair_count[0] as f64,
    );
    within("erythema_a_star_median", e.a_star_shift);
    assert!(!d["erythema_a_star_median"].comparable);
}

#[test]
fn too_little_overlap_is_refused() {
    // Shifted by 75 % and 50 % of the field: an eighth of it is shared.
    let p = pair(
        31,
        nuisance_followup(2.0, 1.0, [0.75, 0.5]),
        SceneChanges::default(),
    );
    let r = register(
        &p.baseline.image.view(),
        &p.followup.image.view(),
        Some(5.0),
        &RegistrationParams::default(),
    );
    assert!(
        matches!(r, Err(trichometry::Error::Registration(_))),
        "{r:?}"
    );
}

/// Follow-ups that share little of the baseline field (36–46 %, above
/// the 30 % minimum): a shift past half the padded transform (which the
/// circular phase correlation wraps around) and shifts where the
/// Fourier–Mellin rotation/scale peaks are all wrong, as the shared part
/// lies at the frame edges. Until 2026-11-27 (session 19) seeds 61–63
/// were refused as "not the same spot" (3 of 64–87 landmarks agreeing;
/// 64 passed); found by the out-of-distribution sweep
/// (`tests/ood_sweep.rs`: seeds 201–210 registered 4/10, 0/10, 0/10 at
/// the shifts of 63, 62, 61 before, 10/10 each after).
#[test]
fn low_overlap_pairs_are_registered() {
    let cases = [
        (61, 0.0, 1.0, [0.6, 0.0]),
        (62, 2.0, 1.0, [0.45, 0.35]),
        (63, 3.0, 1.0, [0.35, 0.3]),
        (64, -7.0, 1.04, [-0.4, 0.3]),
    ];
    for (seed, rot, scale, shift) in cases {
        let p = pair(
            seed,
            VisitSpec {
                rotation_deg: rot,
                scale,
                shift_frac: shift,
                ..VisitSpec::default()
            },
            SceneChanges::default(),
        );
        let (reg, err) = registered(&p, &format!("seed {seed} shift {shift:?}"));
        eprintln!(
            "seed {seed}: shift {shift:?} rot {rot}: overlap {:.2}, inliers {}/{}, corner error {err:.2} px",
            reg.overlap_fraction, reg.inliers, reg.landmarks_tested
        );
        assert!(err <= 2.0, "seed {seed}: corner error {err} px");
    }
}

/// The pair registered at 5 µm/px with default parameters (a refusal fails
/// the test, named by `tag`), and its error at the follow-up's corners in
/// baseline pixels.
fn registered(p: &Pair, tag: &str) -> (Registration, f64) {
    let reg = register(
        &p.baseline.image.view(),
        &p.followup.image.view(),
        Some(5.0),
        &RegistrationParams::default(),
    )
    .unwrap_or_else(|e| panic!("{tag}: {e}"));
    let err = reg.followup_to_baseline.corner_distance_px(
        &p.truth.followup_to_baseline,
        p.followup.image.width(),
        p.followup.image.height(),
    );
    (reg, err)
}

/// A strip of skin (1200×300 px): the coarse level keeps two blocks across
/// the short side. Until 2026-11-27 (session 19) seeds 202 and 66 were
/// refused (65 passed; sweep seeds 201–210: 3/10 registered) with "too few
/// consistent landmarks at the coarse level" and a global
/// peak-to-sidelobe ratio above 300: the coarse level was 75 px high, one
/// row of 64 px blocks.
#[test]
fn strip_images_are_registered() {
    for seed in [202, 65, 66] {
        let mut spec = PairSpec {
            followup: VisitSpec {
                rotation_deg: 3.0,
                shift_frac: [0.1, 0.05],
                ..VisitSpec::default()
            },
            ..PairSpec::default()
        };
        spec.scene.seed = seed;
        spec.scene.width = 1200;
        spec.scene.height = 300;
        let p = render_pair(&spec).unwrap();
        let (_, err) = registered(&p, &format!("seed {seed}"));
        eprintln!("strip seed {seed}: corner error {err:.2} px");
        assert!(err <= 2.0, "seed {seed}: corner error {err} px");
    }
}

#[test]
fn comparison_is_deterministic_across_thread_counts_and_series_agree() {
    let p = pair(
        41,
        nuisance_followup(3.0, 1.01, [0.05, 0.05]),
        SceneChanges {
            capillaries_removed: 0.3,
            ..SceneChanges::default()
        },
    );
    let ab = oracle_analysis(&p.baseline);
    let af = oracle_analysis(&p.followup);
    let b = Visit::new(&p.baseline.image, &ab).with_date("2026-01-05");
    let f = Visit::new(&p.followup.image, &af).with_date("2026-02-16");
    let params = CompareParams::default();
    let json = |c: &Comparison| serde_json::to_string(c).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let c1 = one.install(|| compare(&b, &f, &params).unwrap());
    let c2 = compare(&b, &f, &params).unwrap();
    assert_eq!(json(&c1), json(&c2));
    assert_eq!(c1.maps.shared, c2.maps.shared);
    let bits = |c: &Comparison| -> Vec<u32> {
        c.maps
            .delta_a_star
            .as_ref()
            .unwrap()
            .data
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    assert!(bits(&c1) == bits(&c2), "Δa* maps differ");
    let s = trichometry::compare_series(&[b.clone(), f.clone(), f.clone()], &params).unwrap();
    assert_eq!(s.rows.len(), 3);
    assert_eq!(s.rows[1].date.as_deref(), Some("2026-02-16"));
    assert_eq!(json(&s.comparisons[0]), json(&c2));
    let k = "capillary_count";
    assert_eq!(s.rows[0].figures[k], c2.deltas[k].baseline);
    assert_eq!(s.rows[2].figures[k], c2.deltas[k].followup);
    assert!(s.rows[1].deltas[k].delta < 0.0 && s.rows[1].deltas[k].significant);
}

#[test]
fn colour_referenced_null_pair_is_comparable_and_unchanged() {
    // White-balance and exposure drift, each visit with a grey card in its
    // field: redness becomes comparable, and nothing changed.
    // The patch read is inset 24 px from the card's edges: JPEG ringing and
    // chroma subsampling at the edges must not reach it.
    let card = ([16usize, 16usize, 128usize, 96usize], 70.0f32);
    let mut spec = PairSpec {
        baseline: VisitSpec {
            grey_card: Some(card),
            jpeg_quality: None,
            ..VisitSpec::default()
        },
        followup: VisitSpec {
            grey_card: Some(card),
            // No JPEG here. With JPEG the grey card itself is mis-read: a
            // uniform patch gives every 8×8 block the same DCT coefficients,
            // so the encoder's rounding of the DC terms (Y, Cb, Cr; half a
            // quantisation step, ±0.56 level of Cr at q75) and of its
            // RGB↔YCbCr conversions is the same in every block and does not
            // average out over the patch. On a drifted (off-neutral) card
            // that is a per-channel gain error (seed 51, WB 1.08/1/0.9 ×
            // 0.85: R −1.9 % at q92 and q80, −3.2 % at q75; B +0.7 %, −2.1 %)
            // and skin a* after the card's correction moves by −0.55 (q92),
            // −0.54 (q80), −1.74 (q75) against the true gains. A neutral card
            // (Cb = Cr = 128 exactly) is read without error. Skin itself moves
            // by only −0.12…+0.35 a* with the quality (its texture dithers the
            // rounding). This is the JPEG file, not the analysis: the patch's
            // true colour is not in the file. See compare's module docs.
            jpeg_quality: None,
            ..nuisance_followup(-5.0, 1.03, [0.1, 0.1])
        },
        ..PairSpec::default()
    };
    spec.scene.seed = 51;
    let p = render_pair(&spec).unwrap();
    let cal = |v: &PairVisit| Calibration {
        um_per_px: Some(v.um_per_px_nominal),
        colour: trichometry::ColourReference::Neutral(trichometry::NeutralReference {
            rect: Some(trichometry::RectPx {
                x: 40,
                y: 40,
                w: 80,
                h: 48,
            }),
            lightness: 70.0,
            image: None,
        }),
    };
    let ab = oracle_analysis_with(&p.baseline, cal(&p.baseline));
    let af = oracle_analysis_with(&p.followup, cal(&p.followup));
    let c = compare(
        &Visit::new(&p.baseline.image, &ab),
        &Visit::new(&p.followup.image, &af),
        &CompareParams::default(),
    )
    .unwrap();
    print(&c);
    assert!(c.colour_comparable);
    for (k, d) in &c.deltas {
        assert!(d.comparable, "{k}");
        assert!(!d.significant, "{k}: {d:?}");
    }
}

/// The phantom hairs (scene items) a record's centreline lies on: (item,
/// share of the centreline's points on it), largest share first. A point
/// counts for every item labelled within a pixel of it.
fn record_items(v: &PairVisit, s: &trichometry::hairs::HairShaft) -> Vec<(usize, f64)> {
    let lab = &v.hair_labels;
    let mut n = std::collections::BTreeMap::<usize, usize>::new();
    let pts = &s.centreline_px;
    for q in pts {
        let (x, y) = (q[0].round() as i64, q[1].round() as i64);
        let mut here = std::collections::BTreeSet::new();
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (u, w) = (x + dx, y + dy);
                if u >= 0 && w >= 0 && (u as usize) < lab.width && (w as usize) < lab.height {
                    let l = lab.data[w as usize * lab.width + u as usize];
                    if l > 0 {
                        here.insert(v.hair_items[l as usize - 1]);
                    }
                }
            }
        }
        for it in here {
            *n.entry(it).or_default() += 1;
        }
    }
    let mut out: Vec<(usize, f64)> = n
        .into_iter()
        .map(|(it, k)| (it, k as f64 / pts.len().max(1) as f64))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Scores of a comparison's hair calls by the phantom's identities.
#[derive(Debug, Default)]
#[allow(dead_code)]
struct CallScore {
    /// Pairs of two records carrying one phantom hair.
    pairs_right: usize,
    /// Pairs of two records carrying different hairs of one unit.
    pairs_unit_mates: usize,
    /// Of those, pairs where another record of either visit has the
    /// other's hair as its main one (a reassignment could be right).
    unit_mates_fixable: usize,
    /// Pairs of records carrying unrelated hairs (or none).
    pairs_wrong: usize,
    /// One record found at the other visit by the re-check: right when the
    /// hair is present at both visits.
    rechecked_right: usize,
    rechecked_wrong: usize,
    gains_right: usize,
    /// False gains whose hair a baseline record carries (merged / under a
    /// matched shaft), whose hair another follow-up record also carries
    /// (split), or neither.
    false_gains: [usize; 3],
    losses_right: usize,
    false_losses: [usize; 3],
    /// Grouped records (split / merged): right when the group's records
    /// share a hair present at both visits.
    groups_right: usize,
    groups_wrong: usize,
}

/// The phantom items with label pixels in a visit's image (seen there; the
/// rule of `Pair::expected`).
fn seen_items(
    labels: &trichometry::image::Labels,
    items: &[usize],
) -> std::collections::BTreeSet<usize> {
    labels
        .data
        .iter()
        .filter(|&&l| l > 0)
        .map(|&l| items[l as usize - 1])
        .collect()
}

/// Score every hair call of `c` by the phantom's identities, printing the
/// wrong ones (`COMPARE_DEBUG`).
fn score_calls(p: &Pair, ab: &Analysis, af: &Analysis, c: &Comparison) -> CallScore {
    use trichometry::compare::ChangeKind;
    let items =
        |v: &PairVisit, a: &Analysis| -> std::collections::HashMap<u32, Vec<(usize, f64)>> {
            a.hairs.iter().map(|s| (s.id, record_items(v, s))).collect()
        };
    let (ib, jf) = (items(&p.baseline, ab), items(&p.followup, af));
    let prim = |m: &std::collections::HashMap<u32, Vec<(usize, f64)>>, id: Option<u32>| {
        id.and_then(|id| m.get(&id))
            .and_then(|v| v.first())
            .map(|x| x.0)
    };
    let carried_by =
        |m: &std::collections::HashMap<u32, Vec<(usize, f64)>>, it: usize, not: u32| {
            m.iter()
                .filter(|(&id, v)| id != not && v.iter().any(|x| x.0 == it && x.1 >= 0.25))
                .map(|(&id, _)| id)
                .collect::<Vec<u32>>()
        };
    let hairs = &p.truth.hairs;
    // Seen at a visit: label pixels there (the rule of `Pair::expected`; a
    // hair hidden all along under others at one visit is a change).
    let seen = [&p.baseline, &p.followup].map(|v| seen_items(&v.hair_labels, &v.hair_items));
    let present = |it: usize, v: usize| seen[v].contains(&it);
    // Where a phantom hair's pixels lie at a visit: (its label pixels, the
    // share of them under that visit's detected hair labels, the records
    // holding them).
    let under = |it: usize, v: usize| -> (usize, f64, Vec<u32>) {
        let (pv, a) = if v == 0 {
            (&p.baseline, ab)
        } else {
            (&p.followup, af)
        };
        let Some(hl) = a.maps.hair_labels.as_ref() else {
            return (0, 0.0, Vec::new());
        };
        let (mut n, mut k) = (0usize, 0usize);
        let mut ids = std::collections::BTreeMap::<u32, usize>::new();
        for (i, &l) in pv.hair_labels.data.iter().enumerate() {
            if l > 0 && pv.hair_items[l as usize - 1] == it {
                n += 1;
                if hl.data[i] > 0 {
                    k += 1;
                    *ids.entry(hl.data[i]).or_default() += 1;
                }
            }
        }
        let ids = ids
            .into_iter()
            .filter(|&(_, c)| c * 10 >= k.max(1))
            .map(|(id, _)| id)
            .collect();
        (n, k as f64 / n.max(1) as f64, ids)
    };
    let dbg = std::env::var_os("COMPARE_DEBUG").is_some();
    let mut s = CallScore::default();
    for r in &c.hair_matches {
        let (b, f) = (prim(&ib, r.baseline_id), prim(&jf, r.followup_id));
        match r.change {
            ChangeKind::Gained | ChangeKind::Lost => {
                let (v, own, id, other_map, same_map) = if r.change == ChangeKind::Gained {
                    (1, f, r.followup_id.unwrap(), &ib, &jf)
                } else {
                    (0, b, r.baseline_id.unwrap(), &jf, &ib)
                };
                let right = own.is_some_and(|it| !present(it, 1 - v));
                let kind = if right {
                    None
                } else if let Some(it) = own {
                    let under = carried_by(other_map, it, u32::MAX);
                    let split = carried_by(same_map, it, id);
                    Some(if !under.is_empty() {
                        0
                    } else if !split.is_empty() {
                        1
                    } else {
                        2
                    })
                } else {
                    Some(2)
                };
                let (ok, bad) = if v == 1 {
                    (&mut s.gains_right, &mut s.false_gains)
                } else {
                    (&mut s.losses_right, &mut s.false_losses)
                };
                match kind {
                    None => *ok += 1,
                    Some(k) => {
                        bad[k] += 1;
                        if dbg {
                            let it = own.unwrap_or(usize::MAX);
                            eprintln!(
                                "  FALSE {:?} id {id} item {it} ({:?}); other visit carriers {:?}; same visit {:?}; kind {k}; at the other visit (px, share under records, records) {:?}",
                                r.change,
                                own.map(|it| &hairs[it]),
                                own.map(|it| carried_by(other_map, it, u32::MAX)),
                                own.map(|it| carried_by(same_map, it, id)),
                                own.map(|it| under(it, 1 - v)),
                            );
                        }
                    }
                }
            }
            ChangeKind::SplitOrMerged => {
                // Right (for the count) when the joined record's hair is
                // present at both visits: not a change hidden.
                // The joined record is the one no other row holds.
                let (it, v) = if c.hair_matches.iter().any(|x| {
                    x.change != ChangeKind::SplitOrMerged && x.followup_id == r.followup_id
                }) {
                    (b, 0)
                } else {
                    (f, 1)
                };
                if it.is_some_and(|it| present(it, 1 - v)) {
                    s.groups_right += 1;
                } else {
                    s.groups_wrong += 1;
                }
                if dbg {
                    eprintln!(
                        "  JOINED visit {v} ids {:?} {:?} item {it:?} present {} d {:?} b {:?} f {:?}",
                        r.baseline_id,
                        r.followup_id,
                        it.is_some_and(|it| present(it, 1 - v)),
                        it.map(|it| hairs[it].diameter_um),
                        r.baseline_id.map(|id| &ib[&id]),
                        r.followup_id.map(|id| &jf[&id])
                    );
                }
            }
            _ if r.baseline_id.is_some() && r.followup_id.is_some() => match (b, f) {
                (Some(x), Some(y)) if x == y => s.pairs_right += 1,
                (Some(x), Some(y)) if hairs[x].unit == hairs[y].unit => {
                    s.pairs_unit_mates += 1;
                    // Could a reassignment within the unit be right: does
                    // another record of the other visit have this one's
                    // hair as its own main hair?
                    let fixable = jf.values().any(|v| v.first().map(|q| q.0) == Some(x))
                        || ib.values().any(|v| v.first().map(|q| q.0) == Some(y));
                    if fixable {
                        s.unit_mates_fixable += 1;
                    }
                    if dbg {
                        eprintln!(
                            "  UNIT-MATES{} b {:?} ({:?}) f {:?} ({:?}) items {x} {y}{}",
                            if fixable { " (fixable)" } else { "" },
                            r.baseline_id,
                            ib[&r.baseline_id.unwrap()],
                            r.followup_id,
                            jf[&r.followup_id.unwrap()],
                            if r.rechecked { " rechecked" } else { "" }
                        );
                    }
                }
                _ => {
                    s.pairs_wrong += 1;
                    if dbg {
                        eprintln!("  WRONG PAIR {r:?} items {b:?} {f:?}");
                    }
                }
            },
            _ => {
                let it = b.or(f);
                if it.is_some_and(|it| present(it, 0) && present(it, 1)) {
                    s.rechecked_right += 1;
                } else {
                    s.rechecked_wrong += 1;
                    if dbg {
                        eprintln!("  WRONG RECHECK {r:?} item {it:?}");
                    }
                }
            }
        }
    }
    eprintln!("{s:?}");
    s
}

/// A visit's point (visit 0 the baseline, 1 the follow-up) in baseline
/// pixels, through the comparison's registration.
fn to_baseline_px(c: &Comparison) -> impl Fn(usize, [f32; 2]) -> (f64, f64) {
    let f2b = c.registration.followup_to_baseline.affine();
    move |v, q| {
        if v == 0 {
            (q[0] as f64, q[1] as f64)
        } else {
            f2b.apply(q[0] as f64, q[1] as f64)
        }
    }
}

/// Causes of false hair gains / losses (session 28), one count per call:
/// `[no hair, split, wrong partner, pair missed, merged at the other
/// visit, not found at the other visit]`, and of all of them how many lie
/// near the shared field's edge (anchor within two match gates of it).
/// - no hair: the record lies on no phantom hair (≥ a quarter of it);
/// - split: another record of the same visit carries the record's hair
///   and is counted with the other visit (matched, re-checked, joined):
///   the hair is in two records at this visit, one already matched;
/// - wrong partner: the other visit's record of this hair (its main hair)
///   is matched to a record of another hair (a unit-mate or neighbour);
/// - pair missed: that record is itself called gained / lost;
/// - merged: the other visit carries the hair only inside a record of
///   another hair (merged into a neighbour's record);
/// - not found: no record of the other visit carries it (a detection
///   miss the re-check did not repair).
///
/// With `COMPARE_DEBUG` one line per call: the record's share lying along
/// the matched sibling (split) and along the sibling's partner at the
/// other visit (within 1.5 gates), its length and the sibling's.
fn classify_false_calls(
    p: &Pair,
    ab: &Analysis,
    af: &Analysis,
    c: &Comparison,
) -> ([usize; 6], usize) {
    use trichometry::compare::ChangeKind;
    let an = [ab, af];
    let pv = [&p.baseline, &p.followup];
    let items: [std::collections::HashMap<u32, Vec<(usize, f64)>>; 2] = [0, 1].map(|v| {
        an[v]
            .hairs
            .iter()
            .map(|s| (s.id, record_items(pv[v], s)))
            .collect()
    });
    let seen = pv.map(|v| seen_items(&v.hair_labels, &v.hair_items));
    // Row per record: (change, partner id at the other visit).
    let mut row: [std::collections::HashMap<u32, (ChangeKind, Option<u32>)>; 2] =
        Default::default();
    for r in &c.hair_matches {
        if let Some(b) = r.baseline_id {
            row[0].entry(b).or_insert((r.change, r.followup_id));
        }
        if let Some(f) = r.followup_id {
            row[1].entry(f).or_insert((r.change, r.baseline_id));
        }
    }
    let counted_with_other = |v: usize, id: u32| {
        row[v]
            .get(&id)
            .is_some_and(|x| !matches!(x.0, ChangeKind::Gained | ChangeKind::Lost))
    };
    let um = ab.summary.um_per_px.unwrap_or(5.0);
    let gate = CompareParams::default().hair_match_distance_um / um;
    let to_base = to_baseline_px(c);
    let rec = |v: usize, id: u32| an[v].hairs.iter().find(|s| s.id == id);
    // Share of `a`'s points within `d` px of `b`'s points (baseline px).
    let along = |va: usize, a: u32, vb: usize, b: u32, d: f64| -> f64 {
        let (Some(ra), Some(rb)) = (rec(va, a), rec(vb, b)) else {
            return f64::NAN;
        };
        let pb: Vec<(f64, f64)> = rb.centreline_px.iter().map(|&q| to_base(vb, q)).collect();
        let n = ra.centreline_px.len().max(1);
        ra.centreline_px
            .iter()
            .filter(|&&q| {
                let x = to_base(va, q);
                pb.iter().any(|y| (x.0 - y.0).hypot(x.1 - y.1) <= d)
            })
            .count() as f64
            / n as f64
    };
    let sh = &c.maps.shared;
    let near_edge = |x: f64, y: f64| {
        let r = (2.0 * gate) as i64;
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        (-r..=r).any(|dy| {
            (-r..=r).any(|dx| {
                let (u, w) = (cx + dx, cy + dy);
                u < 0
                    || w < 0
                    || u as usize >= sh.width
                    || w as usize >= sh.height
                    || !sh.data[w as usize * sh.width + u as usize]
            })
        })
    };
    let dbg = std::env::var_os("COMPARE_DEBUG").is_some();
    let names = [
        "no hair",
        "split",
        "wrong partner",
        "pair missed",
        "merged",
        "not found",
    ];
    let (mut out, mut edge) = ([0usize; 6], 0usize);
    for r in &c.hair_matches {
        let (v, id) = match r.change {
            ChangeKind::Gained => (1, r.followup_id.unwrap()),
            ChangeKind::Lost => (0, r.baseline_id.unwrap()),
            _ => continue,
        };
        let own = items[v][&id].first().copied();
        if own.is_some_and(|(it, _)| !seen[1 - v].contains(&it)) {
            continue; // a right call
        }
        let mut detail = String::new();
        let k = match own {
            None => 0,
            Some((it, _)) => {
                let sib: Vec<u32> = items[v]
                    .iter()
                    .filter(|(&o, x)| {
                        o != id
                            && counted_with_other(v, o)
                            && x.iter().any(|q| q.0 == it && q.1 >= 0.25)
                    })
                    .map(|(&o, _)| o)
                    .collect();
                let main_other: Vec<u32> = items[1 - v]
                    .iter()
                    .filter(|(_, x)| x.first().is_some_and(|q| q.0 == it))
                    .map(|(&o, _)| o)
                    .collect();
                let carry_other = items[1 - v]
                    .values()
                    .any(|x| x.iter().any(|q| q.0 == it && q.1 >= 0.25));
                if let Some(&s) = sib.iter().min() {
                    let partner = row[v][&s].1;
                    // Spans of the record and its sibling along the
                    // partner's principal axis (what `beside` tests), and
                    // the record's median distance to the partner's points.
                    let geo = partner.and_then(|q| {
                        let pq: Vec<(f64, f64)> = rec(1 - v, q)?
                            .centreline_px
                            .iter()
                            .map(|&x| to_base(1 - v, x))
                            .collect();
                        let n = pq.len() as f64;
                        let (mx, my) = (
                            pq.iter().map(|x| x.0).sum::<f64>() / n,
                            pq.iter().map(|x| x.1).sum::<f64>() / n,
                        );
                        let (mut a, mut b, mut d) = (0.0, 0.0, 0.0);
                        for x in &pq {
                            a += (x.0 - mx) * (x.0 - mx);
                            b += (x.0 - mx) * (x.1 - my);
                            d += (x.1 - my) * (x.1 - my);
                        }
                        let th = 0.5 * (2.0 * b).atan2(a - d);
                        let dir = (th.cos(), th.sin());
                        let span = |vv: usize, id: u32| {
                            rec(vv, id).map_or((f64::NAN, f64::NAN), |r| {
                                r.centreline_px.iter().fold(
                                    (f64::INFINITY, f64::NEG_INFINITY),
                                    |acc, &x| {
                                        let x = to_base(vv, x);
                                        let t = (x.0 - mx) * dir.0 + (x.1 - my) * dir.1;
                                        (acc.0.min(t), acc.1.max(t))
                                    },
                                )
                            })
                        };
                        let (r0, r1) = span(v, id);
                        let (m0, m1) = span(v, s);
                        let (p0, p1) = span(1 - v, q);
                        let mut lat: Vec<f64> = rec(v, id)?
                            .centreline_px
                            .iter()
                            .map(|&x| {
                                let x = to_base(v, x);
                                pq.iter()
                                    .map(|y| (x.0 - y.0).hypot(x.1 - y.1))
                                    .fold(f64::INFINITY, f64::min)
                            })
                            .collect();
                        lat.sort_by(f64::total_cmp);
                        let exits = match (rec(v, id)?.exit_px, rec(v, s)?.exit_px) {
                            (Some(a), Some(b)) => {
                                let (a, b) = (to_base(v, a), to_base(v, b));
                                (a.0 - b.0).hypot(a.1 - b.1)
                            }
                            _ => f64::NAN,
                        };
                        Some(format!(
                            "spans r [{r0:.0}, {r1:.0}] m [{m0:.0}, {m1:.0}] p [{p0:.0}, {p1:.0}] overlap {:.0} px; r lateral median {:.1} px; exits apart {exits:.1} px",
                            (r1.min(m1) - r0.max(m0)).max(0.0),
                            lat[lat.len() / 2],
                        ))
                    });
                    detail = format!(
                        "sibling {s} along it {:.2} (it along sibling {:.2}); along the sibling's partner {:?} {:.2}; len {:.0} vs {:.0} um; {}",
                        along(v, id, v, s, 3.0),
                        along(v, s, v, id, 3.0),
                        partner,
                        partner.map_or(f64::NAN, |q| along(v, id, 1 - v, q, 1.5 * gate)),
                        rec(v, id).map_or(0.0, |x| x.length_um),
                        rec(v, s).map_or(0.0, |x| x.length_um),
                        geo.unwrap_or_default(),
                    );
                    1
                } else if !main_other.is_empty() {
                    let o = main_other[0];
                    match row[1 - v].get(&o) {
                        Some((ChangeKind::Gained | ChangeKind::Lost, _)) | None => {
                            detail = format!("other's record {o} unmatched too");
                            3
                        }
                        Some((ch, partner)) => {
                            detail = format!(
                                "other's record {o} {ch:?} with {partner:?} (items {:?})",
                                partner.and_then(|q| items[v].get(&q))
                            );
                            2
                        }
                    }
                } else if carry_other {
                    4
                } else {
                    5
                }
            }
        };
        out[k] += 1;
        let e = near_edge(r.x_px, r.y_px);
        edge += usize::from(e);
        if dbg {
            let s = rec(v, id).unwrap();
            eprintln!(
                "  CAUSE {:?} id {id} {}{} item {:?} d {:.0} um len {:.0} um trunc {} clipped {}: {detail}",
                r.change,
                names[k],
                if e { " (edge)" } else { "" },
                own,
                s.diameter_um,
                s.length_um,
                s.truncated,
                s.diameter_clipped,
            );
        }
    }
    (out, edge)
}

/// Session 29, test-only: what became of every truly lost hair (seen at
/// the baseline, not at the follow-up, its baseline pixels' centroid in
/// both frames, the rule of `Pair::expected`): `[called lost, matched to
/// a record of a unit-mate, matched to a record of another hair,
/// re-checked present, joined as split or merged, its record not counted
/// (outside the shared field), only inside a record of another hair
/// (merged), no record at all]`. `COMPARE_DEBUG` prints one line per hair
/// not called lost.
fn classify_true_losses(p: &Pair, ab: &Analysis, af: &Analysis, c: &Comparison) -> [usize; 8] {
    use trichometry::compare::ChangeKind;
    let pv = &p.baseline;
    let seen_f = seen_items(&p.followup.hair_labels, &p.followup.hair_items);
    let f2b = c.registration.followup_to_baseline;
    let b2f = f2b.inverse().affine();
    let (bw, bh) = (pv.image.width(), pv.image.height());
    let (fw, fh) = (p.followup.image.width(), p.followup.image.height());
    let in_frame = |x: f64, y: f64, w: usize, h: usize| {
        x >= -0.5 && y >= -0.5 && x < w as f64 - 0.5 && y < h as f64 - 0.5
    };
    let in_both = |x: f64, y: f64| {
        let q = b2f.apply(x, y);
        in_frame(x, y, bw, bh) && in_frame(q.0, q.1, fw, fh)
    };
    let lab = &pv.hair_labels;
    let n_items = p.truth.hairs.len();
    let mut acc = vec![(0.0f64, 0.0f64, 0usize, 0usize); n_items];
    for (i, &l) in lab.data.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let it = pv.hair_items[l as usize - 1];
        let (x, y) = ((i % lab.width) as f64, (i / lab.width) as f64);
        acc[it].3 += 1;
        if in_both(x, y) {
            acc[it].0 += x;
            acc[it].1 += y;
            acc[it].2 += 1;
        }
    }
    let lost: Vec<usize> = (0..n_items)
        .filter(|&it| {
            let (sx, sy, n, all) = acc[it];
            all > 0 && !seen_f.contains(&it) && n > 0 && in_both(sx / n as f64, sy / n as f64)
        })
        .collect();
    let items: std::collections::HashMap<u32, Vec<(usize, f64)>> = ab
        .hairs
        .iter()
        .map(|s| (s.id, record_items(pv, s)))
        .collect();
    let mut row: std::collections::HashMap<u32, &trichometry::compare::HairMatch> =
        Default::default();
    for r in &c.hair_matches {
        if let Some(b) = r.baseline_id {
            // The joined record's own row (the record no other row holds).
            let joined_own = r.change == ChangeKind::SplitOrMerged
                && c.hair_matches.iter().any(|x| {
                    x.change != ChangeKind::SplitOrMerged && x.followup_id == r.followup_id
                });
            if r.change != ChangeKind::SplitOrMerged || joined_own {
                row.entry(b).or_insert(r);
            }
        }
    }
    let fitems: std::collections::HashMap<u32, Option<usize>> = af
        .hairs
        .iter()
        .map(|s| (s.id, record_items(&p.followup, s).first().map(|x| x.0)))
        .collect();
    let dbg = std::env::var_os("COMPARE_DEBUG").is_some();
    let mut out = [0usize; 8];
    for &it in &lost {
        let prim: Vec<u32> = items
            .iter()
            .filter(|(_, v)| v.first().is_some_and(|x| x.0 == it))
            .map(|(&id, _)| id)
            .collect();
        let rows: Vec<(u32, Option<&&trichometry::compare::HairMatch>)> =
            prim.iter().map(|&id| (id, row.get(&id))).collect();
        let k = if rows
            .iter()
            .any(|(_, r)| r.is_some_and(|r| r.change == ChangeKind::Lost))
        {
            0
        } else if let Some((_, Some(r))) = rows.iter().find(|(_, r)| r.is_some()) {
            match r.change {
                ChangeKind::SplitOrMerged => 4,
                _ if r.rechecked => 3,
                _ => {
                    let fi = r
                        .followup_id
                        .and_then(|f| fitems.get(&f).copied().flatten());
                    if fi.is_some_and(|f| p.truth.hairs[f].unit == p.truth.hairs[it].unit) {
                        1
                    } else {
                        2
                    }
                }
            }
        } else if !rows.is_empty() {
            5
        } else if items
            .values()
            .any(|v| v.iter().any(|x| x.0 == it && x.1 >= 0.25))
        {
            6
        } else {
            7
        };
        out[k] += 1;
        if dbg && k > 0 {
            let h = &p.truth.hairs[it];
            eprintln!(
                "  TRUELOSS kind {k} item {it} d {:?} um unit {} baseline px {} records {:?} rows {:?}",
                h.diameter_um,
                h.unit,
                acc[it].3,
                prim,
                rows.iter()
                    .map(|(id, r)| (id, r.map(|r| (r.change, r.followup_id, r.rechecked))))
                    .collect::<Vec<_>>(),
            );
        }
    }
    eprintln!(
        "true losses {}: [called lost, matched to a unit-mate's record, matched to another hair's record, re-checked present, joined, record not counted, only inside another hair's record, no record] {out:?}",
        lost.len()
    );
    out
}

/// Session 28, test-only: for every gained / lost call, right or false by
/// the phantom's identities, the matched record of its own visit it lies
/// closest inside (median distance of its vertices to that record's
/// centreline, px of its visit), both records' widths (px) and its median
/// distance to that record's partner at the other visit (baseline px):
/// what a rule "a record inside a matched record's shaft is a piece of
/// that hair" would take (`COMPARE_DEBUG`).
fn inside_matched(p: &Pair, ab: &Analysis, af: &Analysis, c: &Comparison) {
    use trichometry::compare::ChangeKind;
    if std::env::var_os("COMPARE_DEBUG").is_none() {
        return;
    }
    let an = [ab, af];
    let pv = [&p.baseline, &p.followup];
    let seen = pv.map(|v| seen_items(&v.hair_labels, &v.hair_items));
    let to_base = to_baseline_px(c);
    let rec = |v: usize, id: u32| an[v].hairs.iter().find(|s| s.id == id);
    let mut partner: [std::collections::HashMap<u32, Option<u32>>; 2] = Default::default();
    for r in &c.hair_matches {
        if r.change == ChangeKind::Unchanged
            || r.change == ChangeKind::Thinned
            || r.change == ChangeKind::Thickened
        {
            if let Some(b) = r.baseline_id {
                partner[0].insert(b, r.followup_id);
            }
            if let Some(f) = r.followup_id {
                partner[1].insert(f, r.baseline_id);
            }
        }
    }
    // Median distance of a's points to b's polyline (segments), in the
    // coordinates given by `map`.
    let med = |a: &[(f64, f64)], b: &[(f64, f64)]| -> f64 {
        let mut d: Vec<f64> = a
            .iter()
            .map(|&q| {
                b.windows(2)
                    .map(|s| {
                        let (dx, dy) = (s[1].0 - s[0].0, s[1].1 - s[0].1);
                        let l2 = dx * dx + dy * dy;
                        let t = if l2 > 0.0 {
                            (((q.0 - s[0].0) * dx + (q.1 - s[0].1) * dy) / l2).clamp(0.0, 1.0)
                        } else {
                            0.0
                        };
                        (q.0 - s[0].0 - t * dx).hypot(q.1 - s[0].1 - t * dy)
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect();
        d.sort_by(f64::total_cmp);
        d.get(d.len() / 2).copied().unwrap_or(f64::INFINITY)
    };
    let um = [0, 1].map(|v| an[v].summary.um_per_px.unwrap_or(5.0));
    for r in &c.hair_matches {
        let (v, id) = match r.change {
            ChangeKind::Gained => (1, r.followup_id.unwrap()),
            ChangeKind::Lost => (0, r.baseline_id.unwrap()),
            _ => continue,
        };
        let Some(s) = rec(v, id) else { continue };
        let own: Vec<(f64, f64)> = s
            .centreline_px
            .iter()
            .map(|q| (q[0] as f64, q[1] as f64))
            .collect();
        let it = record_items(pv[v], s).first().map(|x| x.0);
        let right = it.is_some_and(|it| !seen[1 - v].contains(&it));
        let mut best: Option<(f64, u32)> = None;
        for (&m, _) in partner[v].iter() {
            let Some(rm) = rec(v, m) else { continue };
            if rm.centreline_px.len() < 2 {
                continue;
            }
            let ml: Vec<(f64, f64)> = rm
                .centreline_px
                .iter()
                .map(|q| (q[0] as f64, q[1] as f64))
                .collect();
            let d = med(&own, &ml);
            if best.is_none_or(|b| d < b.0) {
                best = Some((d, m));
            }
        }
        let Some((d, m)) = best else { continue };
        let rm = rec(v, m).unwrap();
        let lat_p = partner[v][&m]
            .and_then(|q| rec(1 - v, q))
            .map_or(f64::NAN, |pq| {
                let a: Vec<(f64, f64)> = s.centreline_px.iter().map(|&x| to_base(v, x)).collect();
                let b: Vec<(f64, f64)> = pq
                    .centreline_px
                    .iter()
                    .map(|&x| to_base(1 - v, x))
                    .collect();
                med(&a, &b)
            });
        let exits = match (s.exit_px, rm.exit_px) {
            (Some(a), Some(b)) => ((a[0] - b[0]) as f64).hypot((a[1] - b[1]) as f64),
            _ => f64::NAN,
        };
        eprintln!(
            "  INSIDE {} {:?} id {id} item {it:?}: nearest matched {m} (item {:?}) median distance {d:.1} px, widths r {:.1} m {:.1} px ({}), to its partner {lat_p:.1} px; len r {:.0} m {:.0} um; exits apart {exits:.1} px",
            if right { "RIGHT" } else { "FALSE" },
            r.change,
            record_items(pv[v], rm).first().map(|x| x.0),
            s.diameter_um / um[v],
            rm.diameter_um / um[v],
            if d <= 0.5 * rm.diameter_um / um[v] { "inside m" } else if d <= 0.5 * (rm.diameter_um + s.diameter_um) / um[v] { "touching" } else { "apart" },
            s.length_um,
            rm.length_um,
        );
    }
}

/// End to end: both visits analysed by the real hair and vessel stages (no
/// oracle), then compared. Hairs lost and gained, capillaries added and
/// removed, geometric and camera nuisances.
struct EndToEnd {
    pair: Pair,
    baseline: Analysis,
    followup: Analysis,
    comparison: Comparison,
    expected: trichometry::synth::pair::ExpectedChanges,
}

fn end_to_end() -> EndToEnd {
    let spec = PairSpec::crowded_followup_example(61);
    let p = render_pair(&spec).unwrap();
    let t0 = std::time::Instant::now();
    let (ab, af) = (real_analysis(&p.baseline), real_analysis(&p.followup));
    eprintln!(
        "analysed both visits in {:?}: {} / {} shafts, {} / {} capillaries",
        t0.elapsed(),
        ab.hairs.len(),
        af.hairs.len(),
        ab.capillaries.len(),
        af.capillaries.len()
    );
    // Unmatched hairs re-checked in the other visit's image (a detection
    // miss is not a scene change; the default).
    let params = CompareParams {
        recheck_unmatched_capillaries: std::env::var_os("NULL_RECHECK_CAPILLARIES").is_some(),
        ..CompareParams::default()
    };
    assert!(params.recheck_unmatched_hairs);
    let c = compare(
        &Visit::new(&p.baseline.image, &ab),
        &Visit::new(&p.followup.image, &af),
        &params,
    )
    .unwrap();
    print(&c);
    let e = p.expected(params.vellus_max_um, params.diameter_tolerance_um);
    eprintln!("expected {e:?}");
    score_calls(&p, &ab, &af, &c);
    inside_matched(&p, &ab, &af, &c);
    classify_true_losses(&p, &ab, &af, &c);
    eprintln!(
        "false calls by cause [no hair, split, wrong partner, pair missed, merged, not found], near edge: {:?}",
        classify_false_calls(&p, &ab, &af, &c)
    );
    let caps = score_capillary_calls(&p, &ab, &af, &c);
    eprintln!(
        "capillary calls: gains {} right, {} false; losses {} right, {} false",
        caps[0], caps[1], caps[2], caps[3]
    );
    diagnose_capillary_misses(&p, &ab, &af, &c);
    EndToEnd {
        pair: p,
        baseline: ab,
        followup: af,
        comparison: c,
        expected: e,
    }
}

/// Capillaries gained and lost on the end-to-end pair (seed 61), by
/// default (the capillary re-check off): 83 / 70 against truth 89 / 68.
/// Session 22, `NULL_RECHECK_CAPILLARIES=1` turns the re-check on here
/// too and `COMPARE_DEBUG` lists every true change no call found
/// (`diagnose_capillary_misses`): with the re-check (its core read under
/// the hair mask, its own-image measurement, records re-checked part by
/// part) gains 78 (77 right, 1 false), losses 60 (58 right, 2 false),
/// outside the bound (≥ 81 / ≥ 62); on main c41c8de 76 (74 right) / 57
/// (53 right). Of the 12 gains and 10 losses missed then, 8 and 5 lie
/// wholly under a phantom hair (≥ 84 % of their pixels), 2 and 5 half
/// under hair where the hair mask hides the visible half from the vessel
/// stage, 2 gains inside a neighbour's record.
#[test]
fn end_to_end_capillaries_gained_and_lost() {
    let run = end_to_end();
    let (c, e) = (&run.comparison, &run.expected);
    let m = &c.matches;
    eprintln!(
        "capillaries gained {} (truth {}), lost {} (truth {})",
        m.capillaries_gained, e.capillaries_gained, m.capillaries_lost, e.capillaries_lost
    );
    assert!(m.capillaries_matched > 0, "{m:?}");
    for (got, want) in [
        (m.capillaries_gained, e.capillaries_gained),
        (m.capillaries_lost, e.capillaries_lost),
    ] {
        assert!(
            (got as f64 - want as f64).abs() <= 0.1 * want as f64,
            "capillaries {got} vs {want}"
        );
    }
}

/// The capillary re-check (`recheck_unmatched_capillaries`, off by
/// default) on the end-to-end pair, scored by the phantom's identities
/// against the default run on the same analyses: it may only remove false
/// calls and must keep the true ones — a change it drops must have been a
/// false call. Session 22: default gains 83 (74 right, 9 false) / losses
/// 70 (53 right, 15 false) — the default passes its ±10 % bound only
/// because false calls make up for misses —, with the re-check 78 (77
/// right, 1 false) / 60 (58 right, 2 false): the part-by-part re-check of
/// matched records adds true calls.
#[test]
fn capillary_recheck_drops_false_calls_and_keeps_true_ones() {
    let run = end_to_end();
    let default = score_capillary_calls(&run.pair, &run.baseline, &run.followup, &run.comparison);
    let params = CompareParams {
        recheck_unmatched_capillaries: true,
        ..CompareParams::default()
    };
    let c = compare(
        &Visit::new(&run.pair.baseline.image, &run.baseline),
        &Visit::new(&run.pair.followup.image, &run.followup),
        &params,
    )
    .unwrap();
    let rechecked = score_capillary_calls(&run.pair, &run.baseline, &run.followup, &c);
    eprintln!(
        "default [gains right, false, losses right, false] {default:?}, re-checked {rechecked:?}"
    );
    // Right calls kept (gains, losses), false calls fewer.
    assert!(
        rechecked[0] >= default[0] && rechecked[2] >= default[2],
        "{default:?} {rechecked:?}"
    );
    assert!(
        rechecked[1] + rechecked[3] < default[1] + default[3],
        "{default:?} {rechecked:?}"
    );
    assert!(rechecked[1] + rechecked[3] <= 3, "{rechecked:?}");
}

/// Session 23 (branch `hlost23`): the baseline's lost hairs record by
/// record (`PAIR_DIAG=61 PAIR_AXIS=1 cargo test --release -p trichometry
/// --lib pair_diag::pair_diag -- --ignored --nocapture`, which now prints
/// per lost hair its `GAP`, the edge gap to the nearest other hair along its
/// visible axis, and the junction `DISCS` that cut its maxima). Of the 22
/// with >= 150 um visible lost at NMS / junction cut (13 vellus), 15 lie
/// on or over a neighbour's edge over most of their visible axis (under
/// 0.3 of it clear by >= 1 px; median edge gap -0.7 to -11.5 px), 8 of
/// them with no NMS maxima at all (their axis takes the neighbour's widest
/// scale, sigma 12 px: one ridge, one centreline); 4 are clear over
/// 0.39-0.45 and 3 over 0.59-0.81 (t121, t141, t157, all vellus). Of those
/// three, t121 (18 um, 8 px beside a 68 um shaft) is traced over 115 um
/// only (12 of 12 profiles good) and fails the 150 um length; t141 and
/// t157 are cut by a junction disc of sigma 12 (radius 18 px, 90 um)
/// where they leave their mate (NMS coverage 0.50 -> 0.42 and 0.46 ->
/// 0.18). Of the 20 merged into a neighbour's record, 12 are clear over
/// under 0.3 of their axis; 4 are clear over >= 0.51 (t118 wholly clear,
/// 24 px from its neighbour, its record joined across a crossing into
/// another hair's, which then owns it). Length rejections: t79 (29 px of 30
/// needed, 9 of 9 profiles good), t82 21 px, t90 8 px. Tried, not kept:
/// (a) a centreline pixel of a ridge at most half the junction's sigma is
/// cut only within sigma_j + 1.5 sigma_p of the junction: t157 0.14 ->
/// 0.26, t141 0.42 -> 0.44 of the axis in pieces, no record gained on this
/// pair, unseen crowded 44-50 sum |count error| 67 -> 67, MAE 2.890; (b)
/// with it, a shaft's length counted with half the junction disc's chord
/// beyond each end it abuts (the hair hidden by the cut): this pair
/// unchanged (t157 traced at 0.57 but 9 of 44 px profiled), crowded 63,
/// MAE 2.958, truth shafts with a record 324 -> 326 of 525, second
/// records 72 -> 74, records on none 62 -> 62, all bounds 3 of 21, but
/// both invariance tests fail (25 upright vs 23 rescaled and rotated;
/// rotated mean diameter 65.3 vs 59.5 um); (c) (b) only where the chord
/// is at least four of the piece's widths: the same failure (25 vs 23 /
/// 23). Most of the remaining losses are hairs a luminance ridge cannot
/// part from their neighbour; the separable ones are the NMS gap rule's
/// (`hvellus22`) and the crossing joins'.
#[test]
#[ignore = "reached: hair-count change -13 vs truth -29 (10.9 % of 147, bound 2 %): gained 5 vs 8, lost 18 vs 37, 81 matched (18 re-checked), 9 records joined; thinned 2, thickened 1; of the 37 true losses 15 called lost, 7 only inside another hair's baseline record, 14 with no baseline record (session 29's merged main: the noise-aware walk with one paired window, the join below and the paired darkness reading of records still unmatched). With the walk and the join: -12 (gained 7, lost 19). With the join alone: -11 vs truth -29 (12.2 % of 147): gained 8 vs 8 (2 right), lost 19 vs 37 (16 right), 78 matched (14 re-checked), 6 records joined, all right; thinned 3, thickened 0 (since session 29's join of records on their partner's shaft when the other image shows them; of the 37 true losses 20 have no baseline record of their own: 14 none at all, 6 only inside another hair's record; 2 are matched to a wrong partner). Before: -8 vs truth -29 (14.3 % of 147, bound 2 %): gained 11 vs 8, lost 19 vs 37, 78 matched (14 re-checked), 3 records joined; thinned 3, thickened 0 (since session 27's doubles dropped (inside_longer) and edge-clipped hairs: double records of the baseline no longer stand in for missed hairs; right gains 2, losses 16, false gains 9, false losses 3). Before: -11 vs truth -29 (12.2 % of 147, bound 2 %): gained 10 vs 8, lost 21 vs 37, 81 matched (14 re-checked), 3 records joined; thinned 3, thickened 1 (since session 25's stub ends bridged with their chain's pooled width; capillaries 83 vs 89, 68 vs 68). Before: -10 vs truth -29 (12.9 % of 147, bound 2 %): gained 10 vs 8, lost 20 vs 37, 82 matched (14 re-checked), 3 records joined; thinned 3, thickened 1 (since session 24's image-verified bridge links and profiles 10 µm apart; capillaries 83 vs 89, 68 vs 68). Before: -12 vs truth -29 (11.6 % of 147, bound 2 %): gained 9 vs 8 (2 right, 7 false), lost 21 vs 37 (16 right, 5 false), 85 matched (17 re-checked, 1 wrong), 4 records joined, all right (since session 21: the re-check counts a ridge under a matched shaft of the other visit where that shaft's partner does not lie, and probes frame-edge stubs at a third). Before: -11 vs truth -29 (12.2 % of 147, bound 2 %): gained 9 vs 8 (2 right, 7 false), lost 20 vs 37 (15 right, 5 false), 86 matched, 5 records joined, all right; thinned 3, thickened 0 (truth 0 / 0; 9 / 10 before the paired diameter measurement of session 20); 104 / 101 shafts in the two images (since session 17, 2026-11-27: the widest ridge scales on a 2x-decimated plane and end pieces no profile or centreline shows dropped). Before them: -10 vs truth -29 (12.9 % of 147): gained 11 vs 8 (3 right), lost 21 vs 37 (14 right, 7 false), 87 matched, 5 records joined, all right; the hair stage finds 104 / 108 shafts (since the frame-half profiles of session 16, 2026-11-27: one more follow-up shaft, one more false gain). Before them: -11 vs truth -29 (12.2 % of 147): gained 10 vs 8 (3 right), lost 21 vs 37 (14 right, 7 false), 87 matched, 5 records joined, all right; the hair stage finds 104 / 107 shafts (since the fork-less band split of session 15, 2026-11-27: its two new losses are false). Before it: -9 vs truth -29 (13.6 % of 147, bound 2 %): gained 10 vs 8, lost 19 vs 37, 87 matched (16 re-checked, 2 of them wrong), 5 records joined as split or merged (3 baseline, 2 follow-up), all right; the hair stage finds 102 / 106 shafts (since the band split of session 14, 2026-11-27: 3 gains right, 7 false; 14 losses right, 5 false). Before the split: -11 vs truth -29 (12.2 % of 147, bound 2 %): gained 8 vs 8, lost 19 vs 37, 85 matched (16 re-checked, 2 of them wrong), 6 records joined as split or merged (3 baseline, 3 follow-up), all 6 right; the hair stage finds 100 / 103 shafts (since the follicle-exit changes of 2026-11-27, session 13; before them -9: gained 9, lost 18, 84 matched, 15 re-checked, 7 joins, hair-count interval [-21, 3]). Session-12 breakdown at -9 follows. Calls scored by the phantom's identities (score_calls; a hair is seen at a visit when it has label pixels there, the rule of Pair::expected): before the joins 9 false gains and 7 false losses, after them 5 false gains (4 hairs the baseline's hair stage missed whose re-check failed, 1 under a matched baseline shaft) and 4 false losses (all under a matched follow-up shaft: 1 a parallel record beside its partner, 2 not on its line, 1 overlapping its partner by a third of its length; joining with half instead of a quarter overlap gets that one right (-8) but joins 3 true losses on the dense oracle pair); all 7 joins right, 1 of the 15 re-checks wrong (each joined record's hair seen at both visits). Matched pairs: 57 right, 6 unit-mates (records carrying several hairs of one unit merged; 2 where another record has the other's hair as its main one), 7 unrelated (merged crossings). The count is now bounded by the hair stage: 24 of the 37 true losses were never detected at the baseline, so cannot be counted lost; every call right would give -10. Without the re-check -4 (gained 23, lost 27, 69 matched). The hair stage finds 99 / 102 shafts where the phantom has 147 / 118 in the shared field. Baseline losses (hairs::pair_diag::pair_diag, 135 truth hairs with >= 150 um visible): 22 lost at NMS / junction cut (vellus unit-mates inside a terminal's halo, thick opaque shafts whose NMS band is 2 px wide), 21 merged into a neighbour's record (11 unit-mates), 5 rejected, 2 partial; 27 more have < 150 um visible (hidden under unit-mates or cut by the frame) yet count in the truth; capillaries pass (83 vs 89, 70 vs 68 now; 83 vs 89, 71 vs 68 after the redness-background change of 2026-11-27; 87 vs 89 before)"]
fn end_to_end_hair_count_change() {
    let run = end_to_end();
    let (c, e) = (&run.comparison, &run.expected);
    let m = &c.matches;
    let true_change = e.hair_count[1] as i64 - e.hair_count[0] as i64;
    let err = (m.hair_count_change - true_change).abs() as f64 / e.hair_count[0] as f64;
    eprintln!(
        "hair-count change {} vs truth {true_change} ({:.1} % of {}); gained {} (truth {}), lost {} (truth {})",
        m.hair_count_change,
        100.0 * err,
        e.hair_count[0],
        m.hairs_gained,
        e.hairs_gained,
        m.hairs_lost,
        e.hairs_lost,
    );
    assert!(
        err <= 0.02,
        "hair-count change {} vs {true_change}",
        m.hair_count_change
    );
}

#[test]
fn figures_are_computed_on_the_shared_field_and_missing_inputs_are_null() {
    let p = pair(
        43,
        nuisance_followup(6.0, 1.02, [0.18, -0.12]),
        SceneChanges {
            capillaries_removed: 0.2,
            ..SceneChanges::default()
        },
    );
    let ab = oracle_analysis(&p.baseline);
    let af = oracle_analysis(&p.followup);
    let c = compare(
        &Visit::new(&p.baseline.image, &ab),
        &Visit::new(&p.followup.image, &af),
        &CompareParams::default(),
    )
    .unwrap();
    let (sh, ov) = (&c.maps.shared, &c.maps.overlap);
    let (w, h) = (p.baseline.image.width(), p.baseline.image.height());
    assert_eq!((sh.width, sh.height, ov.width, ov.height), (w, h, w, h));
    // shared ⊆ overlap ⊊ frame.
    assert!(sh.data.iter().zip(&ov.data).all(|(&s, &o)| !s || o));
    let (ns, no) = (sh.count(), ov.count());
    eprintln!("shared {ns} px, overlap {no} px of {}", w * h);
    assert!(ns > 0 && no < w * h * 9 / 10, "{ns} {no}");
    let um = p.baseline.um_per_px_nominal;
    assert!((c.shared_area_mm2 - ns as f64 * um * um * 1e-6).abs() < 1e-9);
    // Every pixel of the overlap is inside the follow-up's frame by the true
    // transform (within registration error at the rim).
    let b2f = p.truth.followup_to_baseline.inverse();
    let (fw, fh) = (
        p.followup.image.width() as f64,
        p.followup.image.height() as f64,
    );
    let outside = ov
        .data
        .iter()
        .enumerate()
        .filter(|&(i, &o)| {
            let (u, v) = b2f.apply((i % w) as f64, (i / w) as f64);
            o && !(u >= -1.5 && v >= -1.5 && u < fw + 0.5 && v < fh + 0.5)
        })
        .count();
    assert_eq!(outside, 0);
    // The baseline capillary count is that of the baseline's capillaries in
    // the shared field, not of the whole baseline.
    let inside = |x: f64, y: f64| sh.data[y.round() as usize * w + x.round() as usize];
    let in_shared = ab
        .capillaries
        .iter()
        .filter(|k| inside(k.centroid_x_px, k.centroid_y_px))
        .count();
    let d = &c.deltas["capillary_count"];
    assert_eq!(d.baseline, in_shared as f64);
    assert!(in_shared < ab.capillaries.len());
    // Baseline skin a* median over the shared skin pixels (histogram bins of
    // 0.02 a*).
    let a = &ab.maps.erythema.as_ref().unwrap().a_star;
    let mut v: Vec<f32> = (0..w * h)
        .filter(|&i| sh.data[i] && ab.maps.skin_mask.data[i])
        .map(|i| a.data[i])
        .collect();
    v.sort_by(f32::total_cmp);
    let med = v[v.len() / 2] as f64;
    let got = c.deltas["erythema_a_star_median"].baseline;
    assert!((got - med).abs() < 0.03, "{got} vs {med}");
    // No stage measures scale yet: the figure is present, not computed, null.
    let s = &c.deltas["scale_area_fraction"];
    assert!(!s.computed && !s.significant && s.delta.is_nan(), "{s:?}");
    let json = serde_json::to_value(&c).unwrap();
    assert!(json["deltas"]["scale_area_fraction"]["delta"].is_null());
    assert!(json["deltas"]["scale_area_fraction"]["ci95_low"].is_null());
    assert!(c.deltas["capillary_count"].computed);
}

/// Hairs present at both visits but missed by the baseline's detection
/// (records and labels removed) are found again by re-checking the
/// baseline image along their mapped centrelines: the gained and lost
/// counts stay those of the real scene changes (a truly lost or gained hair
/// stays so), and without the re-check every miss is a false gain.
#[test]
fn recheck_finds_missed_hairs_and_keeps_true_changes() {
    let changes = SceneChanges {
        hairs_lost: 0.2,
        hairs_gained: 0.1,
        thickened_fraction: 0.3,
        diameter_change_um: 15.0,
        growth_um: 100.0,
        ..SceneChanges::default()
    };
    let p = pair(71, nuisance_followup(-4.0, 1.03, [0.1, -0.08]), changes);
    let ab = oracle_analysis(&p.baseline);
    let af = oracle_analysis(&p.followup);
    let params = CompareParams {
        recheck_unmatched_hairs: true,
        ..CompareParams::default()
    };
    let run = |ab: &Analysis, params: &CompareParams| {
        compare(
            &Visit::new(&p.baseline.image, ab),
            &Visit::new(&p.followup.image, &af),
            params,
        )
        .unwrap()
    };
    let full = run(&ab, &params);
    let e = p.expected(params.vellus_max_um, params.diameter_tolerance_um);
    let m = &full.matches;
    eprintln!(
        "all detected: {m:?}; truth gained {} lost {}",
        e.hairs_gained, e.hairs_lost
    );
    let plain = run(
        &ab,
        &CompareParams {
            recheck_unmatched_hairs: false,
            ..params.clone()
        },
    );
    eprintln!("all detected, no re-check: {:?}", plain.matches);
    // Every hair detected: the geometric matching alone finds the changes
    // (one loss short: two unit-mates on one line). The re-check keeps
    // them all (a truly lost hair whose line the follow-up shows only as a
    // stub on a unit-mate still there is probed, not taken for present).
    let p0 = &plain.matches;
    assert_eq!(p0.hairs_gained, e.hairs_gained, "{p0:?}");
    assert!(
        (0..=1).contains(&(e.hairs_lost as i64 - p0.hairs_lost as i64)),
        "{p0:?}"
    );
    assert_eq!(m.hairs_gained, p0.hairs_gained, "{m:?}");
    assert!(
        (0..=1).contains(&(p0.hairs_lost as i64 - m.hairs_lost as i64)),
        "{m:?}"
    );
    assert_eq!(m.hairs_lost, p0.hairs_lost, "{m:?}");
    assert!(full
        .hair_matches
        .iter()
        .filter(|r| r.rechecked)
        .all(|r| r.recheck.as_ref().is_some_and(|x| x.samples == 0)));
    assert!(e.hairs_gained >= 3 && e.hairs_lost >= 10, "{e:?}");
    // Miss every third baseline hair that is present at both visits and
    // not a unit-mate painted over others (a clean miss: record and label).
    let drop: std::collections::BTreeSet<u32> = full
        .hair_matches
        .iter()
        .filter(|r| r.baseline_id.is_some() && r.followup_id.is_some() && !r.rechecked)
        .filter_map(|r| r.baseline_id)
        .step_by(3)
        .collect();
    let mut missed = ab.clone();
    missed.hairs.retain(|s| !drop.contains(&s.id));
    // A missed hair's pixels are skin to the analysis.
    let labels = missed.maps.hair_labels.as_mut().unwrap();
    let mask = missed.maps.hair_mask.as_mut().unwrap();
    let skin = &mut missed.maps.skin_mask;
    for ((l, h), k) in labels
        .data
        .iter_mut()
        .zip(mask.data.iter_mut())
        .zip(skin.data.iter_mut())
    {
        if drop.contains(l) {
            *l = 0;
            *h = false;
            *k = true;
        }
    }
    missed.summary.hairs.hair_count = Some(missed.hairs.len());
    let off = run(
        &missed,
        &CompareParams {
            recheck_unmatched_hairs: false,
            ..params.clone()
        },
    );
    let on = run(&missed, &params);
    eprintln!(
        "{} baseline hairs missed; without re-check {:?}; with {:?}",
        drop.len(),
        off.matches,
        on.matches
    );
    let seen = on
        .hair_matches
        .iter()
        .filter(|r| r.recheck.as_ref().is_some_and(|x| x.samples > 0))
        .count();
    // Without the re-check the misses are gains.
    assert!(
        off.matches.hairs_gained + drop.len() / 5 >= m.hairs_gained + drop.len(),
        "{:?}",
        off.matches
    );
    // With it they are matches, found in the baseline image; the true
    // changes stay.
    let mo = &on.matches;
    let (mf, n) = (&off.matches, drop.len());
    // No loss is turned into a match (dropping baseline records lets the
    // geometric matching pair a few follow-up hairs with lost unit-mates,
    // with or without the re-check).
    assert_eq!(mo.hairs_lost, mf.hairs_lost, "{mo:?}");
    // The misses are found again in the baseline image (most with
    // profiles, the rest unseen: stubs at the frame edge or under a
    // matched shaft); at most a fifth of them stay false gains (25 misses:
    // 4 stay, lines lying mostly under matched baseline shafts).
    assert!(mo.hairs_gained <= m.hairs_gained + n / 5, "{mo:?}");
    assert!(
        seen >= 3 * n / 5 && mo.hairs_rechecked >= seen,
        "{seen} of {n}"
    );
    // The re-measured diameters of terminal hairs are their own (thickened
    // or not). (Vellus shafts are re-measured here under the hair stage's
    // default PSF, the oracle analysis having estimated none: their
    // blurred profiles read wide.)
    for r in on.hair_matches.iter().filter(|r| r.rechecked) {
        let ev = r.recheck.as_ref().unwrap();
        if ev.samples > 0 && ev.diameter_um >= 40.0 {
            let truth = full
                .hair_matches
                .iter()
                .find(|x| x.followup_id == r.followup_id)
                .and_then(|x| x.baseline_diameter_um)
                .unwrap();
            assert!(
                (ev.diameter_um - truth).abs() <= 0.15 * truth + 3.0,
                "{ev:?} vs {truth}"
            );
        }
    }
    // The thickened hairs are still found (the same count as with every
    // hair detected, within the re-measured ones' uncertainty).
    assert!(
        (mo.hairs_thickened as i64 - m.hairs_thickened as i64).abs() <= 2,
        "{mo:?} vs {m:?}"
    );
}

/// The change overlay: every changed hair is drawn along its axis in its
/// colour, a split-or-merged record dashed, every gained/lost capillary as
/// a circle; unmarked pixels are the baseline's grey (darkened to a third
/// outside the shared field); an image that is not the baseline is refused.
#[test]
fn overlay_draws_each_change_on_the_baseline() {
    use trichometry::compare::{overlay, ChangeKind};
    use trichometry::image::SamplesRef;
    let changes = SceneChanges {
        capillaries_added: 0.3,
        capillaries_removed: 0.2,
        thickened_fraction: 0.3,
        diameter_change_um: 15.0,
        hairs_lost: 0.2,
        hairs_gained: 0.1,
        ..SceneChanges::default()
    };
    let p = pair(23, nuisance_followup(6.0, 1.0, [0.12, -0.05]), changes);
    let mut c = compare_pair(&p);
    let colour = |k: ChangeKind| match k {
        ChangeKind::Gained => Some([40u8, 220, 60]),
        ChangeKind::Lost => Some([235, 40, 40]),
        ChangeKind::Thinned => Some([255, 170, 0]),
        ChangeKind::Thickened => Some([60, 140, 255]),
        ChangeKind::SplitOrMerged => Some([200, 80, 255]),
        ChangeKind::Unchanged => None,
    };
    // The oracle records never split: turn the longest unchanged row into
    // a split-or-merged one to see it drawn.
    let long = |m: &trichometry::compare::HairMatch| {
        let [a, b] = m.ends_px;
        (b[0] - a[0]).hypot(b[1] - a[1])
    };
    let k = (0..c.hair_matches.len())
        .filter(|&k| c.hair_matches[k].change == ChangeKind::Unchanged)
        .max_by(|&a, &b| long(&c.hair_matches[a]).total_cmp(&long(&c.hair_matches[b])))
        .expect("unchanged hairs");
    assert!(long(&c.hair_matches[k]) > 40.0);
    c.hair_matches[k].change = ChangeKind::SplitOrMerged;
    let img = &p.baseline.image;
    let o = overlay(&c, &img.view()).unwrap();
    let (w, h) = (img.width(), img.height());
    assert_eq!((o.width(), o.height(), o.channels()), (w, h, 3));
    let (SamplesRef::U8(px), SamplesRef::U8(src)) = (o.view().samples(), img.view().samples())
    else {
        panic!("8-bit images expected");
    };
    let at = |x: f64, y: f64| {
        let (x, y) = (x.round() as usize, y.round() as usize);
        let i = 3 * (y * w + x);
        [px[i], px[i + 1], px[i + 2]]
    };
    let marks: Vec<[u8; 3]> = [
        ChangeKind::Gained,
        ChangeKind::Lost,
        ChangeKind::Thinned,
        ChangeKind::Thickened,
        ChangeKind::SplitOrMerged,
    ]
    .into_iter()
    .filter_map(colour)
    .collect();
    // Each changed hair: the points along its axis are marked, most in its
    // own colour (marks drawn later may cover a crossing).
    let mut drawn = 0;
    let mut own = [0usize; 2];
    let mut gaps = [0usize; 2];
    for m in &c.hair_matches {
        let Some(col) = colour(m.change) else {
            continue;
        };
        let [a, b] = m.ends_px;
        let inside = |q: [f64; 2]| {
            q[0] >= 0.0 && q[1] >= 0.0 && q[0] < w as f64 - 0.5 && q[1] < h as f64 - 0.5
        };
        if !inside(a) || !inside(b) {
            continue;
        }
        drawn += 1;
        let n = long(m).ceil() as usize;
        let (mut on, mut total) = (0, 0);
        for s in 0..=n {
            if m.change == ChangeKind::SplitOrMerged && (s / 4) % 2 == 1 {
                // A gap of the dash: the middle of it stays unmarked (its
                // ends may be touched by the 1 px arms of the dashes).
                if s % 8 == 5 || s % 8 == 6 {
                    let t = s as f64 / n as f64;
                    let q = at(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
                    gaps[0] += usize::from(q != col);
                    gaps[1] += 1;
                }
                continue;
            }
            let t = s as f64 / n.max(1) as f64;
            let q = at(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]));
            assert!(
                marks.contains(&q),
                "{:?} at step {s} of {n}: {q:?}",
                m.change
            );
            total += 1;
            on += usize::from(q == col);
        }
        own[0] += on;
        own[1] += total;
    }
    assert!(drawn >= 10, "only {drawn} changed hairs inside the frame");
    assert!(own[0] as f64 >= 0.9 * own[1] as f64, "own colour {own:?}");
    assert!(
        gaps[1] >= 8 && gaps[0] as f64 >= 0.9 * gaps[1] as f64,
        "dash gaps unmarked {gaps:?}"
    );
    // Each gained/lost capillary: its circle's points carry a mark.
    let mut circles = 0;
    for m in &c.capillary_matches {
        let Some(_) =
            colour(m.change).filter(|_| matches!(m.change, ChangeKind::Gained | ChangeKind::Lost))
        else {
            continue;
        };
        if m.x_px < 9.0 || m.y_px < 9.0 || m.x_px > w as f64 - 10.0 || m.y_px > h as f64 - 10.0 {
            continue;
        }
        circles += 1;
        for k in 0..16 {
            let t = k as f64 / 16.0 * std::f64::consts::TAU;
            let q = at(m.x_px + 8.0 * t.cos(), m.y_px + 8.0 * t.sin());
            assert!(marks.contains(&q), "capillary {:?} at {k}: {q:?}", m.change);
        }
    }
    assert!(
        circles >= 3,
        "only {circles} capillary changes inside the frame"
    );
    // Unmarked pixels: the baseline's luma, a third of it outside the
    // shared field; both kinds of field are present.
    let shared = &c.maps.shared;
    let mut seen = [0usize; 2];
    for i in (0..w * h).step_by(7) {
        let q = [px[3 * i], px[3 * i + 1], px[3 * i + 2]];
        if marks.contains(&q) {
            continue;
        }
        let g =
            ((src[3 * i] as u32 * 54 + src[3 * i + 1] as u32 * 183 + src[3 * i + 2] as u32 * 19)
                >> 8) as u8;
        let want = if shared.data[i] { g } else { g / 3 };
        assert_eq!(q, [want; 3], "pixel {i}");
        seen[usize::from(shared.data[i])] += 1;
    }
    assert!(seen[0] > 1000 && seen[1] > 1000, "{seen:?}");
    // Not this comparison's baseline: a typed error.
    let small = trichometry::Image::new(
        w / 2,
        h,
        3,
        trichometry::image::Samples::U8(vec![0; w / 2 * h * 3]),
    )
    .unwrap();
    let e = overlay(&c, &small.view()).unwrap_err();
    assert_eq!(e.kind(), "parameter", "{e}");
}

/// The phantom capillary a detected capillary's centroid lies on (within
/// 2 px), if any.
fn capillary_item(v: &PairVisit, c: &trichometry::vessels::Capillary) -> Option<usize> {
    capillary_item_at(v, (c.centroid_x_px, c.centroid_y_px))
}

/// The phantom capillary at a position of the visit (within 2 px), if any.
fn capillary_item_at(v: &PairVisit, at: (f64, f64)) -> Option<usize> {
    let lab = &v.capillary_labels;
    let (x, y) = (at.0.round() as i64, at.1.round() as i64);
    let mut best: Option<(i64, usize)> = None;
    for dy in -2..=2i64 {
        for dx in -2..=2i64 {
            let (u, w) = (x + dx, y + dy);
            if u >= 0 && w >= 0 && (u as usize) < lab.width && (w as usize) < lab.height {
                let l = lab.data[w as usize * lab.width + u as usize];
                let d = dx * dx + dy * dy;
                if l > 0 && best.is_none_or(|b| d < b.0) {
                    best = Some((d, v.capillary_items[l as usize - 1]));
                }
            }
        }
    }
    best.map(|b| b.1)
}

/// The phantom capillary a gained or lost call is about: the one its
/// record's centroid lies on, or for a part of a record (`part`) the one
/// the part's centroid lies on.
fn call_item(p: &Pair, a: &Analysis, r: &trichometry::compare::CapillaryMatch) -> Option<usize> {
    let (pv, id) = match r.change {
        trichometry::compare::ChangeKind::Gained => (&p.followup, r.followup_id?),
        _ => (&p.baseline, r.baseline_id?),
    };
    if r.part {
        let at = if std::ptr::eq(pv, &p.followup) {
            p.truth.followup_to_baseline.inverse().apply(r.x_px, r.y_px)
        } else {
            (r.x_px, r.y_px)
        };
        return capillary_item_at(pv, at);
    }
    capillary_item(pv, a.capillaries.iter().find(|k| k.id == id)?)
}

/// Capillary calls scored by the phantom's identities: (gains right, false
/// gains, losses right, false losses). A call is right when its phantom
/// capillary is absent at the other visit (no label pixels there).
fn score_capillary_calls(p: &Pair, ab: &Analysis, af: &Analysis, c: &Comparison) -> [usize; 4] {
    use trichometry::compare::ChangeKind;
    let seen: [std::collections::BTreeSet<usize>; 2] = [&p.baseline, &p.followup].map(|v| {
        v.capillary_labels
            .data
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| v.capillary_items[l as usize - 1])
            .collect()
    });
    let dbg = std::env::var_os("COMPARE_DEBUG").is_some();
    let mut out = [0usize; 4];
    if dbg {
        // Matched pairs: right (one phantom capillary) or wrong, by distance.
        fn rec(a: &Analysis, id: u32) -> &trichometry::vessels::Capillary {
            a.capillaries.iter().find(|k| k.id == id).unwrap()
        }
        let mut right = Vec::new();
        for r in &c.capillary_matches {
            if let (Some(i), Some(j)) = (r.baseline_id, r.followup_id) {
                let (x, y) = (
                    capillary_item(&p.baseline, rec(ab, i)),
                    capillary_item(&p.followup, rec(af, j)),
                );
                let d = r.distance_um.unwrap_or(f64::NAN);
                if x.is_some() && x == y {
                    right.push(d);
                } else {
                    eprintln!(
                        "  CAP WRONG PAIR b {i} f {j} items {x:?} {y:?} (b seen at f {:?}, f seen at b {:?}) distance {d:.1} um",
                        x.map(|x| seen[1].contains(&x)),
                        y.map(|y| seen[0].contains(&y))
                    );
                }
            }
        }
        right.sort_by(f64::total_cmp);
        let q = |f: f64| {
            right
                .get(((right.len() as f64 - 1.0) * f) as usize)
                .copied()
                .unwrap_or(f64::NAN)
        };
        eprintln!(
            "  CAP right pairs {} distance median {:.1} p90 {:.1} p99 {:.1} max {:.1} um",
            right.len(),
            q(0.5),
            q(0.9),
            q(0.99),
            q(1.0)
        );
    }
    for r in &c.capillary_matches {
        let (v, id, a) = match r.change {
            ChangeKind::Gained => (1, r.followup_id.unwrap(), af),
            ChangeKind::Lost => (0, r.baseline_id.unwrap(), ab),
            _ => continue,
        };
        let rec = a.capillaries.iter().find(|k| k.id == id).unwrap();
        let it = call_item(p, a, r);
        let right = it.is_some_and(|it| !seen[1 - v].contains(&it));
        out[2 * v + usize::from(!right)] += 1;
        if dbg && !right {
            eprintln!(
                "  FALSE CAP {:?}{} id {id} item {it:?} at ({:.0}, {:.0}) class {:?} peak {:.3} Δa* {:.2} area {:.0} um2",
                r.change, if r.part { " part" } else { "" }, r.x_px, r.y_px, rec.class, rec.contrast_peak, rec.contrast_a_star, rec.area_um2
            );
        }
    }
    // Gained/lost as [gains right, false gains, losses right, false losses].
    [out[2], out[3], out[0], out[1]]
}

/// Null pairs through the real hair and vessel stages (the `full-null-*`
/// cases of `tests/ood_sweep.rs`): every gained, lost, thinned or
/// thickened call is false. Prints per seed the calls and (with
/// `COMPARE_DEBUG`) each false call with its phantom identity. Seeds from
/// `NULL_SEEDS` (default 201–205), cases from `NULL_ONLY` (substring);
/// `NULL_RECHECK_CAPILLARIES=1` turns the capillary re-check on.
/// Session 20, both cases × 5 seeds (sums): hairs gained 43, lost 34
/// (unchanged: the per-visit detectors' misses the hair re-check does not
/// find), thinned 40 → 5, thickened 32 → 2 (paired diameters);
/// capillaries gained 55, lost 38 (19 / 16 with the capillary re-check).
/// Session 21 (re-measured on main db116c5 first: hairs gained 40, lost
/// 31, of which 38 / 28 false by the phantom's identities; capillaries
/// false 58 / 40): hairs gained 34, lost 26 (false 32 / 23), no figure
/// significant in any pair: a matched shaft of the other visit blocks the
/// re-check only where its partner lies too (40 / 31 → 37 / 29), and a
/// frame-edge stub is present at a third of dark positions instead of half
/// (→ 34 / 26). Of the false calls left: most lie wholly under a matched shaft whose partner
/// covers them too (a unit-mate or parallel neighbour merged into one
/// record, thin vellus hairs beside terminals), the others are split
/// pieces along a matched line (the join does not take them: overlap
/// above a quarter) and profiles failing beside touching neighbours.
/// Session 22 (re-measured on main c41c8de: capillaries false 58 / 40 by
/// default, 23 / 16 with `NULL_RECHECK_CAPILLARIES=1`; hairs unchanged):
/// with the re-check, 30 of those 39 were capillaries wholly under the
/// other visit's hair mask (a false shaft across a red dot, no phantom
/// hair) and 6 faint detections on no phantom capillary. Reading the core
/// under the hair mask → 4 / 3, and requiring the same measurement in the
/// record's own image to exceed the other's by the threshold → 1 / 0 (the
/// one left a faint detection); the default (re-check off) stays 58 / 40.
/// `COMPARE_DEBUG` prints each false capillary call with the share of its
/// pixels under phantom hair and the hair mask at both visits
/// (`diagnose_capillary_misses`).
/// Session 28 (branch `hcmp28`; main 59a336e measured first: hairs gained
/// / lost 32 / 25, thinned / thickened 6 / 2, capillaries 55 / 41, no
/// figure significant): the false hair calls by cause
/// (`classify_false_calls`, the `causes` of each line; `COMPARE_DEBUG`
/// prints a `CAUSE` line per call and an `INSIDE` line with the matched
/// record of its own visit it lies nearest to): of the 54 false by the
/// phantom's identities (3 of the 57 calls are right by them: a hair with
/// no label pixels at the other visit), 29 split (the hair is in a
/// second record of the same visit that is matched or joined), 18 not
/// found (no record of the other visit carries it), 5 wrong partner (3 of
/// them: the other visit's record of the hair was matched by the re-check
/// to the image, not to this record), 2 merged (the other visit carries it
/// only in a record of another hair), none on no hair or a pair both
/// left unmatched; 11 of the 54 within two gates of the shared field's
/// edge. Of the 29 split records, most lie beside their sibling along
/// its whole extent, not end to end: the spans along the partner's axis
/// overlap by 27–111 px (the join's quarter refuses them), the record
/// 0.6–13 px from the sibling's centreline, inside its shaft or touching
/// it (a thick hair traced twice side by side, or a neighbour the other
/// visit's record covers with it; the re-check does not profile there
/// since the sibling lies there too). Tried, not kept (the matching is
/// main's): `matching::beside` also joining a record lying on the
/// partner's shaft where the two overlap (median distance from its
/// centreline at most half the two widths; common exits still refused):
/// null gains / losses 32 / 25 -> 19 / 16 (causes: split 29 -> 14, not
/// found 18 -> 12 — touching records whose hair the other visit's record
/// of the neighbour covers —, wrong partner 5 -> 4, merged 2 -> 2),
/// thinned / thickened 6 / 2 and capillaries 55 / 41 unchanged, no figure
/// significant; the end-to-end pair -8 -> -11 (truth -29): gained 11 -> 8
/// (truth 8), lost 19, right gains 2 and losses 16 kept, false gains 9 ->
/// 6, joins 3 -> 6 all right; but the dense oracle pair of
/// `true_changes_are_found` -28 -> -25 (truth -30, bound 2 %): 3 true
/// losses joined (baseline joins 1 -> 4). At most half the matched
/// record's own width (inside its shaft): the same -25 (not run on the
/// null pairs; from the `INSIDE` lines it would take about 13 of the null
/// calls and no end-to-end call). Not tried for want of time: the oracle
/// pair's 3 joined losses (oracle records carry only the visible part of
/// a hair, so a lost unit-mate's record lies at its mate's edge), and a
/// rule keyed on the other visit's record being wider than the partner
/// (two hairs in it). The diff is in the session 28 report.
/// Left with that rule: 14 split (2 with a common exit with the sibling,
/// 3 more than a gate off the partner's line, 2 whose sibling was
/// re-checked without a partner record, the rest nearer another matched
/// record), 12 not found (detection misses the re-check does not repair).
/// `HairShaft::diameter_clipped` (session 27) is read too: no thinned /
/// thickened call and no diameter figure from a clipped record (none of
/// the false calls here was clipped; `clipped_records_give_no_diameter_change`).
/// Session 28 merged `hood28`'s noise-aware half-depth walk
/// (`profile::stays_below`) and reverted it before landing: with it the
/// false hair gains / losses read 31 / 25, thinned / thickened 9 / 2
/// (three more paired diameter readings beyond their tolerance over about
/// 560 matched hairs; no figure significant on any pair), capillaries
/// 59 / 39, the end-to-end pair −7 (gained 12, thickened 1), and
/// `recheck_finds_missed_hairs_and_keeps_true_changes` failed (18
/// thickened among the re-measured hairs against 21). Without it (landed):
/// 32 / 25, 6 / 2, 55 / 41, −8.
/// Session 29 (branch `hwalk29`) re-landed the walk: of the three more
/// false thinned calls, two came from the stage's records and one from
/// the paired measurement, whose profile window each visit took from its
/// own record's diameter (rot10-shift20 seed 203: one hair recorded
/// 40.4 / 28.7 µm, windows 8.1 / 5.5 px; with the walk the narrow
/// window dropped two follow-up profiles whose walks passed a dip, the
/// paired change −4.3 → −6.5 µm against a tolerance of 5.0). Both
/// visits now read through one window (the wider diameter's, as the
/// positions already were): hairs gained / lost 31 / 25, thinned /
/// thickened 5 / 2, capillaries 59 / 39 (the hair stage's masks), no
/// figure significant; one window without the walk 32 / 25, 4 / 1,
/// 55 / 41. The end-to-end pair −7 (gained 12, lost 19, thinned 2,
/// thickened 1). The re-check test's shortfall was not the walk (see
/// `tests/hairs.rs` `diameters_under_three_times_the_sensor_noise`).
/// Session 29 (branch `hcmp29`): session 28's join of a record lying on
/// its partner's shaft (`matching::beside`, median distance from the
/// partner's centreline at most half the two diameters) kept, but only
/// when the other visit's image shows the record there too
/// (`recheck::darker_side_kept`): both images read at the same scene
/// positions along the record, the darkness (`1 − core / background`,
/// the brighter background window beyond both shafts) of each half of
/// it (a core a fifth of its width either side of a point 0.3 of its
/// width off its line); the lesser of the two halves' ratios (other
/// visit over own) at least 0.66. A hair lost beside its partner leaves
/// the partner's darkness under one half and skin under the other: the
/// dense oracle pair's three joined true losses read 0.53 / 0.27 / 0.10
/// (the whole-core ratio 0.91 / 0.61 / 0.77 did not separate them: the
/// records lie 4.7–6.0 px from partners 12–18 px wide, inside their
/// shafts), the 22 null-pair records joined by the rule 0.84–1.05, the
/// end-to-end pair's 3 (all right) 0.79–1.01. Null pairs 32 / 25 →
/// 19 / 16 (no figure significant, thinned / thickened and capillaries
/// unchanged), the end-to-end pair −8 → −11 (gained 11 → 8, truth 8;
/// lost 19; right gains 2 and losses 16 kept; joins 3 → 6, all right),
/// the dense oracle pair −28 as on main (truth −30).
/// The end-to-end pair's 37 true losses (`classify_true_losses`): 15
/// called lost, 1 matched to a record of a unit-mate, 1 to a record of
/// another hair, 6 only inside another hair's record (merged at the
/// baseline), 14 with no baseline record at all (never detected; 71–920
/// label px visible) — 20 of 37 never recorded as their own hair, the
/// bound the matching cannot pass; none re-checked present or joined.
/// On the dense oracle pair: 29 of 39 called lost, 4 / 3 matched to a
/// unit-mate's / another hair's record, 3 with no record.
/// Tried, not kept: the same paired darkness reading (both halves at
/// least 0.66, background windows 1.1 diameters + 2 px off) for every
/// record still unmatched after the join, read present (matched with its
/// own diameter at both visits). It separates well where it reads:
/// end-to-end true losses 16 of 16 and true gains 2 of 2 read ≤ 0.19,
/// 5 of its 9 false calls 0.68–1.85 (−11 → −14); null pairs 19 / 16 →
/// 6 / 6 (of the 35 calls 11 unreadable, 23 read 0.81–1.01, one 0.44; no
/// figure significant). But `true_changes_are_found` failed (−26 vs
/// −30, bound 3.5: two true losses read present, a 35 px vellus record
/// at the frame's edge and a 9 px stub) and so did
/// `recheck_finds_missed_hairs_and_keeps_true_changes` (lost 12 vs 13).
/// Not tried for want of time: that reading only for records at least
/// two gates long and clear of the frame's edge.
/// Session 29's merged main (the noise-aware walk with one paired window,
/// `hwalk29`, and this join): hairs gained / lost 16 / 17, thinned /
/// thickened 5 / 2, capillaries 61 / 38, no figure significant; the
/// end-to-end pair −12 (gained 7, lost 19; thinned 2, thickened 1).
/// Session 29 (branch `hcmp29b`): that guard tried (records at least two
/// gates long, every vertex a gate inside the shared field). It drops the
/// two true losses of `true_changes_are_found` (−28 again) but not the
/// one of `recheck_finds_missed_hairs_and_keeps_true_changes` (lost 12 vs
/// 13): baseline record 43, 49 px (4.9 gates), clear of the edge, a true
/// loss (a 67 µm terminal hair) whose unit-mate at the follow-up, grown
/// 100 µm, runs along its line: ratio 0.94. Null pairs 16 / 17 → 8 / 7
/// but one figure significant (`single_hair_unit_fraction` +0.077,
/// rot10-shift20 seed 201); end-to-end −12 → −13. Kept instead, no length
/// or edge guard: the other visit's image is read only off the label
/// pixels of its matched or joined records (a unit-mate's or a
/// neighbour's shaft is no evidence of this hair): record 43 and both
/// true losses of the dense oracle pair are then unread. Null pairs hairs
/// gained / lost 16 / 17 → 10 / 12 (11 records read present), thinned /
/// thickened 5 / 2 and capillaries 61 / 38 unchanged, no figure
/// significant; end-to-end −12 → −13 (truth −29; gained 7 → 5, lost 19 →
/// 18; false calls 8 → 5, the 15 true losses called lost kept); the dense
/// oracle pair −28 (truth −30). Unseen null seeds 206–210
/// (`NULL_SEEDS`): 13 / 27 → 10 / 20, thinned / thickened 7 / 6 and
/// capillaries 56 / 38 unchanged, main's one significant figure
/// (`vellus_fraction` +0.039, rot10-shift20 seed 207) gone, none new.
/// Both together: null 13 / 12, end-to-end
/// −12. The re-check's own holder rule instead (a matched record of the
/// other visit is no evidence only where its partner here shares the
/// record's exit or covers the position): no record read present on the
/// null pairs, the same numbers as main.
#[test]
#[ignore = "survey: prints one line per null pair through the real stages"]
fn null_pairs_through_the_real_stages() {
    let seeds: Vec<u64> = std::env::var("NULL_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![201, 202, 203, 204, 205]);
    let cases = [
        (
            "full-null-rot10-shift20",
            10.0,
            1.04,
            [0.2, -0.1],
            [1.1, 1.0, 0.9],
            0.85,
        ),
        (
            "full-null-colour-drift",
            -5.0,
            0.97,
            [0.1, 0.1],
            [1.25, 1.0, 0.78],
            0.7,
        ),
    ];
    let only = std::env::var("NULL_ONLY").ok();
    for (name, rot, scale, shift, wb, exposure) in cases {
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        for &seed in &seeds {
            let mut spec = PairSpec {
                followup: VisitSpec {
                    rotation_deg: rot,
                    scale,
                    shift_frac: shift,
                    white_balance: wb,
                    exposure,
                    ..VisitSpec::default()
                },
                ..PairSpec::default()
            };
            spec.scene.seed = seed;
            let p = render_pair(&spec).unwrap();
            let (ab, af) = (real_analysis(&p.baseline), real_analysis(&p.followup));
            let t0 = std::time::Instant::now();
            let params = CompareParams {
                recheck_unmatched_capillaries: std::env::var_os("NULL_RECHECK_CAPILLARIES")
                    .is_some(),
                ..CompareParams::default()
            };
            let c = compare(
                &Visit::new(&p.baseline.image, &ab),
                &Visit::new(&p.followup.image, &af),
                &params,
            )
            .unwrap();
            let secs = t0.elapsed().as_secs_f64();
            let m = &c.matches;
            eprintln!("== {name} seed {seed}");
            let s = score_calls(&p, &ab, &af, &c);
            let (causes, near_edge) = classify_false_calls(&p, &ab, &af, &c);
            inside_matched(&p, &ab, &af, &c);
            let caps = score_capillary_calls(&p, &ab, &af, &c);
            diagnose_capillary_misses(&p, &ab, &af, &c);
            if std::env::var_os("COMPARE_DEBUG").is_some() {
                use trichometry::compare::ChangeKind;
                for r in c
                    .hair_matches
                    .iter()
                    .filter(|r| matches!(r.change, ChangeKind::Thinned | ChangeKind::Thickened))
                {
                    let rec = |a: &Analysis, id: Option<u32>| {
                        id.and_then(|id| a.hairs.iter().find(|s| s.id == id))
                            .map(|s| {
                                (
                                    s.diameter_um,
                                    s.diameter_iqr_um,
                                    s.width_samples,
                                    s.length_um.round(),
                                )
                            })
                    };
                    let it = |v: &PairVisit, a: &Analysis, id: Option<u32>| {
                        id.and_then(|id| a.hairs.iter().find(|s| s.id == id))
                            .and_then(|s| record_items(v, s).first().copied())
                            .map(|(it, share)| (it, share, p.truth.hairs[it].diameter_um[0]))
                    };
                    eprintln!(
                        "  {:?} b {:?} {:?} f {:?} {:?} d {:?} → {:?} rechecked {} items {:?} {:?}",
                        r.change,
                        r.baseline_id,
                        rec(&ab, r.baseline_id),
                        r.followup_id,
                        rec(&af, r.followup_id),
                        r.baseline_diameter_um,
                        r.followup_diameter_um,
                        r.rechecked,
                        it(&p.baseline, &ab, r.baseline_id),
                        it(&p.followup, &af, r.followup_id),
                    );
                }
            }
            println!(
                "NULL {name:24} seed {seed}: hairs +{} -{} thin {} thick {} (matched {}, rechecked {}, joined {}+{}), caps +{} -{} (matched {}); false gains {:?} losses {:?}, rechecks wrong {}, caps false +{} -{}; causes {causes:?} edge {near_edge}; significant [{}]; compare {secs:.2}s",
                m.hairs_gained,
                m.hairs_lost,
                m.hairs_thinned,
                m.hairs_thickened,
                m.hairs_matched,
                m.hairs_rechecked,
                m.hairs_split_or_merged_baseline,
                m.hairs_split_or_merged_followup,
                m.capillaries_gained,
                m.capillaries_lost,
                m.capillaries_matched,
                s.false_gains,
                s.false_losses,
                s.rechecked_wrong,
                caps[1],
                caps[3],
                c.deltas
                    .iter()
                    .filter(|(_, d)| d.significant)
                    .map(|(k, d)| format!("{k} {:+.3}", d.delta))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
}

/// Every true capillary change no call found (`COMPARE_DEBUG`), with why
/// the present visit's detector may have missed it: the share of its
/// pixels under a hair of the phantom (`hair`) and under the stage's hair
/// mask (`mask`), the detected capillaries whose pixels cover it
/// (`covered_by`: merged with a neighbour when that record's centroid lies
/// on another phantom capillary), the distance (px) of its centroid from
/// the edge of the other frame and to the nearest other phantom
/// capillary, and what the comparison did with a record on it.
fn diagnose_capillary_misses(p: &Pair, ab: &Analysis, af: &Analysis, c: &Comparison) {
    if std::env::var_os("COMPARE_DEBUG").is_none() {
        return;
    }
    use trichometry::compare::ChangeKind;
    let pv = [&p.baseline, &p.followup];
    let an = [ab, af];
    let f2b = p.truth.followup_to_baseline;
    let to_base = [
        trichometry::compare::Similarity::IDENTITY.affine(),
        f2b.affine(),
    ];
    let to_other = [f2b.inverse().affine(), f2b.affine()];
    let seen = pv.map(|v| seen_items(&v.capillary_labels, &v.capillary_items));
    // Items with a call (gained or lost) and items with a record per visit.
    let mut called = std::collections::BTreeMap::new();
    for r in &c.capillary_matches {
        for (v, id) in [(0usize, r.baseline_id), (1, r.followup_id)] {
            let Some(id) = id else { continue };
            let rec = an[v].capillaries.iter().find(|k| k.id == id).unwrap();
            let it = if r.part {
                call_item(p, an[v], r)
            } else {
                capillary_item(pv[v], rec)
            };
            if let Some(it) = it {
                if r.part || !called.contains_key(&(v, it)) {
                    called.insert(
                        (v, it),
                        (
                            r.change,
                            r.rechecked,
                            r.recheck_contrast,
                            r.recheck_threshold,
                            r.baseline_id,
                            r.followup_id,
                        ),
                    );
                }
            }
        }
    }
    let (bw, bh) = (
        p.baseline.image.width() as f64,
        p.baseline.image.height() as f64,
    );
    let (fw, fh) = (
        p.followup.image.width() as f64,
        p.followup.image.height() as f64,
    );
    let dims = [(bw, bh), (fw, fh)];
    let edge =
        |q: (f64, f64), (w, h): (f64, f64)| q.0.min(q.1).min(w - 1.0 - q.0).min(h - 1.0 - q.1);
    let describe = |v: usize, k: usize| -> String {
        let lab = &pv[v].capillary_labels;
        let Some(l) = pv[v].capillary_items.iter().position(|&x| x == k) else {
            return "not in view".into();
        };
        let cen = pv[v].capillary_centroid_px[l];
        let co = to_other[v].apply(cen[0], cen[1]);
        let (eo, es) = (edge(co, dims[1 - v]), edge((cen[0], cen[1]), dims[v]));
        let (mut n, mut nh, mut nm) = (0usize, 0usize, 0usize);
        let mut cover = std::collections::BTreeMap::<u32, usize>::new();
        let mut other_cover = std::collections::BTreeMap::<u32, usize>::new();
        for (i, &x) in lab.data.iter().enumerate() {
            if x as usize != l + 1 {
                continue;
            }
            n += 1;
            nh += usize::from(pv[v].hair_labels.data[i] > 0);
            nm += usize::from(an[v].maps.hair_mask.as_ref().is_some_and(|m| m.data[i]));
            if let Some(vl) = an[v].maps.vessel_labels.as_ref() {
                if vl.data[i] > 0 {
                    *cover.entry(vl.data[i]).or_default() += 1;
                }
            }
            if let Some(ol) = an[1 - v].maps.vessel_labels.as_ref() {
                let q = to_other[v].apply((i % lab.width) as f64, (i / lab.width) as f64);
                let (u, w) = (q.0.round() as i64, q.1.round() as i64);
                if u >= 0 && w >= 0 && (u as usize) < ol.width && (w as usize) < ol.height {
                    let o = ol.data[w as usize * ol.width + u as usize];
                    if o > 0 {
                        *other_cover.entry(o).or_default() += 1;
                    }
                }
            }
        }
        let covered: Vec<String> = cover
            .iter()
            .map(|(&id, &m)| {
                let rec = an[v].capillaries.iter().find(|q| q.id == id);
                format!(
                    "{id}:{m}px item {:?} area {:.0}",
                    rec.and_then(|r| capillary_item(pv[v], r)),
                    rec.map_or(f64::NAN, |r| r.area_um2)
                )
            })
            .collect();
        format!(
            "px {n} hair {:.2} mask {:.2} edge own {es:.0} other {eo:.0} covered_by [{}] other visit's vessels there {other_cover:?}",
            nh as f64 / n.max(1) as f64,
            nm as f64 / n.max(1) as f64,
            covered.join(", "),
        )
    };
    for (k, it) in p.truth.capillaries.iter().enumerate() {
        let v = match (seen[0].contains(&k), seen[1].contains(&k)) {
            (true, false) => 0,
            (false, true) => 1,
            _ => continue,
        };
        let Some(l) = pv[v].capillary_items.iter().position(|&x| x == k) else {
            continue;
        };
        let cen = pv[v].capillary_centroid_px[l];
        let cb = to_base[v].apply(cen[0], cen[1]);
        let eo = edge(to_other[v].apply(cen[0], cen[1]), dims[1 - v]);
        if eo < -0.5 || cb.0 < -0.5 || cb.1 < -0.5 || cb.0 > bw - 0.5 || cb.1 > bh - 0.5 {
            continue;
        }
        if let Some((ch, ..)) = called.get(&(v, k)) {
            if matches!(ch, ChangeKind::Gained | ChangeKind::Lost) {
                continue;
            }
        }
        let near = p
            .truth
            .capillaries
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != k)
            .map(|(_, o)| {
                (o.centre_px[0] - it.centre_px[0]).hypot(o.centre_px[1] - it.centre_px[1])
            })
            .fold(f64::INFINITY, f64::min);
        eprintln!(
            "  MISSED {} item {k} r {:.0} um at ({:.0}, {:.0}) nearest {near:.1} px {} call {:?}",
            if v == 0 { "LOSS" } else { "GAIN" },
            it.radius_um,
            cb.0,
            cb.1,
            describe(v, k),
            called.get(&(v, k)),
        );
        {
            // The rows of the records on it.
            let l = pv[v].capillary_items.iter().position(|&x| x == k).unwrap() as u32 + 1;
            let lab = &pv[v].capillary_labels;
            let ids: std::collections::BTreeSet<u32> = lab
                .data
                .iter()
                .zip(&an[v].maps.vessel_labels.as_ref().unwrap().data)
                .filter(|(&a, &b)| a == l && b > 0)
                .map(|(_, &b)| b)
                .collect();
            for r in &c.capillary_matches {
                let id = if v == 0 { r.baseline_id } else { r.followup_id };
                if id.is_some_and(|i| ids.contains(&i)) {
                    eprintln!("      row {r:?}");
                }
            }
        }
    }
    for r in &c.capillary_matches {
        let (v, id) = match r.change {
            ChangeKind::Gained => (1, r.followup_id.unwrap()),
            ChangeKind::Lost => (0, r.baseline_id.unwrap()),
            _ => continue,
        };
        let rec = an[v].capillaries.iter().find(|q| q.id == id).unwrap();
        let Some(k) = call_item(p, an[v], r) else {
            eprintln!("  FALSE {:?} id {id} on no phantom capillary at ({:.0}, {:.0}) peak {:.3} area {:.0} recheck {:?}/{:?}", r.change, r.x_px, r.y_px, rec.contrast_peak, rec.area_um2, r.recheck_contrast, r.recheck_threshold);
            continue;
        };
        if !seen[1 - v].contains(&k) {
            continue;
        }
        eprintln!(
            "  FALSE {:?} id {id} item {k} r {:.0} um at ({:.0}, {:.0}) peak {:.3} area {:.0} recheck {:?}/{:?}\n     own {}\n     other {}",
            r.change,
            p.truth.capillaries[k].radius_um,
            r.x_px,
            r.y_px,
            rec.contrast_peak,
            rec.area_um2,
            r.recheck_contrast,
            r.recheck_threshold,
            describe(v, k),
            describe(1 - v, k),
        );
    }
}
