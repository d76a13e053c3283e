//! Out-of-distribution sweeps of the vessel, erythema and compare stages:
//! phantoms rendered beyond the settings the other tests use (vessel
//! density, calibre and contrast, skin tone, colour drift, JPEG,
//! vignetting, glare, blur, noise, scale, image size and shape, dense hair;
//! large nuisance transforms, low overlap, colour drift and unrelated
//! pairs), and of the hair stage (JPEG, vignetting, blur, noise, dark skin,
//! light hair, glare, uneven light, colour cast, scale; hair-free
//! variants). Each case prints one line against phantom truth; nothing is
//! asserted but sanity (no panic, no NaN in the reported figures), so these
//! are ignored surveys:
//!
//! `cargo test --release -p trichometry --test ood_sweep -- --ignored --nocapture`
//!
//! `OOD_SEEDS` (comma list, default `201,202`) picks the seeds; `OOD_ONLY`
//! (a substring) keeps only the cases whose name contains it.

use std::time::Instant;
use trichometry::calibration::{NeutralReference, RectPx};
use trichometry::color::to_linear;
use trichometry::compare::{compare, register, CompareParams, RegistrationParams, Visit};
use trichometry::hairs::HairStage;
use trichometry::synth::{
    chart::GreyCardSpec,
    hairs::HairSceneSpec,
    optics::{OpticsSpec, SensorNoise},
    pair::{render_pair, PairSpec, PairVisit, SceneChanges, VisitSpec},
    render,
    skin::SkinSpec,
    vessels::{VesselClass, VesselSceneSpec},
    Phantom, SceneSpec,
};
use trichometry::synth::{hairs::paint_hairs, optics, skin::paint_skin, Rng};
use trichometry::{analyze, Analysis, Calibration, ColourReference, Labels, Mask, Params, Warning};

mod hair_score;

fn seeds() -> Vec<u64> {
    std::env::var("OOD_SEEDS")
        .unwrap_or_else(|_| "201,202".into())
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

fn wanted(name: &str) -> bool {
    std::env::var("OOD_ONLY").map_or(true, |o| name.contains(&o))
}

/// One vessel / erythema case.
struct VCase {
    name: &'static str,
    um: f64,
    /// Field in µm (width, height); the pixel size follows `um`.
    field_um: [f64; 2],
    skin: SkinSpec,
    vessels: Option<VesselSceneSpec>,
    hairs: Option<HairSceneSpec>,
    optics: OpticsSpec,
    /// A grey card in the corner used as the colour reference.
    grey_card: bool,
}

fn base_case(name: &'static str) -> VCase {
    VCase {
        name,
        um: 3.5,
        field_um: [1800.0, 1350.0],
        skin: SkinSpec::default(),
        vessels: Some(VesselSceneSpec::default()),
        hairs: Some(HairSceneSpec::default()),
        optics: OpticsSpec::realistic(),
        grey_card: false,
    }
}

fn diag(d: [f32; 3]) -> [[f32; 3]; 3] {
    [[d[0], 0.0, 0.0], [0.0, d[1], 0.0], [0.0, 0.0, d[2]]]
}

fn dense_vessels() -> VesselSceneSpec {
    VesselSceneSpec {
        dot_density_per_mm2: 30.0,
        loop_density_per_mm2: 25.0,
        twisted_density_per_mm2: 10.0,
        spacing_um: 20.0,
        ..VesselSceneSpec::default()
    }
}

fn vessel_cases() -> Vec<VCase> {
    let mut v = vec![base_case("baseline")];
    v.push(VCase {
        vessels: None,
        ..base_case("no-vessels")
    });
    v.push(VCase {
        vessels: Some(dense_vessels()),
        ..base_case("very-dense")
    });
    v.push(VCase {
        vessels: Some(VesselSceneSpec {
            strength: [0.2, 0.35],
            ..VesselSceneSpec::default()
        }),
        ..base_case("faint")
    });
    v.push(VCase {
        vessels: Some(VesselSceneSpec {
            strength: [0.35, 0.5],
            ..VesselSceneSpec::default()
        }),
        ..base_case("half-contrast")
    });
    v.push(VCase {
        vessels: Some(VesselSceneSpec {
            dot_diameter_um: [8.0, 14.0],
            loop_width_um: [6.0, 10.0],
            twisted_width_um: [6.0, 9.0],
            ..VesselSceneSpec::default()
        }),
        ..base_case("thin-calibre")
    });
    v.push(VCase {
        vessels: Some(VesselSceneSpec {
            dot_diameter_um: [35.0, 70.0],
            loop_width_um: [25.0, 40.0],
            twisted_width_um: [20.0, 30.0],
            loop_length_um: [150.0, 300.0],
            ..VesselSceneSpec::default()
        }),
        ..base_case("thick-calibre")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [78.0, 7.0, 12.0],
            ..SkinSpec::default()
        },
        ..base_case("pale-skin")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [38.0, 12.0, 20.0],
            ..SkinSpec::default()
        },
        ..base_case("dark-skin")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [28.0, 10.0, 16.0],
            ..SkinSpec::default()
        },
        ..base_case("very-dark-skin")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [28.0, 10.0, 16.0],
            ..SkinSpec::default()
        },
        optics: OpticsSpec {
            noise: None,
            ..OpticsSpec::realistic()
        },
        ..base_case("very-dark-skin-noiseless")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [28.0, 10.0, 16.0],
            ..SkinSpec::default()
        },
        optics: OpticsSpec::default(),
        hairs: None,
        ..base_case("very-dark-skin-clean-nohair")
    });
    v.push(VCase {
        optics: OpticsSpec {
            noise: Some(SensorNoise {
                full_well: 600.0,
                read_noise: 12.0,
            }),
            ..OpticsSpec::default()
        },
        hairs: None,
        ..base_case("heavy-noise-only-nohair")
    });
    v.push(VCase {
        skin: SkinSpec {
            lab: [55.0, 28.0, 14.0],
            erythema_patch_a: 8.0,
            ..SkinSpec::default()
        },
        ..base_case("very-red-skin")
    });
    v.push(VCase {
        optics: OpticsSpec::realistic().with_cast(diag([1.15, 1.0, 0.82]), 1.0),
        ..base_case("warm-wb")
    });
    v.push(VCase {
        optics: OpticsSpec::realistic().with_cast(diag([0.85, 1.0, 1.2]), 1.0),
        ..base_case("cool-wb")
    });
    v.push(VCase {
        optics: OpticsSpec::realistic().with_cast(diag([1.15, 1.0, 0.82]), 0.8),
        grey_card: true,
        ..base_case("warm-wb+card")
    });
    v.push(VCase {
        optics: OpticsSpec::realistic().with_cast(diag([1.0, 1.0, 1.0]), 0.55),
        ..base_case("underexposed")
    });
    v.push(VCase {
        optics: OpticsSpec::realistic().with_cast(diag([1.0, 1.0, 1.0]), 1.35),
        ..base_case("overexposed")
    });
    v.push(VCase {
        optics: OpticsSpec {
            jpeg_quality: Some(35),
            ..OpticsSpec::realistic()
        },
        ..base_case("jpeg-q35")
    });
    v.push(VCase {
        optics: OpticsSpec {
            jpeg_quality: Some(15),
            ..OpticsSpec::realistic()
        },
        ..base_case("jpeg-q15")
    });
    v.push(VCase {
        optics: OpticsSpec {
            vignetting: 0.45,
            ..OpticsSpec::realistic()
        },
        ..base_case("vignetting-0.45")
    });
    v.push(VCase {
        optics: OpticsSpec {
            glare_spots: 14,
            glare_radius_um: 90.0,
            ..OpticsSpec::realistic()
        },
        ..base_case("heavy-glare")
    });
    v.push(VCase {
        optics: OpticsSpec {
            blur_sigma_um: 6.0,
            ..OpticsSpec::realistic()
        },
        ..base_case("blur-6um")
    });
    v.push(VCase {
        optics: OpticsSpec {
            noise: Some(SensorNoise {
                full_well: 600.0,
                read_noise: 12.0,
            }),
            ..OpticsSpec::realistic()
        },
        ..base_case("heavy-noise")
    });
    for (name, um) in [
        ("scale-1.5", 1.5),
        ("scale-2.5", 2.5),
        ("scale-5", 5.0),
        ("scale-6", 6.0),
    ] {
        v.push(VCase {
            um,
            ..base_case(name)
        });
    }
    v.push(VCase {
        field_um: [700.0, 525.0],
        ..base_case("small-700um")
    });
    v.push(VCase {
        um: 6.0,
        field_um: [900.0, 700.0],
        ..base_case("tiny-150px-6um")
    });
    v.push(VCase {
        field_um: [3200.0, 600.0],
        ..base_case("strip-4:1")
    });
    v.push(VCase {
        field_um: [500.0, 2000.0],
        ..base_case("tall-1:4")
    });
    v.push(VCase {
        hairs: Some(HairSceneSpec {
            density_per_cm2: 3.0 * HairSceneSpec::default().density_per_cm2,
            ..HairSceneSpec::default()
        }),
        ..base_case("dense-hair-x3")
    });
    v.push(VCase {
        hairs: Some(HairSceneSpec {
            density_per_cm2: 3.0 * HairSceneSpec::default().density_per_cm2,
            ..HairSceneSpec::default()
        }),
        vessels: Some(dense_vessels()),
        ..base_case("dense-hair+dense-vessels")
    });
    v.push(VCase {
        field_um: [4000.0, 3000.0],
        um: 2.0,
        ..base_case("large-2000px")
    });
    v
}

