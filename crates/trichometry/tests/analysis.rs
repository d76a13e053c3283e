//! `analyze_with` and a kept `AnalysisScratch` (or a `ScratchPool`) give
//! `analyze`'s result bit for bit, over a sequence of different images with
//! an error in between.

use trichometry::analysis::{analyze, analyze_with, AnalysisScratch, ScratchPool};
use trichometry::synth::{self, hairs::HairSceneSpec, optics::OpticsSpec, SceneSpec};
use trichometry::{Analysis, Calibration, Error, Image, Params, Plane, Samples};

/// A phantom with hair, vessels, glare, noise and JPEG.
fn phantom(width: usize, height: usize, um_per_px: f64, seed: u64) -> Image {
    let spec = SceneSpec {
        width,
        height,
        um_per_px,
        seed,
        hairs: Some(HairSceneSpec::default()),
        vessels: Some(synth::vessels::VesselSceneSpec::default()),
        optics: OpticsSpec::realistic(),
        ..SceneSpec::default()
    };
    synth::render(&spec).expect("phantom renders").image
}

/// The same phantom as greyscale (the mean of the channels).
fn grey(image: &Image) -> Image {
    let Samples::U8(px) = image.samples() else {
        panic!("8-bit phantom")
    };
    let g = px
        .chunks_exact(3)
        .map(|c| ((c[0] as u32 + c[1] as u32 + c[2] as u32) / 3) as u8)
        .collect();
    Image::new(image.width(), image.height(), 1, Samples::U8(g)).unwrap()
}

fn bits(p: &Plane) -> Vec<u32> {
    p.data.iter().map(|v| v.to_bits()).collect()
}

/// Bit-identical results: every float compared by its bits (Debug prints
/// the shortest round-trip form, NaN and −0 included).
fn assert_same(a: &Analysis, b: &Analysis, what: &str) {
    let rec = |x: &Analysis| {
        format!(
            "{:?}",
            (
                &x.summary,
                &x.warnings,
                &x.provenance,
                &x.hairs,
                &x.capillaries,
                &x.yellow_dots
            )
        )
    };
    assert!(rec(a) == rec(b), "{what}: records differ");
    let (m, n) = (&a.maps, &b.maps);
    assert!(m.skin_mask == n.skin_mask, "{what}: skin mask");
    assert!(m.glare_mask == n.glare_mask, "{what}: glare mask");
    assert!(m.hair_mask == n.hair_mask, "{what}: hair mask");
    assert!(m.hair_labels == n.hair_labels, "{what}: hair labels");
    assert!(m.scale_mask == n.scale_mask, "{what}: scale mask");
    assert!(m.yellow_dot_mask == n.yellow_dot_mask, "{what}: dots");
    assert!(m.vessel_mask == n.vessel_mask, "{what}: vessel mask");
    assert!(m.vessel_labels == n.vessel_labels, "{what}: vessel labels");
    let ery = |x: &Analysis| {
        x.maps
            .erythema
            .as_ref()
            .map(|e| (bits(&e.a_star), bits(&e.erythema_index)))
    };
    assert!(ery(a) == ery(b), "{what}: erythema maps");
}

#[test]
fn kept_scratch_gives_analyze_bit_for_bit_over_a_sequence() {
    let params = Params::default();
    let cal = |um| Calibration::with_um_per_px(um).unwrap();
    let a = phantom(900, 640, 3.5, 31);
    let b = phantom(1200, 860, 2.0, 32); // larger: buffers grow
    let c = phantom(700, 520, 5.5, 33); // smaller: buffers hold stale pixels
    let g = grey(&phantom(640, 480, 3.5, 34));
    // An error raised after the hair stage ran in the scratch: the follicle
    // stage rejects its parameter.
    let mut bad = Params::default();
    bad.follicles.unit_radius_um = -1.0;

    let mut scratch = AnalysisScratch::new();
    assert_eq!(scratch.resident_bytes(), 0);
    let mut hair_counts = Vec::new();
    let mut vessel_counts = Vec::new();
    let mut check = |img: &Image, um: f64, what: &str, scratch: &mut AnalysisScratch, recycle| {
        let kept = analyze_with(img, &cal(um), &params, scratch).unwrap();
        let plain = analyze(img, &cal(um), &params).unwrap();
        assert_same(&kept, &plain, what);
        hair_counts.push(kept.summary.hairs.hair_count.unwrap_or(0));
        vessel_counts.push(kept.capillaries.len());
        if recycle {
            scratch.recycle(kept);
        }
    };
    check(&a, 3.5, "a", &mut scratch, true);
    let after_a = scratch.resident_bytes();
    assert!(after_a > 0);
    check(&b, 2.0, "b (larger, 2 µm/px)", &mut scratch, true);
    assert!(scratch.resident_bytes() > after_a, "buffers grow to b");
    let err = analyze_with(&c, &cal(5.5), &bad, &mut scratch).unwrap_err();
    assert!(
        matches!(&err, Error::Parameter { name, .. } if name.contains("unit_radius_um")),
        "{err:?}"
    );
    // A bad scale fails before any stage.
    let nan_scale = Calibration {
        um_per_px: Some(f64::NAN),
        ..Calibration::default()
    };
    let err = analyze_with(&a, &nan_scale, &params, &mut scratch).unwrap_err();
    assert!(matches!(err, Error::Parameter { .. }), "{err:?}");
    check(
        &c,
        5.5,
        "c (smaller, 5.5 µm/px, after an error)",
        &mut scratch,
        false,
    );
    check(&g, 3.5, "grey", &mut scratch, true);
    check(&a, 3.5, "a again", &mut scratch, true);
    check(&b, 2.0, "b again", &mut scratch, false);
    // The phantoms have hair, so the scratch was used on every image; and
    // vessels, found on every colour image (not on the grey one, 4th).
    assert!(hair_counts.iter().all(|&n| n > 5), "{hair_counts:?}");
    let colour: Vec<usize> = [0, 1, 2, 4, 5].iter().map(|&i| vessel_counts[i]).collect();
    assert!(colour.iter().all(|&n| n > 0), "{vessel_counts:?}");
}

