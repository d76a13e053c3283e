//! Capillary detection against phantom truth: mask, counts, classes,
//! hairs, no-vessel images, rotation and rescaling.

use trichometry::color::{self, LinearRgb};
use trichometry::kernels::{gaussian_blur, sample_bilinear};
use trichometry::synth::{
    render, vessels::VesselClass, vessels::VesselSceneSpec, Phantom, Rng, SceneSpec,
};
use trichometry::vessels::{
    detect_vessels, detect_vessels_with, VesselParams, VesselScratch, VesselStage,
};
use trichometry::{Mask, Plane, StageInput};

/// A ~1.8 × 1.35 mm field of skin with vessels at `um` µm/px.
fn scene(um: f64, seed: u64, vessels: bool) -> Phantom {
    render(&SceneSpec {
        width: (1800.0 / um) as usize,
        height: (1350.0 / um) as usize,
        um_per_px: um,
        seed,
        vessels: vessels.then(VesselSceneSpec::default),
        ..SceneSpec::default()
    })
    .unwrap()
}

fn planes(p: &Phantom) -> LinearRgb {
    color::to_linear(&p.image.view()).unwrap()
}

/// Optics the phantom does not do yet: blur (µm), sensor noise (sRGB
/// levels), 8-bit quantisation and JPEG at `quality`.
fn degrade(
    rgb: &LinearRgb,
    um: f64,
    blur_um: f64,
    noise: f64,
    quality: u8,
    seed: u64,
) -> LinearRgb {
    let (w, h) = (rgb.width, rgb.height);
    let bl =
        |v: &Vec<f32>| gaussian_blur(&Plane::from_vec(w, h, v.clone()), (blur_um / um) as f32).data;
    let (r, g, b) = (bl(&rgb.r), bl(&rgb.g), bl(&rgb.b));
    let mut rng = Rng::new(seed);
    let mut bytes = Vec::with_capacity(3 * w * h);
    for i in 0..w * h {
        for v in [r[i], g[i], b[i]] {
            let e = color::linear_to_srgb(v.clamp(0.0, 1.0)) as f64 * 255.0 + noise * rng.normal();
            bytes.push(e.round().clamp(0.0, 255.0) as u8);
        }
    }
    let mut jpg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpg, quality)
        .encode(&bytes, w as u32, h as u32, image::ExtendedColorType::Rgb8)
        .unwrap();
    let dec = image::load_from_memory(&jpg).unwrap().to_rgb8().into_raw();
    let img = trichometry::Image::new(w, h, 3, trichometry::Samples::U8(dec)).unwrap();
    color::to_linear(&img.view()).unwrap()
}

/// Dark hair shafts drawn over the image (linear planes); returns the hair
/// mask (pixels at least half covered).
fn paint_hairs(rgb: &mut LinearRgb, um: f64, n: usize, seed: u64) -> Mask {
    let (w, h) = (rgb.width, rgb.height);
    let mut rng = Rng::new(seed);
    let mut mask = Mask::filled(w, h, false);
    for _ in 0..n {
        let (cx, cy) = (rng.range(0.0, w as f64), rng.range(0.0, h as f64));
        let th = rng.range(0.0, std::f64::consts::PI);
        let r = rng.range(25.0, 45.0) / um; // 50–90 µm shafts
        let (nx, ny) = (-th.sin(), th.cos());
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f64 + 0.5 - cx) * nx + (y as f64 + 0.5 - cy) * ny).abs();
                let cov = (r - d + 0.5).clamp(0.0, 1.0) as f32;
                if cov > 0.0 {
                    let i = y * w + x;
                    rgb.r[i] = rgb.r[i] * (1.0 - cov) + 0.035 * cov;
                    rgb.g[i] = rgb.g[i] * (1.0 - cov) + 0.024 * cov;
                    rgb.b[i] = rgb.b[i] * (1.0 - cov) + 0.018 * cov;
                    if cov >= 0.5 {
                        mask.data[i] = true;
                    }
                }
            }
        }
    }
    mask
}

/// White / yellow dots (follicular openings) of 30–90 µm.
fn paint_white_dots(rgb: &mut LinearRgb, um: f64, n: usize, seed: u64) {
    let (w, h) = (rgb.width, rgb.height);
    let mut rng = Rng::new(seed);
    for _ in 0..n {
        let (cx, cy) = (rng.range(0.0, w as f64), rng.range(0.0, h as f64));
        let r = rng.range(15.0, 45.0) / um;
        let col = if rng.uniform() < 0.5 {
            [0.75f32, 0.72, 0.65]
        } else {
            [0.72, 0.62, 0.35]
        };
        for y in 0..h {
            for x in 0..w {
                let d = ((x as f64 + 0.5 - cx).powi(2) + (y as f64 + 0.5 - cy).powi(2)).sqrt();
                let cov = (r - d + 0.5).clamp(0.0, 1.0) as f32;
                if cov > 0.0 {
                    let i = y * w + x;
                    rgb.r[i] = rgb.r[i] * (1.0 - cov) + col[0] * cov;
                    rgb.g[i] = rgb.g[i] * (1.0 - cov) + col[1] * cov;
                    rgb.b[i] = rgb.b[i] * (1.0 - cov) + col[2] * cov;
                }
            }
        }
    }
}

fn run(rgb: &LinearRgb, um: f64, valid: Option<&Mask>, hair: Option<&Mask>) -> VesselStage {
    let all = Mask::filled(rgb.width, rgb.height, true);
    let input = StageInput {
        rgb,
        um_per_px: um,
        valid: valid.unwrap_or(&all),
    };
    let params = params_from_env("TEST_SET").vessels;
    detect_vessels(&input, hair, &params).unwrap()
}

struct Score {
    dice: f64,
    /// True capillaries countable where `hidden` hides the skin
    /// (`VesselTruth::countable`: at least a quarter visible).
    truth_caps: usize,
    /// All true capillaries, hidden or not.
    truth_caps_all: usize,
    found_caps: usize,
    matched: usize,
    class_right: usize,
}

/// Dice over pixels not `hidden` (hair, glare); one-to-one matching by
/// largest overlap; the true count by the truth's counting rule (the
/// capillaries at least a quarter visible where `hidden` hides the skin).
fn score(p: &Phantom, st: &VesselStage, hidden: Option<&Mask>) -> Score {
    let t = &p.truth.vessels;
    let n = t.mask.data.len();
    let keep = |i: usize| !hidden.is_some_and(|m| m.data[i]);
    let (mut inter, mut a, mut b) = (0usize, 0usize, 0usize);
    for i in (0..n).filter(|&i| keep(i)) {
        let (x, y) = (t.mask.data[i], st.mask.data[i]);
        inter += (x && y) as usize;
        a += x as usize;
        b += y as usize;
    }
    let (nt, nd) = (t.vessels.len(), st.capillaries.len());
    let mut ov = vec![0usize; (nt + 1) * (nd + 1)];
    for i in 0..n {
        ov[t.labels.data[i] as usize * (nd + 1) + st.labels.data[i] as usize] += 1;
    }
    let (mut matched, mut right) = (0, 0);
    for tv in 1..=nt {
        if let Some(d) = match_of(&ov, nt, nd, tv) {
            matched += 1;
            right += (st.capillaries[d - 1].class == t.vessels[tv - 1].class) as usize;
        }
    }
    Score {
        dice: 2.0 * inter as f64 / (a + b).max(1) as f64,
        truth_caps: t.countable_capillary_count(hidden).unwrap(),
        truth_caps_all: t.capillary_count(),
        found_caps: st.summary.capillary_count.unwrap(),
        matched,
        class_right: right,
    }
}