fn class_idx(c: VesselClass) -> usize {
    match c {
        VesselClass::Dot => 0,
        VesselClass::Loop => 1,
        VesselClass::Twisted => 2,
        VesselClass::Arborizing => 3,
    }
}

/// Every reported figure is finite (or absent).
fn finite_problems(a: &Analysis) -> Vec<String> {
    let mut bad = Vec::new();
    let s = &a.summary.vessels;
    for (k, v) in [
        ("density", s.capillary_density_per_mm2),
        ("area", s.vessel_analysed_area_mm2),
        ("cap_frac", s.capillary_area_fraction),
        ("ves_frac", s.vessel_area_fraction),
        ("width", s.capillary_width_mean_um),
        ("contrast", s.vessel_contrast_a_star),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            bad.push(k.to_string());
        }
    }
    let e = &a.summary.erythema;
    for (k, v) in [
        ("a_mean", e.erythema_a_star_mean),
        ("a_median", e.erythema_a_star_median),
        ("ei_mean", e.erythema_index_mean),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            bad.push(k.to_string());
        }
    }
    for c in &a.capillaries {
        for (k, v) in [
            ("area", c.area_um2),
            ("length", c.length_um),
            ("width", c.width_um),
            ("extent", c.extent_um),
            ("elong", c.elongation),
            ("tort", c.tortuosity),
            ("turns", c.turns),
            ("contrast", c.contrast_a_star),
            ("peak", c.contrast_peak),
        ] {
            if !v.is_finite() || v < 0.0 && k != "contrast" && k != "peak" {
                bad.push(format!("cap{}.{k}={v}", c.id));
            }
        }
    }
    bad
}

fn run_vessel_case(c: &VCase, seed: u64) {
    let (w, h) = (
        (c.field_um[0] / c.um).round() as usize,
        (c.field_um[1] / c.um).round() as usize,
    );
    let card = RectPx {
        x: 4,
        y: 4,
        w: (w / 8).max(12),
        h: (h / 8).max(12),
    };
    let spec = SceneSpec {
        width: w,
        height: h,
        um_per_px: c.um,
        seed,
        skin: c.skin.clone(),
        vessels: c.vessels.clone(),
        hairs: c.hairs.clone(),
        optics: c.optics.clone(),
        grey_card: c.grey_card.then_some(GreyCardSpec {
            rect: card,
            lightness: 50.0,
        }),
        ..SceneSpec::default()
    };
    let p: Phantom = render(&spec).unwrap();
    let colour = if c.grey_card {
        ColourReference::Neutral(NeutralReference {
            rect: Some(card),
            lightness: 50.0,
            image: None,
        })
    } else {
        ColourReference::None
    };
    let cal = Calibration {
        um_per_px: Some(c.um),
        colour,
    };
    let t0 = Instant::now();
    let a = match std::panic::catch_unwind(|| analyze(&p.image, &cal, &Params::default())) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            println!("OOD vessel {} seed {seed} {w}x{h}: ERROR {e}", c.name);
            return;
        }
        Err(_) => {
            println!("OOD vessel {} seed {seed} {w}x{h}: PANIC", c.name);
            return;
        }
    };
    let secs = t0.elapsed().as_secs_f64();
    let t = &p.truth;
    // Hidden: true hair and glare (plus the grey card).
    let mut hidden = t.hidden_mask(w, h);
    // (Empty masks when the scene has no hair.)
    let on = |m: &Mask, i: usize| m.data.get(i).copied().unwrap_or(false);
    if c.grey_card {
        for y in card.y..card.y + card.h {
            for x in card.x..card.x + card.w {
                hidden.data[y * w + x] = true;
            }
        }
    }
    let (truth_caps, visible_mm2) = if t.vessels.labels.data.is_empty() {
        (0, 0.0)
    } else {
        (
            t.vessels.countable_capillary_count(Some(&hidden)).unwrap(),
            0.0,
        )
    };
    let visible_px = hidden.data.iter().filter(|&&x| !x).count();
    let visible_mm2 = visible_mm2 + visible_px as f64 * c.um * c.um * 1e-6;
    let truth_density = truth_caps as f64 / visible_mm2.max(1e-9);
    let s = &a.summary.vessels;
    let found = s.capillary_count.unwrap_or(0);
    let density = s.capillary_density_per_mm2.unwrap_or(f64::NAN);
    // Matching by largest overlap, one to one.
    let mut conf = [[0usize; 4]; 4];
    let (mut matched, mut dice_i, mut dice_a, mut dice_b) = (0, 0usize, 0usize, 0usize);
    let mut width_err = Vec::new();
    if let (Some(labels), Some(mask)) = (&a.maps.vessel_labels, &a.maps.vessel_mask) {
        let nt = t.vessels.vessels.len();
        let nd = a.capillaries.len();
        if nt > 0 {
            let mut ov = vec![0usize; (nt + 1) * (nd + 1)];
            for i in 0..w * h {
                ov[t.vessels.labels.data[i] as usize * (nd + 1) + labels.data[i] as usize] += 1;
                if !hidden.data[i] {
                    let (x, y) = (t.vessels.mask.data[i], mask.data[i]);
                    dice_i += (x && y) as usize;
                    dice_a += x as usize;
                    dice_b += y as usize;
                }
            }
            for tv in 1..=nt {
                let best_d =
                    (1..=nd).max_by_key(|&d| (ov[tv * (nd + 1) + d], std::cmp::Reverse(d)));
                let Some(d) = best_d.filter(|&d| ov[tv * (nd + 1) + d] > 0) else {
                    continue;
                };
                let best_t = (1..=nt).max_by_key(|&u| (ov[u * (nd + 1) + d], std::cmp::Reverse(u)));
                if best_t == Some(tv) {
                    matched += 1;
                    let tvv = &t.vessels.vessels[tv - 1];
                    let dv = &a.capillaries[d - 1];
                    conf[class_idx(tvv.class)][class_idx(dv.class)] += 1;
                    if tvv.class != VesselClass::Arborizing {
                        width_err.push(dv.width_um - tvv.width_um);
                    }
                }
            }
        } else {
            dice_b = mask.count();
        }
    }
    let right: usize = (0..4).map(|k| conf[k][k]).sum();
    let mut confusion = String::new();
    let names = ["D", "L", "T", "A"];
    for (ti, row) in conf.iter().enumerate() {
        for (di, &n) in row.iter().enumerate() {
            if ti != di && n > 0 {
                confusion += &format!("{}>{}:{n} ", names[ti], names[di]);
            }
        }
    }
    let width_bias = if width_err.is_empty() {
        f64::NAN
    } else {
        width_err.iter().sum::<f64>() / width_err.len() as f64
    };
    let e = &a.summary.erythema;
    let a_mean = e.erythema_a_star_mean.unwrap_or(f64::NAN);
    let a_med = e.erythema_a_star_median.unwrap_or(f64::NAN);
    let ei = e.erythema_index_mean.unwrap_or(f64::NAN);
    let bad = finite_problems(&a);
    let warn: Vec<&str> = a
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::UncalibratedColour => Some("uncal"),
            Warning::Blurred => Some("blur"),
            Warning::Glare => Some("glare"),
            Warning::Overexposed => Some("over"),
            Warning::Underexposed => Some("under"),
            Warning::LittleSkin => Some("littleskin"),
            _ => None,
        })
        .collect();
    let count_err = found as f64 - truth_caps as f64;
    // Hair: true share of the frame, detected share, and the share of true
    // hair pixels the erythema's skin mask keeps (counted as skin).
    let th = &t.hairs.hair_mask;
    let true_hair = (0..w * h).filter(|&i| on(th, i)).count();
    let det_hair = a.maps.hair_mask.as_ref().map_or(0, |m| m.count());
    let hair_in_skin = (0..w * h)
        .filter(|&i| on(th, i) && a.maps.skin_mask.data[i])
        .count();
    let hair_line = format!(
        "hair true {:.1}% det {:.1}%, true hair kept as skin {:.1}% of skin",
        100.0 * true_hair as f64 / (w * h) as f64,
        100.0 * det_hair as f64 / (w * h) as f64,
        100.0 * hair_in_skin as f64 / a.maps.skin_mask.count().max(1) as f64
    );
    println!(
        "OOD vessel {:24} seed {seed} {w}x{h} {:.1}um: caps {found}/{truth_caps} (err {count_err:+} = {:+.0}%), dens {density:.2}/{truth_density:.2} ({:+.0}%), dice {:.3}, arb {}/{}, class {right}/{matched} [{}], width bias {width_bias:+.1}um, vcontrast {:.2}, a* mean {a_mean:.2} (truth {:.2}, err {:+.2}) med {a_med:.2} (truth {:.2}, err {:+.2}), EI {ei:.2} (truth {:.2}, err {:+.2}), colour {:?}, warn {:?}, {hair_line}, {secs:.2}s{}",
        c.name,
        c.um,
        100.0 * count_err / (truth_caps.max(1)) as f64,
        100.0 * (density - truth_density) / truth_density.max(1e-9),
        2.0 * dice_i as f64 / (dice_a + dice_b).max(1) as f64,
        s.arborizing_vessel_count.unwrap_or(0),
        t.vessels.count(VesselClass::Arborizing),
        confusion.trim(),
        s.vessel_contrast_a_star.unwrap_or(f64::NAN),
        t.skin_a_star_mean,
        a_mean - t.skin_a_star_mean,
        t.skin_a_star_median,
        a_med - t.skin_a_star_median,
        t.skin_erythema_index_mean,
        ei - t.skin_erythema_index_mean,
        a.summary.colour_calibration,
        warn,
        if bad.is_empty() {
            String::new()
        } else {
            format!(" NONFINITE {bad:?}")
        }
    );
}