#[test]
fn pool_shared_by_threads_gives_analyze_bit_for_bit() {
    let params = Params::default();
    let cal = Calibration::with_um_per_px(3.5).unwrap();
    let images = [
        phantom(640, 480, 3.5, 41),
        phantom(800, 560, 3.5, 42),
        phantom(600, 600, 3.5, 43),
    ];
    let plain: Vec<Analysis> = images
        .iter()
        .map(|i| analyze(i, &cal, &params).unwrap())
        .collect();
    let pool = ScratchPool::new();
    std::thread::scope(|s| {
        for t in 0..2 {
            let (pool, images, plain, params, cal) = (&pool, &images, &plain, &params, &cal);
            s.spawn(move || {
                for k in 0..images.len() {
                    let i = (k + t) % images.len();
                    let a = pool.analyze(&images[i], cal, params).unwrap();
                    assert_same(&a, &plain[i], &format!("thread {t}, image {i}"));
                }
            });
        }
    });
    // One scratch per call that ran at once, kept for the next calls.
    assert!((1..=2).contains(&pool.idle()), "{}", pool.idle());
    assert!(pool.resident_bytes() > 0);
    pool.clear();
    assert_eq!((pool.idle(), pool.resident_bytes()), (0, 0));
}

/// Parameters given as JSON (the CLI's `--params`, Python's `params=`): a
/// missing key takes its default, a misspelt one is refused by name instead
/// of being silently ignored (the run would otherwise use the default).
#[test]
fn params_json_refuses_unknown_keys_at_every_level() {
    let defaults = Params::default();
    let json = serde_json::to_string(&defaults).expect("params serialise");
    assert_eq!(
        serde_json::from_str::<Params>(&json).expect("round trip"),
        defaults
    );
    assert_eq!(
        serde_json::from_str::<Params>(r#"{"hairs": {}}"#).expect("partial"),
        defaults
    );
    for (bad, key) in [
        (r#"{"hair": {}}"#, "hair"),
        (r#"{"hairs": {"no_such_knob": 1.0}}"#, "no_such_knob"),
        (r#"{"vessels": {"no_such_knob": 1.0}}"#, "no_such_knob"),
        (r#"{"quality": {"no_such_knob": 1.0}}"#, "no_such_knob"),
        (r#"{"follicles": {"no_such_knob": 1.0}}"#, "no_such_knob"),
        (r#"{"scalp_signs": {"no_such_knob": 1.0}}"#, "no_such_knob"),
    ] {
        let e = serde_json::from_str::<Params>(bad).expect_err(bad);
        assert!(
            e.to_string().contains(&format!("unknown field `{key}`")),
            "{e}"
        );
    }
    let cp = trichometry::CompareParams::default();
    let json = serde_json::to_string(&cp).expect("compare params serialise");
    assert_eq!(
        serde_json::from_str::<trichometry::CompareParams>(&json).expect("round trip"),
        cp
    );
    for bad in [
        r#"{"recheck_unmatched_hair": false}"#,
        r#"{"registration": {"no_such_knob": 1}}"#,
        r#"{"min_effect": {"no_such_knob": 1}}"#,
    ] {
        let e = serde_json::from_str::<trichometry::CompareParams>(bad).expect_err(bad);
        assert!(e.to_string().contains("unknown field"), "{e}");
    }
}