/// The detection matched one-to-one with true vessel `tv` by largest
/// overlap (`ov`: (true label) × (found label), `nt` and `nd` vessels).
fn match_of(ov: &[usize], nt: usize, nd: usize, tv: usize) -> Option<usize> {
    let best_d = (1..=nd).max_by_key(|&d| (ov[tv * (nd + 1) + d], std::cmp::Reverse(d)));
    let d = best_d.filter(|&d| ov[tv * (nd + 1) + d] > 0)?;
    let best_t = (1..=nt).max_by_key(|&u| (ov[u * (nd + 1) + d], std::cmp::Reverse(u)));
    (best_t == Some(tv)).then_some(d)
}

fn assert_accuracy(s: &Score, what: &str) {
    let count_err = (s.found_caps as f64 - s.truth_caps as f64).abs() / s.truth_caps as f64;
    let class = s.class_right as f64 / s.matched.max(1) as f64;
    eprintln!(
        "{what}: dice {:.3}, capillaries {} found / {} true ({:.1} %; {} true with hidden ones), class right {}/{} ({:.2})",
        s.dice,
        s.found_caps,
        s.truth_caps,
        100.0 * count_err,
        s.truth_caps_all,
        s.class_right,
        s.matched,
        class
    );
    assert!(s.dice >= 0.80, "{what}: Dice {:.3}", s.dice);
    assert!(
        count_err <= 0.10,
        "{what}: count {} vs {}",
        s.found_caps,
        s.truth_caps
    );
    assert!(class >= 0.80, "{what}: class accuracy {class:.2}");
}

#[test]
fn mask_count_and_classes_across_magnifications_with_blur_noise_jpeg() {
    for (k, um) in [1.5, 2.5, 3.5, 5.0].into_iter().enumerate() {
        let p = scene(um, 11 + k as u64, true);
        let rgb = degrade(&planes(&p), um, 2.0, 2.0, 85, 5);
        let st = run(&rgb, um, None, None);
        assert_accuracy(&score(&p, &st, None), &format!("{um} µm/px"));
        // Every class is present in the phantom and found.
        for c in [VesselClass::Dot, VesselClass::Loop, VesselClass::Twisted] {
            assert!(p.truth.vessels.count(c) >= 5);
        }
    }
}

#[test]
fn hairs_over_vessels_are_not_vessels_and_do_not_break_counts() {
    let um = 3.0;
    let p = scene(um, 21, true);
    let mut rgb = planes(&p);
    let hair = paint_hairs(&mut rgb, um, 6, 4);
    let rgb = degrade(&rgb, um, 1.5, 2.0, 90, 6);
    let st = run(&rgb, um, None, Some(&hair));
    // The true count is of the capillaries that can be seen (at least a
    // quarter outside the hair): a capillary wholly under a shaft is not in
    // the image, one cut in two by a shaft is one capillary. Counting every
    // rendered capillary (37) instead, main's 34 found passed only because
    // the pieces of cut capillaries made up for the hidden ones; joining
    // the pieces (32 found) shows it.
    assert_accuracy(&score(&p, &st, Some(&hair)), "hairs");
    // No detected vessel pixel lies on hair.
    assert!(st
        .mask
        .data
        .iter()
        .zip(&hair.data)
        .all(|(&v, &h)| !(v && h)));
    // Analysed area excludes hair.
    let area = st.summary.vessel_analysed_area_mm2.unwrap();
    let expect = hair.data.iter().filter(|&&h| !h).count() as f64 * um * um * 1e-6;
    assert!(
        (area - expect).abs() < 1e-9 * expect.max(1.0) + 1e-12,
        "{area} vs {expect}"
    );
}

#[test]
fn skin_without_vessels_has_no_capillaries_even_with_hair_and_white_dots() {
    for (k, um) in [1.5, 3.5].into_iter().enumerate() {
        let p = scene(um, 31 + k as u64, false);
        let mut rgb = planes(&p);
        let hair = paint_hairs(&mut rgb, um, 5, 7 + k as u64);
        paint_white_dots(&mut rgb, um, 25, 8 + k as u64);
        let rgb = degrade(
            &rgb,
            um,
            1.5,
            2.5,
            std::env::var("Q").map(|q| q.parse().unwrap()).unwrap_or(85),
            9,
        );
        if std::env::var("DUMP").is_ok() {
            dump(&rgb, &format!("/tmp/nov_{um}.png"));
        }
        let st = run(&rgb, um, None, Some(&hair));
        assert_eq!(
            st.summary.capillary_count,
            Some(0),
            "{um}: {:?}",
            st.capillaries.first()
        );
        assert_eq!(st.summary.arborizing_vessel_count, Some(0));
        assert_eq!(st.mask.count(), 0);
    }
}

#[test]
fn white_dots_among_vessels_do_not_become_capillaries() {
    let um = 2.5;
    let p = scene(um, 41, true);
    let mut rgb = planes(&p);
    paint_white_dots(&mut rgb, um, 30, 3);
    let st = run(&rgb, um, None, None);
    // White dots painted over vessels hide them, so compare with truth only
    // through false positives: every detection overlaps a true vessel.
    let t = &p.truth.vessels;
    let mut hit = vec![false; st.capillaries.len() + 1];
    for i in 0..t.mask.data.len() {
        if t.mask.data[i] {
            hit[st.labels.data[i] as usize] = true;
        }
    }
    let false_pos = (1..=st.capillaries.len()).filter(|&d| !hit[d]).count();
    assert_eq!(false_pos, 0);
}

/// Rotate linear planes by `deg` about the centre (bilinear); pixels from
/// outside the source are invalid.
fn rotate(rgb: &LinearRgb, deg: f64) -> (LinearRgb, Mask) {
    let (w, h) = (rgb.width, rgb.height);
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let pl = |v: &Vec<f32>| Plane::from_vec(w, h, v.clone());
    let src = [pl(&rgb.r), pl(&rgb.g), pl(&rgb.b)];
    let mut out = [
        vec![0.0f32; w * h],
        vec![0.0f32; w * h],
        vec![0.0f32; w * h],
    ];
    let mut valid = Mask::filled(w, h, false);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            let (sx, sy) = (c * dx + s * dy + cx - 0.5, -s * dx + c * dy + cy - 0.5);
            let i = y * w + x;
            valid.data[i] = sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f64 && sy <= (h - 1) as f64;
            for k in 0..3 {
                out[k][i] = sample_bilinear(&src[k], sx as f32, sy as f32);
            }
        }
    }
    let [r, g, b] = out;
    (
        LinearRgb {
            width: w,
            height: h,
            r,
            g,
            b,
            is_colour: true,
        },
        valid,
    )
}