/// Vessel and erythema stages on phantoms beyond the tested settings.
#[test]
#[ignore = "survey: prints one line per out-of-distribution vessel / erythema case"]
fn ood_vessel_erythema_sweep() {
    for c in vessel_cases().iter().filter(|c| wanted(c.name)) {
        for seed in seeds() {
            run_vessel_case(c, seed);
        }
    }
}

// ---------------------------------------------------------------- compare

/// The real analysis of a visit at its nominal scale.
fn analyse(v: &PairVisit) -> Analysis {
    analyze(
        &v.image,
        &Calibration::with_um_per_px(v.um_per_px_nominal).unwrap(),
        &Params::default(),
    )
    .unwrap()
}

struct CCase {
    name: &'static str,
    followup: VisitSpec,
    /// Scene of the follow-up: another seed (unrelated spot) when set.
    other_seed: Option<u64>,
    /// Skin of the other spot.
    other_skin: Option<SkinSpec>,
    /// Scene changes.
    changes: SceneChanges,
    /// Run the real hair / vessel stages and `compare` (slow) as well.
    full: bool,
    /// Field (px) and scale of the baseline.
    size: [usize; 2],
    um: f64,
}

fn ccase(name: &'static str, rot: f64, scale: f64, shift: [f64; 2]) -> CCase {
    CCase {
        name,
        followup: VisitSpec {
            rotation_deg: rot,
            scale,
            shift_frac: shift,
            ..VisitSpec::default()
        },
        other_seed: None,
        other_skin: None,
        changes: SceneChanges::default(),
        full: false,
        size: [1024, 768],
        um: 5.0,
    }
}

fn compare_cases() -> Vec<CCase> {
    let mut v = vec![
        ccase("identity", 0.0, 1.0, [0.0, 0.0]),
        ccase("rot+10", 10.0, 1.0, [0.0, 0.0]),
        ccase("rot-10", -10.0, 1.0, [0.0, 0.0]),
        ccase("rot+12", 12.0, 1.0, [0.0, 0.0]),
        ccase("shift20", 0.0, 1.0, [0.2, 0.2]),
        ccase("shift20-rot8-s1.05", 8.0, 1.05, [-0.2, 0.15]),
        ccase("scale0.95", 0.0, 0.95, [0.05, 0.0]),
        ccase("scale1.05-rot-10", -10.0, 1.05, [0.1, -0.1]),
        ccase("low-overlap-35", 3.0, 1.0, [0.35, 0.3]),
        ccase("low-overlap-45", 2.0, 1.0, [0.45, 0.35]),
        ccase("low-overlap-60x", 0.0, 1.0, [0.6, 0.0]),
        ccase("low-overlap-55y-rot5", 5.0, 1.0, [0.05, 0.55]),
        ccase("low-overlap-40-rot-7-s1.04", -7.0, 1.04, [-0.4, 0.3]),
        ccase("overlap-below-min", 0.0, 1.0, [0.6, 0.5]),
    ];
    let mut c = ccase("colour-drift", 4.0, 1.02, [0.05, 0.05]);
    c.followup.white_balance = [1.25, 1.0, 0.78];
    c.followup.exposure = 0.7;
    v.push(c);
    let mut c = ccase("colour-drift-cool-bright", -4.0, 0.98, [0.05, 0.05]);
    c.followup.white_balance = [0.82, 1.0, 1.2];
    c.followup.exposure = 1.3;
    v.push(c);
    let mut c = ccase("noise+jpeg30", 5.0, 1.0, [0.1, 0.0]);
    c.followup.noise_sigma = 0.02;
    c.followup.jpeg_quality = Some(30);
    v.push(c);
    let mut c = ccase("small-400x300", 6.0, 1.03, [0.1, 0.1]);
    c.size = [400, 300];
    v.push(c);
    let mut c = ccase("strip-1200x300", 3.0, 1.0, [0.1, 0.05]);
    c.size = [1200, 300];
    v.push(c);
    let mut c = ccase("scale-2um", 7.0, 1.04, [0.1, 0.1]);
    c.um = 2.0;
    v.push(c);
    for (name, seed) in [("unrelated-a", 901), ("unrelated-b", 902)] {
        let mut c = ccase(name, 3.0, 1.0, [0.05, 0.0]);
        c.other_seed = Some(seed);
        v.push(c);
    }
    let mut c = ccase("unrelated-other-skin", 0.0, 1.0, [0.0, 0.0]);
    c.other_seed = Some(903);
    c.other_skin = Some(SkinSpec {
        lab: [45.0, 20.0, 18.0],
        ..SkinSpec::default()
    });
    v.push(c);
    let mut c = ccase("unrelated-no-texture", 0.0, 1.0, [0.0, 0.0]);
    c.other_seed = Some(904);
    v.push(c);
    // Null pairs through the real stages.
    let mut c = ccase("full-null-rot10-shift20", 10.0, 1.04, [0.2, -0.1]);
    c.followup.white_balance = [1.1, 1.0, 0.9];
    c.followup.exposure = 0.85;
    c.full = true;
    v.push(c);
    let mut c = ccase("full-null-colour-drift", -5.0, 0.97, [0.1, 0.1]);
    c.followup.white_balance = [1.25, 1.0, 0.78];
    c.followup.exposure = 0.7;
    c.full = true;
    v.push(c);
    let mut c = ccase("full-unrelated", 2.0, 1.0, [0.0, 0.0]);
    c.other_seed = Some(905);
    c.full = true;
    v.push(c);
    v
}

fn pair_spec(seed: u64, c: &CCase) -> PairSpec {
    let mut spec = PairSpec {
        followup: c.followup.clone(),
        changes: c.changes.clone(),
        ..PairSpec::default()
    };
    spec.scene.seed = seed;
    spec.scene.width = c.size[0];
    spec.scene.height = c.size[1];
    spec.scene.um_per_px = c.um;
    spec
}