fn capillaries_in_disc(st: &VesselStage, cx: f64, cy: f64, rad: f64) -> usize {
    st.capillaries
        .iter()
        .filter(|c| c.class != VesselClass::Arborizing)
        .filter(|c| (c.centroid_x_px - cx).hypot(c.centroid_y_px - cy) < rad)
        .count()
}

#[test]
fn rotation_by_30_degrees_keeps_count_and_density() {
    let um = 3.0;
    let p = render(&SceneSpec {
        width: 800,
        height: 800,
        um_per_px: um,
        seed: 51,
        vessels: Some(VesselSceneSpec::default()),
        ..SceneSpec::default()
    })
    .unwrap();
    let rgb = degrade(&planes(&p), um, 1.5, 2.0, 90, 2);
    let (rot, valid) = rotate(&rgb, 30.0);
    let a = run(&rgb, um, None, None);
    let b = run(&rot, um, Some(&valid), None);
    let (w, h) = (rgb.width as f64, rgb.height as f64);
    let rad = h / 2.0 - 60.0 / um;
    let (na, nb) = (
        capillaries_in_disc(&a, w / 2.0, h / 2.0, rad),
        capillaries_in_disc(&b, w / 2.0, h / 2.0, rad),
    );
    let rel = (na as f64 - nb as f64).abs() / na as f64;
    eprintln!(
        "rotation: {na} vs {nb} capillaries in the common disc ({:.1} %)",
        100.0 * rel
    );
    assert!(na >= 20);
    assert!(rel <= 0.05, "{na} vs {nb}");
}

/// Resample linear planes by `factor` (pre-blur then bilinear).
fn rescale(rgb: &LinearRgb, factor: f64) -> LinearRgb {
    let (w, h) = (rgb.width, rgb.height);
    let (nw, nh) = (
        (w as f64 * factor).round() as usize,
        (h as f64 * factor).round() as usize,
    );
    let sigma = (0.5 * (1.0 / (factor * factor) - 1.0).max(0.0).sqrt()) as f32;
    let rs = |v: &Vec<f32>| {
        let p = gaussian_blur(&Plane::from_vec(w, h, v.clone()), sigma);
        let mut o = vec![0.0f32; nw * nh];
        for y in 0..nh {
            for x in 0..nw {
                let sx = (x as f64 + 0.5) / factor - 0.5;
                let sy = (y as f64 + 0.5) / factor - 0.5;
                o[y * nw + x] = sample_bilinear(&p, sx as f32, sy as f32);
            }
        }
        o
    };
    LinearRgb {
        width: nw,
        height: nh,
        r: rs(&rgb.r),
        g: rs(&rgb.g),
        b: rs(&rgb.b),
        is_colour: true,
    }
}

#[test]
fn rescaling_by_0_8_keeps_count_and_density() {
    for um in [2.0, 3.5] {
        let p = scene(um, 61, true);
        let rgb = degrade(&planes(&p), um, 1.5, 2.0, 90, 3);
        let small = rescale(&rgb, 0.8);
        let a = run(&rgb, um, None, None);
        let b = run(&small, um / 0.8, None, None);
        let (na, nb) = (
            a.summary.capillary_count.unwrap(),
            b.summary.capillary_count.unwrap(),
        );
        let (da, db) = (
            a.summary.capillary_density_per_mm2.unwrap(),
            b.summary.capillary_density_per_mm2.unwrap(),
        );
        eprintln!("rescale at {um}: {na} vs {nb} capillaries, {da:.2} vs {db:.2} per mm²");
        assert!(
            (na as f64 - nb as f64).abs() / na as f64 <= 0.05,
            "{na} vs {nb}"
        );
        assert!((da - db).abs() / da <= 0.05, "{da} vs {db}");
    }
}

#[test]
fn per_capillary_measures_follow_truth() {
    let um = 2.0;
    let p = scene(um, 71, true);
    let st = run(&planes(&p), um, None, None);
    let t = &p.truth.vessels;
    let (w, _) = (p.image.width(), p.image.height());
    let mut dot_err = Vec::new();
    for c in &st.capillaries {
        let i = c.centroid_y_px as usize * w + c.centroid_x_px as usize;
        let tl = t.labels.data[i];
        assert!(c.contrast_a_star > 1.0, "{c:?}");
        assert!(c.area_um2 > 0.0 && c.length_um > 0.0 && c.width_um > 0.0);
        if tl == 0 {
            continue;
        }
        let tv = &t.vessels[tl as usize - 1];
        if tv.class == VesselClass::Dot && c.class == VesselClass::Dot {
            dot_err.push(c.width_um / tv.width_um - 1.0);
            eprintln!("dot {:.1} µm -> {:.1} µm", tv.width_um, c.width_um);
        }
    }
    let mean = dot_err.iter().sum::<f64>() / dot_err.len() as f64;
    eprintln!(
        "dot diameter relative error: mean {mean:+.3} over {}",
        dot_err.len()
    );
    assert!(dot_err.len() >= 5 && mean.abs() < 0.15);
    let s = &st.summary;
    assert!(s.vessel_contrast_a_star.unwrap() > 2.0);
    assert_eq!(
        s.capillary_count.unwrap(),
        s.capillary_dot_count.unwrap()
            + s.capillary_loop_count.unwrap()
            + s.capillary_twisted_count.unwrap()
    );
}

#[test]
fn bad_input_is_an_error() {
    let p = scene(3.0, 1, false);
    let rgb = planes(&p);
    let valid = Mask::filled(rgb.width, rgb.height, true);
    let input = StageInput {
        rgb: &rgb,
        um_per_px: f64::NAN,
        valid: &valid,
    };
    assert!(detect_vessels(&input, None, &VesselParams::default()).is_err());
    let input = StageInput {
        rgb: &rgb,
        um_per_px: 3.0,
        valid: &valid,
    };
    let bad = VesselParams {
        low_contrast: 0.5,
        ..VesselParams::default()
    };
    assert!(detect_vessels(&input, None, &bad).is_err());
    let small = Mask::filled(3, 3, false);
    assert!(detect_vessels(&input, Some(&small), &VesselParams::default()).is_err());
}

/// A kept `VesselScratch` gives `detect_vessels`' stage bit for bit over
/// images of other sizes and scales (buffers grown, then holding stale
/// values of a larger image), with hair and glare, recycled or not, after
/// an error.
#[test]
fn kept_scratch_gives_the_plain_stage_bit_for_bit() {
    let params = VesselParams::default();
    let mut scratch = VesselScratch::new();
    assert_eq!(scratch.resident_bytes(), 0);
    let mut counts = Vec::new();
    for (k, &(um, seed, recycle)) in [
        (3.0, 61, true),
        (2.0, 62, true),
        (5.0, 63, false),
        (3.0, 64, true),
    ]
    .iter()
    .enumerate()
    {
        let p = scene(um, seed, true);
        let mut rgb = planes(&p);
        let hair = paint_hairs(&mut rgb, um, 3, seed);
        // Glare in a corner: not analysable.
        let mut valid = Mask::filled(rgb.width, rgb.height, true);
        for y in 0..rgb.height / 5 {
            for x in 0..rgb.width / 6 {
                valid.data[y * rgb.width + x] = false;
            }
        }
        let input = StageInput {
            rgb: &rgb,
            um_per_px: um,
            valid: &valid,
        };
        if k == 2 {
            let bad = VesselParams {
                edge_fraction: 2.0,
                ..VesselParams::default()
            };
            assert!(detect_vessels_with(&input, Some(&hair), &bad, &mut scratch).is_err());
        }
        let kept = detect_vessels_with(&input, Some(&hair), &params, &mut scratch).unwrap();
        let plain = detect_vessels(&input, Some(&hair), &params).unwrap();
        // Debug prints every float's shortest round-trip form: bit for bit.
        assert_eq!(
            format!("{:?}", kept.capillaries),
            format!("{:?}", plain.capillaries)
        );
        assert_eq!(
            format!("{:?}", kept.summary),
            format!("{:?}", plain.summary)
        );
        assert!(
            kept.labels == plain.labels && kept.mask == plain.mask,
            "image {k}: maps"
        );
        assert!(scratch.resident_bytes() > 0);
        counts.push(kept.capillaries.len());
        if recycle {
            scratch.recycle(kept);
        }
    }
    assert!(counts.iter().all(|&n| n > 5), "{counts:?}");
}

/// Join and branch gaps are only required to be finite and ≥ 0: a huge one
/// (here 1e300 µm) must act like "anywhere in the image", not overflow.
#[test]
fn huge_join_gaps_are_not_an_overflow() {
    let p = scene(3.0, 1, true);
    let rgb = planes(&p);
    // A band that is not analysable, so the across-hair join is tried.
    let mut valid = Mask::filled(rgb.width, rgb.height, true);
    for y in 0..rgb.height {
        for x in rgb.width / 2..rgb.width / 2 + 8 {
            valid.data[y * rgb.width + x] = false;
        }
    }
    let input = StageInput {
        rgb: &rgb,
        um_per_px: 3.0,
        valid: &valid,
    };
    let huge = VesselParams {
        join_gap_um: 1e300,
        join_across_hair_um: 1e300,
        arborizing_branch_gap_um: 1e300,
        ..VesselParams::default()
    };
    let st = detect_vessels(&input, None, &huge).unwrap();
    let plain = detect_vessels(&input, None, &VesselParams::default()).unwrap();
    // Joining only merges records.
    assert!(st.capillaries.len() <= plain.capillaries.len());
    assert!(!plain.capillaries.is_empty());
}

#[allow(dead_code)]
fn dump(rgb: &LinearRgb, path: &str) {
    let mut b = Vec::new();
    for i in 0..rgb.r.len() {
        for v in [rgb.r[i], rgb.g[i], rgb.b[i]] {
            b.push((color::linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0).round() as u8);
        }
    }
    image::save_buffer(
        path,
        &b,
        rgb.width as u32,
        rgb.height as u32,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
}

/// Real image: retinal vessels (dark in green) in scikit-image's CC0 retina,
/// against a hand-checked reference mask (testdata/retina/LICENSE.md).
#[test]
fn retina_smoke_ridge_response_finds_the_vessels() {
    use trichometry::kernels::{ridge_response, Polarity};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/retina/");
    let rgb = image::open(format!("{dir}retina.png")).unwrap().to_rgb8();
    let refm = image::open(format!("{dir}retina_vessels_mask.png"))
        .unwrap()
        .to_luma8();
    let fov = image::open(format!("{dir}retina_fov_mask.png"))
        .unwrap()
        .to_luma8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let g: Vec<f32> = rgb
        .pixels()
        .map(|p| color::srgb_to_linear(p[1] as f32 / 255.0).max(1e-3).ln())
        .collect();
    // Vessels 2–12 px wide at this size: σ = w/2.
    let resp = ridge_response(
        &Plane::from_vec(w, h, g),
        &[1.0, 2.0, 3.5, 5.0],
        Polarity::Dark,
    );
    // Threshold in contrast units (ln green): 0.15 ≈ 15 % darker than around.
    // The reference holds the main vessels and most second-order branches;
    // lower thresholds add the finest vessels, which it lacks (at 0.05:
    // precision 0.31, recall 0.99; at 0.1: 0.53 / 0.98; at 0.2: 0.81 / 0.87).
    let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
    for i in 0..w * h {
        if fov.as_raw()[i] == 0 {
            continue;
        }
        let (p, t) = (resp.strength.data[i] / 0.484 >= 0.15, refm.as_raw()[i] > 0);
        tp += (p && t) as usize;
        fp += (p && !t) as usize;
        fnn += (!p && t) as usize;
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fnn).max(1) as f64;
    let dice = 2.0 * tp as f64 / (2 * tp + fp + fnn).max(1) as f64;
    eprintln!("retina: precision {precision:.3} recall {recall:.3} dice {dice:.3}");
    assert!(
        recall >= 0.8 && dice >= 0.6,
        "precision {precision:.3} recall {recall:.3} dice {dice:.3}"
    );
}

/// A phantom with the realistic optics (blur, vignetting, glare, sensor
/// noise, JPEG 90) and realistic skin, optionally with vessels and with the
/// hair phantom, run through the whole `analyze` (so the hair stage's mask
/// is what the vessel stage excludes). Returns the phantom, the stage view
/// and the hair stage's false-hair fraction on true vessel pixels.
fn full_analysis(um: f64, seed: u64, vessels: bool) -> (Phantom, VesselStage, f64) {
    let (p, st, hm) = full_analysis_params(um, seed, vessels, &trichometry::Params::default());
    let fh = false_hair_fraction(&p, &hm);
    (p, st, fh)
}

/// The fraction of true vessel pixels outside true hair that the hair
/// stage's mask `hm` marks as hair.
fn false_hair_fraction(p: &Phantom, hm: &Mask) -> f64 {
    let th = &p.truth.hairs.hair_mask;
    let tv = &p.truth.vessels.mask;
    let on_vessels = (0..tv.data.len())
        .filter(|&i| tv.data[i] && !th.data[i])
        .count();
    let false_hair = (0..tv.data.len())
        .filter(|&i| tv.data[i] && !th.data[i] && hm.data[i])
        .count();
    false_hair as f64 / on_vessels.max(1) as f64
}

#[test]
fn realistic_optics_and_hair_phantom_through_analyze() {
    realistic_through_analyze(&[(0, 1.5), (1, 3.5)]);
}

#[test]
fn realistic_optics_and_hair_phantom_through_analyze_5um() {
    realistic_through_analyze(&[(2, 5.0)]);
}

fn realistic_through_analyze(cases: &[(u64, f64)]) {
    for &(k, um) in cases {
        let s = realistic_score(um, 61 + k, true);
        assert_accuracy(&s, &format!("realistic {um} µm/px"));
    }
}

/// [`full_analysis`] scored where neither true hair nor glare hides the
/// vessels, against the capillaries at least a quarter visible.
fn realistic_score(um: f64, seed: u64, verbose: bool) -> Score {
    realistic_score_params(um, seed, verbose, &params_from_env("TEST_SET"))
}

/// [`realistic_score`] with `params`.
fn realistic_score_params(
    um: f64,
    seed: u64,
    verbose: bool,
    params: &trichometry::Params,
) -> Score {
    let (p, st, hm) = full_analysis_params(um, seed, true, params);
    let false_hair = false_hair_fraction(&p, &hm);
    // Dice where neither true hair nor glare hides the vessels.
    let hidden = Mask {
        width: p.truth.glare_mask.width,
        height: p.truth.glare_mask.height,
        data: (p.truth.glare_mask.data.iter())
            .zip(&p.truth.hairs.hair_mask.data)
            .map(|(&g, &h)| g || h)
            .collect(),
    };
    // Truth: the capillaries at least a quarter visible (the hair
    // phantom and glare hide some completely; nothing can find those).
    let s = score(&p, &st, Some(&hidden));
    if verbose {
        eprintln!(
            "{um} µm/px: {} of {} true capillaries at least a quarter visible",
            s.truth_caps, s.truth_caps_all
        );
        eprintln!(
            "{um} µm/px: hair stage marks {:.1} % of visible vessel pixels as hair",
            100.0 * false_hair
        );
    }
    s
}

/// The comma list of numbers in the environment variable `k`, else `d`.
fn env_list(k: &str, d: &str) -> Vec<f64> {
    std::env::var(k)
        .unwrap_or_else(|_| d.into())
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect()
}

/// Unseen realistic seeds (100–115) at 1.5, 3.5 and 5 µm/px, scored as
/// the realistic test: per-seed figures and means. `SURVEY_SEEDS` and
/// `SURVEY_UM` (comma lists) override; `SURVEY_SET` sets vessel parameters
/// (as `DIAG_SET`).
#[test]
#[ignore = "survey: prints accuracy over unseen realistic seeds"]
fn realistic_unseen_seed_survey() {
    let seeds = env_list(
        "SURVEY_SEEDS",
        "100,101,102,103,104,105,106,107,108,109,110,111,112,113,114,115",
    );
    let params = params_from_env("SURVEY_SET");
    for um in env_list("SURVEY_UM", "1.5,3.5,5") {
        let (mut sd, mut se, mut sc, mut n) = (0.0, 0.0, 0.0, 0.0);
        for &seed in &seeds {
            let s = realistic_score_params(um, seed as u64, false, &params);
            let err = (s.found_caps as f64 - s.truth_caps as f64).abs() / s.truth_caps as f64;
            let class = s.class_right as f64 / s.matched.max(1) as f64;
            eprintln!(
                "survey {um} µm/px seed {seed}: dice {:.3}, {} found / {} true ({:.1} %), class {}/{} ({:.2})",
                s.dice, s.found_caps, s.truth_caps, 100.0 * err, s.class_right, s.matched, class
            );
            sd += s.dice;
            se += err;
            sc += class;
            n += 1.0;
        }
        eprintln!(
            "survey {um} µm/px MEAN: dice {:.4}, count error {:.1} %, class {:.3}",
            sd / n,
            100.0 * se / n,
            sc / n
        );
    }
}

#[test]
fn realistic_skin_and_hairs_without_vessels_give_no_capillaries() {
    for (k, um) in [1.5, 3.5, 5.0].into_iter().enumerate() {
        let (_, st, _) = full_analysis(um, 71 + k as u64, false);
        assert_eq!(
            st.summary.capillary_count,
            Some(0),
            "{um}: {:?}",
            st.capillaries.first()
        );
        assert_eq!(st.mask.count(), 0, "{um}");
    }
}

/// Where the realistic-phantom Dice is lost: false negatives (under the
/// hair stage's mask, beside it, whole capillaries missed, boundary) and
/// false positives (beside true hair, beside true vessels, whole false
/// detections). `DIAG_CASES="62:3.5,61:1.5"` picks the cases.
#[test]
#[ignore = "diagnostic: prints where the realistic Dice is lost"]
#[allow(clippy::needless_range_loop)]
fn realistic_dice_loss_breakdown() {
    use trichometry::kernels::dilate_square;
    let cases = std::env::var("DIAG_CASES").unwrap_or_else(|_| "62:3.5".into());
    for case in cases.split(',') {
        let (seed, um) = case.split_once(':').unwrap();
        let (seed, um): (u64, f64) = (seed.parse().unwrap(), um.parse().unwrap());
        // DIAG_SET="hair_margin_um=0,red_drop_ratio=0.3": vessel parameters.
        let params = params_from_env("DIAG_SET");
        let (p, st, hm) = full_analysis_params(um, seed, true, &params);
        let t = &p.truth.vessels;
        let th = &p.truth.hairs.hair_mask;
        let n = t.mask.data.len();
        let hidden: Vec<bool> = (0..n)
            .map(|i| p.truth.glare_mask.data[i] || th.data[i])
            .collect();
        let r = |um_r: f64| (um_r / um).ceil() as usize;
        let hm_near = dilate_square(&hm, r(12.0));
        let th_near = dilate_square(th, r(12.0));
        let tv_near = dilate_square(&t.mask, r(6.0));
        let nt = t.vessels.len();
        let nd = st.capillaries.len();
        // Truth capillaries touched by any detection; detections touching truth.
        let mut t_hit = vec![false; nt + 1];
        let mut d_hit = vec![false; nd + 1];
        for i in 0..n {
            if t.labels.data[i] > 0 && st.labels.data[i] > 0 {
                t_hit[t.labels.data[i] as usize] = true;
                d_hit[st.labels.data[i] as usize] = true;
            }
        }
        let (mut tp, mut fneg, mut fpos) = (0usize, [0usize; 5], [0usize; 4]);
        for i in (0..n).filter(|&i| !hidden[i]) {
            let (tv, dv) = (t.mask.data[i], st.mask.data[i]);
            if tv && dv {
                tp += 1;
            } else if tv {
                let k = if hm.data[i] {
                    0
                } else if hm_near.data[i] {
                    1
                } else if !t_hit[t.labels.data[i] as usize] {
                    2
                } else {
                    3
                };
                fneg[k] += 1;
                fneg[4] += 1;
            } else if dv {
                let k = if !d_hit[st.labels.data[i] as usize] {
                    0
                } else if th_near.data[i] && !tv_near.data[i] {
                    1
                } else if tv_near.data[i] {
                    2
                } else {
                    3
                };
                fpos[k] += 1;
            }
        }
        let fp_all: usize = fpos.iter().sum();
        if let Ok(dir) = std::env::var("DIAG_DUMP") {
            // Image | overlay: green TP, red FN, blue FP, yellow hair-stage
            // mask (not vessel), grey true hair edge.
            let (w, h) = (p.image.width(), p.image.height());
            let rgb = planes(&p);
            let mut b = vec![0u8; 2 * w * h * 3];
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let px = [rgb.r[i], rgb.g[i], rgb.b[i]]
                        .map(|v| (color::linear_to_srgb(v.clamp(0.0, 1.0)) * 255.0) as u8);
                    let o = (y * 2 * w + x) * 3;
                    b[o..o + 3].copy_from_slice(&px);
                    let (tv, dv) = (t.mask.data[i], st.mask.data[i]);
                    let q = match (tv, dv) {
                        (true, _) | (_, true) if hidden[i] => [120, 60, 120],
                        (true, true) => [0, 200, 0],
                        (true, false) => [255, 0, 0],
                        (false, true) => [0, 80, 255],
                        _ if hm.data[i] => [200, 200, 0],
                        _ if th.data[i] => [90, 90, 90],
                        _ if p.truth.glare_mask.data[i] => [255, 255, 255],
                        _ => px.map(|v| v / 3),
                    };
                    let o = (y * 2 * w + w + x) * 3;
                    b[o..o + 3].copy_from_slice(&q);
                }
            }
            image::save_buffer(
                format!("{dir}/diag_{seed}_{um}.png"),
                &b,
                2 * w as u32,
                h as u32,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
            // DIAG_CROP="x,y,w,h,scale;…": image and overlay side by side.
            for (k, c) in std::env::var("DIAG_CROP")
                .unwrap_or_default()
                .split(';')
                .enumerate()
            {
                let v: Vec<usize> = c.split(',').filter_map(|t| t.parse().ok()).collect();
                if v.len() != 5 {
                    continue;
                }
                let (cx, cy, cw, ch, sc) =
                    (v[0], v[1], v[2].min(w - v[0]), v[3].min(h - v[1]), v[4]);
                let (ow, oh) = (2 * cw * sc, ch * sc);
                let mut o = vec![0u8; ow * oh * 3];
                for yy in 0..oh {
                    for xx in 0..ow {
                        let (side, x) = (xx / (cw * sc), (xx % (cw * sc)) / sc);
                        let y = yy / sc;
                        let src = ((cy + y) * 2 * w + side * w + cx + x) * 3;
                        o[(yy * ow + xx) * 3..(yy * ow + xx) * 3 + 3]
                            .copy_from_slice(&b[src..src + 3]);
                    }
                }
                image::save_buffer(
                    format!("{dir}/crop_{seed}_{um}_{k}.png"),
                    &o,
                    ow as u32,
                    oh as u32,
                    image::ExtendedColorType::Rgb8,
                )
                .unwrap();
            }
        }
        let dice = 2.0 * tp as f64 / (2 * tp + fneg[4] + fp_all) as f64;
        eprintln!(
            "seed {seed} {um} µm/px: dice {dice:.4}; tp {tp}, fn {} (under hair-stage mask {}, within 12 µm of it {}, whole capillary missed {}, boundary/partial {}), fp {fp_all} (whole false detections {}, near true hair not vessel {}, within 6 µm of true vessel {}, other {})",
            fneg[4], fneg[0], fneg[1], fneg[2], fneg[3], fpos[0], fpos[1], fpos[2], fpos[3]
        );
        // Dice if each FN class were recovered.
        for (name, k) in [
            ("hair mask", 0),
            ("beside mask", 1),
            ("missed caps", 2),
            ("boundary", 3),
        ] {
            let d = 2.0 * (tp + fneg[k]) as f64
                / (2 * (tp + fneg[k]) + fneg[4] - fneg[k] + fp_all) as f64;
            eprintln!("   recovering FN '{name}' → dice {d:.4}");
        }
        for (name, k) in [
            ("false detections", 0),
            ("near hair", 1),
            ("beside vessel", 2),
        ] {
            let d = 2.0 * tp as f64 / (2 * tp + fneg[4] + fp_all - fpos[k]) as f64;
            eprintln!("   removing FP '{name}' → dice {d:.4}");
        }
        // Missed capillaries: their size and visibility.
        let mut px = vec![(0usize, 0usize, 0usize); nt + 1];
        for i in 0..n {
            let l = t.labels.data[i] as usize;
            px[l].0 += 1;
            px[l].1 += hidden[i] as usize;
            px[l].2 += (hm.data[i] && !hidden[i]) as usize;
        }
        for v in &t.vessels {
            let l = v.id as usize;
            if !t_hit[l] && px[l].0 > px[l].1 {
                eprintln!(
                    "   missed {:?} id {l}: width {:.1} µm, {} px, {} hidden, {} under hair-stage mask",
                    v.class, v.width_um, px[l].0, px[l].1, px[l].2
                );
            }
        }
        for (d, c) in st.capillaries.iter().enumerate() {
            if !d_hit[d + 1] {
                eprintln!(
                    "   false {:?} at ({:.0}, {:.0}) area {:.0} µm², peak {:.3}",
                    c.class, c.centroid_x_px, c.centroid_y_px, c.area_um2, c.contrast_peak
                );
            }
        }
        // Per matched capillary: truth vs detected area (visible).
        let mut area = vec![(0usize, 0usize, 0usize); nt + 1];
        let mut ov = std::collections::HashMap::<(u32, u32), usize>::new();
        for i in (0..n).filter(|&i| !hidden[i]) {
            *ov.entry((t.labels.data[i], st.labels.data[i])).or_default() += 1;
        }
        for (&(tl, dl), &c) in &ov {
            if tl > 0 && dl > 0 {
                area[tl as usize].2 += c;
            }
            if tl > 0 {
                area[tl as usize].0 += c;
            }
        }
        let mut tot = (0usize, 0usize);
        for v in &t.vessels {
            let l = v.id as usize;
            if t_hit[l] {
                tot.0 += area[l].0;
                tot.1 += area[l].2;
            }
        }
        eprintln!(
            "   matched truth capillaries: {} visible px, {} covered ({:.3} recall inside matched)",
            tot.0,
            tot.1,
            tot.1 as f64 / tot.0.max(1) as f64
        );
    }
}