fn run_compare_case(c: &CCase, seed: u64) {
    let spec = pair_spec(seed, c);
    let p = render_pair(&spec).unwrap();
    let (fimg, unrelated) = match c.other_seed {
        Some(s) => {
            let mut o = pair_spec(s + seed, c);
            if let Some(sk) = &c.other_skin {
                o.scene.skin = sk.clone();
            }
            if c.name == "unrelated-no-texture" {
                o.texture = 0.0;
                o.hairs = None;
            }
            (render_pair(&o).unwrap().followup, true)
        }
        None => (p.followup.clone(), false),
    };
    let t0 = Instant::now();
    let reg = std::panic::catch_unwind(|| {
        register(
            &p.baseline.image.view(),
            &fimg.image.view(),
            Some(c.um),
            &RegistrationParams::default(),
        )
    });
    let secs = t0.elapsed().as_secs_f64();
    let (fw, fh) = (fimg.image.width(), fimg.image.height());
    let reg_line = match &reg {
        Err(_) => "PANIC".to_string(),
        Ok(Err(e)) => format!("refused ({e})"),
        Ok(Ok(r)) => {
            let err = if unrelated {
                f64::NAN
            } else {
                r.followup_to_baseline
                    .corner_distance_px(&p.truth.followup_to_baseline, fw, fh)
            };
            format!(
                "ACCEPTED rot {:.2} scale {:.4} overlap {:.2} inliers {}/{} psr {:.1} conf {:.2} corner err {err:.2}px",
                r.rotation_deg, r.scale, r.overlap_fraction, r.inliers, r.landmarks_tested, r.peak_to_sidelobe, r.confidence
            )
        }
    };
    let verdict = match (&reg, unrelated) {
        (Ok(Err(_)), true) => "ok",
        (Ok(Ok(_)), true) => "FALSE-ACCEPT",
        (Ok(Err(_)), false) => "refused-true-pair",
        (Ok(Ok(_)), false) => "ok",
        (Err(_), _) => "PANIC",
    };
    println!(
        "OOD compare {:26} seed {seed} {fw}x{fh} {:.1}um rot {} scale {} shift {:?} wb {:?} exp {}: {verdict}: {reg_line}, {secs:.2}s",
        c.name,
        c.um,
        c.followup.rotation_deg,
        c.followup.scale,
        c.followup.shift_frac,
        c.followup.white_balance,
        c.followup.exposure
    );
    if !c.full {
        return;
    }
    let t0 = Instant::now();
    let (ab, af) = (analyse(&p.baseline), analyse(&fimg));
    let cmp = compare(
        &Visit::new(&p.baseline.image, &ab),
        &Visit::new(&fimg.image, &af),
        &CompareParams::default(),
    );
    let secs = t0.elapsed().as_secs_f64();
    match cmp {
        Err(e) => println!(
            "OOD compare-full {:20} seed {seed}: refused ({e}), {secs:.1}s",
            c.name
        ),
        Ok(cmp) => {
            let m = &cmp.matches;
            let sig: Vec<String> = cmp
                .deltas
                .iter()
                .filter(|(_, d)| d.significant)
                .map(|(k, d)| format!("{k} {:+.3}", d.delta))
                .collect();
            let nonfinite: Vec<&String> = cmp
                .deltas
                .iter()
                .filter(|(_, d)| d.computed && !(d.delta.is_finite() && d.p_value.is_finite()))
                .map(|(k, _)| k)
                .collect();
            println!(
                "OOD compare-full {:20} seed {seed}: hairs +{} -{} thin {} thick {} (matched {}), caps +{} -{} (matched {}), colour comparable {}, significant [{}], nonfinite {:?}, a* Δ {:+.2}, {secs:.1}s",
                c.name,
                m.hairs_gained,
                m.hairs_lost,
                m.hairs_thinned,
                m.hairs_thickened,
                m.hairs_matched,
                m.capillaries_gained,
                m.capillaries_lost,
                m.capillaries_matched,
                cmp.colour_comparable,
                sig.join(", "),
                nonfinite,
                cmp.deltas
                    .get("erythema_a_star_median")
                    .map_or(f64::NAN, |d| d.delta)
            );
        }
    }
}

/// Registration (and, for the `full-*` cases, the whole comparison through
/// the real stages) on null pairs beyond the tested nuisances and on
/// unrelated pairs.
#[test]
#[ignore = "survey: prints one line per out-of-distribution compare case"]
fn ood_compare_sweep() {
    for c in compare_cases().iter().filter(|c| wanted(c.name)) {
        for seed in seeds() {
            run_compare_case(c, seed);
        }
    }
}

/// The capillary count of `spec` (3.5 µm/px, default vessels) through
/// `analyze` against the truth's countable capillaries (glare and true hair
/// hidden): (found, true).
fn count_vs_truth(spec: &SceneSpec) -> (usize, usize) {
    let p = render(spec).unwrap();
    let cal = Calibration::with_um_per_px(spec.um_per_px).unwrap();
    let a = analyze(&p.image, &cal, &Params::default()).unwrap();
    (
        a.summary.vessels.capillary_count.unwrap(),
        p.truth.countable_capillary_count,
    )
}

fn assert_count_within_10_percent(what: &str, spec: &SceneSpec) {
    let (found, truth) = count_vs_truth(spec);
    let err = (found as f64 - truth as f64).abs() / truth as f64;
    eprintln!("{what} seed {}: {found} found / {truth} true", spec.seed);
    assert!(err <= 0.10, "{what} seed {}: {found} vs {truth}", spec.seed);
}

/// Strong sensor noise alone (full well 600 e⁻, read noise 12 e⁻; no
/// hair, no other optics). Before the noise-aware thresholds (session 19)
/// noise blobs passed the absolute ln(R/G) contrast thresholds and dots
/// merged with noise into loops: 55 / 37, 56 / 37, 75 / 37 on seeds
/// 201–203 (+49 %, +51 %, +103 %). With the smoothed-contrast thresholds
/// raised to 4 σ of their noise (vessels `segment::noise_floored`):
/// 39 / 37, 36 / 37, 40 / 37 (+5 %, −3 %, +8 %; bound 10 %).
#[test]
fn heavy_sensor_noise_keeps_the_capillary_count() {
    for seed in [201, 202, 203] {
        let spec = SceneSpec {
            width: 514,
            height: 386,
            um_per_px: 3.5,
            seed,
            vessels: Some(VesselSceneSpec::default()),
            optics: OpticsSpec {
                noise: Some(SensorNoise {
                    full_well: 600.0,
                    read_noise: 12.0,
                }),
                ..OpticsSpec::default()
            },
            ..SceneSpec::default()
        };
        assert_count_within_10_percent("heavy noise", &spec);
    }
}

/// Very dark skin (L* 28) with the realistic optics and the hair phantom:
/// the count is inflated. Measured 2026-11-27 (session 19): 76 / 31,
/// 60 / 32, 40 / 21 on seeds 201–203 (+145 %, +88 %, +90 %; bound 10 %).
/// The same skin without hair and with clean optics counts within 3 %
/// (sweep `very-dark-skin-clean-nohair`); without sensor noise but with
/// hair: +13 %, +6 %, +62 % (`very-dark-skin-noiseless`). The relative
/// noise of ln(R/G) grows as the skin darkens, and the thresholds do not
/// follow it. With the noise-aware thresholds (session 19: smoothed
/// contrast tests at ≥ 4 σ of their white-noise σ, estimated per image)
/// it is unchanged: 76 / 31 and 58 / 32 on seeds 201–202 (sweep
/// `very-dark-skin`; 60 / 32 before on 202). The estimated noise σ of the
/// fine smoothed contrast here is ≈ 0.02, its 4 σ floor ≈ the fixed
/// `high_contrast` 0.08: the excess is not white sensor noise crossing the
/// thresholds.
///
/// Session 20 (`very_dark_skin_false_capillary_diag`,
/// `bare_skin_redness_noise_diag`): of the false capillaries on seed 201
/// nearly all lay 60–300 µm from any hair, 300–7000 µm², peak contrast
/// 0.12–0.26, Δa* 1–3 (the true ones here: 0.5–0.8, Δa* 6–14): JPEG
/// noise. The JPEG (quality 90, chroma subsampled) quantises the chroma's
/// high frequencies away, so the sensor noise of ln R/G comes out in
/// blotches of 8–16 px: the neighbour residual read σ 0.014 per pixel
/// (white-noise model for the fine statistic: 0.004), while the fine
/// statistic's spread on bare skin was 0.033 (0.035 without JPEG, where
/// the model holds: 0.029). With the fine floor at least 4 × the spread
/// measured on the fine statistic itself (vessels
/// `segment::fine_contrast_noise_sigma`): 40 / 31, 35 / 32, 21 / 21 on
/// seeds 201–203 (+29 %, +9 %, 0 %), 27 / 26, 33 / 31, 31 / 30 on
/// 204–206. Left on 201: five blotches of JPEG noise at ≈ 5–6 σ (peak
/// 0.25–0.28, Δa* 3–4, heavier tails than a Gaussian's), a capillary
/// mostly under hair (not countable), and two capillaries split by
/// hairs the hair stage did not find (dark hair on L* 28 skin is nearly
/// as bright as the skin: no hair mask to join across).
#[test]
#[ignore = "not reached: very dark skin (L* 28) with realistic optics and hair: +29 %, +9 %, 0 % (seeds 201-203, bound 10 %; JPEG noise blotches and splits at unfound hair)"]
fn very_dark_skin_keeps_the_capillary_count() {
    for seed in [201, 202, 203] {
        let spec = SceneSpec {
            width: 514,
            height: 386,
            um_per_px: 3.5,
            seed,
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                ..SkinSpec::default()
            },
            vessels: Some(VesselSceneSpec::default()),
            hairs: Some(HairSceneSpec::default()),
            optics: OpticsSpec::realistic(),
            ..SceneSpec::default()
        };
        assert_count_within_10_percent("very dark skin", &spec);
    }
}