/// Default parameters with the vessel parameters listed in the environment
/// variable `var` ("hair_margin_um=0,join_gap_um=12") set.
fn params_from_env(var: &str) -> trichometry::Params {
    let mut params = trichometry::Params::default();
    let mut vp = serde_json::to_value(&params.vessels).unwrap();
    for kv in std::env::var(var).unwrap_or_default().split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            let v: f64 = v.parse().unwrap();
            let slot = vp.get_mut(k).unwrap_or_else(|| panic!("unknown {k}"));
            // Integer parameters (counts of pixels) stay integers.
            *slot = if slot.is_u64() {
                serde_json::json!(v as u64)
            } else {
                serde_json::json!(v)
            };
        }
    }
    params.vessels = serde_json::from_value(vp).unwrap();
    params
}

/// The phantom of [`full_analysis`] through `analyze` with `params`; the
/// vessel stage's view and the hair stage's mask.
fn full_analysis_params(
    um: f64,
    seed: u64,
    vessels: bool,
    params: &trichometry::Params,
) -> (Phantom, VesselStage, Mask) {
    use trichometry::synth::{hairs::HairSceneSpec, optics::OpticsSpec};
    let p = render(&SceneSpec {
        width: (1800.0 / um) as usize,
        height: (1350.0 / um) as usize,
        um_per_px: um,
        seed,
        vessels: vessels.then(VesselSceneSpec::default),
        hairs: Some(HairSceneSpec::default()),
        optics: OpticsSpec::realistic(),
        ..SceneSpec::default()
    })
    .unwrap();
    let cal = trichometry::Calibration {
        um_per_px: Some(um),
        colour: trichometry::ColourReference::None,
    };
    let a = trichometry::analyze(&p.image, &cal, params).unwrap();
    let hm = a.maps.hair_mask.clone().unwrap();
    let st = VesselStage {
        capillaries: a.capillaries,
        mask: a.maps.vessel_mask.unwrap(),
        labels: a.maps.vessel_labels.unwrap(),
        summary: a.summary.vessels,
    };
    (p, st, hm)
}