/// Where the capillaries of [`very_dark_skin_keeps_the_capillary_count`]
/// that match no countable true capillary lie: per detection its class,
/// area, peak contrast, the truth it overlaps (split piece of a found
/// capillary, hidden capillary, none), its distance to the true hair and to
/// the hair stage's mask (µm), the fraction of its pixels within 10 µm of
/// true hair, its mean 8-bit R, G, B against the skin's, and its centroid
/// within the 8 × 8 JPEG block. `OOD_SEEDS` picks the seeds (201–203),
/// `DIAG_LAB` the skin ("28,10,16").
#[test]
#[ignore = "diagnostic: prints the false capillaries of the very dark skin test"]
#[allow(clippy::needless_range_loop)]
fn very_dark_skin_false_capillary_diag() {
    use trichometry::image::Samples;
    use trichometry::kernels::distance_transform;
    let lab: Vec<f32> = std::env::var("DIAG_LAB")
        .unwrap_or_else(|_| "28,10,16".into())
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    for seed in seeds() {
        let spec = SceneSpec {
            width: 514,
            height: 386,
            um_per_px: 3.5,
            seed,
            skin: SkinSpec {
                lab: [lab[0], lab[1], lab[2]],
                ..SkinSpec::default()
            },
            vessels: Some(VesselSceneSpec::default()),
            hairs: Some(HairSceneSpec::default()),
            optics: OpticsSpec::realistic(),
            ..SceneSpec::default()
        };
        let p = render(&spec).unwrap();
        let cal = Calibration::with_um_per_px(spec.um_per_px).unwrap();
        let a = analyze(&p.image, &cal, &Params::default()).unwrap();
        let (w, h) = (spec.width, spec.height);
        let n = w * h;
        let t = &p.truth;
        let th = &t.hairs.hair_mask;
        let hidden = Mask {
            width: w,
            height: h,
            data: (0..n).map(|i| t.glare_mask.data[i] || th.data[i]).collect(),
        };
        let countable = t.vessels.countable(Some(&hidden)).unwrap();
        let hm = a.maps.hair_mask.clone().unwrap();
        let lbl = a.maps.vessel_labels.clone().unwrap();
        let not = |m: &Mask| Mask {
            width: w,
            height: h,
            data: m.data.iter().map(|&v| !v).collect(),
        };
        let d_th = distance_transform(&not(th));
        let d_hm = distance_transform(&not(&hm));
        let d_tv = distance_transform(&not(&t.vessels.mask));
        let px: &[u8] = match p.image.samples() {
            Samples::U8(v) => v,
            Samples::U16(_) => unreachable!(),
        };
        {
            // Null statistics of the fine contrast (3.5 µm cells): ln R/G
            // less a wide background, raw and blurred at σ 1 px, over skin
            // 15 µm clear of true vessels, hair and glare.
            use trichometry::kernels::{dilate_square, gaussian_blur};
            let lin = trichometry::color::to_linear(&p.image.view()).unwrap();
            let hh: Vec<f32> = (0..n)
                .map(|i| lin.r[i].max(1e-4).ln() - lin.g[i].max(1e-4).ln())
                .collect();
            let hp = trichometry::Plane::from_vec(w, h, hh);
            let bg = gaussian_blur(&hp, 30.0);
            let dd = trichometry::Plane::from_vec(
                w,
                h,
                hp.data.iter().zip(&bg.data).map(|(a, b)| a - b).collect(),
            );
            let ds = gaussian_blur(&dd, 1.0);
            let ds4 = gaussian_blur(&dd, 3.0);
            let busy = Mask {
                width: w,
                height: h,
                data: (0..n)
                    .map(|i| hidden.data[i] || t.vessels.mask.data[i])
                    .collect(),
            };
            let busy = dilate_square(&busy, 5);
            let mad = |v: &mut Vec<f32>| {
                let m = v.len() / 2;
                let med = *v.select_nth_unstable_by(m, f32::total_cmp).1;
                let mut a: Vec<f32> = v.iter().map(|x| (x - med).abs()).collect();
                1.4826 * *a.select_nth_unstable_by(m, f32::total_cmp).1
            };
            let (mut v0, mut v1, mut v4, mut res) = (vec![], vec![], vec![], vec![]);
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let i = y * w + x;
                    if busy.data[i] {
                        continue;
                    }
                    v0.push(dd.data[i]);
                    v1.push(ds.data[i]);
                    v4.push(ds4.data[i]);
                    res.push(
                        dd.data[i]
                            - 0.25
                                * (dd.data[i - 1]
                                    + dd.data[i + 1]
                                    + dd.data[i - w]
                                    + dd.data[i + w]),
                    );
                }
            }
            let over = v1.iter().filter(|&&v| v >= 0.08).count() as f64 / v1.len() as f64;
            let over12 = v1.iter().filter(|&&v| v >= 0.12).count() as f64 / v1.len() as f64;
            eprintln!(
                "  null: d σ(MAD) {:.4}, ds(σ1) σ {:.4}, ds(σ3) σ {:.4}, white σ from residual {:.4} → ds(σ1) white-model {:.4}; P(ds ≥ 0.08) {:.5}, ≥ 0.12 {:.5}",
                mad(&mut v0),
                mad(&mut v1),
                mad(&mut v4),
                mad(&mut res) / 1.25f32.sqrt(),
                mad(&mut res) / 1.25f32.sqrt() * 0.2821,
                over,
                over12
            );
        }
        let nd = a.capillaries.len();
        let nt = t.vessels.vessels.len();
        let mut ov = vec![0usize; (nt + 1) * (nd + 1)];
        for i in 0..n {
            ov[t.vessels.labels.data[i] as usize * (nd + 1) + lbl.data[i] as usize] += 1;
        }
        let best_t = |d: usize| {
            (1..=nt)
                .filter(|&u| ov[u * (nd + 1) + d] > 0)
                .max_by_key(|&u| ov[u * (nd + 1) + d])
        };
        let best_d = |tv: usize| {
            (1..=nd)
                .filter(|&d| ov[tv * (nd + 1) + d] > 0)
                .max_by_key(|&d| ov[tv * (nd + 1) + d])
        };
        // Skin colour: pixels off true hair, vessels and glare.
        let mut skin = [0.0f64; 3];
        let mut ns = 0.0;
        for i in 0..n {
            if !hidden.data[i] && !t.vessels.mask.data[i] {
                for c in 0..3 {
                    skin[c] += px[3 * i + c] as f64;
                }
                ns += 1.0;
            }
        }
        let skin = skin.map(|v| v / ns);
        let truth = countable
            .iter()
            .enumerate()
            .filter(|&(k, &c)| c && t.vessels.vessels[k].class != VesselClass::Arborizing)
            .count();
        eprintln!(
            "seed {seed}: {} found / {truth} true; skin RGB {:.0},{:.0},{:.0}",
            a.summary.vessels.capillary_count.unwrap(),
            skin[0],
            skin[1],
            skin[2]
        );
        for d in 1..=nd {
            let c = &a.capillaries[d - 1];
            if c.class == trichometry::vessels::VesselClass::Arborizing {
                continue;
            }
            let cat = match best_t(d) {
                Some(tv) if t.vessels.vessels[tv - 1].class == VesselClass::Arborizing => {
                    "arb-piece".to_string()
                }
                Some(tv) if !countable[tv - 1] => format!("hidden t{tv}"),
                Some(tv) if best_d(tv) == Some(d) => continue,
                Some(tv) => format!("split t{tv}"),
                None => "FALSE".to_string(),
            };
            let (mut np, mut near, mut on_th) = (0usize, 0usize, 0usize);
            let (mut dmin_th, mut dmin_hm) = (f32::INFINITY, f32::INFINITY);
            let mut rgb = [0.0f64; 3];
            for i in 0..n {
                if lbl.data[i] as usize != d {
                    continue;
                }
                np += 1;
                let dt = d_th.data[i] * 3.5;
                near += (dt <= 10.0) as usize;
                on_th += th.data[i] as usize;
                dmin_th = dmin_th.min(dt);
                dmin_hm = dmin_hm.min(d_hm.data[i] * 3.5);
                for k in 0..3 {
                    rgb[k] += px[3 * i + k] as f64;
                }
            }
            let rgb = rgb.map(|v| v / np.max(1) as f64);
            let (cx, cy) = (c.centroid_x_px, c.centroid_y_px);
            let dot = (t.hairs.white_dots.iter().map(|o| ("white", o)))
                .chain(t.hairs.yellow_dots.iter().map(|o| ("yellow", o)))
                .map(|(k, o)| {
                    let dd = ((o.centre_px[0] - cx).powi(2) + (o.centre_px[1] - cy).powi(2)).sqrt();
                    (dd * 3.5 - 0.5 * o.diameter_um, k)
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let ci = (cy as usize).min(h - 1) * w + (cx as usize).min(w - 1);
            eprintln!(
                "      nearest dot {dot:?} µm (edge); scale at centroid {}; glare {}; true vessel {:.0} µm",
                t.hairs.scale_mask.data[ci],
                t.glare_mask.data[ci],
                d_tv.data[ci] * 3.5
            );
            eprintln!(
                "  {cat:10} d{d} ({:.0},{:.0}) blk ({},{}) {:?} {:.0}µm² peak {:.3} Δa* {:.1}; true hair {:.0}µm ({:.2} ≤10µm, {} on), hair mask {:.0}µm; RGB {:.0},{:.0},{:.0} (skin-dRGB {:+.1},{:+.1},{:+.1})",
                c.centroid_x_px,
                c.centroid_y_px,
                c.centroid_x_px as usize % 8,
                c.centroid_y_px as usize % 8,
                c.class,
                c.area_um2,
                c.contrast_peak,
                c.contrast_a_star,
                dmin_th,
                near as f64 / np.max(1) as f64,
                on_th,
                dmin_hm,
                rgb[0],
                rgb[1],
                rgb[2],
                rgb[0] - skin[0],
                rgb[1] - skin[1],
                rgb[2] - skin[2],
            );
        }
    }
}

/// Spatial noise of the redness contrast on skin with no vessel and no
/// hair: ln R/G less a wide Gaussian background, raw and blurred, against
/// the white-noise σ the vessel stage's residual estimator reads, under
/// the realistic optics, without sensor noise, and without JPEG.
/// `DIAG_LAB` the skin ("28,10,16").
#[test]
#[ignore = "diagnostic: prints the redness noise of bare skin"]
fn bare_skin_redness_noise_diag() {
    use trichometry::kernels::gaussian_blur;
    let lab: Vec<f32> = std::env::var("DIAG_LAB")
        .unwrap_or_else(|_| "28,10,16".into())
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let opt = |name: &str| match name {
        "realistic" => OpticsSpec::realistic(),
        "noiseless" => OpticsSpec {
            noise: None,
            ..OpticsSpec::realistic()
        },
        "no-jpeg" => OpticsSpec {
            jpeg_quality: None,
            ..OpticsSpec::realistic()
        },
        _ => OpticsSpec {
            jpeg_quality: Some(95),
            ..OpticsSpec::realistic()
        },
    };
    for name in ["realistic", "noiseless", "no-jpeg", "jpeg95"] {
        let spec = SceneSpec {
            width: 514,
            height: 386,
            um_per_px: 3.5,
            seed: 201,
            skin: SkinSpec {
                lab: [lab[0], lab[1], lab[2]],
                ..SkinSpec::default()
            },
            vessels: None,
            hairs: None,
            optics: OpticsSpec {
                glare_spots: 0,
                ..opt(name)
            },
            ..SceneSpec::default()
        };
        let p = render(&spec).unwrap();
        let (w, h) = (spec.width, spec.height);
        let n = w * h;
        let lin = trichometry::color::to_linear(&p.image.view()).unwrap();
        let hh: Vec<f32> = (0..n)
            .map(|i| lin.r[i].max(1e-4).ln() - lin.g[i].max(1e-4).ln())
            .collect();
        let hp = trichometry::Plane::from_vec(w, h, hh);
        let bg = gaussian_blur(&hp, 20.0);
        let dd = trichometry::Plane::from_vec(
            w,
            h,
            hp.data.iter().zip(&bg.data).map(|(a, b)| a - b).collect(),
        );
        let sd = |p: &trichometry::Plane| {
            let mut s = (0.0f64, 0.0f64, 0.0f64);
            for y in 40..h - 40 {
                for x in 40..w - 40 {
                    let v = p.data[y * w + x] as f64;
                    s.0 += 1.0;
                    s.1 += v;
                    s.2 += v * v;
                }
            }
            ((s.2 / s.0) - (s.1 / s.0).powi(2)).sqrt()
        };
        let mut res = Vec::new();
        for y in 40..h - 40 {
            for x in 40..w - 40 {
                let i = y * w + x;
                let d = &dd.data;
                res.push((d[i] - 0.25 * (d[i - 1] + d[i + 1] + d[i - w] + d[i + w])).abs());
            }
        }
        let m = res.len() / 2;
        let white = 1.4826 * *res.select_nth_unstable_by(m, f32::total_cmp).1 / 1.25f32.sqrt();
        let mut line = format!("{name:10} white σ {white:.4}; σ of d {:.4}", sd(&dd));
        for s in [1.0f32, 2.0, 3.0, 6.0] {
            let b = gaussian_blur(&dd, s);
            line += &format!(
                ", blur {s}: {:.4} (white model {:.4})",
                sd(&b),
                white / (2.0 * std::f32::consts::PI.sqrt() * s)
            );
        }
        eprintln!("{line}");
    }
}

/// Crops of the very dark skin test's image around `DIAG_AT` ("x,y") of
/// seed `DIAG_SEED` under the realistic optics, without noise and without
/// JPEG: ln R/G stretched ×400 around the crop's median, to
/// `/tmp/vdark_<optics>.png` (×4).
#[test]
#[ignore = "diagnostic: writes crops of the very dark skin test's image"]
fn very_dark_skin_crop_diag() {
    let at: Vec<usize> = std::env::var("DIAG_AT")
        .unwrap_or_else(|_| "134,33".into())
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let seed: u64 = std::env::var("DIAG_SEED").map_or(201, |v| v.parse().unwrap());
    for (name, optics) in [
        ("realistic", OpticsSpec::realistic()),
        (
            "noiseless",
            OpticsSpec {
                noise: None,
                ..OpticsSpec::realistic()
            },
        ),
        (
            "nojpeg",
            OpticsSpec {
                jpeg_quality: None,
                ..OpticsSpec::realistic()
            },
        ),
    ] {
        let spec = SceneSpec {
            width: 514,
            height: 386,
            um_per_px: 3.5,
            seed,
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                ..SkinSpec::default()
            },
            vessels: Some(VesselSceneSpec::default()),
            hairs: Some(HairSceneSpec::default()),
            optics,
            ..SceneSpec::default()
        };
        let p = render(&spec).unwrap();
        let lin = trichometry::color::to_linear(&p.image.view()).unwrap();
        let (w, h) = (spec.width, spec.height);
        let r = 40usize;
        let (x0, y0) = (at[0].saturating_sub(r), at[1].saturating_sub(r));
        let (x1, y1) = ((at[0] + r).min(w), (at[1] + r).min(h));
        let v: Vec<f32> = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| y * w + x))
            .map(|i| lin.r[i].max(1e-4).ln() - lin.g[i].max(1e-4).ln())
            .collect();
        let mut s = v.clone();
        let m = s.len() / 2;
        let med = *s.select_nth_unstable_by(m, f32::total_cmp).1;
        let (cw, ch) = (x1 - x0, y1 - y0);
        let k = 4;
        let mut img = image::RgbImage::new((2 * cw * k) as u32, (ch * k) as u32);
        for yy in 0..ch * k {
            for xx in 0..cw * k {
                let (x, y) = (xx / k, yy / k);
                let val = (128.0 + 400.0 * (v[y * cw + x] - med)).clamp(0.0, 255.0) as u8;
                let tv = p.truth.vessels.mask.data[(y0 + y) * w + x0 + x];
                let th = p.truth.hairs.hair_mask.data[(y0 + y) * w + x0 + x];
                img.put_pixel(xx as u32, yy as u32, image::Rgb([val, val, val]));
                img.put_pixel(
                    (cw * k + xx) as u32,
                    yy as u32,
                    image::Rgb([
                        val,
                        if tv { 255 } else { val / 2 },
                        if th { 255 } else { val / 2 },
                    ]),
                );
            }
        }
        img.save(format!("/tmp/vdark_{name}.png")).unwrap();
    }
}

// ---------------------------------------------------------------- hairs

/// One hair case: a hair scene on skin under dermatoscope optics at one
/// scale; `uneven` dims the light linearly across the frame's diagonal to
/// `1 − uneven` at the far corner (oblique lighting, on top of the
/// optics' radial vignetting).
struct HCase {
    name: String,
    um: f64,
    hairs: HairSceneSpec,
    skin: SkinSpec,
    optics: OpticsSpec,
    uneven: f32,
}

/// The hair scene of the survey: `OOD_HAIR_SCENE=crowded` for the crowded
/// (default) phantom, else the sparse one.
fn hair_scene() -> HairSceneSpec {
    match std::env::var("OOD_HAIR_SCENE").as_deref() {
        Ok("crowded") => HairSceneSpec::default(),
        _ => HairSceneSpec::sparse(),
    }
}

/// The plain case at `um`: the survey's scene, default skin, the realistic
/// optics (blur σ 2 µm, vignetting 0.15, 4 glare spots, sensor noise, JPEG
/// 90).
fn plain_hair_case(name: &str, um: f64) -> HCase {
    HCase {
        name: name.into(),
        um,
        hairs: hair_scene(),
        skin: SkinSpec::default(),
        optics: OpticsSpec::realistic(),
        uneven: 0.0,
    }
}

/// Sensor noise `k` times the realistic one (σ ∝ √(1 / full well) for the
/// shot noise, and the read noise × k).
fn noise_times(k: f32) -> Option<SensorNoise> {
    let r = OpticsSpec::realistic().noise.unwrap();
    Some(SensorNoise {
        full_well: r.full_well / (k * k),
        read_noise: r.read_noise * k,
    })
}