/// Where the realistic capillary count goes wrong, per case: detections
/// that are a second piece of a capillary already found (split), pieces of
/// arborizing vessels, capillaries the scoring leaves out (under a quarter
/// visible), false detections (beside true hair, at white / yellow dots,
/// beside glare, elsewhere); and true capillaries missed, merged into a
/// neighbour's detection, or found but classed arborizing. `SURVEY_SEEDS`
/// and `SURVEY_UM` pick the cases; `COUNT_VERBOSE=1` lists each fault.
#[test]
#[ignore = "diagnostic: prints the causes of realistic count errors"]
#[allow(clippy::needless_range_loop)]
fn realistic_count_error_breakdown() {
    use trichometry::kernels::dilate_square;
    let verbose = std::env::var("COUNT_VERBOSE").is_ok();
    for um in env_list("SURVEY_UM", "1.5,3.5,5") {
        let mut tot = [0i64; 11];
        for seed in env_list("SURVEY_SEEDS", "100,101,102,103,104,105") {
            let seed = seed as u64;
            let (p, st, hm) = full_analysis_params(um, seed, true, &params_from_env("SURVEY_SET"));
            let t = &p.truth.vessels;
            let th = &p.truth.hairs.hair_mask;
            let n = t.mask.data.len();
            let (w, _) = (t.mask.width, t.mask.height);
            let hidden: Vec<bool> = (0..n)
                .map(|i| p.truth.glare_mask.data[i] || th.data[i])
                .collect();
            let r = |um_r: f64| (um_r / um).ceil() as usize;
            let th_near = dilate_square(th, r(12.0));
            let gl_near = dilate_square(&p.truth.glare_mask, r(12.0));
            let (nt, nd) = (t.vessels.len(), st.capillaries.len());
            let mut ov = vec![0usize; (nt + 1) * (nd + 1)];
            let mut vis = vec![(0usize, 0usize); nt + 1];
            // Pixels of each true vessel hidden by the hair stage's mask or
            // glare (what the vessel stage cannot see).
            let mut vis_hm = vec![0usize; nt + 1];
            for i in 0..n {
                let (a, b) = (t.labels.data[i] as usize, st.labels.data[i] as usize);
                ov[a * (nd + 1) + b] += 1;
                vis[a].0 += 1;
                vis[a].1 += hidden[i] as usize;
                vis_hm[a] += (hm.data[i] || p.truth.glare_mask.data[i]) as usize;
            }
            let countable = t
                .countable(Some(&Mask {
                    width: w,
                    height: t.mask.height,
                    data: hidden.clone(),
                }))
                .unwrap();
            let counted = |tv: usize| countable[tv - 1];
            let best_d = |tv: usize| {
                (1..=nd)
                    .filter(|&d| ov[tv * (nd + 1) + d] > 0)
                    .max_by_key(|&d| (ov[tv * (nd + 1) + d], std::cmp::Reverse(d)))
            };
            let best_t = |d: usize| {
                (1..=nt)
                    .filter(|&u| ov[u * (nd + 1) + d] > 0)
                    .max_by_key(|&u| (ov[u * (nd + 1) + d], std::cmp::Reverse(u)))
            };
            // Distance (µm) of each detection to the nearest detection
            // classed arborizing.
            let not_arb = Mask {
                width: w,
                height: t.mask.height,
                data: (st.labels.data.iter())
                    .map(|&l| {
                        l == 0
                            || st.capillaries[l as usize - 1].class
                                != trichometry::vessels::VesselClass::Arborizing
                    })
                    .collect(),
            };
            let to_arb = trichometry::kernels::distance_transform(&not_arb);
            let mut d_arb = vec![f32::INFINITY; nd + 1];
            for i in 0..n {
                let l = st.labels.data[i] as usize;
                d_arb[l] = d_arb[l].min(to_arb.data[i] * um as f32);
            }
            // [match, split, arbor piece, hidden cap, false hair, false dot,
            //  false glare, false other, missed, merged, found-as-arborizing]
            let mut k = [0i64; 11];
            let mut note = Vec::new();
            if let Ok(path) = std::env::var("COUNT_TSV") {
                use std::io::Write;
                let not_hm = Mask {
                    width: w,
                    height: t.mask.height,
                    data: hm.data.iter().map(|&v| !v).collect(),
                };
                let to_hm = trichometry::kernels::distance_transform(&not_hm);
                let mut near = vec![(0usize, 0usize); nd + 1];
                for i in 0..n {
                    let l = st.labels.data[i] as usize;
                    near[l].0 += 1;
                    near[l].1 += (to_hm.data[i] * um as f32 <= 10.0) as usize;
                }
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .unwrap();
                for d in 1..=nd {
                    let c = &st.capillaries[d - 1];
                    let (cat, tc, tvis) = match best_t(d) {
                        Some(tv) => {
                            let v = &t.vessels[tv - 1];
                            let vis_f = 1.0 - vis[tv].1 as f64 / vis[tv].0.max(1) as f64;
                            let cat = if v.class == VesselClass::Arborizing {
                                "arb"
                            } else if !counted(tv) {
                                "hidden"
                            } else if best_d(tv) == Some(d) {
                                "match"
                            } else {
                                "split"
                            };
                            (cat, format!("{:?}", v.class), vis_f)
                        }
                        None => ("false", "-".to_string(), 0.0),
                    };
                    writeln!(
                        f,
                        "{seed}\t{um}\t{d}\t{cat}\t{tc}\t{tvis:.2}\t{:?}\t{:.0}\t{:.1}\t{:.1}\t{:.1}\t{:.2}\t{:.2}\t{:.2}\t{}\t{:.3}\t{:.2}\t{:.0}\t{:.0}",
                        c.class,
                        c.area_um2,
                        c.width_um,
                        c.extent_um,
                        c.length_um,
                        c.elongation,
                        c.turns,
                        c.tortuosity,
                        c.branch_count,
                        c.contrast_peak,
                        near[d].1 as f64 / near[d].0.max(1) as f64,
                        c.centroid_x_px,
                        c.centroid_y_px,
                    )
                    .unwrap();
                }
            }
            for d in 1..=nd {
                let c = &st.capillaries[d - 1];
                if c.class == trichometry::vessels::VesselClass::Arborizing {
                    continue;
                }
                let at = format!(
                    "({:.0},{:.0}) {:?} {:.0}µm²",
                    c.centroid_x_px, c.centroid_y_px, c.class, c.area_um2
                );
                match best_t(d) {
                    Some(tv) if t.vessels[tv - 1].class == VesselClass::Arborizing => {
                        k[2] += 1;
                        note.push(format!(
                            "arbor-piece {at} of t{tv}, {:.0} µm from an arborizing detection, peak {:.3}",
                            d_arb[d], c.contrast_peak
                        ));
                    }
                    Some(tv) if !counted(tv) => {
                        k[3] += 1;
                        note.push(format!(
                            "hidden-cap {at} t{tv} {:?}, {:.2} visible",
                            t.vessels[tv - 1].class,
                            1.0 - vis[tv].1 as f64 / vis[tv].0 as f64
                        ));
                    }
                    Some(tv) if best_d(tv) == Some(d) => k[0] += 1,
                    Some(tv) => {
                        k[1] += 1;
                        note.push(format!(
                            "split {at} of t{tv} {:?} (w {:.1}µm, {:.2} visible, main piece d{})",
                            t.vessels[tv - 1].class,
                            t.vessels[tv - 1].width_um,
                            1.0 - vis[tv].1 as f64 / vis[tv].0 as f64,
                            best_d(tv).unwrap_or(0)
                        ));
                    }
                    None => {
                        let (cx, cy) = (c.centroid_x_px, c.centroid_y_px);
                        let i = (cy as usize).min(t.mask.height - 1) * w + (cx as usize).min(w - 1);
                        let near_dot = p
                            .truth
                            .hairs
                            .white_dots
                            .iter()
                            .chain(&p.truth.hairs.yellow_dots)
                            .any(|o| {
                                let dd = ((o.centre_px[0] - cx).powi(2)
                                    + (o.centre_px[1] - cy).powi(2))
                                .sqrt();
                                dd * um <= 0.5 * o.diameter_um + 20.0
                            });
                        let j = if th_near.data[i] {
                            4
                        } else if near_dot {
                            5
                        } else if gl_near.data[i] {
                            6
                        } else {
                            7
                        };
                        k[j] += 1;
                        note.push(format!(
                            "false[{}] {at} peak {:.3}",
                            ["hair", "dot", "glare", "other"][j - 4],
                            c.contrast_peak
                        ));
                    }
                }
            }
            for d in 1..=nd {
                let c = &st.capillaries[d - 1];
                if c.class == trichometry::vessels::VesselClass::Arborizing {
                    note.push(format!(
                        "arborizing d{d} ({:.0},{:.0}) extent {:.0}µm peak {:.3}, truth t{:?}",
                        c.centroid_x_px,
                        c.centroid_y_px,
                        c.extent_um,
                        c.contrast_peak,
                        best_t(d)
                    ));
                }
            }
            for tv in 1..=nt {
                if !counted(tv) {
                    continue;
                }
                let v = &t.vessels[tv - 1];
                let at = format!(
                    "t{tv} {:?} ({:.0},{:.0}) w {:.1}µm strength {:.2}, {:.2} visible ({:.2} outside the hair stage's mask)",
                    v.class,
                    v.centre_px[0],
                    v.centre_px[1],
                    v.width_um,
                    v.strength,
                    1.0 - vis[tv].1 as f64 / vis[tv].0.max(1) as f64,
                    1.0 - vis_hm[tv] as f64 / vis[tv].0.max(1) as f64
                );
                match best_d(tv) {
                    None => {
                        k[8] += 1;
                        note.push(format!("missed {at}"));
                    }
                    Some(d) if best_t(d) != Some(tv) => {
                        k[9] += 1;
                        note.push(format!("merged {at} into d{d}"));
                    }
                    Some(d)
                        if st.capillaries[d - 1].class
                            == trichometry::vessels::VesselClass::Arborizing =>
                    {
                        k[10] += 1;
                        note.push(format!("as-arborizing {at}"));
                    }
                    _ => {}
                }
            }
            let truth = (1..=nt).filter(|&tv| counted(tv)).count() as i64;
            let found = st.summary.capillary_count.unwrap() as i64;
            eprintln!(
                "count {um} µm/px seed {seed}: {found} found / {truth} true ({:+}): match {}, split +{}, arbor-piece +{}, hidden-cap +{}, false hair/dot/glare/other +{}/{}/{}/{}; missed −{}, merged −{}, as-arborizing −{}",
                found - truth, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8], k[9], k[10]
            );
            if verbose {
                for s in &note {
                    eprintln!("    {s}");
                }
            }
            for (a, b) in tot.iter_mut().zip(k) {
                *a += b;
            }
        }
        eprintln!(
            "count {um} µm/px TOTAL: match {}, split +{}, arbor-piece +{}, hidden-cap +{}, false hair/dot/glare/other +{}/{}/{}/{}; missed −{}, merged −{}, as-arborizing −{}",
            tot[0], tot[1], tot[2], tot[3], tot[4], tot[5], tot[6], tot[7], tot[8], tot[9], tot[10]
        );
    }
}