/// The harsh nuisances (each alone, at 3.5 µm/px); the survey runs each
/// with hair and hair-free.
fn harsh_hair_cases() -> Vec<HCase> {
    let b = |name: &str| plain_hair_case(name, 3.5);
    let r = OpticsSpec::realistic;
    vec![
        HCase {
            optics: OpticsSpec {
                jpeg_quality: Some(60),
                ..r()
            },
            ..b("jpeg-q60")
        },
        HCase {
            optics: OpticsSpec {
                jpeg_quality: Some(50),
                ..r()
            },
            ..b("jpeg-q50")
        },
        HCase {
            optics: OpticsSpec {
                vignetting: 0.5,
                ..r()
            },
            ..b("vignetting-0.5")
        },
        HCase {
            optics: OpticsSpec {
                blur_sigma_um: 3.0,
                ..r()
            },
            ..b("blur-1.5x")
        },
        HCase {
            optics: OpticsSpec {
                blur_sigma_um: 4.0,
                ..r()
            },
            ..b("blur-2x")
        },
        HCase {
            optics: OpticsSpec {
                noise: noise_times(2.0),
                ..r()
            },
            ..b("noise-2x")
        },
        HCase {
            optics: OpticsSpec {
                noise: noise_times(3.0),
                ..r()
            },
            ..b("noise-3x")
        },
        HCase {
            skin: SkinSpec {
                lab: [38.0, 12.0, 20.0],
                ..SkinSpec::default()
            },
            ..b("dark-skin-L38")
        },
        HCase {
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                ..SkinSpec::default()
            },
            ..b("dark-skin-L28")
        },
        // Which part of the darkest skin matters: its sensor noise or its
        // texture (the same L* texture is a larger relative contrast).
        HCase {
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                ..SkinSpec::default()
            },
            optics: OpticsSpec { noise: None, ..r() },
            ..b("dark-skin-L28-noiseless")
        },
        HCase {
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                texture_l: 0.0,
                ..SkinSpec::default()
            },
            ..b("dark-skin-L28-untextured")
        },
        // The same dark skins with the texture's relative (reflectance)
        // contrast of the default skin: σ 1 L* at L* 62 is 0.0338 in red
        // optical density, at L* 38 0.0478 and at L* 28 0.0586 per L*, so
        // texture σ 0.71 and 0.58 L* (real texture contrast in reflectance
        // roughly follows the skin's reflectance).
        HCase {
            skin: SkinSpec {
                lab: [38.0, 12.0, 20.0],
                texture_l: 0.71,
                ..SkinSpec::default()
            },
            ..b("dark-skin-L38-reltex")
        },
        HCase {
            skin: SkinSpec {
                lab: [28.0, 10.0, 16.0],
                texture_l: 0.58,
                ..SkinSpec::default()
            },
            ..b("dark-skin-L28-reltex")
        },
        HCase {
            optics: OpticsSpec {
                glare_spots: 14,
                glare_radius_um: 90.0,
                ..r()
            },
            ..b("glare-14x90um")
        },
        HCase {
            uneven: 0.5,
            ..b("uneven-light-0.5")
        },
        HCase {
            optics: r().with_cast(diag([1.15, 1.0, 0.82]), 1.0),
            ..b("cast-warm")
        },
        HCase {
            optics: r().with_cast(diag([0.85, 1.0, 1.2]), 1.0),
            ..b("cast-cool")
        },
    ]
}

fn hair_cases() -> Vec<HCase> {
    let mut v = vec![plain_hair_case("plain", 3.5)];
    for (name, um) in [("scale-2", 2.0), ("scale-5.5", 5.5), ("scale-7", 7.0)] {
        v.push(plain_hair_case(name, um));
    }
    let light = |alpha: Option<f64>| HairSceneSpec {
        light_fraction: 1.0,
        alpha_light_per_um: alpha.unwrap_or(hair_scene().alpha_light_per_um),
        ..hair_scene()
    };
    v.push(HCase {
        hairs: light(None),
        ..plain_hair_case("blond-only", 3.5)
    });
    v.push(HCase {
        hairs: light(Some(0.01)),
        ..plain_hair_case("grey-faint-only", 3.5)
    });
    v.push(HCase {
        hairs: light(None),
        ..plain_hair_case("blond-only-5.5", 5.5)
    });
    v.extend(harsh_hair_cases());
    // Hair-free variants: every record is a false hair.
    let no_hair = |c: HCase| HCase {
        hairs: HairSceneSpec {
            density_per_cm2: 0.0,
            ..c.hairs
        },
        ..c
    };
    v.push(no_hair(plain_hair_case("none:plain", 3.5)));
    for c in harsh_hair_cases() {
        let name = format!("none:{}", c.name);
        v.push(no_hair(HCase { name, ..c }));
    }
    v
}

/// One case's figures against truth.
#[derive(Clone, Copy)]
struct HRow {
    truth: usize,
    found: usize,
    mae: f64,
    bias: f64,
    n_diam: usize,
    vellus_err: f64,
    one_record: f64,
    n_crossing: usize,
    /// Records on no truth shaft (all records on a hair-free image).
    false_hairs: usize,
}

impl HRow {
    fn count_err_pct(&self) -> f64 {
        100.0 * (self.found as f64 - self.truth as f64) / self.truth.max(1) as f64
    }

    /// The bounds this row breaks: count within 10 %, MAE ≤ 3 µm,
    /// |bias| ≤ 2 µm, vellus fraction within 0.05, no hair on a hair-free
    /// image.
    fn breaks(&self) -> Vec<&'static str> {
        let mut b = Vec::new();
        if self.truth == 0 {
            if self.found > 0 {
                b.push("false-hairs");
            }
            return b;
        }
        if self.count_err_pct().abs() > 10.0 {
            b.push("count");
        }
        if self.mae > 3.0 {
            b.push("MAE");
        }
        if self.bias.abs() > 2.0 {
            b.push("bias");
        }
        if self.vellus_err.abs() > 0.05 {
            b.push("vellus");
        }
        b
    }
}

/// Renders and analyses one hair case; `Err` on an error, a panic or a
/// non-finite figure.
fn run_hair_case(c: &HCase, seed: u64) -> Result<(HRow, String), String> {
    let (w, h) = (
        (3500.0 / c.um).round() as usize,
        (2600.0 / c.um).round() as usize,
    );
    let spec = SceneSpec {
        width: w,
        height: h,
        um_per_px: c.um,
        seed,
        skin: c.skin.clone(),
        ..SceneSpec::default()
    };
    let rng = Rng::new(seed);
    let mut canvas = paint_skin(&spec, &mut rng.fork(1));
    let truth = paint_hairs(&mut canvas, &c.hairs, &mut rng.fork(3)).map_err(|e| e.to_string())?;
    if c.uneven > 0.0 {
        for y in 0..h {
            for x in 0..w {
                let t = 0.5 * (x as f32 / w as f32 + y as f32 / h as f32);
                let g = 1.0 - c.uneven * t;
                let i = y * w + x;
                canvas.r[i] *= g;
                canvas.g[i] *= g;
                canvas.b[i] *= g;
            }
        }
    }
    let (img, _glare) =
        optics::apply(&canvas, &c.optics, &mut rng.fork(4), &[]).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let a = match std::panic::catch_unwind(|| {
        analyze(
            &img,
            &Calibration::with_um_per_px(c.um).unwrap(),
            &Params::default(),
        )
    }) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(format!("ERROR {e}")),
        Err(_) => return Err("PANIC".into()),
    };
    let secs = t0.elapsed().as_secs_f64();
    let s = &a.summary.hairs;
    let mut bad: Vec<String> = a
        .hairs
        .iter()
        .filter(|s| !(s.diameter_um.is_finite() && s.length_um.is_finite() && s.diameter_um > 0.0))
        .map(|s| format!("shaft {}", s.id))
        .collect();
    for (k, v) in [
        ("mean", s.shaft_diameter_mean_um),
        ("vellus", s.vellus_fraction),
        ("density", s.hair_density_per_cm2),
        ("psf", s.hair_psf_sigma_um),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            bad.push(k.into());
        }
    }
    if !bad.is_empty() {
        return Err(format!("NONFINITE {bad:?}"));
    }
    let st = HairStage {
        shafts: a.hairs.clone(),
        mask: a
            .maps
            .hair_mask
            .clone()
            .unwrap_or_else(|| Mask::filled(w, h, false)),
        labels: a.maps.hair_labels.clone().unwrap_or(Labels {
            width: w,
            height: h,
            data: vec![0; w * h],
            count: 0,
        }),
        summary: a.summary.hairs.clone(),
    };
    let case = hair_score::Case {
        rgb: to_linear(&img.view()).unwrap(),
        truth,
        upp: c.um,
        valid: Mask::filled(w, h, true),
    };
    let verbose = std::env::var("OOD_HAIR_VERBOSE").is_ok();
    let r = hair_score::evaluate(&case, &st, verbose);
    if verbose && r.count_truth == 0 {
        for d in &st.shafts {
            let n = d.centreline_px.len();
            println!(
                "  false {} len {:.0} µm d {:.1} µm (n {}) contrast {:.3} pieces {} from {:?} to {:?}",
                d.id,
                d.length_um,
                d.diameter_um,
                d.width_samples,
                d.contrast,
                d.pieces,
                d.centreline_px[0].map(f32::round),
                d.centreline_px[n - 1].map(f32::round)
            );
        }
    }
    let x = hair_score::extra_records(&case, &st);
    let vellus_err = if r.count_truth == 0 {
        0.0
    } else {
        r.vellus_det - r.vellus_truth
    };
    let row = HRow {
        truth: r.count_truth,
        found: r.count_det,
        mae: r.mae,
        bias: r.bias,
        n_diam: r.n_diam,
        vellus_err,
        one_record: r.crossing_one_record,
        n_crossing: r.n_crossing,
        false_hairs: if r.count_truth == 0 {
            r.count_det
        } else {
            x.off
        },
    };
    let extra = format!(
        "vellus {:.3}/{:.3}, dup {}, psf σ {:.2} µm, {secs:.1}s",
        r.vellus_det,
        r.vellus_truth,
        x.dup,
        s.hair_psf_sigma_um.unwrap_or(f64::NAN)
    );
    Ok((row, extra))
}