/// The misclassified matched capillaries of the realistic phantom (matched
/// as [`score`]): truth class, width, length, extent and visible fraction
/// against the found class and the shape figures the classifier uses.
/// `DIAG_CASES="61:1.5,62:3.5"` picks the cases; `DIAG_SET` sets vessel
/// parameters.
#[test]
#[ignore = "diagnostic: prints the misclassified realistic capillaries"]
fn realistic_class_error_breakdown() {
    let cases = std::env::var("DIAG_CASES").unwrap_or_else(|_| "61:1.5".into());
    let params = params_from_env("DIAG_SET");
    for case in cases.split(',') {
        let (seed, um) = case.split_once(':').unwrap();
        let (seed, um): (u64, f64) = (seed.parse().unwrap(), um.parse().unwrap());
        let (p, st, _) = full_analysis_params(um, seed, true, &params);
        let t = &p.truth.vessels;
        let hidden: Vec<bool> = (p.truth.glare_mask.data.iter())
            .zip(&p.truth.hairs.hair_mask.data)
            .map(|(&g, &h)| g || h)
            .collect();
        let (nt, nd) = (t.vessels.len(), st.capillaries.len());
        let mut ov = vec![0usize; (nt + 1) * (nd + 1)];
        let mut vis = vec![0usize; nt + 1];
        for i in 0..t.labels.data.len() {
            let l = t.labels.data[i] as usize;
            ov[l * (nd + 1) + st.labels.data[i] as usize] += 1;
            vis[l] += !hidden[i] as usize;
        }
        let mut found_px = vec![0usize; nd + 1];
        for &l in &st.labels.data {
            found_px[l as usize] += 1;
        }
        let (mut matched, mut right) = (0, 0);
        for tv in 1..=nt {
            let Some(d) = match_of(&ov, nt, nd, tv) else {
                continue;
            };
            matched += 1;
            let (v, c) = (&t.vessels[tv - 1], &st.capillaries[d - 1]);
            if c.class == v.class {
                right += 1;
                continue;
            }
            eprintln!(
                "class {um} µm/px seed {seed}: truth #{} {:?} at ({:.0}, {:.0}) px width {:.1} length {:.1} extent {:.1} µm, visible {:.2}; found #{} {:?} width {:.1} length {:.1} extent {:.1} µm, elongation {:.2}, turns {:.2}, tortuosity {:.2}, branches {}, Δa* {:.2}, overlap {:.2} of truth / {:.2} of found",
                v.id,
                v.class,
                v.centre_px[0],
                v.centre_px[1],
                v.width_um,
                v.length_um,
                v.extent_um,
                vis[tv] as f64 / v.mask_px.max(1) as f64,
                c.id,
                c.class,
                c.width_um,
                c.length_um,
                c.extent_um,
                c.elongation,
                c.turns,
                c.tortuosity,
                c.branch_count,
                c.contrast_a_star,
                ov[tv * (nd + 1) + d] as f64 / v.mask_px.max(1) as f64,
                ov[tv * (nd + 1) + d] as f64 / found_px[d].max(1) as f64,
            );
        }
        eprintln!("class {um} µm/px seed {seed}: right {right}/{matched} (all matched, hidden ones included)");
    }
}