/// Hair stage (through `analyze`) on phantoms beyond the tested settings:
/// one line per case and seed against truth (count error %, diameter MAE
/// and bias over shafts ≥ 4 px wide, vellus fraction error, crossing
/// one-record fraction, false hairs = records on no truth shaft), the
/// issue's bounds the case breaks, and the same figures less those of the
/// plain case (realistic optics, default skin) at the same seed and scale.
/// Field 3.5 × 2.6 mm; `OOD_HAIR_SCENE=crowded` for the crowded scene.
/// Asserts only sanity: no error, no panic, no non-finite figure.
///
/// `OOD_ONLY=hair: cargo test --release -p trichometry --test ood_sweep hair -- --ignored --nocapture`
/// (`OOD_ONLY` matches `hair:<case name>`; `OOD_HAIR_VERBOSE=1` prints
/// every truth shaft's record and every false record). (`tests/hairs.rs`'s
/// `ood_sweep` runs the hair stage alone on other settings, with the tests'
/// simple optics; this one goes through `analyze`, its own glare mask and
/// colour handling, with the phantom's optics.)
///
/// Session 28 (`hood28`, main 59a336e), seeds 201–206, means per case
/// (count error %, |count error| %, MAE, bias, |vellus error|, one-record;
/// seeds breaking count / MAE / bias / vellus): plain −6.0, 10.3, 0.95,
/// +0.31, 0.026, 0.52 (3/0/0/2); scales 2 / 5.5 / 7 MAE 0.78 / 1.77 / 1.61;
/// JPEG 60 / 50, vignetting 0.5, blur ×1.5 / ×2, noise ×2, glare, casts:
/// MAE 0.85–1.59, counts within 4 points of plain, no MAE break; blond-only
/// MAE 1.27; grey-faint-only count −13.8 % (5/1/1/3); uneven light MAE
/// 1.69 (one seed 5.07: a 3-sample record reading 169 µm for 59);
/// noise ×3 MAE 2.85, bias −1.27 (2/3/1/3; max 5.27: translucent shafts
/// of 80–96 µm read 20–68 µm, a noise dip inside a faint profile ending
/// the half-depth walk; with `profile::stays_below` (its first form, on
/// the 80 %-depth walk too) MAE 1.44, bias −0.04, no seed over a diameter
/// bound, every other case within 0.06 µm of MAE but dark L* 28 4.32 →
/// 3.76 and untextured 4.30 → 3.12; hair-free L* 28 31 → 34); dark skin L* 38
/// count −18.8 %, one-record 0.39 (5/1/0/1); L* 28 MAE 4.32, bias +1.45,
/// one-record 0.27 (5/3/3/1; without sensor noise MAE 2.43, without
/// texture 4.30: the noise on a hair contrast of 0.2–0.6 instead of
/// 0.85–0.9, with crossings over-read). Hair-free: 0–1 false hairs per
/// 6 images for every nuisance except dark skin: L* 38 10, L* 28 31 (1–8
/// per image; 26 without sensor noise, 0 without texture): the phantom's
/// skin texture is in L* (σ 1), a relative contrast about 3/(L* + 16),
/// 1.8 × the default skin's at L* 28, and its 20–40 µm ridges reach
/// profile contrasts of 0.10–0.20, as high as the faintest real shafts on
/// that skin (0.09–0.17): no contrast gate separates them (not changed).
/// The walk (`profile::stays_below`) was reverted in session 28 (it also
/// measures `compare`'s hairs) and re-landed in session 29 (see
/// `tests/hairs.rs` `diameters_under_three_times_the_sensor_noise`).
///
/// Session 29 (`hdark29`, main cdde9e8), seeds 201–206. The phantom's
/// dark skin: its texture is σ 1 L* at every L*, in red optical density
/// 0.0338 per L* on the default skin (L* 62), 0.0478 at L* 38 (1.41×) and
/// 0.0586 at L* 28 (1.73×): the texture gets relatively stronger as the
/// skin darkens, where real texture contrast in reflectance roughly follows
/// the skin's reflectance (phantom not changed). The cases `*-reltex` give
/// the dark skins the default skin's relative texture (σ 0.71 and 0.58
/// L*): hair-free, 0 false hairs on both before any change (10 and 31 with
/// the phantom's texture). Dark skin's count shortfall is the light hairs:
/// the phantom's blond/grey reflectance (red 0.20–0.29) is above the skin's
/// at L* 38 (0.18; luminance 1.4–2.1×) and L* 28 (2.0–2.9×), so they are
/// lighter than the skin, and detection clips everything lighter than the
/// skin level (by design: dots, scales, glare): on seeds 201–202 all 13
/// light shafts are missed at L* 38 (plain: 6 found); light shafts are 35
/// of the 158 (22 %; plain finds 25), the L* 38 shortfall −20 %. Finding
/// them needs a
/// light-ridge detection (not tried). L* 28's diameter errors are thick
/// dark shafts (60–96 µm) read 10–47 µm wide at contrasts 0.18–0.35 (the
/// hair's own reflectance is 0.46 of the skin's in red), mostly at
/// crossings and with sample IQRs of 20–35 µm: sensor noise on a shallow
/// profile (noiseless MAE 2.43 against 4.32; the PSF estimate is 3.2–3.5
/// µm, as on the plain case). Detection now also follows the skin's own
/// tail (`hairs::detect` `skin_tail`: the thresholds are at least 2 × the
/// 0.99 quantile of the ridge strength over valid pixels 2 px clear of the
/// mask; the median (`noise_level`) stays low on textured skin, 0.0058 at
/// L* 38 and 0.0073 at L* 28 hair-free): hair-free L* 38 10 → 0, L* 28
/// 31 → 1, L* 28 noiseless 26 → 2; with hair L* 38 count −20.3 → −19.6 %,
/// L* 28 −10.8 → −14.6 % (records on no shaft 16 → 14; the faintest true
/// shafts there are as weak as the texture), MAE 4.32 → 4.63, bias +1.45
/// → +1.67; `*-reltex` unchanged within a record; every other row the same
/// (noise ×3 one-record 0.46 → 0.47); grey-faint-only unchanged (−15.2 %,
/// MAE 2.29: its lost shafts are mostly vellus, 16 of 23 missed, under the
/// absolute floors on the default skin, where the tail rule does not bind).
#[test]
#[ignore = "survey: prints one line per out-of-distribution hair case"]
fn ood_hair_sweep() {
    let mut plain: std::collections::HashMap<(u64, u64), HRow> = Default::default();
    let mut failures = Vec::new();
    for c in hair_cases()
        .iter()
        .filter(|c| wanted(&format!("hair:{}", c.name)))
    {
        for seed in seeds() {
            let key = (seed, c.um.to_bits());
            if c.hairs.density_per_cm2 > 0.0 && !plain.contains_key(&key) {
                let p = plain_hair_case("plain", c.um);
                match run_hair_case(&p, seed) {
                    Ok((row, _)) => {
                        plain.insert(key, row);
                    }
                    Err(e) => failures.push(format!("plain {} seed {seed}: {e}", c.um)),
                }
            }
            let (row, extra) = match run_hair_case(c, seed) {
                Ok(x) => x,
                Err(e) => {
                    println!("OOD hair {:22} seed {seed}: {e}", c.name);
                    failures.push(format!("{} seed {seed}: {e}", c.name));
                    continue;
                }
            };
            let breaks = row.breaks();
            if row.truth == 0 {
                println!(
                    "OOD hair {:22} seed {seed} {:.1}um: false hairs {} [{}] {extra}",
                    c.name,
                    c.um,
                    row.found,
                    breaks.join(",")
                );
                continue;
            }
            let vs = plain.get(&key).map_or(String::new(), |p| {
                format!(
                    "; vs plain: count {:+.0} pp, MAE {:+.2}, bias {:+.2}, vellus {:+.3}, one-rec {:+.2}, false {:+}",
                    row.count_err_pct() - p.count_err_pct(),
                    row.mae - p.mae,
                    row.bias - p.bias,
                    row.vellus_err - p.vellus_err,
                    row.one_record - p.one_record,
                    row.false_hairs as i64 - p.false_hairs as i64
                )
            });
            println!(
                "OOD hair {:22} seed {seed} {:.1}um: count {}/{} ({:+.0}%), MAE {:.2} bias {:+.2} (n {}), vellus err {:+.3}, one-rec {:.2} (n {}), false {} [{}] {extra}{vs}",
                c.name,
                c.um,
                row.found,
                row.truth,
                row.count_err_pct(),
                row.mae,
                row.bias,
                row.n_diam,
                row.vellus_err,
                row.one_record,
                row.n_crossing,
                row.false_hairs,
                breaks.join(",")
            );
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
