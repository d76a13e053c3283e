//! Hair stage against phantom truth: diameters, counts, crossings, vellus
//! fraction, invariance to rotation and scale, decoys, empty images.

use trichometry::color::{linear_to_srgb, to_linear};
use trichometry::hairs::{detect_hairs, HairParams, HairStage};
use trichometry::image::{Image, Mask, Plane, Samples};
use trichometry::kernels::gaussian_blur;
use trichometry::synth::hairs::{paint_hairs, HairSceneSpec};
use trichometry::synth::{skin, Canvas, Rng, SceneSpec};
use trichometry::StageInput;

mod hair_score;
use hair_score::{
    best_per_truth, evaluate, extra_records, match_shafts, tubes, Case, Extra, Report,
};

/// Dermatoscope optics for the tests: Gaussian blur (px), sensor noise
/// (8-bit sRGB levels), 8-bit quantisation, JPEG at `quality` (0 = none).
#[derive(Clone, Copy)]
struct Optics {
    blur_px: f32,
    noise: f32,
    jpeg_quality: u8,
}

const NUISANCE: Optics = Optics {
    blur_px: 0.8,
    noise: 2.0,
    jpeg_quality: 90,
};

fn degrade(c: &Canvas, o: Optics, seed: u64) -> Image {
    let (w, h) = (c.width, c.height);
    let mut rng = Rng::new(seed ^ 0xABCD);
    let planes: Vec<Plane> = [&c.r, &c.g, &c.b]
        .iter()
        .map(|p| gaussian_blur(&Plane::from_vec(w, h, (*p).clone()), o.blur_px))
        .collect();
    let mut px = vec![0u8; 3 * w * h];
    for i in 0..w * h {
        for k in 0..3 {
            let v = linear_to_srgb(planes[k].data[i].clamp(0.0, 1.0)) * 255.0
                + o.noise * rng.normal() as f32;
            px[3 * i + k] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    if o.jpeg_quality > 0 {
        let mut buf = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, o.jpeg_quality)
            .encode(&px, w as u32, h as u32, image::ExtendedColorType::Rgb8)
            .unwrap();
        px = image::load_from_memory(&buf).unwrap().to_rgb8().into_raw();
    }
    Image::new(w, h, 3, Samples::U8(px)).unwrap()
}

fn render(w: usize, h: usize, upp: f64, seed: u64, hs: &HairSceneSpec, o: Optics) -> Case {
    let spec = SceneSpec {
        width: w,
        height: h,
        um_per_px: upp,
        seed,
        ..SceneSpec::default()
    };
    let rng = Rng::new(seed);
    let mut c = skin::paint_skin(&spec, &mut rng.fork(1));
    let truth = paint_hairs(&mut c, hs, &mut rng.fork(3)).unwrap();
    let img = degrade(&c, o, seed);
    let rgb = to_linear(&img.view()).unwrap();
    let valid = if hs.fov_radius_um.is_some() {
        truth.fov_mask.clone()
    } else {
        Mask::filled(w, h, true)
    };
    Case {
        rgb,
        truth,
        upp,
        valid,
    }
}

fn run(c: &Case) -> HairStage {
    let input = StageInput {
        rgb: &c.rgb,
        um_per_px: c.upp,
        valid: &c.valid,
    };
    let mut p = HairParams::default();
    if let Ok(v) = std::env::var("HAIRS_SUPPORT") {
        p.min_profile_support = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("HAIRS_ANG") {
        p.max_join_angle_deg = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("HAIRS_GAP") {
        p.max_join_gap_um = v.parse().unwrap();
    }
    if let Ok(v) = std::env::var("HAIRS_PSF") {
        p.psf_sigma_px = v.parse().unwrap();
    }
    if std::env::var("HAIRS_PSF_FIXED").is_ok() {
        p.estimate_psf = false;
    }
    if let Ok(v) = std::env::var("HAIRS_TURN") {
        p.max_turn_deg = v.parse().unwrap();
    }
    detect_hairs(&input, &p).unwrap()
}

/// The issue's hair-count bound: within 10 % of truth.
fn assert_count_within_10pct(r: &Report, upp: f64) {
    let rel = (r.count_det as f64 - r.count_truth as f64).abs() / r.count_truth as f64;
    assert!(
        rel <= 0.10,
        "upp {upp}: count {} vs {}",
        r.count_det,
        r.count_truth
    );
}

fn print(r: &Report, tag: &str) {
    println!(
        "{tag}: count {} / truth {}; diam MAE {:.2} bias {:+.2} (n {}); crossing one-record {:.2} (covered {:.2}, n {}); vellus {:.3} / {:.3}; mixed {} split {}",
        r.count_det, r.count_truth, r.mae, r.bias, r.n_diam, r.crossing_one_record, r.crossing_covered, r.n_crossing, r.vellus_det, r.vellus_truth, r.mixed, r.split
    );
}

#[test]
#[ignore]
fn explore() {
    for upp in [2.0, 3.5, 5.5] {
        let hs = HairSceneSpec::default();
        let (w, h) = ((2400.0 / upp) as usize, (1800.0 / upp) as usize);
        let c = render(w.min(1400), h.min(1000), upp, 11, &hs, NUISANCE);
        let t0 = std::time::Instant::now();
        let st = run(&c);
        let dt = t0.elapsed();
        let r = evaluate(&c, &st, true);
        print(&r, &format!("upp {upp} ({w}x{h}) {dt:?}"));
        dump(&c, &st, &format!("/tmp/hairs_{upp}.png"));
    }
}

/// Overlay for eyeballing: image, detected centrelines in colour per shaft,
/// exits as white squares.
#[allow(dead_code)]
fn dump(c: &Case, st: &HairStage, path: &str) {
    let (w, h) = (c.rgb.width, c.rgb.height);
    let mut px = vec![0u8; 3 * w * h];
    for i in 0..w * h {
        px[3 * i] = (linear_to_srgb(c.rgb.r[i]) * 255.0) as u8;
        px[3 * i + 1] = (linear_to_srgb(c.rgb.g[i]) * 255.0) as u8;
        px[3 * i + 2] = (linear_to_srgb(c.rgb.b[i]) * 255.0) as u8;
    }
    let put = |px: &mut Vec<u8>, x: f64, y: f64, col: [u8; 3]| {
        let (x, y) = (x.round() as i64, y.round() as i64);
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            let i = y as usize * w + x as usize;
            px[3 * i..3 * i + 3].copy_from_slice(&col);
        }
    };
    for t in c.truth.shafts.iter().filter(|t| t.counted) {
        for p in &t.centreline_px {
            put(&mut px, p[0] + 3.0, p[1], [0, 255, 255]);
        }
    }
    for s in &st.shafts {
        let col0 = [
            (s.id * 97 % 200 + 55) as u8,
            (s.id * 57 % 200 + 55) as u8,
            (s.id * 31 % 200 + 55) as u8,
        ];
        for q in s.centreline_px.windows(2) {
            for k in 0..10 {
                let t = k as f64 / 10.0;
                let x = q[0][0] as f64 + t * (q[1][0] - q[0][0]) as f64;
                let y = q[0][1] as f64 + t * (q[1][1] - q[0][1]) as f64;
                put(&mut px, x, y, col0);
                put(&mut px, x + 1.0, y, col0);
            }
        }
    }
    for s in &st.shafts {
        let col = [
            (s.id * 97 % 200 + 55) as u8,
            (s.id * 57 % 200 + 55) as u8,
            (s.id * 31 % 200 + 55) as u8,
        ];
        for p in &s.centreline_px {
            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
            if x < w && y < h {
                px[3 * (y * w + x)..3 * (y * w + x) + 3].copy_from_slice(&col);
            }
        }
        if let Some(e) = s.exit_px {
            for dy in -2i32..=2 {
                for dx in -2i32..=2 {
                    let (x, y) = (e[0] as i32 + dx, e[1] as i32 + dy);
                    if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
                        let i = y as usize * w + x as usize;
                        px[3 * i..3 * i + 3].copy_from_slice(&[255, 255, 255]);
                    }
                }
            }
        }
    }
    image::save_buffer(path, &px, w as u32, h as u32, image::ColorType::Rgb8).unwrap();
    // HAIRS_CROP=x,y,w,h,k: also a crop of the raw image, k× enlarged.
    if let Ok(cr) = std::env::var("HAIRS_CROP") {
        let v: Vec<usize> = cr.split(',').map(|s| s.parse().unwrap()).collect();
        let (x0, y0, cw, ch, k) = (v[0], v[1], v[2], v[3], v[4]);
        let mut out = vec![0u8; 3 * cw * ch * k * k];
        for y in 0..ch * k {
            for x in 0..cw * k {
                let (sx, sy) = ((x0 + x / k).min(w - 1), (y0 + y / k).min(h - 1));
                let i = sy * w + sx;
                let o = 3 * (y * cw * k + x);
                if std::env::var("HAIRS_CROP_OVERLAY").is_ok() {
                    out[o..o + 3].copy_from_slice(&px[3 * i..3 * i + 3]);
                    continue;
                }
                out[o] = (linear_to_srgb(c.rgb.r[i]) * 255.0) as u8;
                out[o + 1] = (linear_to_srgb(c.rgb.g[i]) * 255.0) as u8;
                out[o + 2] = (linear_to_srgb(c.rgb.b[i]) * 255.0) as u8;
            }
        }
        let p = path.replace(".png", "_crop.png");
        image::save_buffer(
            &p,
            &out,
            (cw * k) as u32,
            (ch * k) as u32,
            image::ColorType::Rgb8,
        )
        .unwrap();
    }
}

fn sparse() -> HairSceneSpec {
    HairSceneSpec::sparse()
}

/// ~2.4 × 1.8 mm at every scale (about 1 MP at 2 µm/px).
fn size(upp: f64) -> (usize, usize) {
    ((2400.0 / upp) as usize, (1800.0 / upp) as usize)
}

/// Diameter MAE ≤ 3 µm and |bias| ≤ 2 µm over shafts ≥ 4 px wide at 2,
/// 3.5 and 5.5 µm/px (reached with the blurred-cylinder model: MAE 0.26 /
/// 1.96 / 2.44, bias +0.06 / +1.78 / −1.04 µm; on main 0.80 / 2.52 / 2.34,
/// −0.80 / +0.28 / −1.89).
#[test]
fn diameters_on_a_sparse_scene_at_three_scales() {
    for (upp, seed) in [(2.0, 21), (3.5, 22), (5.5, 23)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &sparse(), NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, std::env::var("HAIRS_VERBOSE").is_ok());
        print(&r, &format!("sparse upp {upp}"));
        assert!(
            r.n_diam >= 5,
            "upp {upp}: only {} shafts measured",
            r.n_diam
        );
        assert!(r.mae <= 3.0, "upp {upp}: diameter MAE {:.2} µm", r.mae);
        assert!(
            r.bias.abs() <= 2.0,
            "upp {upp}: diameter bias {:.2} µm",
            r.bias
        );
    }
}

/// Not reached yet (branch `diam`, blurred-cylinder diameters with the
/// image's PSF, 2026-11-26): at 2 µm/px count 9 / 9, vellus 0.111 vs 0.111
/// (was 0.22: the dark 30.1 µm shaft now reads 30.3 µm); at 3.5 µm/px
/// 16 / 14 (+14 %), vellus 0.31 vs 0.29; at 5.5 µm/px 15 / 17 (−12 %),
/// vellus 0.13 vs 0.06 (was 0.27; the light shafts now read within 1.3 µm,
/// what remains is a vellus shaft split into two records across a gap).
/// Clearing a frame band of the ridge filter did not change 5.5 µm/px and
/// added a hair at 3.5 µm/px (not taken). On main 2026-11-27 (after the
/// follicle-exit and speed changes): 9 / 9, 17 / 14 at 3.5 µm/px, 16 / 17
/// at 5.5 µm/px with vellus 0.125 vs 0.059. Bounds are the issue's, not
/// loosened.
/// Branch `hsparse` (2026-11-27): 9 / 9; 3.5 µm/px still 17 / 14 (vellus
/// 0.294 vs 0.286); 5.5 µm/px 16 / 17 with vellus 0.062 vs 0.059 (reached).
/// At 5.5 µm/px the split vellus shaft (truth 4, 23 µm) was one ridge
/// walked twice: down one side of a two-pixel band of maxima and back up
/// the other, the return (10 px) overlapping the way down end to end and
/// taking the link across the next crossing; such returns are dropped
/// (`drop_doubled`). That lost a count, made up by a 95 µm shaft along the
/// bottom edge that had no profile (both background sides had to be in the
/// frame; now one-sided where a shaft runs along the frame). At 3.5 µm/px
/// the 17 records are 13 matched shafts plus four records in one tangle
/// of six shafts crossing within ~0.5 mm: two fragments of split shafts
/// (truth 2 between crossings, 57 µm; truth 10, 16 µm) and two ~114 µm
/// wide records where two shafts run side by side (truth 4 beside another
/// near the top edge; the V where truth 2 and 9 part); truth 5 (99 µm,
/// 235 µm visible, mostly under truth 11) is missed. Dropping records
/// that lie inside longer records (closer than a quarter of the width
/// sum over 80 % of their length) removed the V record (16 / 14) but lost
/// real shafts elsewhere (sparse 14 seeds × 3 scales sum |count error| 83
/// → 85; unseen crowded 44–50 80 → 89): not kept.
/// Branch `hsparse` (2026-11-27, session 16): on unseen sparse 81–88 the
/// count and vellus bounds fail (13 and 13 of 24 cases met; MAE and bias
/// all 24); the largest single loss was hairs along the frame with their
/// axis within their radius of the edge (81: four at the bottom edge, 83:
/// two at a corner), traced on the edge row at the widest scale with no
/// profile read (the shaft window is cut). One-edge half profiles
/// (`profile::frame_halves`) now back such pieces (no width samples, a
/// rough diameter): this test unchanged (9 / 9, 17 / 14, 16 / 17); unseen
/// sparse sum |count error| 50 → 46, cases within 10 % 13 → 15, all
/// bounds 8 → 8, MAE 1.00 unchanged, mean |vellus error| 0.063 → 0.062.
/// A half body is the same whether the axis is just inside (counted) or
/// just outside the frame (not counted), so some false records come too.
/// Session 17 (2026-11-27): the widest ridge scales on a 2×-decimated plane
/// and end pieces no profile or centreline shows dropped
/// (`without_unseen_ends`): 10 / 9 (2 µm/px, one false record; MAE 3.20 →
/// 3.19), 17 / 14, 16 / 17; unseen sparse 81–88 sum |count error| 46 → 48,
/// MAE 1.001 → 0.973, all bounds 8 → 10 of 24. Branch `hjoin2` (joins
/// across short side-by-side gaps and long covered gaps, not merged)
/// reached 10 / 9, 18 / 14, 16 / 17 and unseen sparse 35. Session 20
/// (side-by-side and collinear joins of measured pieces of like widths,
/// see `whole_field_count_and_vellus_fraction`): unchanged, 10 / 9,
/// 17 / 14, 16 / 17; unseen sparse all bounds 10 → 10 of 24.
#[test]
#[ignore]
fn sparse_scene_count_and_vellus_fraction() {
    for (upp, seed) in [(2.0, 31), (3.5, 32), (5.5, 33)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &sparse(), NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, false);
        print(&r, &format!("sparse count upp {upp}"));
        assert_count_within_10pct(&r, upp);
        assert!(
            (r.vellus_det - r.vellus_truth).abs() <= 0.05,
            "upp {upp}: vellus {:.3} vs {:.3}",
            r.vellus_det,
            r.vellus_truth
        );
    }
}

#[test]
fn no_hair_gives_zero_hairs() {
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        ..HairSceneSpec::default()
    };
    for upp in [2.0, 5.5] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, 5, &hs, NUISANCE);
        let st = run(&c);
        assert_eq!(st.shafts.len(), 0, "upp {upp}");
        assert_eq!(st.summary.hair_count, Some(0));
        assert_eq!(st.mask.count(), 0);
        assert_eq!(st.summary.shaft_diameter_mean_um, None);
    }
}

/// 150 yellow dots, 300 white dots and 80 scales per cm², no hair.
#[test]
fn dots_and_scales_are_not_hairs() {
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        yellow_dots_per_cm2: 150.0,
        white_dots_per_cm2: 300.0,
        scales_per_cm2: 80.0,
        ..HairSceneSpec::default()
    };
    for upp in [2.0, 3.5, 5.5] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, 6, &hs, NUISANCE);
        assert!(c.truth.yellow_dots.len() >= 5 && c.truth.white_dots.len() >= 10);
        let st = run(&c);
        assert_eq!(
            st.shafts.len(),
            0,
            "upp {upp}: {} false hairs",
            st.shafts.len()
        );
    }
}

#[test]
fn bad_scale_is_an_error() {
    let c = render(64, 48, 3.0, 1, &sparse(), NUISANCE);
    let input = StageInput {
        rgb: &c.rgb,
        um_per_px: f64::NAN,
        valid: &c.valid,
    };
    assert!(detect_hairs(&input, &HairParams::default()).is_err());
}

/// The issue's figures on crowded images with crossings. Not reached yet
/// (branch `hcross`, 2026-11-26, main 86acc9c): one-record fraction of
/// crossing shafts (≥ 80 % coverage) 0.57 / 0.29 / 0.58 at 2 / 3.5 /
/// 5.5 µm/px; counts 13 / 13, 19 / 21, 14 / 19; diameter MAE 0.25 / 4.09 /
/// 1.59 µm, bias −0.05 / −2.99 / +0.99. The 3.5 µm/px bias is mostly one
/// record: a one-piece fragment matched to a dark 57.5 µm shaft between
/// crossings reads 23 µm (a tracing fault, not the width model).
/// Why the 23 crossing shafts that are not one record fail
/// (`SCENE_CROSS=1` in `hairs::pair_diag::scene_diag`): 7 split (all
/// records together cover them, no one record does; 3 of them two
/// collinear pieces overlapping end to end, which the towards test
/// refuses), 5 traced but the record rejected or cut back (profile
/// support / profiled length, or an unprofiled piece split off), 7 lost
/// before joining (no ridge maxima: light, thin or frame-cut shafts), 2
/// pieces dropped at a junction cut, 1 not in the mask. Joining
/// overlapping collinear pieces raised 3.5 µm/px to 0.33 but lost counts
/// (19 → 17 of 21; unseen 44–50 sum |count error| 80 → 83) and broke the
/// rotation / rescale tests (base 24 → 22), so it was not kept. The
/// joining is still end-to-end greedy; a skeleton-graph pairing at
/// junctions (branch `hairs`, 1979d0b) raised 5.5 µm/px to 0.75 but
/// counted worse on unseen crowded seeds, so it was not merged.
/// Branch `hxing2` (2026-11-27, main 791c1bd): figures unchanged (0.57 /
/// 0.29 / 0.58; counts 13 / 19 / 14; MAE 0.25 / 4.09 / 1.59, bias −0.05 /
/// −2.99 / +0.99; unseen crowded seeds 44–50: sum |count error| 80, mean
/// one-record 0.165). Tried and not kept: (1) ends on one line (offset
/// across their common axis ≤ 0.2 × width, overlapping by ≤ 2 widths or
/// side by side) exempt from the towards test, the overlap trimmed when
/// assembling: on `link_diag` pairs (seeds 41–43, 61–72) that rule passes
/// 91 same-shaft vs 10 different-shaft pairs the towards test refused,
/// but it raised 3.5 µm/px only to 0.33, unseen sum |count error| 80 → 97,
/// and broke rotation / rescale (base 24 → 22); (2) an exact
/// maximum-margin pairing per cluster of candidate ends instead of the
/// greedy one: seeds 41–43 unchanged, unseen 80 → 84. The two split
/// shafts at 2 µm/px have no pieces over 400–540 µm between their records
/// (coverage, not a refused link), and the crowded scenes under-count:
/// split records hold the counts up, so joining alone lowers them.
/// Branch `hcross3` (2026-11-27, not merged): what blocks the split
/// crossing shafts of seeds 41–43 is mostly not a refused link: at 2 µm/px
/// the two split shafts have gaps of 205 / 266 px at 67° / 169°
/// (coverage), at 5.5 µm/px the split one has a 79 px (435 µm) gap, and at
/// 3.5 µm/px one is a 14 px end-to-end overlap (towards test), one a 93 px
/// gap (326 µm > the 250 µm limit) that a second piece contests, one a
/// piece that jumps between two shafts. Bridges over gaps up to twice the
/// limit between free, uncontested ends of well-measured pieces of one
/// width pointing at each other across the hair mask (`bridge_score`):
/// seeds 41–43 unchanged (the one candidate at 3.5 µm/px is contested; let
/// through, it made a mixed record and cost a count); unseen 44–50 mean
/// one-record 0.165 → 0.187, sum |count error| 80 → 85 (correct joins in
/// under-counting scenes and one wrong bridge at 2 µm/px seed 46).
/// Branch `hborder` (2026-11-27, not merged): the ridge filter's plane
/// continued past the frame by the lighter of its mirror image and the
/// replicated edge (no saturated 120 µm width guesses along the frame):
/// counts 13 / 20 / 16, MAE 0.32 / 3.04 / 4.39 (5.5 µm/px: one record over
/// three shafts meeting at the frame, 97 vs 59 µm), one-record 0.57 / 0.24
/// / 0.50; unseen 44–50 sum |count error| 80 → 75, mean MAE 3.92 → 4.24 µm,
/// 8–15 % more hair-stage CPU. The mirror alone: 80 → 72 but MAE 4.59 (a
/// shaft near the frame and its image merge); zeros beyond the frame:
/// 80 → 99 (light shafts lose their seeds at the frame). Shafts the frame
/// cuts lengthwise still give no profile (every profile leaves the frame).
/// Branch `hborder2` (2026-11-27, not merged, 37fd018): the 97 µm record is
/// three hairs of one unit leaving the frame side by side, not a shaft and
/// its mirror image. No NMS maximum on the frame line (the replicated
/// border's ridge along the frame cut shafts and was traced as a piece)
/// plus profiles whose background the frame cuts (at least half of each
/// side inside): counts 13 / 20 / 16, MAE 0.31 / 3.33 / 1.53, unseen 80 →
/// 67 but mean MAE 3.92 → 4.44 (a 64.6 µm hair reads 97 µm at all scales).
/// The frame-line rule alone, measured on main after `hsparse`'s one-sided
/// frame profiles: unseen 80 → 75, mean MAE 3.81 → 4.07, cases within 10 %
/// of the count 8 → 8 of 21, cases with MAE ≤ 3 µm 11 → 9; unseen sparse
/// 81–88: 53 → 52, MAE 1.15 → 1.19. With the mirror pad as well 74 / 4.37,
/// mirror only 71 / 4.64 (13 new frame matches with MAE 21.8).
/// Branch `hband` (2026-11-27, merged): a traced piece whose end forks into
/// two narrower pieces whose widths add up to its own is split into two
/// side-by-side pieces (`hairs::band`): counts 13 / 19 / 16 (was 13 / 19 /
/// 15 in the survey), one-record unchanged; unseen crowded 44–50 sum |count
/// error| 80 → 66, cases within 10 % of the count 8 → 9 of 21, but mean MAE
/// 3.81 → 3.93 and cases with MAE ≤ 3 µm 11 → 8 (newly separated
/// unit-mates read 57–76 µm for 30–42 µm hairs of a three-hair unit);
/// unseen sparse 81–88: 53 → 50, MAE 1.15 → 1.00, cases within 10 % 12 →
/// 13 of 24; cases meeting every bound 10 → 11 of 45.
/// Branch `hrecall` (2026-11-27, not merged, 2fe5913): a second detection
/// pass with the accepted shafts blanked to skin level, within 120 µm of
/// them: unseen crowded 80 → 70, cases within 10 % 8 → 8, mean MAE 3.81 →
/// 4.05 (recovered thick unit-mates read their blanked mate), hair-stage
/// CPU +65–75 % (a second full ridge filter and NMS); seed 42 at 3.5 µm/px
/// 21 / 21 but its vellus fraction 0.053 → 0.095 (truth 0.048).
/// Branch `hmates` (2026-11-27): a band with no traced fork that is wider
/// than `max_width_um` (120 µm) and at least 1.5 widths long is split in
/// halves (`hairs::band`): counts, MAE and one-record here unchanged
/// (13 / 13, 19 / 21, 16 / 19); unseen crowded 44–50 sum |count error|
/// 66 → 60, mean MAE 3.93 → 3.21 µm, cases with MAE ≤ 3 µm 8 → 9 of 21;
/// unseen sparse 81–88 unchanged (50, 1.00 µm).
/// Branch `hcross` (2026-11-27, session 15; its link not merged,
/// 60d8185, measured before `hmates`): why the 470 crossing shafts of
/// unseen seeds 44–50 (three scales) are not one record (`SCENE_CROSS`
/// `XOVER` lines): only 0.32 of them are covered ≥ 80 % by all records
/// together, so joining alone cannot lift the figure past about a third.
/// The points no record covers lie where the shaft overlaps another truth
/// shaft (closer than the half-sum of the widths): 0.45 of each failing
/// axis on average against 0.07 in the clear. 351 of the 470 overlap
/// others over ≥ 50 % of their in-frame axis (one-record 0.09), 192 over
/// ≥ 75 % (0.01); the 40 overlapping < 35 % are one record at 0.73. 275
/// have ≥ 20 % of the axis inside a thicker shaft's footprint. A link for
/// ends side by side in one shaft's body (towards test failing, offset
/// across ≤ half the narrower width, along ≤ one width, within 15°, widths
/// within 1.25, both measured with depths within 0.6; scored as the worst
/// passing link): 41–43 one-record 0.57 / 0.33 / 0.58 (was 0.29 at
/// 3.5 µm/px), counts 13 / 18 / 14; unseen 44–50 one-record 0.181 → 0.192,
/// mean MAE 3.93 → 3.63, split shafts 87 → 74, mixed records 32 → 30, but
/// sum |count error| 66 → 84 (the scenes under-count, 461 of 525, and the
/// joined splits held the counts up); unseen sparse 81–88: 50 → 49,
/// one-record 0.509 → 0.521.
/// Branch `hsparse` (2026-11-27, session 16): half profiles for shafts
/// along the frame (`profile::frame_halves`): counts 13 / 19 / 16 → 13 /
/// 19 / 18, one-record and MAE unchanged; unseen crowded 44–50 sum |count
/// error| 60 → 54, mean MAE 3.20 and one-record 0.181 unchanged, mean
/// |vellus error| 0.0346 → 0.0363, all bounds 3 → 3 of 21. Session 17
/// (2026-11-27, decimated widest ridge scales, `without_unseen_ends`):
/// 14 / 13, 19 / 21, 18 / 19, one-record 0.57 / 0.29 / 0.42; unseen
/// crowded sum 54 → 54, MAE 3.20 → 3.22, one-record 0.181 → 0.179, all
/// bounds 3 → 4 of 21. Session 20 (side-by-side and collinear joins of
/// measured pieces of like widths, the overlap trimmed; see
/// `whole_field_count_and_vellus_fraction`): unchanged, 14 / 13, 19 / 21,
/// 18 / 19, one-record 0.57 / 0.29 / 0.42; unseen crowded all bounds
/// 4 → 3 of 21 (count bound 12 → 7 cases, MAE bound 8 → 12).
/// Session 24 (`hspeed24`, profiles about 10 µm apart, up to 3 px, instead
/// of 1.5 px on thin shafts: hair stage −4 % instructions at 3.5 µm/px):
/// unseen crowded 44–50 sum |count error| 67 → 65, mean MAE 2.89 → 2.84,
/// one-record 0.194 → 0.194, all bounds 3 → 3 of 21 (see
/// `profile::sample_step_px`, with the variants not kept). Detection at
/// 10.5 µm/px instead of 7 (factor 3 at 3.5 µm/px, 5 at 2: −26 %
/// instructions at 3.5 µm/px): crowded 67 → 93, MAE 2.89 → 3.31, all
/// bounds 3 → 1 (2 µm/px cases 17 → 32, 3.5 µm/px 26 → 37): not kept.
/// Session 26 (`hspeed26`, bit-identical speed work: every figure here
/// unchanged, `hairs_12mp fingerprint` identical): hair stage per 12 MP
/// call 2 835 → 2 572 M instructions at 3.5 µm/px (−9.3 %), 1 363 → 1 226 M
/// at 2 µm/px (−10.1 %) (callgrind, second call, one thread, AVX2 copy): the
/// FIR taps without a bounds check per tap (−98 M), painting's loop without
/// masked loads (−30 M) and row spans from a rectangle per segment (−11 M),
/// the skin-depth histograms over their filled bins and `round` inline
/// (−43 M), the Hessian's x differences once per smoothed row (≈ −21 M),
/// vectorising loops (skin-relative OD select, NMS σ maximum, `Mask::count`:
/// −41 M), the piece walk's row lookups (−13 M), the exit tests' 90th
/// percentiles by selection (−7 M). Tried, no gain: skipping
/// the cylinder fit of shafts the contrast test rejects (none reach it).
/// Not done: `lum_profile` counts 282 M because the AVX2 copy loads each
/// corner by itself; the AVX-512 copy this machine runs gathers (explicit
/// AVX2 gathers would cut the count, not this machine's time).
/// Session 27 (`hspeed27`, bit-identical: `hairs_12mp fingerprint`
/// identical at 1 and 2 threads and with kept scratch, `hairs_profile`
/// 06fbc41163603c1e): 2 557 → 2 536 M instructions per call at 3.5 µm/px
/// (−0.8 %; 1 219 → 1 213 M at 2 µm/px; same counting). The smoothed
/// rows a Hessian band shares with the next (4 of 68) carried within a
/// rayon task instead of filtered again (FIR 231.9 → 221.1 M; the copies +6.6 M of callgrind's per-byte
/// `rep movsb`), the arc lengths once per piece (−4 M), the PSF fit's grid
/// scan as a branch-free minimum (−14 M), `cylinder_factor`'s table 15 →
/// 17 levels (−10 M; 512 KiB, +6 M once). Measured and left (the counts
/// of one 3.5 µm/px call): the hysteresis mask holds 1.19 M of the 3 M
/// detection pixels and the NMS quick test rejects 91 % of them, so its
/// 16-pixel runs are 70 % mask (no gain in testing mask pixels alone);
/// of 38.4 K profiles read, 5.8 K are discarded (a pre-pass 1.5 K, a
/// first pass read again at the measured width 3.5 K, a wider pass 0.9 K)
/// and only an output change saves them; the FIR's taps are at their
/// floor for exact bits (sharing each tap's row sum across the five fine
/// scales would save about 20 M in the AVX2 copy for five bands of
/// buffers per task), fusing the Hessian rows into the ridge update about
/// 11 M; `cylinder_factor` still takes about 2 K instructions per call
/// (35 K calls): its later bisection steps need `rho_of` bit for bit.
/// Session 28 (`hspeed28`). Exact: the Hessian band loop's and the FIR's
/// per-task buffers only grow (the fine scales and the decimated one took
/// turns resizing them down and up, zeroing the regrown part every band):
/// 2 660.2 → 2 649.4 M instructions per call at 3.5 µm/px, 1 260.6 →
/// 1 257.3 M at 2 µm/px (`memset` 163.3 → 151.6 M), `hairs_12mp
/// fingerprint` identical. The rest of the `memset` is the fresh planes'
/// `calloc` (85.6 M; natively page faults, gone with a kept `HairScratch`)
/// and the label image cleared band by band (48.0 M). Output-changing
/// candidates (instructions per call at 3.5 / 2 µm/px; main: crowded 44–50
/// sum |count error| 103, MAE 2.849, one-record 0.251, all bounds 2 of 21;
/// sparse 81–88 40, 0.982, 0.604, 10 of 24), none kept: the FIR cut at 3σ
/// instead of 4σ (FIR 221.5 → 175.9 M, stage −29 M): crowded 101, MAE
/// 3.531 (worse in 13 of 21 cases; a 5σ radius, the same filter to 10⁻⁴,
/// leaves 19 cases unchanged, MAE 2.730), sparse 39, 0.979, all bounds 12;
/// with decimated scales from σ 4 as well, crowded 108, MAE 3.249. Decimated
/// scales from σ 4 px instead of 6 (`COARSE_FROM_PX`; the fifth scale, 5.0
/// and 5.7 px at 3.5 and 2 µm/px, none at 5.5, so the whole field is
/// unchanged: −73.5 / −34.3 M): crowded 105, 2.820, 0.256, 2; sparse 41,
/// 1.001, 0.605, 10; dense 202–204 46 / 40 / 42 → 48 / 41 / 44 (vellus
/// 202 0.130 → 0.167 of 0.086), but both invariance tests fail (upright
/// 21 with vellus 0.20, rescaled 23). From σ 2.5 (−103 M): sparse 45,
/// 1.005, all bounds 8. `measure_piece` without its last pass at the
/// measured width (−55.5 / −19.7 M): crowded 97, 2.916, 0.266, 2; sparse
/// 39, 0.977, 0.609, 10; whole field 201 / 228 / 195 → 202 / 228 / 197
/// (MAE 1.03 / 1.71 / 1.38 → 1.04 / 1.68 / 1.07, vellus 0.189 / 0.140 /
/// 0.236 → 0.188 / 0.140 / 0.218 of 0.219 / 0.195 / 0.274); dense 45 / 40
/// / 45; invariance (21 / 22 / 22) and hair-free false hairs (11)
/// unchanged. Without it only where the width measured is the wider
/// (−45.1 / −21.5 M): crowded 97, 2.905, 0.261, 2; sparse 41, 0.972,
/// 0.609, 10; whole field 202 / 225 / 193 (MAE 1.04 / 1.66 / 1.08, vellus
/// 0.188 / 0.142 / 0.223); dense 42 / 39 / 45 (MAE 6.77 / 9.88 / 6.17 →
/// 4.04 / 10.81 / 5.96); invariance passes (21 / 22 / 21). Only where it
/// is the narrower (−12 / +2 M): whole field 201 / 231 / 198, dense 202
/// vellus 0.200, the rescaling test fails. The pre-pass on pieces from 8
/// positions instead of 12: +1 M. Both passes-skipping variants are within
/// the surveys' noise but for the whole field's seed 203 vellus (−0.013 to
/// −0.018 against truth) and save under 2.1 %: the 100 ms goal (a third
/// of the stage) is out of reach of such cuts; the ridge filter (FIR,
/// Hessian, update: ≈ 450 M) and the profiles (≈ 500 M) would both have to
/// go at once.
/// Session 29 (`hspeed29`). Exact: `hysteresis`'s weak mask in chunks of
/// one vectorising loop instead of a collected parallel map (9
/// instructions per pixel): 2 648.9 → 2 630.0 M instructions per call at
/// 3.5 µm/px (callgrind, one thread), `hairs_12mp fingerprint` identical.
/// Where the rest of rayon's `helper` self cost (247 M) lies: the
/// skin-depth histograms of `skin_relative_absorbance` (≈ 92 M, 3.7 M
/// window pixels, already memoised and interleaved), the weak mask (27 M,
/// done), `cylinder_factor`'s bisection inlined (≈ 16 M). Output-changing
/// candidates, none kept (main: crowded 44–50 sum |count error| 103, MAE
/// 2.849, one-record 0.251, all bounds 2 of 21; sparse 81–88 40, 0.982,
/// 0.604, 12 of 24): one line per width profile instead of three
/// (−187 M, −7.1 %): crowded 107, MAE 3.010, all bounds 2; sparse 39, MAE
/// 1.054 (9 cases worse by > 0.05 µm, 2 better, mostly at 5.5 µm/px). Two
/// lines half a pixel either side of the centre (−96 M, −3.6 %): crowded
/// 100, 2.964, 0.253, 2 (two cases carry the MAE: 2 µm/px seed 46 2.66 →
/// 5.44, 3.5 µm/px seed 47 5.50 → 3.74); sparse 38, 1.000, 0.607, 12
/// (5.5 µm/px seeds 81 / 83 / 85 1.48 / 1.18 / 0.97 → 1.71 / 1.42 / 1.13);
/// whole field 203 / 226 / 196 (MAE 1.07 / 1.71 / 1.16, vellus 0.187 /
/// 0.146 / 0.222, crossing one-record 0.64 / 0.56 / 0.69); dense 47 / 40 /
/// 43; invariance 22 / 22 rotated / 23 rescaled (pass), compare's suite
/// passes: within the noise
/// but for the sparse 5.5 µm/px diameters, which the three lines' averaging
/// steadies. Profiles twice as far apart (−359 M, −13.7 %): crowded 126,
/// MAE 4.011, all bounds 1; sparse 47, 1.260, 9 (as session 24's half-width
/// spacing). Finer profile sampling cut (`du` floor 0.5 px instead of 0.25:
/// −1 M; a twelfth → an eighth of the width: −18 M): most profiles read are
/// of shafts ≥ 12 px at 1 px already, not surveyed. Not tried, by count:
/// the Hessian already takes finite differences of one FIR-smoothed band
/// per scale (no derivative-of-Gaussian convolutions to merge); an
/// incremental blur (σ_k from σ_(k−1), scales 1.8× apart) saves only 17 %
/// of a scale's taps and needs the previous scale smoothed over a wider
/// halo per 64-row band (more rows than it saves) or a whole plane per
/// scale; skipping pixels under the threshold saves none of the FIR (per
/// band) and the threshold is a multiple of the strength's own median.
/// Branch `hunit24` (session 24, diagnostic only, `hairs::twin`,
/// `pair_diag::twin_diag`): the hidden unit-mates as a two-shaft profile.
/// Across each record, profiles averaged over 75 µm stretches are fitted
/// as one and as two blurred Beer–Lambert cylinders (the image's PSF, a
/// fitted skin ramp); a stretch reads as two when the two-cylinder
/// residual is ≥ 1.5 × smaller, the shafts lie ≥ half their mean diameter
/// apart with a gap ≤ their mean diameter, each has depth ≥ 0.15 and a
/// diameter of 5–120 µm, and neither lies on another record; runs of ≥ 2
/// such stretches (≥ 150 µm) count one second shaft. A single wide shaft
/// is not read as two (the two-cylinder fit gains nothing on clean single
/// shafts); the far shafts found are real hairs. Counted as records
/// (records + second shafts, from the diagnostic): unseen crowded 44–50
/// sum |count error| 67 → 52, cases within 10 % 7 → 10 of 21 (21 second
/// shafts: the far shaft is a lost hair in 10 runs, a hair under the
/// same record in 3, a hair with its own record elsewhere in 8), mean
/// |vellus error| 0.032 → 0.033; sparse 81–88 48 → 48, within 10 % 13 →
/// 13 of 24 (16; the rule applied offline to the diagnostic's stretch
/// lines); but the whole field (`whole_field_count_and_vellus_fraction`
/// seeds 201 / 202 / 203) 218 / 269 / 225 → 229 / 281 / 232 records for
/// 178 / 185 / 168 (sum |count error| 181 → 211; vellus 0.174 / 0.123 /
/// 0.196 → 0.183 / 0.117 / 0.190 of 0.219 / 0.195 / 0.274): there 25 of
/// the 30 far shafts are mates that leave the ridge and have their own
/// record elsewhere (the split-record over-count again). Neither the
/// distance from the far track to another record's end nor the share of
/// its straight 300 µm continuation along another record tells those from
/// lost mates (crowded: lost 29–335 µm / 0.07–0.37, recorded 53–174 µm
/// / 0.13–0.21; whole field 201–202: recorded 18–517 µm / 0.00–0.46). Not wired into the stage: a net loss on the
/// whole field, and the fits (Nelder–Mead, five starts of the
/// two-cylinder model per stretch) cost about 10 ms a stretch. What it
/// needs: to know that a mate is recorded where it leaves the ridge (its
/// track followed as a curve, not a straight line), and a cheap pre-filter.
/// Branch `hmate25` (session 25, not merged; the code is commit 40d7c13,
/// reverted): scale-separated NMS for the hairs lost on a neighbour's
/// edge. Where a wider scale dominates a detection pixel but the vellus
/// scales alone (2σ ≤ 30 µm: a second ridge filter) have their own maximum
/// across their own axis, at least their σ (and 1.5 px) off the wider
/// ridge's axis, 3 px from the best-scale maxima and not mirrored across
/// that axis by a maximum of ≥ 0.7 of its strength (an edge shoulder),
/// runs of such maxima at least half the shortest shaft long became
/// centreline pixels with their own σ and direction. Unseen crowded 44–50
/// sum |count error| 87 → 82, mean MAE 2.832 → 3.221, all bounds 2 → 2
/// of 21; but truth shafts with a record only 318 → 320 of 525, second
/// records on a shaft 56 → 58, records on none 64 → 65: the count moves
/// with extra records in scenes that under-count, not with recall, and the
/// MAE with a few new records on a lost shaft's edge (seed 46 truth 2,
/// 89.5 µm, read 21.5 / 24.3 µm at 2 / 5.5 µm/px, contrast 0.25).
/// Variants, all with 318–322 truth shafts recorded and MAE 3.10–3.43:
/// every run kept 78 / 3.36 (about 25 % more centreline pixels, e.g.
/// 997 on 3970 at 5.5 µm/px seed 49); narrow strength at the high
/// threshold 77 / 3.35; mirror ratio 0.5 80 / 3.20; offset ≥ 3 px 78 /
/// 3.36; narrow axis within 25° of the wide one 76 / 3.43; runs as long as
/// the shortest shaft 84 / 3.10; an OD valley between the narrow maximum
/// and the wide axis 81–83 / 3.17–3.37; narrow pieces measured wider than
/// 1.5–3 × their guess dropped 83 / 3.25. Sparse 81–88 42 → 42 (MAE 0.984
/// → 0.981), whole field 208 / 250 / 205 → 211 / 251 / 205, dense 49 / 42
/// / 44 unchanged, invariance 23 / 24 / 23 (rotated vellus still 0.049
/// off), hair-free false hairs 11 → 11, end-to-end hair-count change
/// −10 → −11 (truth −29), 12 MP hairs_profile 491 → 496 shafts and about
/// +10 % wall (measured under load). On that pair's baseline
/// (`pair_diag::pair_diag`, seed 61) the narrow maxima do reach the hairs
/// lost at NMS (pieces over t2's axis 0.35 → 0.57, t12's 0.45 → 0.69;
/// lost at NMS / junction cut 11 → 8 of those visible ≥ 150 µm) but their
/// pieces then fail the length or luminance profile-support tests (a thin
/// hair on a darker neighbour's edge shows no two-edge profile; pieces
/// 842 → 1164, traced 667 → 899, accepted 97 → 99: two other lost hairs,
/// t6 and t47, gained). Detection alone does not recover them: their
/// profiles need a two-shaft reading (`hairs::twin`), and a residual
/// detection pass (the other option) would meet the same profile tests.
/// Branch `hunit25` (session 25, main 139b6b5; not kept, the wiring is
/// commit 8d92ef6): the second shafts emitted as records in the stage,
/// each far shaft followed beyond its run (along the host at the trend of
/// the fitted offsets, then as a dark ridge once clear of the host, up to
/// 300 µm) and refused when another record of like width and direction
/// lies on that continuation (`twin::recorded_elsewhere`). Every stretch
/// fitted: unseen crowded 44–50 sum |count error| 87 → 84 (13 added, 21
/// refused), mean MAE 2.83 → 2.83, within 10 % 4 → 4 of 21; whole field
/// 208 / 250 / 205 → 209 / 251 / 206 for 178 / 185 / 168 (20 of 23 runs
/// refused: over-count +3). Per truth (`twin_diag`, crowded 44–50, stage
/// off: 17 runs, 87 → 78 if all counted) the follow refuses 14 runs,
/// among them all 7 whose far shaft is a lost hair, and passes only 3 of
/// 8 recorded elsewhere: in crowded units a parallel record of like
/// width lies beside nearly any continuation. No cheap pre-filter found:
/// the width samples the stage reads (w20 / fwhm ≈ 1.1, missing w20,
/// width jumps) flag 86 of 264 two-shaft stretches and 935 of 7324 others;
/// the averaged profile's imbalance is as low as 0.02 on lost mates. The
/// fits cost about 10 ms a stretch (3564 / 4124 / 3573 stretches a whole
/// field). Not a net win; not wired.
#[test]
#[ignore]
fn crowded_scene_counts_and_crossings() {
    for (upp, seed) in [(2.0, 41), (3.5, 42), (5.5, 43)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &HairSceneSpec::default(), NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, false);
        print(&r, &format!("crowded upp {upp}"));
        assert_count_within_10pct(&r, upp);
        assert!(
            r.crossing_one_record >= 0.9,
            "upp {upp}: {:.2}",
            r.crossing_one_record
        );
        assert!(r.mae <= 3.0 && r.bias.abs() <= 2.0, "upp {upp}");
    }
}

fn invariance_figures(base: &HairSceneSpec, upp: f64, rot: f64) -> (f64, f64, f64) {
    let hs = HairSceneSpec {
        rotation_deg: rot,
        ..base.clone()
    };
    let side = (3100.0 / upp) as usize;
    let mut c = render(side, side, upp, 51, &hs, NUISANCE);
    // `HAIRS_FULL_VALID`: every pixel valid (the round field's mask off),
    // to tell losses at the field's border from others.
    if std::env::var("HAIRS_FULL_VALID").is_ok() {
        c.valid = Mask::filled(side, side, true);
    }
    let st = run(&c);
    if std::env::var("HAIRS_VERBOSE").is_ok() {
        println!(
            "upp {upp} rot {rot}: psf σ {:?} µm, truth count {}",
            st.summary.hair_psf_sigma_um, c.truth.hair_count
        );
        print_shafts(&st);
        let r = evaluate(&c, &st, true);
        print(&r, &format!("invariance upp {upp} rot {rot}"));
    }
    if std::env::var("HAIRS_DUMP").is_ok() {
        dump(&c, &st, &format!("/tmp/hairs_inv_{upp}_{rot}.png"));
    }
    (
        st.shafts.len() as f64,
        st.summary.shaft_diameter_mean_um.unwrap_or(0.0),
        st.summary.vellus_fraction.unwrap_or(0.0),
    )
}

fn within_5pct(tag: &str, a: (f64, f64, f64), o: (f64, f64, f64)) {
    println!("{tag}: base {a:?} other {o:?}");
    assert!(
        (o.0 - a.0).abs() <= 0.05 * a.0,
        "{tag}: count {} vs {}",
        o.0,
        a.0
    );
    assert!(
        (o.1 - a.1).abs() <= 0.05 * a.1,
        "{tag}: mean d {} vs {}",
        o.1,
        a.1
    );
    assert!(
        (o.2 - a.2).abs() <= 0.05,
        "{tag}: vellus {} vs {}",
        o.2,
        a.2
    );
}

fn fov_scene() -> HairSceneSpec {
    HairSceneSpec {
        fov_radius_um: Some(1500.0),
        ..sparse()
    }
}

/// Rotation by 30° (the same scene in a round field of view): hair count,
/// mean diameter and vellus fraction within 5 %.
///
/// Hairs cut by the field's edge (session 26, branch `hedge26`: main
/// 23849ba with `hoff26`'s `inside_longer`; `scene_diag` now renders this
/// scene, `SCENE_DIAG=fov,3,51 SCENE_SIZE=1033,1033 SCENE_ROT=30`, valid =
/// the disc, `SCENE_FULL_VALID` all pixels, `SCENE_LINK=a,b` the link tests
/// of two kept pieces; `HAIRS_FULL_VALID` here). Upright 21 records (4
/// vellus, 0.190), rotated 22 (3, 0.136: fails the vellus bound), rescaled
/// 23 (4, 0.174: fails the count bound, 23 vs 21; its extra records are
/// splits of truths 4 and 23 and an unmatched 151 µm record at the disc's
/// edge, not examined). The vellus the rotated scene misses is truth 14
/// (20.5 µm, dark, 190 µm inside the disc): it enters the disc at a grazing
/// angle (its axis stays within 27 px of the edge) and crosses truth 15
/// (45 µm) 12 px inside it, so it is two pieces: one of 19 px in the wedge
/// where the disc's edge cuts the hair lengthwise (profiles 2.5–4.7 px
/// wide, median 3.2 px against 6.4 px past the crossing; its sample centres
/// follow the clipped body, so its end points 35° against the hair's 53°),
/// one of 20 px beyond. Their link fails `lateral` (8.45 px against
/// 0.6 · 6.4 + 0.15 · 24.5 = 7.52 px) and each alone fails `length`
/// (< 150 µm). Upright the wedge piece is 22 px, 4.8 px wide, 9° off: joined
/// (225 µm). With every pixel valid the rotated scene joins it too (an 8 px
/// wedge piece, cut shorter at a junction with ridges beyond the disc).
/// The fourth vellus record of both scenes is no vellus: a 182 / 399 µm
/// sliver of truth 25 (44 µm) where the disc's edge cuts it lengthwise, read
/// 18.2 / 16.4 µm. Tried (`profile::measure` with an analysable-area test,
/// not kept): width profiles read only where the shaft lies in the
/// analysable area, as the frame rule asks it to lie in the image — every
/// profile centre within 1.1 widths + 2 px of a non-analysable pixel
/// excluded: upright / rotated / rescaled 18 / 19 / 20 records; the shaft
/// window (±1.1 w + 2 px) in the analysable area, a background side beyond
/// it taken as cut by the frame: 17 / 18 / 20; the shaft ±(w/2 + 2 px):
/// 18 / 20 / 21; ±w/2: 18 / 21 / 22 (vellus 0.111 / 0.143 / 0.182). Each
/// drops the slivers but also truth 14 upright (its wedge piece is
/// unprofiled and it stays unjoined) and truth 25 entirely (a long hair
/// grazing the edge, every profile clipped), so the scenes diverge further.
/// Clipped hairs need their own reading (as `frame_halves` does for the
/// image's frame); the surveys use whole-image masks and cannot show it.
/// Hairs cut by the field's edge read as what they are (session 27, branch
/// `hedge27`: main 2342b8a with `hoff26`'s `inside_longer` cherry-picked).
/// A width sample is `clipped` when a non-analysable pixel lies within
/// half its FWHM + 1.5 px of its centre (`profile::clipped_at`; only where
/// the mask has such pixels, so the whole-image surveys do not see it). (1)
/// A shaft's or piece's width is the median of its unclipped samples when
/// it has two (`profile::shaft_width`; else 1.5 × the visible width, as
/// `frame_halves` reads a frame-cut shaft). (2) A mostly clipped piece has
/// no trusted direction: `link_score`'s lateral test reads only the other
/// piece's line. With (1) and (2) truth 14's wedge piece joins in the
/// rotated scene: upright / rotated / rescaled 21 / 23 / 23 records, vellus
/// 0.190 / 0.174 / 0.174 (both fail on the count). (3) A record whose
/// profiles are all clipped is `HairShaft::diameter_clipped`: counted, but
/// left out of the summary's diameter figures (truth 25's sliver, visible
/// 3–5 px of 14.8, read 19.6 µm even at 1.5 ×: its axis lies beyond the
/// edge): vellus 0.158 / 0.143 / 0.182. The counts still failed on joins
/// away from the edge: the rotated scene split truth 4 where its record
/// ended in a 4 px stub (one sample) whose own direction failed `towards`
/// (tb 38°); the rescaled one split truths 4 and 23 at other hairs' stubs
/// and kept a 151 µm streak at the edge. (4) In the second join pass a
/// stub shorter than its width with under 3 samples points as the end its
/// chain arrives with (`trace::chain_directed`): 21 / 22 / 23, vellus
/// 0.158 / 0.150 / 0.182 (rotation passes). (5) Records lose their end
/// stretches where clipped profiles show under half the width of their
/// unclipped ones (there the axis lies beyond the edge; the frame rule
/// counts a shaft only with its axis in the image; `without_edge_ends`):
/// the streak (40 px, its last profiles 3.0 px of 6.2) falls under the
/// length limit, and 8 truncated records lose their narrowed ends (length
/// −5 to −25 %, diameter IQR e.g. 27.2 → 1.2 µm). Result 21 / 22 / 22
/// records, vellus 0.158 / 0.150 / 0.143, mean diameter 58.5 / 57.4 / 58.8
/// µm: both pass (count +1, the bound 1.05). Tried instead of (4): stubs
/// shorter than their width never linking in the first pass, 20 / 24 / 22
/// (both fail). Not measured: `inside_longer` alone on this main (on
/// 23849ba 21 / 22 / 23, `hedge26`). Surveys (whole-image masks: only
/// `inside_longer` and (4) act there; main → with (1)–(3) → final): whole
/// field 201–203 206 / 237 / 205 → 202 / 230 / 195 → 202 / 230 / 196
/// (vellus 0.188 / 0.139 / 0.235, mixed 5 / 11 / 9 → 5 / 13 / 10); crowded
/// 44–50 sum |count error| 94 → 100 → 103 (MAE 2.843 → 2.843 → 2.848,
/// one-record 0.244 → 0.244 → 0.249, bounds 2 / 21); sparse 81–88 39 → 40
/// → 40 (MAE 0.987 → 0.987 → 0.983, bounds 10 / 24); dense 48 / 41 / 43 →
/// 48 / 40 / 43 → 46 / 40 / 42 (all three under-count: every correct
/// removal or join there adds count error); `hairs_12mp fingerprint`
/// shafts 150 / 472 / 44 / 314 / 327 / 83 on main, 143 / 453 / 43 / 292 /
/// 318 / 80 with `inside_longer` (older main), 141 / 451 / 44 / 294 / 319
/// / 76 final (1 and 2 threads agree). Not measured: the end-to-end and
/// null pairs.
/// The NMS and orientation (session 29, branch `hnms29`, main cdde9e8;
/// `scene_diag` `SCENE_AXIS=ID`, `SCENE_AXIS_V=1`: per axis point of one
/// truth shaft, every 2 px, a maximum within the `CROSS` tolerance and the
/// NMS verdict on the strongest detection pixel within 1 px, split by
/// overlap with another truth shaft). Truth 2 (light, 81 µm, the shaft
/// `hsplit28`'s bridges join upright but not rotated) has 98 analysable
/// points in both scenes (session 28's 0.63 vs 0.76 divided by all in-frame
/// points; the rotated frame's corners add 17 outside the disc). In the
/// clear (47 points) it has maxima at 43 both ways; over other shafts (51)
/// 31 upright against 24 rotated, all the difference at the ends of its
/// runs into crossings with truths 21, 4, 1 and 15/7 (2–4 px shorter
/// rotated, where the detected axis turns to the darker crossing hair's).
/// The NMS samples its neighbours along the true normal (bilinearly, not
/// at quantised directions), but bilinear reads lie below a quadratic peak
/// by up to 0.10 of its curvature at 45° (none along the grid axes): a
/// diagonal ridge keeps maxima up to 0.60 px off its axis (0.5 along the
/// axes) and on 20 % steeper slopes (a crossing hair's flank); truth 2
/// runs at ~50° upright and ~20° rotated. Tried (not kept): (1) the
/// neighbours read on the quadratic through the 3 × 3 block (exact for a
/// quadratic peak at every angle, the grid neighbours along the axes):
/// truth 2 rotated 0.68 → 0.70 of its axis, upright 0.76 unchanged, so the
/// gap is not this bias; rotation passes (rescaled 21 / 22) but
/// `hair_tip_beside_a_red_dot`, `diameters_on_a_sparse_scene_at_three_scales`
/// and rescaling (vellus 0.105 vs 0.158) fail; whole field 201 / 228 / 195
/// → 200 / 232 / 189 (one-record 0.64 / 0.57 / 0.69 → 0.60 / 0.53 / 0.63),
/// crowded 44–50 103 → 94 but MAE 2.849 → 3.722, sparse 81–88 40 → 45
/// (one-record 0.604 → 0.568), dense 46 / 40 / 42 → 45 / 38 / 48 (thin
/// ridges are no quadratic over 3 × 3 px and lose maxima). (2) The same
/// with the band widened to the bilinear 45° one (1.2 px): rotation 21 vs
/// 24, red-dot test fails, crowded 115 (MAE 3.481), sparse 49. (3) The
/// quadratic only where the best σ ≥ 3 detection px (bilinear on thin
/// ridges): rotation (mean diameter 62.5 vs 58.4 µm), rescaling (23 vs
/// 21), red-dot and sparse-diameter tests fail; whole field 196 / 231 /
/// 190 (one-record 0.60 / 0.54 / 0.63, MAE 1.19 / 1.38 / 1.60), crowded 97
/// (MAE 3.557), sparse 44 (MAE 1.013), dense 46 / 36 / 49. The stage's
/// later steps are tuned to the bilinear NMS's centrelines; a fairer NMS
/// moves them more than it moves truth 2. So `hsplit28`'s rotation failure
/// is not an NMS asymmetry that a core fix removes: truth 2's rotated gap
/// lies at crossings, where the darker hair's response decides the axis.
#[test]
fn rotation_by_30_degrees_changes_little() {
    let a = invariance_figures(&fov_scene(), 3.0, 0.0);
    let b = invariance_figures(&fov_scene(), 3.0, 30.0);
    within_5pct("rotated", a, b);
}

/// Rescaling by 0.8 (with `um_per_px` adjusted): hair count, mean diameter
/// and vellus fraction within 5 % (reached: 22 vs 21 (truth 23), +0.6 %,
/// −0.015; see `rotation_by_30_degrees_changes_little`).
#[test]
fn rescaling_by_0_8_changes_little() {
    let a = invariance_figures(&fov_scene(), 3.0, 0.0);
    let s = invariance_figures(&fov_scene(), 3.0 / 0.8, 0.0);
    within_5pct("rescaled", a, s);
}

/// One line per detected shaft (development output).
fn print_shafts(st: &HairStage) {
    for s in &st.shafts {
        println!(
            "  len {:.0} d {:.1} iqr {:.1} n {} contrast {:.3} pieces {} trunc {} at {:?}",
            s.length_um,
            s.diameter_um,
            s.diameter_iqr_um,
            s.width_samples,
            s.contrast,
            s.pieces,
            s.truncated,
            s.centreline_px[0]
        );
    }
}

#[test]
#[ignore]
fn explore_false() {
    for rot in [0.0, 30.0] {
        let hs = HairSceneSpec {
            rotation_deg: rot,
            ..fov_scene()
        };
        let side = (3100.0 / 3.0) as usize;
        let c = render(side, side, 3.0, 51, &hs, NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, true);
        print(&r, &format!("fov rot {rot}"));
        if std::env::var("HAIRS_DUMP").is_ok() {
            dump(&c, &st, &format!("/tmp/hairs_fov_{rot}.png"));
        }
    }
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        yellow_dots_per_cm2: 150.0,
        white_dots_per_cm2: 300.0,
        scales_per_cm2: 80.0,
        ..HairSceneSpec::default()
    };
    for upp in [2.0, 3.5, 5.5] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, 6, &hs, NUISANCE);
        let st = run(&c);
        println!("dots upp {upp}: {} false", st.shafts.len());
        print_shafts(&st);
    }
    if std::env::var("ONLY_FIRST").is_ok() {
        return;
    }
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        ..HairSceneSpec::default()
    };
    for (upp, seed) in [(2.0, 5), (5.5, 5), (3.0, 51), (2.0, 7), (3.5, 8)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &hs, NUISANCE);
        let st = run(&c);
        println!("upp {upp} seed {seed}: {} false", st.shafts.len());
        print_shafts(&st);
    }
    for (upp, seed) in [(2.0, 31), (3.5, 32), (5.5, 33)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &sparse(), NUISANCE);
        let st = run(&c);
        println!(
            "sparse upp {upp}: {} / {}",
            st.shafts.len(),
            c.truth.hair_count
        );
        print_shafts(&st);
        evaluate(&c, &st, true);
    }
}

/// Scratch timing of the stage on a 12 MP phantom (dev profile has
/// opt-level 2): `cargo test -p trichometry --test hairs time_12mp -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_12mp() {
    for upp in [2.0, 3.5] {
        let c = render(4000, 3000, upp, 77, &sparse(), NUISANCE);
        let mut best = f64::INFINITY;
        let mut n = 0;
        for _ in 0..3 {
            let t0 = std::time::Instant::now();
            let st = run(&c);
            best = best.min(t0.elapsed().as_secs_f64());
            n = st.shafts.len();
        }
        println!(
            "12 MP at {upp} µm/px: {:.0} ms (best of 3), {n} shafts / truth {}",
            best * 1e3,
            c.truth.hair_count
        );
    }
}

/// Vessels (dots, hairpin and twisted loops, arborizing vessels of 20–50
/// µm) on realistic skin, no hair: red structures are not hairs (a vessel
/// candidate's red/green absorbance ratio is ≈ 0.22, the phantom hairs'
/// ≥ 0.98).
#[test]
fn vessels_are_not_hairs() {
    use trichometry::synth::vessels::{paint_vessels, VesselSceneSpec};
    let vs = VesselSceneSpec {
        arborizing_density_per_mm2: 1.5,
        ..VesselSceneSpec::default()
    };
    for (upp, seed) in [(2.0, 61), (3.5, 62), (5.5, 63)] {
        let (w, h) = size(upp);
        let spec = SceneSpec {
            width: w,
            height: h,
            um_per_px: upp,
            seed,
            ..SceneSpec::default()
        };
        let rng = Rng::new(seed);
        let mut canvas = skin::paint_skin(&spec, &mut rng.fork(1));
        let vt = paint_vessels(&mut canvas, &vs, &mut rng.fork(2)).unwrap();
        assert!(vt.vessels.len() >= 10, "{}", vt.vessels.len());
        let img = degrade(&canvas, NUISANCE, seed);
        let c = Case {
            rgb: to_linear(&img.view()).unwrap(),
            truth: paint_hairs(
                &mut skin::paint_skin(&spec, &mut rng.fork(1)),
                &HairSceneSpec {
                    density_per_cm2: 0.0,
                    ..HairSceneSpec::default()
                },
                &mut rng.fork(3),
            )
            .unwrap(),
            upp,
            valid: Mask::filled(w, h, true),
        };
        let st = run(&c);
        assert_eq!(
            st.shafts.len(),
            0,
            "upp {upp}: {} false hairs from {} vessels",
            st.shafts.len(),
            vt.vessels.len()
        );
    }
}

/// Realistic dermatoscope optics (blur, vignetting, colour cast, specular
/// glare, Poisson–Gaussian noise, JPEG) on realistic skin with dots and
/// scales but no hair: no shaft. The false shafts were the skin between
/// bright dots and scales (darker than its bright sides, not than the
/// skin): a shaft's core must be darker than the local skin level too.
#[test]
fn realistic_optics_without_hair_gives_no_hair() {
    use trichometry::synth::optics::{apply, OpticsSpec};
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        yellow_dots_per_cm2: 150.0,
        white_dots_per_cm2: 300.0,
        scales_per_cm2: 80.0,
        ..HairSceneSpec::default()
    };
    for (upp, seed) in [(2.0, 71), (3.5, 72), (5.5, 73), (2.0, 74)] {
        let (w, h) = size(upp);
        let spec = SceneSpec {
            width: w,
            height: h,
            um_per_px: upp,
            seed,
            ..SceneSpec::default()
        };
        let rng = Rng::new(seed);
        let mut canvas = skin::paint_skin(&spec, &mut rng.fork(1));
        let truth = paint_hairs(&mut canvas, &hs, &mut rng.fork(3)).unwrap();
        let (img, glare) = apply(&canvas, &OpticsSpec::realistic(), &mut rng.fork(4), &[]).unwrap();
        let mut c = Case {
            rgb: to_linear(&img.view()).unwrap(),
            truth,
            upp,
            valid: Mask::filled(w, h, true),
        };
        let all = run(&c);
        c.valid = Mask {
            width: w,
            height: h,
            data: glare.data.iter().map(|&g| !g).collect(),
        };
        let st = run(&c);
        for s in all.shafts.iter().chain(&st.shafts) {
            println!(
                "  len {:.0} d {:.1} n {} contrast {:.3} pieces {} trunc {} at {:?}",
                s.length_um,
                s.diameter_um,
                s.width_samples,
                s.contrast,
                s.pieces,
                s.truncated,
                s.centreline_px[0]
            );
        }
        println!(
            "upp {upp}: {} false (all valid), {} (glare excluded)",
            all.shafts.len(),
            st.shafts.len()
        );
        assert_eq!(
            st.shafts.len(),
            0,
            "upp {upp}: {} false hairs",
            st.shafts.len()
        );
    }
}

/// Development survey over several seeds per scale (not a test of bounds):
/// `HAIRS_SEEDS=a,b,c cargo test -p trichometry --test hairs survey -- --ignored --nocapture`.
#[test]
#[ignore]
fn survey() {
    let seeds: Vec<u64> = std::env::var("HAIRS_SEEDS")
        .unwrap_or("41,101,102".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let which = std::env::var("HAIRS_WHICH").unwrap_or("crowded,sparse".into());
    let verbose = std::env::var("HAIRS_VERBOSE").is_ok();
    let upps: Vec<f64> = std::env::var("HAIRS_UPPS")
        .unwrap_or("2,3.5,5.5".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    // Per kind: sum |count error|, sum one-record fraction, cases.
    let mut tot: std::collections::BTreeMap<String, (usize, f64, usize)> = Default::default();
    let mut joins: std::collections::BTreeMap<String, (usize, usize)> = Default::default();
    for &upp in &upps {
        for &seed in &seeds {
            let (w, h) = size(upp);
            for kind in which.split(',') {
                let hs = match kind {
                    "crowded" => HairSceneSpec::default(),
                    "sparse" => sparse(),
                    _ => continue,
                };
                let c = render(w, h, upp, seed, &hs, NUISANCE);
                let st = run(&c);
                let r = evaluate(&c, &st, verbose);
                let t = tot.entry(kind.to_string()).or_default();
                t.0 += r.count_det.abs_diff(r.count_truth);
                t.1 += r.crossing_one_record;
                t.2 += 1;
                let j = joins.entry(kind.to_string()).or_default();
                j.0 += r.mixed;
                j.1 += r.split;
                let ex = exit_figures(&c, &st);
                if verbose {
                    for t in c.truth.shafts.iter().filter(|t| t.counted) {
                        println!(
                            "truth exit {:?} in frame {} d {:.0}",
                            t.exit_px, t.exit_in_frame, t.diameter_um
                        );
                    }
                }
                print(
                    &r,
                    &format!(
                        "{kind} upp {upp} seed {seed} psf σ {:.2} px exit med {:.0} µm ≤100 {} with {} / {}, false {} / {}",
                        st.summary.hair_psf_sigma_um.unwrap_or(f64::NAN) / upp,
                        ex.median_um, ex.within_100um, ex.with_exit, ex.n, ex.false_exits, ex.n_out
                    ),
                );
                let x = extra_records(&c, &st);
                println!(
                    "extra {kind} upp {upp} seed {seed}: truth with a record {} / {}, second records on a shaft {}, records on none {}",
                    x.matched, r.count_truth, x.dup, x.off
                );
                if std::env::var("HAIRS_DUMP").is_ok() {
                    dump(&c, &st, &format!("/tmp/hairs_{kind}_{upp}_{seed}.png"));
                }
            }
        }
    }
    for (kind, (err, one, n)) in &tot {
        let (mx, sp) = joins[kind];
        println!(
            "TOTAL {kind}: sum |count error| {err} over {n} cases; mean one-record {:.3}; mixed records {mx}, split shafts {sp}",
            one / (*n).max(1) as f64
        );
    }
}

/// Follicle exits against truth: over counted truth shafts that one
/// detected shaft matches, the distance (µm) from the detected exit to the
/// true exit when that is in the visible field (an exit at the wrong end
/// counts with its large distance), and the exits reported for shafts whose
/// true exit is outside the field.
struct ExitFigures {
    median_um: f64,
    /// Shafts with a reported exit within 100 µm of the true one.
    within_100um: usize,
    with_exit: usize,
    n: usize,
    /// Matched shafts whose true exit is outside the field but which report
    /// one.
    false_exits: usize,
    /// Matched shafts whose true exit is outside the field.
    n_out: usize,
}

fn exit_figures(c: &Case, st: &HairStage) -> ExitFigures {
    let (w, h) = (c.rgb.width, c.rgb.height);
    let tol = 4.0f64.max(20.0 / c.upp);
    let tb = tubes(&c.truth, w, h, tol);
    let m = match_shafts(st, &tb);
    let best = best_per_truth(st, &m);
    let mut errs = Vec::new();
    let mut n_truth = 0;
    let (mut false_exits, mut n_out) = (0, 0);
    for (&id, &(k, _)) in &best {
        let t = c.truth.shafts.iter().find(|s| s.id == id).unwrap();
        if !t.exit_in_frame {
            n_out += 1;
            false_exits += st.shafts[k].exit_px.is_some() as usize;
            continue;
        }
        n_truth += 1;
        if let Some(e) = st.shafts[k].exit_px {
            let d = ((e[0] as f64 - t.exit_px[0]).powi(2) + (e[1] as f64 - t.exit_px[1]).powi(2))
                .sqrt()
                * c.upp;
            errs.push(d);
        }
    }
    errs.sort_by(f64::total_cmp);
    let med = if errs.is_empty() {
        f64::NAN
    } else {
        errs[errs.len() / 2]
    };
    ExitFigures {
        median_um: med,
        within_100um: errs.iter().filter(|&&e| e <= 100.0).count(),
        with_exit: errs.len(),
        n: n_truth,
        false_exits,
        n_out,
    }
}

/// Development: false shafts under realistic optics over several seeds,
/// with overlays in /tmp (`HAIRS_DUMP=1`).
#[test]
#[ignore]
fn survey_realistic() {
    use trichometry::synth::optics::{apply, OpticsSpec};
    let seeds: Vec<u64> = std::env::var("HAIRS_SEEDS")
        .unwrap_or("71,81,91".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let hs = HairSceneSpec {
        density_per_cm2: 0.0,
        yellow_dots_per_cm2: 150.0,
        white_dots_per_cm2: 300.0,
        scales_per_cm2: 80.0,
        ..HairSceneSpec::default()
    };
    for upp in [2.0, 3.5, 5.5] {
        for &seed in &seeds {
            let (w, h) = size(upp);
            let spec = SceneSpec {
                width: w,
                height: h,
                um_per_px: upp,
                seed,
                ..SceneSpec::default()
            };
            let rng = Rng::new(seed);
            let mut canvas = skin::paint_skin(&spec, &mut rng.fork(1));
            let truth = paint_hairs(&mut canvas, &hs, &mut rng.fork(3)).unwrap();
            let (img, glare) =
                apply(&canvas, &OpticsSpec::realistic(), &mut rng.fork(4), &[]).unwrap();
            let c = Case {
                rgb: to_linear(&img.view()).unwrap(),
                truth,
                upp,
                valid: Mask {
                    width: w,
                    height: h,
                    data: glare.data.iter().map(|&g| !g).collect(),
                },
            };
            let st = run(&c);
            println!("upp {upp} seed {seed}: {} false", st.shafts.len());
            print_shafts(&st);
            if std::env::var("HAIRS_DUMP").is_ok() {
                dump(&c, &st, &format!("/tmp/hairs_real_{upp}_{seed}.png"));
            }
        }
    }
}

/// Follicle exits against the phantom's truth on sparse scenes (one hair
/// per unit, exit fade 40 µm): of the matched shafts whose exit is in the
/// field, ≥ 70 % report an exit within 100 µm of the true one, and the
/// median error of the reported exits is ≤ 60 µm; of those whose exit is
/// outside the field, ≤ 25 % report one (a tip taken for an exit). Compare
/// (issue 5) matches hairs by exit and direction.
#[test]
#[ignore = "not reached: within 100 µm 2/3, 2/4, 2/2, 1/5; median 7, 15, 20, 104 µm; \
            false exits 1/6, 0/8, 2/10, 3/11 (2 µm/px s31, 3.5 s32, 5.5 s33, 2 s34; \
            before converging ends had to be observed ends: 3/3, 2/4, 3/3, 1/5; \
            median 8, 58, 12, 109; false 2/6, 1/7, 5/10, 5/11): found exits are \
            close, but many shafts' exit regions are not traced (joined into a \
            crossing partner, or the exit lies under another shaft). Branch hexit2 \
            (width ratio at half density, exit under a cover opposite a seen tip): \
            2/3, 1/4, 2/2, 1/5; median 8, 1082, 21, 104 µm; false 1/6, 1/9, 1/11, \
            2/11; exit_survey (seeds 31-34, 101-106 x 3 scales) 60/166 -> 62/166 \
            within 100 µm, false 35/203 -> 31/203; of the 104 missed, 52 have a \
            traced end within 100 µm of the exit but dark beyond it (exit under \
            another shaft: hidden tips are as common, 30/30 in a trial). Branch \
            hexit3 (width test only on shafts >= 2 x min_exit_fade_um wide: on a \
            15 µm shaft at 3.5 µm/px s32 a 61 µm fading exit failed it at ratio \
            0.31, was taken for a tip, and the cover rule put the exit at the \
            hidden true tip, 1082 µm off): 2/3, 2/4, 2/2, 1/5; median 8, 16, 21, \
            104 µm; false 1/6, 1/9, 1/11, 2/11; exit_survey 64/166 within 100 µm, \
            86 reported, false 31/203. Branch hexit3 of session 13 (end axis from \
            1 to 5 widths in, past a hook into a crossing hair; the end profile \
            looks up to 80 µm beyond a traced end for the first skin, as a faint \
            fading exit is traced only part of the way, and is clipped at the \
            image border; a sharp end, ramp < max(8 µm, 2 px), is a tip and gets \
            no convergence score; a shaft >= 48 µm wide that keeps its width \
            fades, its density saturating early in the fade; an end by the image \
            border fading before it is an exit): 2/3, 3/4, 2/2, 1/5; median 11, \
            20, 16, 11 µm; false 0/6, 1/9, 2/11, 2/11; exit_survey 88/166 within \
            100 µm, 101 reported, false 25/203; crowded seeds 41-43, 101, 102 x 3 \
            scales 6/80 -> 15/80, false 21/149 -> 15/149. Left at 2 µm/px: s31 \
            truth 5 (91 µm) has its exit where truth 9 crosses it, both ends \
            dark beyond; s34 truths 9 and 19 run from their exits along or into \
            a thicker hair and are traced only 194 and 340 µm on, truth 8's exit \
            is 8 px from the top border, truth 10's traced end stops at a \
            crossing hair 104 µm short. Exits hidden under another shaft show \
            the full density next to the cover as hidden tips do (no cue). \
            After the band split (hband, session 14): 2/3, 3/4, 2/2, 1/5; median \
            11, 20, 16, 278 µm (s34 at 2 µm/px reports one more exit, 0.5 mm \
            off); false 0/6, 1/9, 3/12, 2/11; \
            exit_survey 88/167 within 100 µm, 104 reported, false 24/206"]
fn follicle_exits_against_truth() {
    let mut fails = Vec::new();
    for (upp, seed) in [(2.0, 31), (3.5, 32), (5.5, 33), (2.0, 34)] {
        let (w, h) = size(upp);
        let c = render(w, h, upp, seed, &sparse(), NUISANCE);
        let st = run(&c);
        let e = exit_figures(&c, &st);
        println!(
            "exits upp {upp} seed {seed}: within 100 µm {} / {}, median {:.0} µm over {}, false {} / {}",
            e.within_100um, e.n, e.median_um, e.with_exit, e.false_exits, e.n_out
        );
        if e.n < 3
            || (e.within_100um as f64) < 0.7 * e.n as f64
            || e.median_um.is_nan()
            || e.median_um > 60.0
            || e.false_exits as f64 > 0.25 * e.n_out as f64
        {
            fails.push(upp);
        }
    }
    assert!(fails.is_empty(), "not reached at {fails:?} µm/px");
}

/// Development: follicle-exit figures on sparse scenes over seeds
/// (`HAIRS_SEEDS`, default 31-34 and 101-106) at 2, 3.5 and 5.5 µm/px; per
/// matched truth shaft with `HAIRS_VERBOSE`.
#[test]
#[ignore]
fn exit_survey() {
    let seeds: Vec<u64> = std::env::var("HAIRS_SEEDS")
        .unwrap_or("31,32,33,34,101,102,103,104,105,106".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let verbose = std::env::var("HAIRS_VERBOSE").is_ok();
    let (mut within, mut n, mut fx, mut nout, mut wexit) = (0, 0, 0, 0, 0);
    // Missed exits: [wrong exit, end near the exit; no exit, end near;
    // nearest end 100-300 µm away; farther].
    let mut cats = [0usize; 4];
    // False exits: [at the true tip (≤ 150 µm), tip in frame but far, tip out].
    let mut fcats = [0usize; 3];
    for upp in [2.0, 3.5, 5.5] {
        for &seed in &seeds {
            let (w, h) = size(upp);
            let c = render(w, h, upp, seed, &sparse(), NUISANCE);
            let st = run(&c);
            let e = exit_figures(&c, &st);
            println!(
                "upp {upp} seed {seed}: within 100 µm {} / {}, median {:.0} µm over {}, false {} / {}",
                e.within_100um, e.n, e.median_um, e.with_exit, e.false_exits, e.n_out
            );
            within += e.within_100um;
            n += e.n;
            fx += e.false_exits;
            nout += e.n_out;
            wexit += e.with_exit;
            if std::env::var("HAIRS_DUMP").is_ok() {
                dump(&c, &st, &format!("/tmp/exit_{upp}_{seed}.png"));
            }
            {
                let tol = 4.0f64.max(20.0 / c.upp);
                let tb = tubes(&c.truth, w, h, tol);
                let m = match_shafts(&st, &tb);
                let best = best_per_truth(&st, &m);
                for (&id, &(k, _)) in &best {
                    let t = c.truth.shafts.iter().find(|s| s.id == id).unwrap();
                    if !t.exit_in_frame {
                        if let Some(e) = st.shafts[k].exit_px {
                            let tip = t.centreline_px.last().unwrap();
                            let tip_in = tip[0] >= 0.0
                                && tip[1] >= 0.0
                                && tip[0] <= (w - 1) as f64
                                && tip[1] <= (h - 1) as f64;
                            let dtip = ((e[0] as f64 - tip[0]).powi(2)
                                + (e[1] as f64 - tip[1]).powi(2))
                            .sqrt()
                                * upp;
                            let fc = if tip_in && dtip <= 150.0 {
                                0
                            } else if tip_in {
                                1
                            } else {
                                2
                            };
                            fcats[fc] += 1;
                            if verbose {
                                println!("  FALSE truth {id} det exit ({:.0},{:.0}) tip in {tip_in} dist to tip {dtip:.0} µm", e[0], e[1]);
                            }
                        }
                        continue;
                    }
                    let d = &st.shafts[k];
                    let dist = |q: [f32; 2]| {
                        ((q[0] as f64 - t.exit_px[0]).powi(2)
                            + (q[1] as f64 - t.exit_px[1]).powi(2))
                        .sqrt()
                            * upp
                    };
                    if d.exit_px.is_some_and(|e| dist(e) <= 100.0) {
                        continue;
                    }
                    let de = dist(d.centreline_px[0]).min(dist(*d.centreline_px.last().unwrap()));
                    let cat = if de <= 100.0 {
                        if d.exit_px.is_some() {
                            0
                        } else {
                            1
                        }
                    } else if de <= 300.0 {
                        2
                    } else {
                        3
                    };
                    cats[cat] += 1;
                    if verbose {
                        println!(
                            "  MISSED truth {id} exit ({:.0},{:.0}) det {} nearest end {de:.0} µm, exit {:?}, trunc {}",
                            t.exit_px[0], t.exit_px[1], d.id, d.exit_px, d.truncated
                        );
                    }
                }
            }
            if verbose {
                let tol = 4.0f64.max(20.0 / c.upp);
                let tb = tubes(&c.truth, w, h, tol);
                let m = match_shafts(&st, &tb);
                let best = best_per_truth(&st, &m);
                for t in c.truth.shafts.iter().filter(|t| t.counted) {
                    let det = best.get(&t.id).map(|&(k, _)| &st.shafts[k]);
                    println!(
                        "  truth {} d {:.0} light {} tip ({:.0},{:.0}) exit ({:.0},{:.0}) in {} vis {:.0} -> {}",
                        t.id,
                        t.diameter_um,
                        t.light,
                        t.centreline_px.last().unwrap()[0],
                        t.centreline_px.last().unwrap()[1],
                        t.exit_px[0],
                        t.exit_px[1],
                        t.exit_in_frame,
                        t.visible_length_um,
                        match det {
                            None => "unmatched".to_string(),
                            Some(d) => format!(
                                "det {} ends ({:.0},{:.0})-({:.0},{:.0}) exit {:?} trunc {}",
                                d.id,
                                d.centreline_px[0][0],
                                d.centreline_px[0][1],
                                d.centreline_px.last().unwrap()[0],
                                d.centreline_px.last().unwrap()[1],
                                d.exit_px.map(|e| [e[0].round(), e[1].round()]),
                                d.truncated
                            ),
                        }
                    );
                }
            }
        }
    }
    println!("TOTAL within 100 µm {within} / {n}, with exit {wexit}, false {fx} / {nout}");
    println!("FALSE exits by the true tip: {fcats:?}");
    println!("MISSED (exit in frame, none within 100 µm) by nearest traced end: {cats:?}");
}

/// A terminal hair (100 µm) ending in the skin with a red dot (a 20 µm
/// capillary) beyond its tip, at several distances and sideways offsets
/// (the realistic 5 µm/px test lost such a dot when the ridge filter's
/// widest scales merged tip and dot into one ridge traced on from the tip),
/// through the whole `analyze` with the dermatoscope nuisance optics: the
/// dot stays a capillary where it is and the shaft is not traced on past
/// its tip (its length within 10 % of the truth).
#[test]
fn hair_tip_beside_a_red_dot() {
    for upp in [5.0, 3.5] {
        for (beyond_um, aside_um) in [(106.0, 41.0), (80.0, 0.0), (130.0, 20.0)] {
            let (w, h) = ((1000.0 / upp) as usize, (800.0 / upp) as usize);
            // Skin, hair and dot as the realistic phantom's (linear RGB):
            // melanin absorbs all three channels alike, haemoglobin green
            // and blue far more than red.
            let skin = [0.43f32, 0.235, 0.17];
            let mut c = Canvas::new(w, h, upp, skin);
            let hair_od = [0.045f32, 0.04, 0.038]; // per µm of chord
            let dot_od = [0.012f32, 0.035, 0.03];
            let (r_hair, r_dot) = (50.0f64, 10.0f64); // µm
            let start = [150.0, 100.0]; // µm
            let dir = [0.35f64, 0.937];
            let len_um = 500.0;
            let tip = [start[0] + len_um * dir[0], start[1] + len_um * dir[1]];
            let dot = [
                tip[0] + beyond_um * dir[0] + aside_um * dir[1],
                tip[1] + beyond_um * dir[1] - aside_um * dir[0],
            ];
            for y in 0..h {
                for x in 0..w {
                    // 4 × 4 sub-samples per pixel.
                    let mut t = [0.0f32; 3];
                    for s in 0..16 {
                        let px = (x as f64 + (s % 4) as f64 / 4.0 + 0.125) * upp;
                        let py = (y as f64 + (s / 4) as f64 / 4.0 + 0.125) * upp;
                        let (vx, vy) = (px - start[0], py - start[1]);
                        let along = vx * dir[0] + vy * dir[1];
                        let across = vx * dir[1] - vy * dir[0];
                        let chord_hair = if (0.0..=len_um).contains(&along) && across.abs() < r_hair
                        {
                            2.0 * (r_hair * r_hair - across * across).sqrt()
                        } else {
                            0.0
                        };
                        let dd = (px - dot[0]).hypot(py - dot[1]);
                        let chord_dot = if dd < r_dot {
                            2.0 * (r_dot * r_dot - dd * dd).sqrt()
                        } else {
                            0.0
                        };
                        for k in 0..3 {
                            t[k] += (-(hair_od[k] as f64 * chord_hair
                                + dot_od[k] as f64 * chord_dot))
                                .exp() as f32
                                / 16.0;
                        }
                    }
                    let i = y * w + x;
                    (c.r[i], c.g[i], c.b[i]) = (skin[0] * t[0], skin[1] * t[1], skin[2] * t[2]);
                }
            }
            let img = degrade(&c, NUISANCE, 7);
            let cal = trichometry::Calibration {
                um_per_px: Some(upp),
                colour: trichometry::ColourReference::None,
            };
            let a = trichometry::analyze(&img, &cal, &trichometry::Params::default()).unwrap();
            let what = format!("{upp} µm/px, dot {beyond_um} µm beyond the tip, {aside_um} aside");
            let near_dot = a.capillaries.iter().filter(|cp| {
                (cp.centroid_x_um - dot[0]).hypot(cp.centroid_y_um - dot[1]) < 2.0 * r_dot
            });
            let shaft = a
                .hairs
                .iter()
                .max_by(|p, q| p.length_um.total_cmp(&q.length_um));
            // How far the shaft's centreline reaches past the tip (µm).
            let past_tip_um = shaft.map_or(f64::NAN, |s| {
                s.centreline_px
                    .iter()
                    .map(|q| {
                        let (vx, vy) = (q[0] as f64 * upp - tip[0], q[1] as f64 * upp - tip[1]);
                        vx * dir[0] + vy * dir[1]
                    })
                    .fold(f64::NEG_INFINITY, f64::max)
            });
            eprintln!(
                "{what}: {} capillaries ({} at the dot), {} shafts, longest {:?} µm, reaching {past_tip_um:.0} µm past the tip",
                a.capillaries.len(),
                near_dot.clone().count(),
                a.hairs.len(),
                shaft.map(|s| s.length_um)
            );
            assert_eq!(near_dot.count(), 1, "{what}: the dot is not one capillary");
            // Not traced on past the tip (the profiled centreline of this
            // square-cut 100 µm shaft stops 37–60 µm short of it: a tip is
            // recovered about a radius short, so the length's lower bound is
            // looser than its upper one).
            assert!(
                past_tip_um <= 0.0,
                "{what}: the shaft reaches {past_tip_um:.0} µm past the tip"
            );
            let l = shaft.expect("the hair").length_um;
            assert!(
                l <= 1.1 * len_um && l >= 0.75 * len_um,
                "{what}: hair length {l:.0} µm vs {len_um}"
            );
        }
    }
}

/// How an out-of-distribution case is imaged: the tests' simple optics, or
/// the phantom's dermatoscope optics (vignetting, glare, Poisson noise…).
#[derive(Clone)]
enum Look {
    Simple(Optics),
    Spec(trichometry::synth::optics::OpticsSpec),
}

/// One case of [`ood_sweep`].
struct OodCase {
    name: String,
    upp: f64,
    w: usize,
    h: usize,
    hs: HairSceneSpec,
    skin: trichometry::synth::skin::SkinSpec,
    /// Arborizing and capillary vessels painted under the hairs.
    vessels: bool,
    look: Look,
}

/// Renders an [`OodCase`]; the valid mask excludes the phantom's glare and
/// anything outside the field-of-view disc.
fn render_ood(k: &OodCase, seed: u64) -> (Case, Image) {
    use trichometry::synth::vessels::{paint_vessels, VesselSceneSpec};
    let spec = SceneSpec {
        width: k.w,
        height: k.h,
        um_per_px: k.upp,
        seed,
        skin: k.skin.clone(),
        ..SceneSpec::default()
    };
    let rng = Rng::new(seed);
    let mut canvas = skin::paint_skin(&spec, &mut rng.fork(1));
    if k.vessels {
        let vs = VesselSceneSpec {
            arborizing_density_per_mm2: 1.5,
            ..VesselSceneSpec::default()
        };
        paint_vessels(&mut canvas, &vs, &mut rng.fork(2)).unwrap();
    }
    let truth = paint_hairs(&mut canvas, &k.hs, &mut rng.fork(3)).unwrap();
    let (img, glare) = match &k.look {
        Look::Simple(o) => (degrade(&canvas, *o, seed), Mask::filled(k.w, k.h, false)),
        Look::Spec(o) => {
            trichometry::synth::optics::apply(&canvas, o, &mut rng.fork(4), &[]).unwrap()
        }
    };
    let fov = k.hs.fov_radius_um.is_some();
    let valid = Mask {
        width: k.w,
        height: k.h,
        data: (0..k.w * k.h)
            .map(|i| !glare.data[i] && (!fov || truth.fov_mask.data[i]))
            .collect(),
    };
    let c = Case {
        rgb: to_linear(&img.view()).unwrap(),
        truth,
        upp: k.upp,
        valid,
    };
    (c, img)
}

/// The cases of [`ood_sweep`]: scene and imaging settings beyond the tests'
/// (2.4 × 1.8 mm unless the name says otherwise).
fn ood_cases() -> Vec<OodCase> {
    use trichometry::synth::optics::{OpticsSpec, SensorNoise};
    use trichometry::synth::skin::SkinSpec;
    let base = |name: &str, hs: HairSceneSpec| {
        let (w, h) = size(3.5);
        OodCase {
            name: name.into(),
            upp: 3.5,
            w,
            h,
            hs,
            skin: SkinSpec::default(),
            vessels: false,
            look: Look::Simple(NUISANCE),
        }
    };
    let no_hair = HairSceneSpec {
        density_per_cm2: 0.0,
        ..HairSceneSpec::default()
    };
    let realistic = OpticsSpec::realistic();
    let mut v = vec![
        base("sparse", sparse()),
        base("crowded", HairSceneSpec::default()),
        base(
            "few-hairs",
            HairSceneSpec {
                density_per_cm2: 30.0,
                ..sparse()
            },
        ),
        base(
            "dense-600",
            HairSceneSpec {
                density_per_cm2: 600.0,
                unit_spacing_um: 200.0,
                ..HairSceneSpec::default()
            },
        ),
        base(
            "dense-1000",
            HairSceneSpec {
                density_per_cm2: 1000.0,
                unit_spacing_um: 150.0,
                ..HairSceneSpec::default()
            },
        ),
        base(
            "all-blond",
            HairSceneSpec {
                light_fraction: 1.0,
                ..sparse()
            },
        ),
        base(
            "all-grey-faint",
            HairSceneSpec {
                light_fraction: 1.0,
                alpha_light_per_um: 0.01,
                ..sparse()
            },
        ),
        base(
            "all-vellus",
            HairSceneSpec {
                vellus_fraction: 1.0,
                terminal_fraction: 0.0,
                density_per_cm2: 300.0,
                ..sparse()
            },
        ),
        base(
            "terminal-80-120",
            HairSceneSpec {
                vellus_fraction: 0.0,
                terminal_fraction: 1.0,
                terminal_um: [80.0, 120.0],
                ..sparse()
            },
        ),
        base(
            "curved-4/mm",
            HairSceneSpec {
                max_curvature_per_mm: 4.0,
                ..sparse()
            },
        ),
        base(
            "straight-parallel",
            HairSceneSpec {
                max_curvature_per_mm: 0.0,
                direction_spread_deg: 5.0,
                ..sparse()
            },
        ),
        OodCase {
            skin: SkinSpec {
                lab: [38.0, 14.0, 22.0],
                ..SkinSpec::default()
            },
            ..base("dark-skin", sparse())
        },
        OodCase {
            skin: SkinSpec {
                lab: [55.0, 30.0, 14.0],
                erythema_patches: 4,
                erythema_patch_a: 10.0,
                ..SkinSpec::default()
            },
            ..base("red-skin", sparse())
        },
        OodCase {
            skin: SkinSpec {
                lab: [50.0, 16.0, 20.0],
                melanin: 6.0,
                mottling_l: 4.0,
                texture_l: 3.0,
                ..SkinSpec::default()
            },
            ..base("mottled-skin", sparse())
        },
        OodCase {
            look: Look::Simple(Optics {
                jpeg_quality: 30,
                ..NUISANCE
            }),
            ..base("jpeg-30", sparse())
        },
        OodCase {
            look: Look::Simple(Optics {
                jpeg_quality: 12,
                ..NUISANCE
            }),
            ..base("jpeg-12", sparse())
        },
        OodCase {
            look: Look::Simple(Optics {
                blur_px: 2.5,
                ..NUISANCE
            }),
            ..base("blur-2.5px", sparse())
        },
        OodCase {
            look: Look::Simple(Optics {
                noise: 8.0,
                ..NUISANCE
            }),
            ..base("noise-8", sparse())
        },
        OodCase {
            look: Look::Spec(realistic.clone()),
            ..base("realistic-optics", sparse())
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                vignetting: 0.6,
                ..realistic.clone()
            }),
            ..base("vignetting-0.6", sparse())
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                glare_spots: 20,
                glare_radius_um: 90.0,
                ..realistic.clone()
            }),
            ..base("glare-20", sparse())
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                noise: Some(SensorNoise {
                    full_well: 600.0,
                    read_noise: 10.0,
                }),
                ..realistic.clone()
            }),
            ..base("low-light-noise", sparse())
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                blur_sigma_um: 8.0,
                ..realistic.clone()
            }),
            ..base("psf-8um", sparse())
        },
        OodCase {
            w: 200,
            h: 150,
            ..base("small-200x150", sparse())
        },
        OodCase {
            w: 1000,
            h: 220,
            ..base("strip-1000x220", sparse())
        },
        OodCase {
            w: 160,
            h: 900,
            ..base("tall-160x900", sparse())
        },
        OodCase {
            look: Look::Spec(realistic.clone()),
            vessels: true,
            ..base("hairs+vessels", sparse())
        },
        // Hair-free scenes: every record is false.
        OodCase {
            look: Look::Spec(realistic.clone()),
            skin: SkinSpec {
                texture_l: 5.0,
                texture_scale_um: 40.0,
                ..SkinSpec::default()
            },
            ..base("none:furrow-texture", no_hair.clone())
        },
        OodCase {
            look: Look::Spec(realistic.clone()),
            vessels: true,
            ..base("none:vessels", no_hair.clone())
        },
        OodCase {
            look: Look::Spec(realistic.clone()),
            ..base(
                "none:yellow-dots-400",
                HairSceneSpec {
                    yellow_dots_per_cm2: 400.0,
                    ..no_hair.clone()
                },
            )
        },
        OodCase {
            look: Look::Spec(realistic.clone()),
            ..base(
                "none:scales-300",
                HairSceneSpec {
                    scales_per_cm2: 300.0,
                    ..no_hair.clone()
                },
            )
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                glare_spots: 30,
                glare_radius_um: 120.0,
                ..realistic.clone()
            }),
            ..base("none:glare-30", no_hair.clone())
        },
        OodCase {
            look: Look::Spec(OpticsSpec {
                vignetting: 0.6,
                ..realistic.clone()
            }),
            skin: SkinSpec {
                lab: [40.0, 14.0, 22.0],
                melanin: 6.0,
                mottling_l: 4.0,
                ..SkinSpec::default()
            },
            ..base("none:dark-mottled-vignetted", no_hair.clone())
        },
    ];
    // Scales: the same scene (a disc of 0.8 mm radius) at 1.5, 2, 3.5 and
    // 6 µm/px should give the same answer.
    for upp in [1.5, 2.0, 3.5, 6.0] {
        let (w, h) = ((1800.0 / upp) as usize, (1800.0 / upp) as usize);
        v.push(OodCase {
            upp,
            w,
            h,
            ..base(
                &format!("fov-disc upp {upp}"),
                HairSceneSpec {
                    fov_radius_um: Some(850.0),
                    ..sparse()
                },
            )
        });
    }
    // Larger fields of view (4.1 × 3.1 and 11 × 8.3 mm at 5.5 µm/px): whole
    // hairs in the frame, not ends cut by it.
    for (w, h) in [(750, 560), (2000, 1500)] {
        for (kind, hs) in [("sparse", sparse()), ("crowded", HairSceneSpec::default())] {
            v.push(OodCase {
                upp: 5.5,
                w,
                h,
                ..base(&format!("field {kind} {w}x{h}"), hs)
            });
        }
    }
    for upp in [1.5, 6.0] {
        let (w, h) = size(upp);
        v.push(OodCase {
            upp,
            w,
            h,
            ..base(&format!("sparse upp {upp}"), sparse())
        });
        v.push(OodCase {
            upp,
            w,
            h,
            ..base(&format!("crowded upp {upp}"), HairSceneSpec::default())
        });
    }
    v
}

/// Out-of-distribution sweep of the hair stage and of `analyze`'s hair
/// figures (not a test of bounds): one line per case and seed with count
/// vs truth, diameter MAE / bias, vellus fraction, the stage's run time,
/// and `analyze`'s hair count, mean diameter and vellus fraction; a `BAD`
/// tag on NaN or non-finite figures.
/// `OOD_SEEDS=201,202 OOD_ONLY=substring cargo test -p trichometry --test hairs ood_sweep -- --ignored --nocapture`.
/// Session 28 (`hood28`): `tests/ood_sweep.rs`'s `ood_hair_sweep` runs the
/// hair figures through `analyze` with the phantom's optics, each nuisance
/// against the plain case at the same seed and scale (its doc comment has
/// the numbers). Only sensor noise ×3 broke the diameter bounds where the
/// plain case did not (MAE 2.85, bias −1.27 over seeds 201–206: a noise
/// dip inside a faint translucent profile ended the half-depth walk);
/// `profile::stays_below` lets the walk go past a dip shallower than twice
/// the profile's background noise that comes back within a pixel: MAE
/// 1.44, bias −0.04 (`diameters_under_three_times_the_sensor_noise`). The
/// same rule on the 80 %-depth walk too biased w80 on clean thin shafts
/// (`cylinder_diameters_under_unknown_blur` 0.452 px > 0.45): half-depth
/// only. Without the noise tolerance (a dip of any depth skipped when the
/// profile returns above half within a pixel) whole field 202 MAE 1.71 →
/// 2.33 and crowded MAE 2.849 → 2.891 (the gap between touching shafts
/// skipped). Dark skin (L* 28, 38) stays out of bounds (see there). The
/// walk was reverted in session 28 and re-landed in session 29 with
/// compare's paired measurement reading both visits through one window
/// (see `diameters_under_three_times_the_sensor_noise`).
/// Skin tail (session 29, `hdark29`): on textured skin the median ridge
/// strength stays low (hair-free dark skin of `ood_hair_sweep`: 0.0058 at
/// L* 38, 0.0073 at L* 28, 0.0040 on the default skin) while the texture's
/// ridges reach the 0.05 floor, so the thresholds are now at least 2 × the
/// 0.99 quantile of the strength over valid pixels 2 px clear of the mask
/// (`detect::skin_tail`; 0.024–0.025 hair-free on the default skin, so at
/// the floor, 0.021–0.024 with hair, 0.031–0.035 on the dark skins):
/// `ood_hair_sweep` hair-free L* 38 / 28 false hairs 10 / 31 → 0 / 1, this
/// sweep's hair-free cases (seeds 201, 202) 11 → 4 (furrow-texture 2 + 5 →
/// 0 + 1, dark-mottled-vignetted 2 + 2 → 2 + 0, scales-300 0 + 0 → 0 + 1;
/// with hair: mottled-skin 201 9 → 8 of 9, jpeg-12 202 18 → 17 of 17,
/// dark-skin 202 MAE 2.49 → 2.53, the rest the same); crowded, sparse,
/// whole field, dense and `compare` unchanged; `hairs_12mp fingerprint`
/// changes only at 5.5 and 7.5 µm/px (crowded, no truth: 294 → 293 and
/// 319 → 316 shafts), where detection runs at full resolution. 2.4 × the
/// quantile binds on the default skin too: `ood_hair_sweep` grey-faint-only
/// mean |count error| 13.6 → 17.1 %, MAE 2.29 → 2.36, dark L* 38 count
/// −20.3 → −21.5 % (hair-free dark 0 / 0 / 1): 2 × is about the largest
/// multiple that leaves the default skin at the floors.
/// The tail first sampled every fifth pixel (+100 M instructions per call
/// at 3.5 µm/px, 2,650 → 2,750 M); one in 19 (`SKIN_TAIL_STRIDE`) costs
/// +27 M (merged main 2,737 → 2,664 M) with the ordinary surveys (whole
/// field, crowded, sparse, dense, `--test hairs`) identical and
/// `ood_hair_sweep` within a record and 0.03 µm per case (hair-free
/// identical); `hairs_12mp fingerprint` at 7.5 µm/px 313 → 307 shafts
/// (crowded, no truth: the tail binds there, where few pixels are clear
/// of hair).
#[test]
#[ignore]
fn ood_sweep() {
    use trichometry::analysis::analyze;
    use trichometry::{Calibration, Params};
    let seeds: Vec<u64> = std::env::var("OOD_SEEDS")
        .unwrap_or("201,202".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let only = std::env::var("OOD_ONLY").ok();
    let with_analyze = std::env::var("OOD_NO_ANALYZE").is_err();
    for k in ood_cases() {
        if only.as_deref().is_some_and(|o| !k.name.contains(o)) {
            continue;
        }
        for &seed in &seeds {
            let (c, img) = render_ood(&k, seed);
            let t0 = std::time::Instant::now();
            let st = run(&c);
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let r = evaluate(&c, &st, std::env::var("HAIRS_VERBOSE").is_ok());
            if std::env::var("OOD_TRUTH").is_ok() {
                for t in &c.truth.shafts {
                    println!(
                        "truth {} d {:.0} vis {:.0} µm counted {} exit {:?} in frame {} pts {}",
                        t.id,
                        t.diameter_um,
                        t.visible_length_um,
                        t.counted,
                        t.exit_px.map(f64::round),
                        t.exit_in_frame,
                        t.centreline_px.len()
                    );
                }
            }
            if std::env::var("HAIRS_DUMP").is_ok() {
                let file: String = k
                    .name
                    .chars()
                    .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                    .collect();
                dump(&c, &st, &format!("/tmp/ood_{file}_{seed}.png"));
            }
            // Records beyond one per truth shaft: second records on a matched
            // shaft (`dup`) and records on no shaft (`off`), with their
            // median length.
            let Extra {
                dup,
                off,
                median_len_um: extra_len_um,
                ..
            } = extra_records(&c, &st);
            let truth_mean = c.truth.diameter_mean_um;
            let det_mean = st.summary.shaft_diameter_mean_um.unwrap_or(f64::NAN);
            let bad = st.shafts.iter().any(|s| {
                !s.diameter_um.is_finite() || !s.length_um.is_finite() || s.diameter_um <= 0.0
            });
            let an = if with_analyze {
                let t1 = std::time::Instant::now();
                let a = analyze(
                    &img,
                    &Calibration::with_um_per_px(k.upp).unwrap(),
                    &Params::default(),
                )
                .unwrap();
                format!(
                    "analyze count {:?} mean {:.1} vellus {:.3} ({:.0} ms)",
                    a.summary.hairs.hair_count,
                    a.summary.hairs.shaft_diameter_mean_um.unwrap_or(f64::NAN),
                    a.summary.hairs.vellus_fraction.unwrap_or(f64::NAN),
                    t1.elapsed().as_secs_f64() * 1e3
                )
            } else {
                String::new()
            };
            println!(
                "ood {:<28} seed {seed} {}x{}: count {} / truth {}; diam MAE {:.2} bias {:+.2} (n {}); mean {:.1} / {:.1}; vellus {:.3} / {:.3}; mixed {} split {}; extra: dup {} off {} median len {:.0} µm; hair cover {:.2}; {:.0} ms; {an}{}",
                k.name,
                k.w,
                k.h,
                r.count_det,
                r.count_truth,
                r.mae,
                r.bias,
                r.n_diam,
                det_mean,
                truth_mean,
                r.vellus_det,
                r.vellus_truth,
                r.mixed,
                r.split,
                dup,
                off,
                extra_len_um,
                c.truth.hair_mask.count() as f64 / (k.w * k.h) as f64,
                ms,
                if bad { " BAD" } else { "" }
            );
        }
    }
}

/// Out-of-distribution sizes and scales through `analyze` (not a test of
/// bounds): tiny and thin images, scales far outside 1.5–6 µm/px, and a
/// dense 12 MP scene against a sparse one for run time. Prints one line per
/// case; a panic is the failure it looks for.
/// `cargo test -p trichometry --test hairs ood_sizes -- --ignored --nocapture`.
#[test]
#[ignore]
fn ood_sizes() {
    use trichometry::analysis::analyze;
    use trichometry::{Calibration, Params};
    let sizes: [(usize, usize, f64); 10] = [
        (1, 1, 3.5),
        (2, 3, 3.5),
        (5, 300, 3.5),
        (300, 5, 3.5),
        (17, 13, 3.5),
        (40, 40, 3.5),
        (300, 200, 0.5),
        (300, 200, 20.0),
        (120, 90, 6.0),
        (64, 48, 1.5),
    ];
    for (w, h, upp) in sizes {
        let c = render(w, h, upp, 301, &HairSceneSpec::default(), NUISANCE);
        let st = run(&c);
        let img = {
            let mut px = vec![0u8; 3 * w * h];
            for i in 0..w * h {
                px[3 * i] = (linear_to_srgb(c.rgb.r[i]) * 255.0).round() as u8;
                px[3 * i + 1] = (linear_to_srgb(c.rgb.g[i]) * 255.0).round() as u8;
                px[3 * i + 2] = (linear_to_srgb(c.rgb.b[i]) * 255.0).round() as u8;
            }
            Image::new(w, h, 3, Samples::U8(px)).unwrap()
        };
        let a = analyze(
            &img,
            &Calibration::with_um_per_px(upp).unwrap(),
            &Params::default(),
        );
        println!(
            "size {w}x{h} at {upp} µm/px: stage {} / truth {}; analyze {:?}",
            st.shafts.len(),
            c.truth.hair_count,
            a.map(|a| (
                a.summary.hairs.hair_count,
                a.summary.hairs.shaft_diameter_mean_um
            ))
        );
    }
    let dense = HairSceneSpec {
        density_per_cm2: 600.0,
        unit_spacing_um: 200.0,
        ..HairSceneSpec::default()
    };
    for (name, hs) in [
        ("sparse", sparse()),
        ("crowded", HairSceneSpec::default()),
        ("dense-600", dense),
    ] {
        let c = render(4000, 3000, 3.5, 302, &hs, NUISANCE);
        let t0 = std::time::Instant::now();
        let st = run(&c);
        println!(
            "12 MP {name} at 3.5 µm/px: {:.0} ms, {} shafts / truth {}",
            t0.elapsed().as_secs_f64() * 1e3,
            st.shafts.len(),
            c.truth.hair_count
        );
    }
}

/// The issue's count bound (within 10 % of truth) and vellus bound (within
/// 0.05) on a whole dermatoscope field: 2000 × 1500 px at 5.5 µm/px
/// (11 × 8.3 mm) of the sparse scene, where hairs lie whole in the frame
/// instead of as ends cut by a 2.4 × 1.8 mm frame (the other tests).
/// Not reached (`ood_sweep`, main of session 19, 2026-11-27): seeds
/// 201 / 202 / 203 count 237 / 178, 290 / 185, 238 / 168 (+33 %, +57 %,
/// +42 %); vellus 0.160 / 0.219, 0.114 / 0.195, 0.193 / 0.274; mean
/// diameter +5.7, +5.8, +7.8 µm. Truth shafts split into two or more
/// records (each ≥ 20 % of it): 39, 56, 39; records mixing two shafts 4,
/// 13, 5. The crowded scene at the same size: 387 / 252, 371 / 245,
/// 316 / 202. At 750 × 560 px (4.1 × 3.1 mm) sparse 45 / 35, 54 / 46,
/// 29 / 32: the error grows with the field, as whole hairs cross more
/// others than frame-cut ends do. Of the extra records, most are second
/// records on a matched shaft (seed 201: 66 such, 4 on no shaft; crowded
/// 147 and 34). `SCENE_SIZE=2000,1500 SCENE_DIAG=sparse,5.5,201
/// SCENE_CROSS=1` (`scene_diag`): of 162 crossing shafts 89 are one record
/// and 50 are "split, not joined"; the closest failing link tests of those
/// are `gap` (43 links, many across 60–250 px of a light or crossed shaft)
/// and `towards` (28, several at gaps of 3–12 px with the ends side by side
/// within the shaft's width). Tried (branch `hrobust19`, not kept): no
/// `towards` test for gaps shorter than 0.6 × the wider piece's width
/// (`trace::link_score`, where a fixed 2 px was not the same hair at 1.5
/// and 6 µm/px): this test's seeds 201 / 202 208 / 178, 249 / 185 (second
/// records 66 → 36, 106 → 65), but unseen crowded 44–50 sum |count error|
/// 54 → 102 (every case then under truth; split shafts 91 → 70, mixed
/// records 31 → 35; MAE 3.22 → 2.69, one-record 0.179 → 0.222) and sparse
/// 81–88 48 → 52 (MAE 0.973 → 1.112, mixed 7 → 12); with 0.3 × the width
/// crowded 77 (MAE 3.63), sparse 53. On the 2.4 × 1.8 mm surveys the split
/// records make up for lost hairs: fewer splits show the losses.
/// The `gap` test never refuses a short gap: its limit is at least
/// `max_join_gap_um` (250 µm, 45 px at 5.5 µm/px); of the links listed on
/// seed 201 the refusals at 2–45 px are `towards` (28, 24 of them at
/// 2–12 px: ends side by side, the line between them across the shaft)
/// and `angle` (4). The 43 `gap` refusals are at 46–388 px; 6 of them (5
/// shafts) are collinear (all three angles ≤ 7°, offsets within the width)
/// across 46–79 px: a shaft fading or crossed for 250–440 µm. Joining
/// those (branch `hsplit19`, not merged: collinear pairs up to twice the
/// gap limit, `trace::link_score`): this test's seeds 224 / 178,
/// 271 / 185, 227 / 168 (second records 66 → 54, 106 → 88, 70 → 61),
/// crowded 367 / 252, 345 / 245, 301 / 202 (147 → 126, 150 → 125,
/// 109 → 96); unseen crowded 44–50 sum |count error| 54 → 66 (MAE 3.22 →
/// 3.50, one-record 0.179 → 0.193), sparse 81–88 48 → 47. Of the 28
/// `towards` refusals, 13 have the other end behind (towards > 90°: the
/// pieces overlap side by side) and the rest abut with a sideways step
/// within the width (24 of 28 pass the `lateral` test): not two shafts to
/// choose between, but a join would have to trim the overlap.
///
/// The vellus fraction (session 20, branch `hvellus20`): on three 12 MP
/// phantoms of the default scene (4000 × 3000 px at 3.5 µm/px, realistic
/// optics, `trichometry synth --seed 301`), records matched to truth
/// shafts as `/work/lead20/match.py` does find 126 of 194 vellus shafts
/// (0.65; intermediate and terminal 0.93), so the fraction is 0.077 /
/// 0.069 / 0.084 against 0.194 / 0.159 / 0.160 (the split terminal
/// records, 1759 records for 1132 shafts, inflate the denominator too).
/// Where they are lost (`scene_diag` with `SCENE_FILE=image,truth.json
/// SCENE_VELLUS=1`: the first stage covering under half the in-frame axis):
/// of the 68 lost, 29 have no ridge maxima (18 of them light), 10 lose
/// their pieces (4 more at the junction cut, 3 in band splitting), 9 lose
/// their traced shafts at acceptance (3 `length`, short stubs; 1
/// `skin_depth`, a light shaft; the rest joined into a neighbour's shaft),
/// 8 are traced within a neighbour's record (matched to the wider shaft)
/// and 5 are split into records each under half of them. The cause is
/// mostly the image: the longest stretch over which a lost vellus shaft
/// lies parted from every other shaft by at least 1 px of skin is 68 µm
/// (median; quartiles 0 / 165 µm) against 376 µm for the found ones; 54 of
/// the 68 never run 200 µm clear (found: 28 of 126). Most leave their
/// follicle beside a unit-mate and run along or over its edge: the band is
/// one ridge, the thin hair only widens it, and its maxima are the wider
/// ridge's edge shoulders the NMS drops. Of the 14 lost with a clear run
/// ≥ 200 µm, 9 are light: their red density is 0.1–0.2 above the skin,
/// and where hair covers half a 400 µm block the block-median skin level
/// is near the shaft's own and clips it away (a lower-quantile skin level,
/// 0.3: vellus found 126 → 131 with the rule below, records 1769 → 1830:
/// not kept; see `dense_scene_count`). One class is an NMS flaw: a thin
/// hair just outside a terminal's edge, with skin between, lies within the
/// terminal's shoulder reach (1.1 σ, σ the next coarser scale, up to
/// 1.3 × the half-width) and loses every maximum. Tried (branch
/// `hvellus20`, commit c447032, reverted): `trace::nms` keeps a maximum
/// with a brighter gap (halfway back from its core to the skin 3 σ beyond
/// it, full-resolution luminance) between it and the wider axis: vellus
/// found 126 → 130 (fractions 0.080 / 0.072 / 0.085), other shafts found
/// 868 → 871, records 1759 → 1769, none off-hair; this test's seeds count
/// 237 / 290 / 238 → 234 / 290 / 240, vellus 0.160 / 0.114 / 0.193 →
/// 0.158 / 0.110 / 0.196; unseen crowded 44–50 sum |count error| 54 → 50,
/// MAE 3.22 → 3.00, one-record 0.179 → 0.191, all bounds 4 → 7 of 21;
/// unseen sparse 81–88 48 → 50, MAE 0.973 → 0.939, one-record 0.517 →
/// 0.529, mean |vellus error| 0.060 → 0.059, all bounds 10 → 8 of 24 (four
/// cases one record more); hair-free furrow / mottled skin unchanged (2 / 5
/// / 2 / 2). Not kept: it fails the invariance tests (count 26 unrotated
/// against 24 rotated by 30° and 23 rescaled by 0.8): the gap is read along
/// pixel-grid probes and its 3 σ reference point, which move with the
/// grid.
///
/// Joins at crossings (session 20, branches `hjoin20`, `hjoin20b`; on
/// main since then): ends side by side within 3/8 of the narrower width,
/// parallel within 20°, link after every link along the ends, and
/// `trace::assemble` trims the overlap; collinear ends link across up to
/// twice the gap limit; both only between measured pieces (≥ 3 width
/// samples each) of like widths (within 1.2). This test's seeds 237 / 290
/// / 238 → 218 / 269 / 225 of 178 / 185 / 168 (+22 %, +45 %, +34 %),
/// vellus 0.160 / 0.114 / 0.193 → 0.174 / 0.123 / 0.196 (truth 0.219 /
/// 0.195 / 0.274). Unseen crowded 44–50 sum |count error| 54 → 67 (second
/// records 89 → 72, truth shafts with a record ~329 → 324 of 525), mean
/// MAE 3.22 → 2.89, one-record 0.179 → 0.195, cases within the count
/// bound 12 → 7 and the MAE bound 8 → 12 of 21, all bounds 4 → 3; unseen
/// sparse 81–88 48 → 48, MAE 0.973 → 0.959, one-record 0.517 → 0.550.
/// The side-by-side rule alone on all pieces (commit 7b15f53): 224 / 274 /
/// 222 but it failed the invariance tests (mean diameter 60.8 → 57.5 µm
/// upright against 62.2 rotated) and joined two skin pieces into a false
/// hair at 2 µm/px; the links it took (`pair_diag::join_diag`, these
/// seeds and crowded 44–50): both pieces on one truth shaft 111, on two
/// 21. At half the width and 30°: 218 / 263 / 218, but crowded 44–50 83
/// (10 fewer truth shafts with a record); at 3/8 and 10°: 227 / 281 /
/// 227, crowded 57 but MAE 3.22 → 3.38. Collinear rule alone (commit
/// e4aa35e): 227 / 276 / 232, crowded 58 (MAE 3.24), sparse 46.
///
/// Where the vellus fraction's error comes from (session 23, branch
/// `hvel23`, main 4571590; `SCENE_VELLUS=1` in `pair_diag::scene_diag`
/// ends with `DECOMP` lines: records matched to truth as there, a truth
/// shaft's own record its longest; each part is the fraction with that part
/// alone corrected, less the measured one). This test's seeds 201 / 202 /
/// 203, error −0.045 / −0.072 / −0.078: (a) vellus with no record 3 / 5 / 7,
/// +0.011 / +0.016 / +0.024; (b) own vellus record read ≥ 30 µm 0 / 1 / 0,
/// +0.000 / +0.004 / 0; (c) extra records of wider shafts (second records)
/// or on none 51 / 93 / 64, +0.047 / +0.053 / +0.072; (d) vellus fragments
/// 0 / 0 / 1, 0 / 0 / −0.004; (e) wider shafts read vellus 1 / 1 / 3,
/// −0.005 / −0.004 / −0.013; (f) wider shafts with no record 8 / 4 / 1,
/// −0.006 / −0.002 / −0.001. The numerator is nearly right (38 / 33 / 44
/// vellus records for 39 / 36 / 46): the denominator (c) is most of the
/// error, then (a), of which 11 of 15 are light shafts clear of other hairs
/// (free ≥ 0.6) lost at the ridge mask or the NMS (strength under the
/// hysteresis thresholds), not near a terminal. Thin-hair diameters are
/// not biased: own records of truth 0–20 µm −0.88 / −1.08 / +0.37 µm, 20–30
/// µm −0.69 / −0.81 / +0.58 µm. On the unseen surveys (crowded 44–50,
/// sparse 81–88, 45 cases) the same: truth 0–20 µm bias −0.28 µm (MAE 1.19,
/// 39 records), 20–30 µm +0.12 µm (0.77, 36), (b) in one case (crowded 5.5
/// µm/px seed 50, a 28.3 µm shaft's 176 µm record at 32.3 µm); the summed
/// signed error over the 7 / 8 seeds crowded −0.31 / −0.08 / −0.23 and
/// sparse −0.40 / −0.21 / −0.21 at 2 / 3.5 / 5.5 µm/px is (a) +0.36 / +0.30
/// / +0.37 and +0.35 / +0.31 / +0.36, (c) +0.15 / +0.14 / +0.06 and +0.13 /
/// +0.13 / +0.02, (e) −0.04 / −0.14 / −0.08 and 0 / −0.05 / 0; of the 45
/// vellus shafts lost there (75 found), 16 at acceptance (the same few
/// short frame-cut shafts at each scale, traced under 150 µm, and shafts
/// joined into a wider neighbour), 8 at the NMS, 6 at the pieces, 4 at the
/// mask, 7 fragmented, 2 in another shaft's record; 34 of 45 lie within
/// another hair for over 40 % of their axis (free < 0.6). On the three
/// 12 MP phantoms (`SCENE_FILE=/tmp/peer/phantom_000N.jpg,….truth.json`;
/// error −0.113 / −0.084 / −0.071): (a) 29 / 20 / 20, +0.045 / +0.032 /
/// +0.035 (63 of 69 not clear of other hairs, 29 lost at the NMS); (b) 7 /
/// 3 / 1, +0.013 / +0.005 / +0.002; (c) 219 / 226 / 183, +0.049 / +0.041 /
/// +0.045; (d) 0 / −0.003 / −0.007; (e) −0.007 / 0 / −0.004. Of the
/// 11 (b) records, 6 are merged with a wider neighbour (width IQR 8–19 µm,
/// or a 3-sample record at 143–175 µm), 4 read 4–6 µm wide over a stretch
/// beside a neighbour (IQR 2–6 µm), and 2 light shafts (27.8, 29.1 µm,
/// contrast 0.2) read 30.0 µm: no diameter bias of thin shafts to correct
/// (truth 0–20 µm −0.78 / −1.24 / −0.90 µm), and fixing all of (b) would
/// move the fraction by at most +0.013. The vellus fraction needs fewer
/// second records of wider shafts (c) and found vellus near terminals and
/// light isolated vellus (a), not a diameter change. Nor is session 22's
/// null-pair cost (`hvellus22`, d67d00d: false hair gains / losses 34 / 26
/// → 33 / 32, `null_pairs_through_the_real_stages` with `COMPARE_DEBUG`)
/// a vellus diameter unstable about 30 µm between visits: by the phantom's
/// identities (false calls 55 → 60) the 11 false losses it adds are all on
/// shafts of 53–90 µm (6 of them carried by another record at the other
/// visit, 1 split at its own, 4 neither) and the 5 it removes too (53–86
/// µm); the false calls on shafts under 30 µm go 6 → 5. The gap rule
/// changes how terminal shafts beside a kept thin maximum are split or
/// joined at one visit and not at the other.
/// Which threshold loses the light vellus (session 23, branch
/// `hvlight23`; `VELS` lines of `SCENE_VELLUS=1`: the ridge strength along
/// each vellus truth axis, best detection pixel within 1 px of each point,
/// against the thresholds and the noise level). On this test's scenes the
/// noise level (median strength) is 0.0060 / 0.0061 / 0.0055, so the
/// hysteresis thresholds sit at their absolute floors, low 0.025 and high
/// 0.05 (4.1–4.5 and 8.2–9.1 × the noise; 3 / 6 × the noise would be
/// 0.017–0.018 / 0.033–0.037): the floors bind, not the noise multiples.
/// The 11 light vellus shafts clear of other hairs with no record (201:
/// #62, #110; 202: #29, #51; 203: #20, #44, #51, #75, #95, #132, #165) have
/// a median strength along the axis of 0.016–0.034 (2.6–6.2 × the noise),
/// except 203 #165 (0.051) and #44 (0.216, lost at the NMS, not a threshold
/// matter); 21–77 % of their axis reach the low floor and 11–50 % the high
/// (seed) floor, so the mask holds short broken runs of them. Light vellus
/// that are found read a median of 0.035–0.090 (201 #169: 0.061, 89 % at
/// the high floor). Both floors lowered to about the noise multiples
/// (high 0.05 → 0.035, low 0.025 → 0.0175, every ridge): this test 218 /
/// 269 / 225 → 223 / 271 / 229 records, vellus 0.174 / 0.123 / 0.196 →
/// 0.170 / 0.129 / 0.197 (no gain: the other records added outweigh); of
/// the 11, 4 get a record (201 #62, 202 #29, 203 #51, #75); 3 are still lost
/// at the NMS (mask now 64–82 % of the axis, NMS maxima 21–44 %: the
/// maxima of a faint ridge wander off its axis), 203 #95 is rejected by the
/// skin-depth test (skin-relative absorbance 0.010 against a depth of
/// 0.075), 203 #20 by length (a 30 % partial trace) and 202 #51 stays off
/// the mask (27 %, 2.6 × the noise); and `ood_sweep`'s hair-free scenes
/// (seeds 201 / 202, `OOD_ONLY=none`) gain false hairs 10 → 21 (vessels 0
/// → 2, yellow dots 0 → 2, scales 0 → 3, glare 0 → 1, dark mottled skin 4
/// → 7, furrows 6 → 6). Not kept. The low floor alone lowered (0.025 →
/// 0.0175, seeds still at 0.05) is worse: 220 / 269 / 226 records, vellus
/// 0.168 / 0.119 / 0.190, none of the 11 recovered (their runs at the high
/// floor are too short to seed them; 203 #75 now traced but failing the
/// skin-depth test, −0.001), hair-free false hairs 10 → 15 (vessels 0 →
/// 1, scales 0 → 1, dark mottled skin 4 → 7). A lower seed threshold alone would bring
/// back at most 4 of the 11 (about +0.01 on a seed's vellus fraction) and
/// its gate (length, straightness, width constancy, profile contrast
/// against local noise) would have to reject every one of those 11 new
/// false hairs; the other 7 need the NMS to follow a faint ridge and the
/// skin-depth test to pass light shafts. Not tried for want of time.
/// A gated faint seed (session 24, branch `hvlight24`, not merged: not a
/// net win). Faint ridges (hysteresis at floors 0.035 / 0.0175, the same
/// noise multiples, `detect::faint_thresholds`) are traced beside the
/// others; a shaft whose pieces off them are shorter than `min_length_um`
/// must pass a gate (`mod.rs` `faint_gate`: ≥ 400 µm, width IQR ≤ 0.5 of
/// the median, ≥ 0.6 of its profile positions with a two-edge profile),
/// then the usual red/green and skin-depth tests. First form, only the
/// components at 0.0175 whose peak lies in 0.035..0.05 (touching no
/// hysteresis pixel; a candidate traced only from the extra seeds): this
/// test's seeds 218 / 269 / 225 → 219 / 269 / 225, vellus 0.174 / 0.123 /
/// 0.196 → 0.178 / 0.123 / 0.196; none of the light vellus comes back
/// (seed 203's seven still lost, mask 0.19–0.48 of the axis): their faint
/// stretches connect at 0.0175 to their own short runs above 0.05, so they
/// are not faint-only components. Second form (the branch's): the faint
/// mask less the pixels within 2 px of the hysteresis mask (pieces of
/// both kinds stay apart and are joined as usual): 216 / 269 / 224,
/// vellus 0.181 / 0.123 / 0.196 (one light vellus record gained on 201);
/// hair-free scenes (`ood_sweep`, `OOD_ONLY=none`) 10 → 9 false hairs
/// (furrows 6 → 4, dark mottled skin 4 → 5, the others 0); but unseen
/// crowded 44–50 sum |count error| 67 → 70 (MAE 2.886 → 2.900,
/// one-record 0.195 → 0.193, all bounds 3 → 3 of 21, mean |vellus error|
/// 0.032), sparse 81–88 48 → 46 (MAE 0.959 → 0.941, one-record 0.550 →
/// 0.562, all bounds 10 of 24, |vellus error| 0.060), dense 202 / 203 /
/// 204 52 / 48 / 45 → 49 / 46 / 43 (of 58 / 65 / 72: worse). What the
/// gate saw (both forms): the faint candidates reaching it on the whole
/// fields (17) and on the twelve hair-free scenes (21) are alike but for
/// length: hair-free ones 150–345 µm, straight (chord / arc 0.85–0.99 in
/// all but two), of steady width (IQR / median 0.02–0.36 in most: the
/// width spread does not tell skin structures at these strengths from
/// hairs) and well supported (0.46–1.0); the whole-field ones 151–440 µm,
/// one past 400 µm. The light vellus are lost as short broken runs, not as
/// faint long ridges: at 0.0175 they are still traced in pieces of
/// 150–320 µm (or join the neighbours' records), and a length gate that
/// admits them admits the hair-free structures too. Left: an NMS that
/// follows a faint ridge's axis (the runs, not the threshold), then a gate
/// on the joined length.
/// Tried and not merged (session 23, branch `hcross23`, 2e04ace,
/// `trace::crossings`): a shallow crossing of two like shafts makes one
/// wider ridge piece (12 MP seed 301: of the truth shafts with an arm at
/// each end of such a piece 18 were joined across it, 12 split, 30 had an
/// arm at one end only); pairing the arms across the piece by direction
/// and width and dropping the piece found 37 crossings, 31 with both pairs
/// right. This test's seeds 218 / 269 / 225 → 215 / 263 / 218 (vellus
/// 0.177 / 0.125 / 0.202), 12 MP 561 / 562 / 504 → 546 / 549 / 498 (records
/// per hair 1.65 / 1.69 / 1.59 → 1.60 / 1.65 / 1.57), crowded 44–50 sum
/// |count error| 67 → 70 (no hair lost its record: fewer splits no longer
/// hide lost hairs), but the invariance tests fail (24 / 23 / 23 → 23 / 21
/// / 20): which arms get width samples and which ends are within reach
/// depends on the pixel grid. Most splits at crossings remain `gap` /
/// `towards` link failures or shafts with no arm traced at one end.
/// Branch `hcross23b` (368c9e7, not merged) made it pass them: an arm at
/// least 3 of its own widths long (shorter stubs exist or not with the
/// grid) and the reach margin in µm (18 µm, not 6 px): invariance 23 / 22
/// / 23, but this test's seeds only 216 / 266 / 219 (diameter MAE of seed
/// 203 1.60 → 1.69) and crowded 44–50 sum |count error| 67 → 71 (MAE
/// 2.886, one-record 0.194, all bounds 3 of 21); sparse and dense as main.
/// Not a net win.
/// Branch `hunit24` (session 24, diagnostic only): a second shaft counted
/// where a record's profile reads as two cylinders over ≥ 150 µm (see
/// `crowded_scene_counts_and_crossings`) makes these seeds 218 / 269 /
/// 225 → 229 / 281 / 232 while crowded 44–50 improves 67 → 52: 25 of the
/// 30 far shafts here are mates with their own record elsewhere.
/// Links verified by the image (session 24, branch `hlink24`,
/// `trace::bridge_links`): after the geometric links, free ends of measured
/// pieces of like widths (1.2) and depths (1.3) that fail only the gap or
/// `towards` rules (gap up to 3 × the limit, all three angles ≤ 25°, or
/// ends side by side within 0.75 of the narrower width) link when the
/// profile across the Hermite bridge `trace::assemble` draws, read every
/// half width out to 2.5 widths, is dark (centre absorbance against the
/// upper quartile of the brighter shoulders ≥ 0.6 × the pair's depth) and
/// centred (darkest within half a width at most a quarter of the contrast
/// brighter than the darkest within 1.5 widths) at ≥ 90 % of its samples;
/// fewest failing samples first, then the smaller angle sum, never closing
/// a chain on itself. Everything in the pieces' widths: invariance 24 / 23
/// / 23 → 23 / 23 / 23 (truth 23; rotated mean diameter +2.4 % → +4.8 %,
/// bound 5 %). This test's seeds 218 / 269 / 225 → 207 / 249 / 205
/// records (+16 %, +35 %, +22 %), vellus 0.174 / 0.123 / 0.196 → 0.184 /
/// 0.133 / 0.215, crossing one-record 0.57 / 0.51 / 0.56 → 0.62 / 0.54 /
/// 0.66, split shafts 31 / 48 / 32 → 27 / 44 / 22, mixed 5 / 12 / 7 → 6 /
/// 12 / 6, truth shafts matched 146 / 157 / 135 → 145 / 156 / 134; of the
/// 12 bridge links on seed 201 (`join_diag`, `BRIDGE` lines) 10 join one
/// truth shaft, 2 two. 12 MP phantoms 301–303 (`match_hairs.py`): records
/// 561 / 562 / 504 → 503 / 500 / 455, records per hair with its own
/// 1.65 / 1.69 / 1.59 → 1.50 / 1.51 / 1.45, hairs with an own record 326 /
/// 324 / 308 → 322 / 320 / 305, mixed records 30 / 34 / 24 → 29 / 39 / 21.
/// Unseen sparse 81–88 sum |count error| 48 → 43 (one-record 0.550 →
/// 0.587, MAE 0.959 → 0.959, truth with a record 302 → 302, second records
/// 35 → 26, mixed 6 → 7, all bounds 10 → 9 of 24). Unseen crowded 44–50
/// 67 → 89 (every changed case was under truth before: fewer split
/// records show the lost hairs; one-record 0.194 → 0.237, MAE 2.888 → 2.877, second
/// records 72 → 55, truth with a record 324 → 318, mixed 32 → 33, all
/// bounds 3 → 2 of 21); 33 bridge links, 29 on one shaft, 4 on two.
/// Dense 202 / 203 / 204 52 / 48 / 45 → 48 / 42 / 43 (matched 29 / 29 /
/// 26 → 27 / 25 / 25): in a hair mat a bridge of 115–200 px runs over hair
/// all along (5 of its 11 links on two shafts); the skin beside the ends
/// (the pieces' own profiles) as a brighter skin level did not change
/// that, nor does a share of samples with a bright shoulder tell the wrong
/// links (their bridges run along another shaft's band). Hair-free
/// `ood_sweep` scenes unchanged (10 false hairs). Half the wrong links
/// are side by side (201: 1 of 2, crowded 2 of 4); without that class
/// (only the long gaps verified): this test's seeds 212 / 255 / 209
/// (matched 146 / 156 / 135, mixed 6 / 11 / 6), sparse 44 (one-record
/// 0.583), crowded 81 (one-record 0.230, MAE 2.855, truth with a record
/// 320, second records 59, all bounds 3 of 21), invariance as above:
/// between the two, no better. Not a clear win: fewer second records everywhere, but about one bridge link in
/// eight (one in two in mats) joins two shafts, and each such join takes a
/// hair's own record.
/// Rejecting the wrong bridge links by what lies beside the bridge
/// (session 24, branch `hlink24b`, diagnostic only, `join_diag` `BRIDGE`
/// lines; code not kept): (a) another traced piece along the bridge (its
/// centreline within one pair width of a bridge point and within 22° of
/// the bridge at more than 25 % of the points, a crossing hair not
/// counted): crowded 44–50 links on one shaft 29 → 9, on two 4 → 3; dense
/// 202–204 6 → 1, 5 → 0. Right links have such a neighbour as often as
/// wrong ones: hairs of a follicular unit run side by side, and the gap
/// of a right link is often where the hair merged with its neighbour into
/// one wider piece. Over 84 classified bridge candidates (crowded 44–50,
/// dense, and the crowded phantom at 2000 × 1500 px, 5.5 µm/px, seed 201:
/// 74 on one shaft, 10 on two) restricting the neighbour to measured
/// pieces (≥ 3 width samples) of like width (1.25–1.5) whose first-pass
/// chain is longer than the gap (1–1.5 ×), at shares 25–75 %, refuses 2–13
/// right links for 1–2 wrong ones (best: 2 for 1), never better than the
/// 7.4 : 1 base rate by enough to pay. (b) The contest rules: an end with
/// a geometric candidate elsewhere refuses 12 right, 2 wrong; a third free
/// end of like width (1.3) within a width of the bridge 41 right, 6
/// wrong. Neither separates; no survey run. Wrong links differ mostly in
/// their pieces being mixed already (owner shares 0.64–0.80 in mats),
/// which the join cannot see.
/// Merged on main (session 24, with `hspeed24`'s profile spacing): this
/// test's seeds 208 / 250 / 205 of 178 / 185 / 168 (+17 / +35 / +22 %;
/// vellus 0.183 / 0.132 / 0.215 of 0.219 / 0.195 / 0.274, crossing
/// one-record 0.62 / 0.54 / 0.66); unseen crowded 44–50 sum |count error|
/// 67 → 87 (within 10 % 7 → 4 of 21, one-record 0.194 → 0.237, MAE 2.89 →
/// 2.83, all bounds 3 → 2); sparse 81–88 48 → 42 (one-record 0.550 →
/// 0.592, all bounds 10 of 24); dense 52 / 48 / 45 → 49 / 42 / 44; invariance
/// 23 upright / 24 rotated / 23 rescaled (vellus 0.174 / 0.125 / 0.130: 0.049
/// of the 0.05 bound rotated, 0.042 on main); hair-free false hairs 11; the
/// end-to-end pair −11 vs −29 (main −12) and the null pairs' false hair
/// gains / losses 33 / 26 (main 34 / 26), measured on `hlink24` alone.
/// Taken because the records get more right where hairs are many and long
/// (whole fields, 12 MP), while the crowded and dense counts fall because
/// split records no longer make up for the hairs the stage misses there.
/// Stub ends (session 25, branch `hsplit25`). Diagnosis on main 139b6b5
/// (`SCENE_SIZE=2000,1500 SCENE_DIAG=sparse,5.5,201 SCENE_CROSS=1`
/// `scene_diag`): of 162 crossing shafts 104 are one record and 38 "split,
/// not joined"; of those, 9 fail at the closest record ends because one
/// end is a stub of 2–12 px with 0–2 width samples (or widened to 21.8 px
/// by the crossing hair, shaft 12 px) that the first pass hung on the
/// record: `bridge_gate` wants ≥ 3 samples and like widths of the two end
/// *pieces*, so 181 (67 px, angles 6 / 4 / 2°), 114 (96 px), 171, 155
/// fail as `gap`, and 56, 60, 71, 87, 130 (ends 3–8 px apart, side by
/// side) as `towards`. Now (`trace::EndShape`): a free end whose piece has
/// under 3 width samples takes the width and depth of the samples of its
/// whole first-pass chain, pooled; such a stub end bridges only along the
/// end directions and at most 15 of the shafts' mean widths
/// (`BRIDGE_STUB_GAP_WIDTHS`), never side by side; the image test is
/// unchanged; measured pieces keep their own figures. This test's seeds
/// 208 / 250 / 205 → 207 / 242 / 203 of 178 / 185 / 168 (vellus 0.183 /
/// 0.132 / 0.215 → 0.184 / 0.132 / 0.212; crossing one-record 0.62 / 0.54
/// / 0.66 → 0.62 / 0.55 / 0.68; matched 145 / 155 / 133; mixed 5 / 11 /
/// 10, split 28 / 44 / 20). Of the links taken on stub ends (`join_diag`
/// `BRIDGE` lines with a side of n < 3, before the 15-width cap) on 201–203
/// 12 lie on one truth shaft, 2 on two (54 px, 5.9 and 9.3 widths), 2 on
/// one shaft and a piece on none; crowded 44–50 5 of 5 on one shaft; dense
/// 202–204 (3.5 µm/px) 3 on one, 3 on two (bridges of 143–209 px, 16–22
/// widths: the cap refuses those three and one right link at 16.9 widths
/// on 201). 12 MP phantoms 301–303: records 504 / 502 / 453 → 488 / 491 /
/// 445, own 323 / 321 / 303 → 321 / 320 / 302, records per hair 1.50 /
/// 1.52 / 1.45 → 1.45 / 1.49 / 1.43, mixed 30 / 37 / 21 → 29 / 38 / 23,
/// uncovered 15 / 12 / 13 → 16 / 11 / 13. Unseen sparse 81–88 sum |count
/// error| 42 → 39 (MAE 0.984 → 0.986, one-record 0.592 → 0.598, all
/// bounds 10 → 10 of 24). Unseen crowded 44–50 87 → 92 (MAE 2.832 →
/// 2.810, one-record 0.237 → 0.245, split shafts 75 → 70, mixed 36 → 36,
/// all bounds 2 → 2): worse, though the 5 links it adds all join one
/// shaft (3.5 µm/px seed 45 22 → 21, 5.5 seed 45 25 → 23, seed 48 24 → 22,
/// all under truth: fewer split records show the lost hairs). Dense 49 /
/// 42 / 44 → 48 / 41 / 43 (of 58 / 65 / 72: worse). Invariance 23 / 24 /
/// 23 unchanged (vellus 0.174 / 0.125 / 0.130); hair-free false hairs 11
/// → 11; `hairs_profile` 3.5 µm/px 491 → 472 shafts (fingerprint
/// 61993be7e9183f96 → e542dacb1673a5ce), 720–745 → 723–797 ms warm on a
/// shared machine (within its noise). Tried first: every end with its chain's figures (measured pieces
/// too) 205 / 239 / 199 but crowded 98 with MAE 2.832 → 3.371 (5.5 µm/px
/// seed 46 1.39 → 9.43: the chain of a mixed piece passes a wrong width);
/// stubs also side by side 203 / 241 / 199, crowded 95, MAE 2.978 (201: 1
/// of 6 new links on two shafts, crowded 5.5 seed 45 one of 3); without
/// the 15-width cap 206 / 242 / 203, dense 47 / 40 / 42.
/// Lost and mis-read vellus (session 26, branch `hvellus26`, main 3ca85db;
/// `SCENE_VELLUS=1`, now with `VELP` / `VELT` lines, the pieces and traced
/// shafts on a lost vellus axis and their fate, and `VELK` / `VELR`, the
/// skin-depth test's histogram). Of 39 / 36 / 46 vellus truth shafts, 36 /
/// 29 / 38 have a vellus record, 0 / 2 / 0 one read ≥ 30 µm (202 #31, light
/// 21.1 µm read 32.0 at contrast 0.10, width IQR 12.2 µm; #64, 29.9 µm
/// mixed with a wider neighbour, 64.3 µm) and 3 / 5 / 8 none. Of the 16
/// lost, 12 are light: 8 stay short runs off the mask or lose their NMS
/// maxima (strength median 0.016–0.035 against the floors 0.025 / 0.05:
/// 201 #62, #110, 202 #29, #51, 203 #20, #51, #132, #165), 203 #44 is a
/// strong ridge (0.216) whose maxima the NMS drops beside a wider hair, and
/// 203 #75, #95, #110 are traced over 199–351 µm and fail the skin-depth
/// test (0.013–0.019 against 0.25 × depths 0.075–0.110); the 4 dark ones
/// are 201 #52 inside its unit-mate's record, 202 #63 beside others
/// (pieces of 18–120 µm), 202 #68 at the frame corner (143 of 187 µm
/// traced: `length`) and 202 #139 along the bottom edge (frame halves only:
/// `profiled_length`). By `DECOMP` (errors −0.036 / −0.062 / −0.062) the
/// lost and mis-read vellus are +0.012 / +0.026 / +0.030, the extra
/// records of wider shafts (41 / 67 / 44) +0.039 / +0.039 / +0.046; with
/// only each truth shaft's longest record counted the fractions would be
/// 0.223 / 0.171 / 0.258 (truth 0.219 / 0.195 / 0.274). The skin-depth
/// test's skin level was the darkest OD holding an eighth of the window's
/// non-hair pixels (±0.05 OD): in mottled windows a bump of the dark tail
/// (14–21 % of the window, 0.07–0.10 OD above the main level) that the
/// light vellus's core hardly exceeds. Now (`skin_mode_share`) a quarter
/// for shafts narrower than the vellus limit: seed 203 43 / 203 → 46 / 206
/// vellus records, fraction 0.212 → 0.223 (error −0.051); 201, 202, unseen
/// crowded 44–50 and sparse 81–88 (every case line), dense and the
/// hair-free `ood_sweep` scenes (11 false hairs) as main; invariance
/// passes (rescaled 23 → 24 records, vellus 0.130 → 0.167 against 0.174
/// upright; rotated unchanged, 0.125). A quarter for every shaft (not
/// committed): the same on these fields but hair-free false hairs
/// 11 → 16 (furrows and dark mottles 52–160 µm wide: skin darker than its
/// main level passes as light vellus do) and crowded 92 → 90 (two cases
/// under truth one record more). Not tried: the NMS / mask losses (8 of
/// the 16), the largest part, for want of time; see `hvlight23`/`24`.
/// Split crossings classified (session 26, branch `hcross26`; main
/// 3ca85db; `scene_diag` `SCENE_CROSS=only` now ends with `SPLIT` lines:
/// the records along a split shaft in axis order and, per consecutive
/// pair, the pieces at their facing ends, with the chain piece beyond
/// each end or, both free, `link_score`'s and `bridge_gate`'s verdicts
/// and the bridge's failing samples, `trace::JoinProbe`). Of 117 crossing
/// shafts "split, not joined" on seeds 201 / 202 / 203 (37 / 53 / 27): 16
/// have fewer than two traced records covering ≥ 10 % of them; 28 have a
/// record end whose facing piece lies mostly on another truth shaft (the
/// shaft's own trace stops at a crossing and another hair's record covers
/// the rest: no second own record); 16 have an own end linked onward to a
/// piece of another shaft (a mixed record); 9 overlap by over 30 px along
/// the axis (duplicates); 48 have two own pieces with free facing ends,
/// refused as: across a gap (28) image refuses though the gate passes 8
/// (mostly light shafts, depth 0.14–0.26, 46–104 px), angle 6, width 4,
/// depth 4, `towards` 5 (3 of them ends overlapping on one line by 14–23
/// px, lateral ≤ 2 px), stub gap 1; side by side (20, gap ≤ one width)
/// stub 7, width 6 (crossing-widened pieces, 1.2–1.9), image refuses 4,
/// angle 2, depth 1. The 4 side-by-side image refusals were a flaw: the
/// bridge's Hermite tangent between ends side by side runs across the
/// shaft, so `bridge_evidence` read its one profile along the shaft, its
/// shoulders on the shaft, and failed it (1 of 1 sample). Fixed: such ends
/// are read across the pieces' mean direction on the line between them;
/// and ends overlapping on one line (each behind the other, lateral offsets
/// within half the narrower width, up to 2.5 widths apart,
/// `BRIDGE_OVERLAP_WIDTHS`) are side by side too. This test's seeds 207 /
/// 242 / 203 → 206 / 237 / 202 (crossing one-record 0.62 / 0.55 / 0.68 →
/// 0.64 / 0.56 / 0.68; matched 145 / 155 / 133 unchanged; mixed 5 / 11 /
/// 10 → 5 / 11 / 11; split 28 / 44 / 20 → 26 / 43 / 18; vellus 0.184 /
/// 0.135 / 0.213); of the side-class bridge links (gap ≤ 2.5 widths) taken
/// on 201–203 (`join_diag` `BRIDGE`), 24 lie on one truth shaft, 4 on two.
/// Unseen crowded 44–50 sum |count error| 92 → 94 (MAE 2.810 → 2.843,
/// one-record 0.245 → 0.244, all bounds 2 of 21; the four changed cases
/// all under truth, two with the diameter MAE up 0.4 µm; 7 of 8 side-class
/// links there on one shaft); sparse 81–88 39 → 39 (MAE 0.986 → 0.987,
/// one-record 0.597 → 0.602); dense 48 / 41 / 43 unchanged; invariance 23 /
/// 24 / 23 (vellus 0.174 / 0.125 / 0.130) unchanged; hair-free false hairs
/// 11 → 11. The evidence fix alone (no overlap class): 206 / 240 / 202,
/// crowded 95 (MAE 2.828, one-record 0.247), sparse 38 (MAE 0.987, one-record
/// 0.602); the overlap class adds 202's −3 (truth 154, 177, 74) and crowded
/// 3.5 µm/px seed 48's diameter MAE 1.62 → 2.02 (a light shaft's 44 px
/// overlap link). The rest of the side class (stubs, crossing-widened widths)
/// was loosened before (session 25, `hsplit25`) and joined two shafts too
/// often; the largest classes left are the mixed records and the light
/// shafts' gaps the image refuses.
/// Light shafts' gaps (session 27, branch `hgap27`; `scene_diag`
/// `SPLIT` lines now give each bridge sample's reading, centre / near
/// darkness in the pair's depths, `trace::bridge_detail`). The gaps the
/// image refused though the gate passed (201 #37, #165, #171; 202 #86,
/// #101, #135, #144; 203 #47; 46–121 px, depths 0.14–0.43) are not dark
/// failures nor a bridge drifting off the shaft: where clear, the centre
/// reads the light shaft at 1.0–1.4 × its depth, centred; they fail the
/// centred test where the crossing hair (or one alongside) lies within
/// 1.5 widths, 2–6 × the light pair's depth, so that its flank is darker
/// than the centre by more than a quarter of the *light* pair's contrast
/// (5–22 of 17–26 samples). Now a sample with a hair ≥ 2 × the pair's
/// depth within 1.5 widths (`BRIDGE_OCCLUDED`) counts as centred when its
/// centre is lighter than that and the centre window holds the pair's
/// own dip (≥ 0.1 of its contrast below both window ends, `BRIDGE_DIP`),
/// else it is not counted; at least half the samples must count, and at
/// most 10 % of those may fail. This test's seeds 206 / 237 / 205 → 205 /
/// 235 / 204 (crossing one-record 0.64 / 0.56 / 0.68 → 0.64 / 0.57 /
/// 0.69; diameter MAE 1.08 / 1.70 / 1.38 → 1.03 / 1.69 / 1.38; mixed 5 /
/// 11 / 11 → 6 / 11 / 11; split 26 / 43 / 18 → 27 / 41 / 18; vellus 0.185
/// / 0.136 / 0.225, was 0.184 / 0.135 / 0.224); new bridge links (`join_diag` `BRIDGE`): 202 #135
/// (56 px), #144 (73 px), 203 #53 (108 px) on one shaft, and one on two
/// (201, #155 to #142 across 101 px, widths 8.9 / 10.7 and depths 0.28 /
/// 0.22, both near their ratio limits: the mixed record). Still refused:
/// 201 #165 runs beside a dark hair all along its gap (22 of 24 samples
/// near 3.7 × its depth, too few counted), and 202 #86, #101, 201 #37,
/// #171: samples on the crossing hair itself (centre as dark as it) are
/// not counted either, so too few count on the long crossed gaps. With
/// no share required (any counted sample): 15 new links on 201–203, 14 on
/// one shaft (those above and 201 #23, #37, #150, #165, #171, 202 #50
/// twice, #101, 203 #47, #92, #113), the wrong one as above; this test's seeds 200 / 232 / 201 (one-record 0.65 / 0.58
/// / 0.71, MAE 1.04 / 1.72 / 1.37, mixed 6 / 12 / 11), crowded 94 (one-
/// record 0.249), sparse 39, dense as main, but the rotation test fails
/// (upright 23 → 22 records against 24 rotated: the thinly read links
/// depend on the grid). A quarter counted: 205 / 234 / 202 (mixed 6 / 12
/// / 11, MAE 1.03 / 1.72 / 1.37), crowded 94 (one-record 0.249), sparse
/// 39, invariance as main: about as good as a half (kept: fewer mixed). Left: count the samples on the crossing hair (centre as dark as
/// its near darkest) as passes again, so that only the flank samples are
/// left out (not built for want of time).
/// Unseen crowded 44–50 sum |count error| 94 → 94 (MAE 2.843 → 2.844,
/// one-record 0.244 → 0.246, all bounds 2 of 21; one case changed, 3.5
/// µm/px seed 50 one-record 0.18 → 0.23, count and mixed unchanged);
/// sparse 81–88 39 → 39 (MAE 0.987 → 0.985, one-record 0.602; 2 µm/px seed
/// 88 diameter MAE 0.61 → 0.57); dense 48 / 41 / 43 unchanged; the
/// ordinary tests pass. Tried and not kept: the darker-hair samples only
/// left out, no dip (205 / 236 / 205, mixed 6 / 11 / 11, the same wrong
/// link; crowded 94, sparse 39); only the dip, all samples counted (205
/// / 236 / 204, 202 mixed 11 → 12; crowded, sparse, dense as main); a
/// darker hair at 1.5 × the depth (2 right links, the same wrong one), at
/// 2.5 × (1 right, the wrong one), at 3 × (no change); half → two thirds
/// or 0.8 of the samples counted (1 right / 0 right, the wrong one stays:
/// its bridge reads a light shaft nearly all along); dip 0.05 (as 0.1);
/// requiring ≥ 2 counted samples (drops every one-sample side-by-side
/// link: 210 / 245 / 208, crowded 83 with one-record 0.235, so the side
/// class carries many right joins). The angle limit of image-verified
/// links 25° → 35° on top (the `angle` refusals are 28–73°, only two
/// within 35°): 203 / 235 / 202, but 2 of the 4 links it adds on 201 /
/// 203 join two shafts and crowded 94 → 97 with MAE 2.844 → 3.004 (5.5
/// µm/px seed 46 diameter MAE 1.39 → 5.87), dense 47 / 40 / 42: not kept.
/// The `towards` refusals are ends overlapping on one line by 3.4–7
/// widths (beyond `BRIDGE_OVERLAP_WIDTHS`) or 20+ px apart sideways: not
/// tried.
/// Records that are no separate piece of a hair (session 26, branch
/// `hoff26`; `extra_diag` lists every record that is not a truth shaft's
/// best record, matched as `extra_records` does). This test's seeds, 207 /
/// 242 / 203 records: best records 165 / 169 / 154; second records on a
/// shaft mostly away from its best record (`split`, pieces of a split
/// hair) 36 / 49 / 28; on a shaft and at least half within the best
/// record's reach (`double`) 2 / 8 / 8; on the 20 µm tubes but under 60 %
/// on any one shaft (`mixed`, mostly long records joined across two
/// hairs, 250–7900 µm) 3 / 12 / 9; off the tubes inside a counted shaft's
/// body (`edge`) 0 / 4 / 2 (4 of the 6, and 13 of crowded 44–50's 22, are
/// the only record of that hair, read off its axis: frame halves, or a
/// 20–50 µm trace along a thick hair's edge); on no shaft (`skin`) 1 / 0 /
/// 2. So splits are
/// 113 of the 164 extras, mixed joins 24, and what the image could tell
/// apart without joining is the doubles: 13 of the 18 are 150–440 µm stubs
/// with 3–8 width samples, read as wide as or wider than the record they
/// lie in (a junction's blob read across the crossing), all their
/// centreline within that record's half width. Tried (`inside_longer` in
/// `hairs/mod.rs` on branch `hoff26`, not merged): an accepted shaft with ≥ 80 % of its centreline within
/// half the width plus 1 px of a longer shaft's centreline, and at least
/// 0.6 of its width, is dropped (a thinner hair over a thick one, or a
/// unit-mate merged into a wide band, stays: on dense 202–204 the two best
/// records inside a longer one were 0.35 and 0.39 of its width). What it
/// drops (`extra_diag` before the change): whole fields 13 doubles, 5
/// split pieces lying in another hair's record, 2 mixed, no best record;
/// crowded 44–50 6 doubles, sparse 81–88 3, dense 1, no best record
/// anywhere. This test's seeds 207 / 242 / 203 → 203 / 235 / 194 (sum
/// |count error| 121 → 101; vellus 0.184 / 0.132 / 0.212 → 0.187 / 0.136 /
/// 0.222; diameter figures and matched shafts unchanged). But the other
/// scenes under-count, so correct removals show as count error: unseen
/// crowded 44–50 sum |count error| 92 → 98 (MAE 2.810, one-record 0.245
/// unchanged, all bounds 2 of 21), sparse 81–88 39 → 40 (MAE 0.986), dense
/// 48 / 41 / 43 → 48 / 40 / 43; and the invariance tests fail on the
/// vellus bound: upright and rotated both drop the same two doubles (a
/// 131 µm stub on truth 1, a 68 µm one on truth 11), rescaled one, so 4 /
/// 21 vellus upright against 3 / 22 rotated and rescaled (0.054 > 0.05;
/// was 4 / 23 against 3 / 24, 0.049): the rotated scene misses a 20 µm
/// vellus at the field's edge and the rescaled one a light 15 µm vellus
/// (contrast 0.09), which the fewer records no longer dilute. The
/// end-to-end pair (`tests/compare.rs`) −11 → −8 against the true −29
/// (gained 10 → 11, truth 8; lost 21 → 19, truth 37), the null pairs'
/// false hair gains / losses 34 / 25 → 30 / 24; `hairs_12mp
/// fingerprint` shafts 150 / 472 / 44 / 314 / 327 / 83 → 143 / 453 / 43 /
/// 292 / 318 / 80 (1 and 2 threads agree). Not merged: the invariance
/// tests fail (why: `rotation_by_30_degrees_changes_little`'s doc comment).
/// Mixed joins (session 27, branch `hmix27`; `pair_diag::mix_diag` lists
/// every link `trace::join` takes (`trace::JoinLog`) by pass and by the
/// truth owners of its two pieces, and per wrong link of an accepted
/// chain the nearby ends on each end's own shaft with their first-pass
/// score or failing test, bridge gate and fate; `MIX_CAND=1` dumps every
/// first-pass candidate for offline matching studies). In accepted chains
/// on this test's seeds the first pass (`link_score`) makes 60 links
/// whose pieces lie on two truth shafts against 991 on one, the bridge
/// pass 9 against 62 (crowded 44–50: 87 / 449 and 5 / 36); 77 of the 143
/// wrong first-pass links (these and crowded) have a stub (< 3 width samples) at
/// one end. Counted as transitions between reliable pieces (≥ 3 samples,
/// ≥ 0.9 on one shaft) along the first pass's chains: 710 right, 24 wrong
/// here, crowded 281 / 28, sparse 81–88 251 / 6, dense 49 / 9. Most wrong
/// links are the only candidate of both their ends (the own shaft's trace
/// ends there: a tip, or its continuation never traced); 24 of 58 here
/// had an own-shaft alternative the first pass also passed, lost on score.
/// No figure of the link tells them apart (direct links between reliable
/// pieces, right / wrong over all scenes): depth ratio > 2 refuses 15 / 8,
/// over 1.3 57 / 12; width ratio > 1.3 26 / 15; end angle > 15° 27 / 11; the
/// best pair of such thresholds (angle > 15° and width ratio > 1.15) 2 /
/// 8; adding width and depth log-ratios to the score (weights 0.5–4)
/// moves the wrong transitions by at most 3 either way (offline greedy on
/// the dumped candidates). One class is a scoring flaw: ends side by side
/// (the rule of session 20) kept `ta + tb` (about 150°) in their score, so
/// a right side-by-side link (201: p708 for p722, score 2.71) lost to a
/// collinear link onto another hair (0.83). Tried: that `towards` sum
/// left out of a side-only link's score: this test 206 / 237 / 205 → 203 /
/// 233 / 201, but the invariance tests fail (upright 23 → 22 records,
/// rescaled mean diameter 56.1 against 59.2 µm, rotated vellus 0.130 vs
/// 0.182). Counted instead as one angle at the limit (`max_join_angle_deg`,
/// branch commit): this test 205 / 236 / 202 (vellus 0.185 / 0.136 /
/// 0.228, crossing one-record 0.65 / 0.56 / 0.68, MAE 1.19 / 1.60 / 1.37);
/// `extra_diag` best records 165 / 169 / 154 → 166 / 170 / 157, split 36 /
/// 49 / 28 → 35 / 42 / 26, double 2 / 8 / 8 → 1 / 8 / 6, mixed 3 / 12 / 9
/// → 2 / 11 / 9; crowded 44–50 sum |count error| 94 → 96 (MAE 2.843 →
/// 2.842, one-record 0.244 → 0.248, truth with a record 318 → 318, second
/// records 50 → 49, mixed 34 → 34, split 67 → 65; `extra_diag` mixed 36
/// → 36, double 11 → 10); sparse 81–88 39 → 42
/// (MAE 0.987 → 0.990, one-record 0.602 → 0.608; the three changed cases,
/// 2 µm/px seeds 86 and 88 and 3.5 µm/px 86, each one record fewer with
/// the same truth shafts recorded: a split joined, seed 86 one-record 0.77
/// → 0.85, showing a lost hair); dense 48 / 41 / 43 unchanged; invariance
/// passes (23 / 24 / 24, vellus 0.174 / 0.125 / 0.167); hair-free false
/// hairs 11 → 11. Not merged: sparse and crowded count errors grow (correct
/// joins that show lost hairs), and mixed records
/// hardly move: the wrong links need evidence the join does not have.
/// Session 27 (branch `hedge27`): with hairs cut by the field's edge read
/// as such and stub ends pointed by their chains (that doc comment) the
/// invariance tests pass; this test's seeds 202 / 230 / 196 (vellus 0.188
/// / 0.139 / 0.235). Merged on main with `hgap27` and `hspeed27`: 201 /
/// 228 / 195 (vellus 0.189 / 0.140 / 0.236, crossing one-record 0.64 /
/// 0.57 / 0.69, MAE 1.03 / 1.71 / 1.38); crowded 44–50 sum |count error|
/// 103 (MAE 2.849, one-record 0.251), sparse 81–88 40 (MAE 0.982), dense
/// 46 / 40 / 42; the end-to-end pair −11 → −8 against the true −29 (the
/// baseline's doubles no longer stand in for hairs it misses), the null
/// pairs' false hair gains / losses 37 / 27 → 32 / 25.
/// Where the vellus shortfall comes from on main 59a336e (session 28,
/// branch `hvel28`, diagnosis only; `SCENE_VELLUS=1` `DECOMP` lines, now
/// with `VELN`: per axis point of a vellus shaft lost at the mask or the
/// NMS, the strongest detection pixel within 1 px and the NMS's verdict on
/// it, `pair_diag::nms_reason`). This test's seeds, error −0.030 / −0.054
/// / −0.038: (a) dilution, extra records of wider shafts 35 / 54 / 33,
/// +0.034 / +0.032 / +0.036; (b) vellus with no record 3 / 5 / 5, +0.012 /
/// +0.018 / +0.019 (9 light ones at the mask or NMS: 201 #62, #110, 202
/// #29, #51, 203 #20, #44, #51, #132, #165; 3 dark at acceptance: 202 #63
/// in 18–120 µm pieces beside others, #68 at the frame corner traced 143 of
/// 187 µm, #139 along the bottom edge in frame halves); (c) own vellus
/// record read ≥ 30 µm 0 / 2 / 0, +0.009 on 202 (#31 light 21.1 µm read
/// 32.0 at contrast 0.10, width IQR 12.2 µm; #64 merged with a wider
/// neighbour, 64.3 µm); (d) in a neighbour's record 1 / 0 / 0 (201 #52 in
/// vellus #59's); wider shafts read vellus 1 / 1 / 3, −0.005 / −0.004 /
/// −0.015. 12 MP phantoms 301 / 302 / 303 (`SCENE_FILE`), error −0.093 /
/// −0.067 / −0.059: (a) 130 / 126 / 110 extra records, +0.036 / +0.029 /
/// +0.033; (b) 28 / 20 / 20 with no record, +0.051 / +0.038 / +0.041 (NMS
/// 12 / 10 / 6, pieces 4 / 3 / 4, junction cut 1 / 1 / 2, acceptance 4 /
/// 4 / 2, all `length` stubs of 10–136 µm; (d) in a neighbour's record 4
/// / 2 / 4, fragmented 2 / 0 / 1); (c) 5 / 2 / 1, +0.011 / +0.004 /
/// +0.002 (301: three merged with a wider neighbour, read 60–143 µm; 26.2
/// and 26.8 µm read 32.4 / 32.3; a light 29.1 µm read 30.0). So dilution
/// is the largest part on the whole fields and lost vellus on the 12 MP
/// phantoms; the diameter is not (c)'s cause. Thin-shaft diameters
/// against truth (own records read under 1.5 × truth; whole fields /
/// phantoms 301–303): dark 0–20 µm −1.0 / −0.6, −1.4, −1.3 µm (37 / 22,
/// 13, 11 records), dark 20–30 µm −0.4 / +0.3, −0.2, −0.1 (49 / 20, 17,
/// 22), light 20–30 µm −0.4 / +0.8, +1.4, +2.2 (14 / 3, 8, 3): no bias to
/// correct near the 30 µm limit (light shafts' few records scatter both
/// ways). The NMS on the lost axes (`VELN`, axis points every 2 px):
/// whole fields off the mask 148 / 240 / 405, in the mask but no maximum
/// across 40 / 61 / 213, a maximum within 2 px 37 / 52 / 92, dropped by
/// the shoulder test 0 / 0 / 0; phantoms 248 / 347 / 234 off, 1002 / 782 /
/// 603 no maximum, 709 / 605 / 243 near a maximum, 55 / 157 / 2 shoulder.
/// The in-mask losses are not the shoulder test (session 20's account of
/// the class) but pixels whose best scale is the widest (σ 10.9 px at 5.5
/// µm/px, 8.6 px on the phantoms, in 28 of 37 lost shafts) at strengths
/// 0.2–0.9: the vellus lies on the flank or inside the band of a wider
/// hair (phantoms: free share median 0.2), whose coarse response has no
/// maximum on it: the class `hmate25`'s scale-separated NMS addressed
/// without recall (`crowded_scene_counts_and_crossings`). The light
/// isolated ones are mostly off the mask (short runs at the floors:
/// `hvlight23`, `hvlight24`). Every lost class has been tried; no core
/// change made. Left: the split records (dilution, branch `hsplit28`).
/// Split crossings re-surveyed (session 28, branch `hsplit28`, main
/// 59a336e; `scene_diag` `SCENE_CROSS=only`, now with `OWNSPLIT` lines:
/// consecutive records whose facing pieces lie on the shaft, past any
/// other shaft's record between them, with the link tests of their facing
/// ends). Of 162 / 177 / 151 crossing shafts 110 are "split, not joined"
/// (35 / 49 / 26); by the first failing record pair (`SPLIT` lines): 47
/// have a record whose facing piece lies on another shaft (`covered`), 15
/// fewer than two records, 15 a mixed record, 2 overlap, 31 free facing
/// ends (gap 20: image 8, angle 3, `towards` 3, depth 3, width 2, stub 1;
/// side by side 11: stub 6, width 4, angle 1). Of the 97 `extra_diag`
/// split records 28 lie on `covered` shafts, 27 on shafts crossing none,
/// 9 on the image-refused gaps, 9 on mixed ones. The `covered` class is
/// not a join to make: 30 of the 47 have at most one own record (the
/// rest of the shaft lies along or under the other hair, within the
/// tolerance of its record: the best record's misses are on another
/// shaft's axis, 0.10–0.49 of the axis, against ≤ 0.05 off it in most),
/// and of the 17 with two or more only 5 have own ends facing across the
/// other hair's record (201 #32, 202 #10, #82, #142, #166): 194–259 px
/// apart at 25–69° (201 #32: depths 0.17 / 0.85), none a collinear pair
/// of like shafts. Tried (not merged): the image-refused light gaps, whose
/// bridges run under or along a dark hair for 60–100 px (201 #37, #165,
/// #171, 202 #86, #101: centre and near darkness 3–5 × the light pair's
/// depth at most samples, not counted, so too few counted): in
/// `trace::bridge_detail` a sample across a gap whose centre is itself
/// ≥ `BRIDGE_OCCLUDED` × the depth dark counts as passing (the shaft
/// passes under that hair). This test's seeds 201 / 228 / 195 → 194 / 223
/// / 190 (crossing one-record 0.64 / 0.57 / 0.69 → 0.65 / 0.58 / 0.72;
/// `extra_diag` split 33 / 40 / 24 → 26 / 35 / 19, best records 165 / 168
/// / 158 and mixed 1 / 13 / 8 unchanged; vellus 0.191 / 0.139 / 0.242;
/// MAE 1.03 / 1.70 / 1.35); crowded 44–50 103 → 103 (one-record 0.251 →
/// 0.254, MAE 2.849), sparse 81–88 40 → 41 (MAE 0.982 → 0.978,
/// one-record 0.604 → 0.609), dense 46 / 40 / 42 and hair-free false
/// hairs 11 unchanged; but the rotation test fails: upright 23 → 20
/// records against rotated 24 → 22 (10 %). The same with the sample also
/// centred (as dark as the darkest near it): 198 / 223 / 192, rotation
/// the same 20 / 22; with ends side by side left out (the branch's form,
/// one or two samples there): the same 194 / 223 / 190 and 20 / 22.
/// Left: which of the invariance scene's light gaps the rule joins
/// upright and not rotated (the three upright joins take the count under
/// truth, 23: right joins that show lost hairs, or wrong ones).
/// Answered after the merge (`HAIRS_VERBOSE=1` on the rotation test and
/// `SCENE_DIAG=fov,3,51 SCENE_SIZE=1033,1033 SCENE_ROT=0|30 SCENE_CROSS=1`
/// on branch `hsplit28`): the upright joins are right. Upright, truth 2 (a
/// light 81 µm shaft, contrast 0.42, crossing six hairs) becomes one record
/// of 6 pieces; the upright field then has no split and no mixed record, and
/// its 20 records of 23 are short by the 4 hairs that both orientations
/// miss (truth 10, 17, 19, 26). Rotated by 30°, truth 2 has ridge maxima
/// over only 0.63 of its axis (0.76 upright; analysable 0.86 against 0.98)
/// and stays split into 3 records (2 splits, 22 records). So the failing
/// bound is a detection asymmetry that the change exposes; the joins
/// themselves are not wrong.
/// Merged on main in session 28 (the summary's diameter figures without
/// records that have no width profile, `HairShaft::diameter_measured`;
/// `hood28`'s noise-aware half-depth walk, `profile::stays_below`, merged
/// and then reverted, see `diameters_under_three_times_the_sensor_noise`):
/// 201 / 228 / 195 (vellus 0.189 / 0.140 / 0.233, one-record 0.64 / 0.57
/// / 0.69, MAE 1.03 / 1.71 / 1.38); crowded 44–50 sum |count error| 103
/// (MAE 2.849, all bounds 2 of 21), sparse 81–88 40 (MAE 0.982, all bounds
/// 10 → 12 of 24: records without profiles no longer read vellus), dense
/// 46 / 40 / 42. With the walk: 200 / 227 / 197, crowded 104 (MAE 2.742),
/// sparse 39 (0.977), dense 46 / 40 / 43.
#[test]
#[ignore = "not reached: whole-field counts +12 to +23 % (200 / 227 / 197 of 178 / 185 / 168), vellus 0.190 / 0.141 / 0.231 of 0.219 / 0.195 / 0.274 (see doc comment)"]
fn whole_field_count_and_vellus_fraction() {
    let mut fails = Vec::new();
    for seed in [201, 202, 203] {
        let c = render(2000, 1500, 5.5, seed, &sparse(), NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, false);
        print(&r, &format!("whole field seed {seed}"));
        let rel = (r.count_det as f64 - r.count_truth as f64).abs() / r.count_truth as f64;
        if rel > 0.10 || (r.vellus_det - r.vellus_truth).abs() > 0.05 {
            fails.push(seed);
        }
    }
    assert!(fails.is_empty(), "not reached for seeds {fails:?}");
}

/// The issue's count bound (within 10 % of truth) on a dense scene: 600
/// hairs per cm² (units 200 µm apart), where hair covers about two thirds
/// of the image (`ood_sweep`'s `dense-600`; 2.4 × 1.8 mm at 3.5 µm/px).
/// Not reached (main of session 19, 2026-11-27): seeds 202 / 203 / 204
/// count 24 / 58, 25 / 65, 32 / 72; at 1000 per cm² (86 % cover) 9 / 114,
/// 14 / 107, 18 / 118. Where hair covers more than half the image, the
/// detection's robust noise level (the median ridge strength, which assumes
/// hair covers well under half) is a hair's strength: 0.097 at 600 per cm²
/// against 0.006 on the sparse scene, so the hysteresis high threshold is
/// 0.58 instead of the 0.05 floor; and the local skin level (block median
/// OD) is the hair's own level in blocks more than half covered. Measuring
/// the noise over pixels less than 0.2 OD above the skin level gave 39 /
/// 58, 36 / 65, 48 / 72 but false hairs on strongly textured hair-free
/// skin (`none:furrow-texture` 4 → 8–10 per image); adding a lower-quartile
/// skin level 48 / 58, 44 / 65, 52 / 72 with 26–32 false hairs there: not
/// kept.
/// Session 20: where the image's noise level lifts the thresholds above
/// their floors and blocks whose median lies far above their lowest
/// population (`kernels::block_lowest_levels`) with most of the pixels above
/// it on ridges (hair mats, not scales) cover half the image or more, those
/// blocks take the lowest population's level as the skin's and the noise
/// level is measured over the skin's pixels: 53 / 58, 49 / 65, 45 / 72
/// (matched 29, 30, 26; extra records counted in: seed 202 has 15
/// duplicates and 9 off-truth records), `ood_sweep` dense-600 seeds 201 /
/// 202 26 → 41 / 63, 24 → 53 / 58, dense-1000 18 → 37 / 78 and 9 → 9 / 114
/// (mats 49 % of the blocks: below the gate); hair-free scenes, the crowded
/// and sparse surveys unchanged. Still under: in a mat most lost hairs
/// have their mask and maxima but lose their pieces in tracing
/// (`SCENE_DIAG=dense,3.5,203`: "maxima, pieces dropped"), the profile
/// support tests seeing other hairs instead of skin beside them.
/// Session 25 (`hsplit25`, stub ends bridged with their chain's width,
/// see `whole_field_count_and_vellus_fraction`): 49 / 42 / 44 → 48 / 41 /
/// 43 (without its 15-width cap 47 / 40 / 42: of six links on stub ends
/// three joined two shafts across 16–22 widths of mat).
/// Crowded units (session 27, branch `hunit27`, main 2342b8a; `scene_diag`
/// `UNIT` / `MISS` lines: a shaft is lost when no record covers 60 % of its
/// axis and all records together do not either). Crowded 44–50 (21 cases,
/// 525 counted shafts): 192 lost, 125 of them with no record over 20 % of
/// the axis; first stage below 60 % (no record in brackets): mask without
/// NMS maxima 76 (51), maxima but pieces dropped (junction discs, the walk)
/// 40 (27), kept pieces not traced as one 35 (13), traced but rejected 23
/// (20; 12 short frame-cut shafts with no mate, `length`), pieces failing
/// profile support 11 (7), not in the mask 7 (7). Dense 202–204 (195
/// shafts): 137 lost, 84 with no record: maxima but pieces dropped 58 (35),
/// mask without maxima 35 (27), kept pieces not traced 25 (9), support 12
/// (5), rejected 8 (8): in the mat every stage loses some. By the unit, of
/// the 125 crowded shafts with no record: 26 lie in a bundle with a
/// unit-mate that never parts from it in the frame (clearance ≤ 50 µm, the
/// band ≥ 30 % wider than the mate over ≥ 100 µm; mostly frame-cut near the
/// edge, their pieces at the saturated width guess with no width samples,
/// e.g. seed 46's four-hair unit #26–29 at every scale), 24 part from their
/// mate by 50–880 µm (14 with no maxima, 9 of those light hairs beside a
/// dark mate: 45 #14 and 48 #9 at every scale), 35 have a mate apart and 40
/// none (other units' crossings, frame-cut stubs). Mates that part and keep
/// their maxima mostly have a measured piece on their free stretch and a
/// record over 20–47 % of the axis (counted). So merged unit-mates are the
/// largest class in crowded scenes, but what loses them is a band that
/// never parts in the frame or a light mate's weak ridge, not a missed
/// fork. Tried (commit 99acbb6, reverted): `band::step_at`, a piece whose
/// end stretch reads ≥ 1.3 × the rest's width (≥ 3 samples each, the
/// stretch ≥ 1.5 widths long) with another measured piece's end beside the
/// step (within the fork reach, pointing along the band within 35°,
/// ≥ 0.3 band widths off its axis, widths adding up as a fork's) is cut at
/// the step and its band stretch split as a forked band. It fires 2 times
/// on crowded 44–50, 2 on sparse 81–88 (one hair per unit: wrong), 8 on
/// the whole fields, 3 on dense: crowded sum |count error| 94 → 93 (MAE
/// 2.843 → 2.862), sparse 39 → 39, whole field 206 / 237 / 205 → 206 / 241
/// / 207, dense 48 / 41 / 43 → 47 / 41 / 46, and the rotation test fails
/// (25 shafts against 23): a shallow crossing widens a piece the same way.
/// With no piece continuing past the band's end (a crossing hair goes on):
/// fires 1 / 0 / 2 / 1, crowded 94, sparse 39, whole field 206 / 237 / 204,
/// dense 47 / 41 / 43, rotation still 25 against 23. Not kept: the pattern
/// is rare where mates are lost. Nor is the piece walk where the dense
/// scenes' maxima are lost: walking every remainder of a component of at
/// least 6 detection px (`trace::pieces`, was 12) leaves dense 48 / 41 /
/// 43, crowded 94 (MAE 2.841, one-record 0.247) and sparse 39 as they
/// were (whole field 206 / 238 / 205). Nor the forks' width sum: letting
/// a band be as narrow as 0.55 of its branches' summed widths (was 0.7:
/// overlapping mates) changes crowded, dense and sparse not at all (whole
/// field 206 / 236 / 205): where mates are lost no fork with two measured
/// branches is traced. Left: a bundle's count from its width where it
/// never parts (its pieces unmeasured at the widest scale) and the light
/// mates' ridges.
#[test]
#[ignore = "not reached: dense-scene counts −21 to −40 % (46 / 40 / 43 of 58 / 65 / 72) (see doc comment)"]
fn dense_scene_count() {
    let hs = HairSceneSpec {
        density_per_cm2: 600.0,
        unit_spacing_um: 200.0,
        ..HairSceneSpec::default()
    };
    let mut fails = Vec::new();
    for seed in [202, 203, 204] {
        let (w, h) = size(3.5);
        let c = render(w, h, 3.5, seed, &hs, NUISANCE);
        let st = run(&c);
        let r = evaluate(&c, &st, false);
        print(&r, &format!("dense seed {seed}"));
        let rel = (r.count_det as f64 - r.count_truth as f64).abs() / r.count_truth as f64;
        if rel > 0.10 {
            fails.push(seed);
        }
    }
    assert!(fails.is_empty(), "not reached for seeds {fails:?}");
}

/// Development diagnostic (session 26, branch `hoff26`): every record that
/// is not the best record of a truth shaft, by category: `split` (on one
/// truth shaft, most of it away from that shaft's best record: a separate
/// piece), `double` (on one truth shaft, mostly within reach of the best
/// record: side by side or overlapping it), `mixed` (on truth shafts but
/// under 60 % on any one), `edge` (off the 20 µm tubes but inside a
/// counted truth shaft's body), `uncounted` (on a shaft too short to
/// count), `skin` (on none). Per record its length, width, contrast, width
/// samples per 10 px, and the share of its centreline inside a longer
/// record's painted width (half the other's width plus 1 px), with that
/// record. Then, for a few candidate removal rules, the records each would
/// remove by category (best records too: those are the losses).
/// `EXTRA_KIND=sparse EXTRA_UPPS=5.5 EXTRA_SIZE=2000,1500 (or frame)
/// EXTRA_SEEDS=201,202,203 cargo test --release -p trichometry --test hairs
/// extra_diag -- --ignored --nocapture`.
#[test]
#[ignore]
fn extra_diag() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or(d.into());
    let seeds: Vec<u64> = env("EXTRA_SEEDS", "201,202,203")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let upps: Vec<f64> = env("EXTRA_UPPS", "5.5")
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let kind = env("EXTRA_KIND", "sparse");
    let size_s = env("EXTRA_SIZE", "2000,1500");
    let cats = [
        "best",
        "split",
        "double",
        "mixed",
        "edge",
        "uncounted",
        "skin",
    ];
    let rules = [
        "inside>=0.8 longer",
        "inside>=0.5 longer",
        "inside>=0.8 narrower",
        "inside>=0.6 narrower",
        "len<250um",
        "len<3w",
        "samples<3",
        "in>=0.5&len<300",
    ];
    let mut tally = vec![[0usize; 7]; rules.len()];
    let mut tally_lost = vec![0usize; rules.len()];
    let mut totals = [0usize; 7];
    for &upp in &upps {
        for &seed in &seeds {
            let (w, h) = if size_s == "frame" {
                size(upp)
            } else {
                let v: Vec<usize> = size_s.split(',').map(|s| s.parse().unwrap()).collect();
                (v[0], v[1])
            };
            let hs = match kind.as_str() {
                "crowded" => HairSceneSpec::default(),
                "dense" => HairSceneSpec {
                    density_per_cm2: 600.0,
                    unit_spacing_um: 200.0,
                    ..HairSceneSpec::default()
                },
                _ => sparse(),
            };
            let c = render(w, h, upp, seed, &hs, NUISANCE);
            let st = run(&c);
            let tol = 4.0f64.max(20.0 / c.upp);
            let tb = tubes(&c.truth, w, h, tol);
            let m = match_shafts(&st, &tb);
            let best = best_per_truth(&st, &m);
            let best_of: std::collections::BTreeMap<usize, u32> =
                best.iter().map(|(&id, &(k, _))| (k, id)).collect();
            let n = st.shafts.len();
            let wpx: Vec<f64> = st.shafts.iter().map(|s| s.diameter_um / upp).collect();
            let bbox: Vec<[f32; 4]> = st
                .shafts
                .iter()
                .map(|s| {
                    s.centreline_px
                        .iter()
                        .fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
                            [
                                b[0].min(p[0]),
                                b[1].min(p[1]),
                                b[2].max(p[0]),
                                b[3].max(p[1]),
                            ]
                        })
                })
                .collect();
            // Share of record a's points within r of record b's centreline.
            let share_near = |a: usize, b: usize, r: f64| -> f64 {
                let (ba, bb) = (bbox[a], bbox[b]);
                let rf = r as f32;
                if ba[0] > bb[2] + rf
                    || bb[0] > ba[2] + rf
                    || ba[1] > bb[3] + rf
                    || bb[1] > ba[3] + rf
                {
                    return 0.0;
                }
                let pa = &st.shafts[a].centreline_px;
                let pb = &st.shafts[b].centreline_px;
                let r2 = (r * r) as f32;
                let k = pa
                    .iter()
                    .filter(|p| {
                        pb.iter()
                            .any(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) <= r2)
                    })
                    .count();
                k as f64 / pa.len() as f64
            };
            // Inside a longer record: best share and which.
            let inside: Vec<(f64, Option<usize>)> = (0..n)
                .map(|a| {
                    let mut bst = (0.0, None);
                    for (b, wb) in wpx.iter().enumerate() {
                        if b == a || st.shafts[b].length_um <= st.shafts[a].length_um {
                            continue;
                        }
                        let s = share_near(a, b, 0.5 * wb + 1.0);
                        if s > bst.0 {
                            bst = (s, Some(b));
                        }
                    }
                    bst
                })
                .collect();
            // Truth body: share of points within a shaft's radius + 1.5 px.
            let body = |a: usize| -> (f64, Option<&trichometry::synth::hairs::HairTruthShaft>) {
                let pa = &st.shafts[a].centreline_px;
                let mut bst = (0.0, None);
                for t in &c.truth.shafts {
                    let r = 0.5 * t.diameter_um / upp + 1.5;
                    let k = pa
                        .iter()
                        .filter(|p| {
                            t.centreline_px.iter().any(|q| {
                                (p[0] as f64 - q[0]).powi(2) + (p[1] as f64 - q[1]).powi(2) <= r * r
                            })
                        })
                        .count();
                    let s = k as f64 / pa.len() as f64;
                    if s > bst.0 {
                        bst = (s, Some(t));
                    }
                }
                bst
            };
            let mut counts = [0usize; 7];
            for k in 0..n {
                let s = &st.shafts[k];
                let pair = m.pairs.iter().find(|p| p.0 == k);
                let on_any = {
                    let hit = s
                        .centreline_px
                        .iter()
                        .filter(|p| {
                            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
                            x < w && y < h && !tb.ids[y * w + x].is_empty()
                        })
                        .count();
                    hit as f64 / s.centreline_px.len() as f64
                };
                let mut note = String::new();
                let cat = if best_of.contains_key(&k) {
                    0
                } else if let Some(&(_, id, _)) = pair.filter(|p| p.2 >= 0.6) {
                    let bk = best[&id].0;
                    let ov = share_near(k, bk, tol.max(0.5 * wpx[bk] + 1.0));
                    note = format!("truth {id} best det {} overlap {ov:.2}", st.shafts[bk].id);
                    if ov >= 0.5 {
                        2
                    } else {
                        1
                    }
                } else if on_any >= 0.6 {
                    note = format!("on tubes {on_any:.2} own {:.2}", pair.map_or(0.0, |p| p.2));
                    3
                } else {
                    let (bs, bt) = body(k);
                    match bt {
                        Some(t) if bs >= 0.6 => {
                            // That shaft's best record, and the share of
                            // this one within its reach.
                            let host = best.get(&t.id).map(|&(bk, _)| {
                                (st.shafts[bk].id, share_near(k, bk, 0.5 * wpx[bk] + 1.0))
                            });
                            note = format!(
                                "in body of truth {} d {:.0} share {bs:.2} best {host:.2?}",
                                t.id, t.diameter_um
                            );
                            if t.counted {
                                4
                            } else {
                                5
                            }
                        }
                        _ => {
                            note = format!("body {bs:.2} tubes {on_any:.2}");
                            6
                        }
                    }
                };
                counts[cat] += 1;
                let (ins, other) = inside[k];
                let len_px = s.length_um / upp;
                let flags = [
                    ins >= 0.8,
                    ins >= 0.5,
                    ins >= 0.8 && other.is_some_and(|o| wpx[o] > wpx[k]),
                    ins >= 0.6 && other.is_some_and(|o| wpx[o] > wpx[k]),
                    s.length_um < 250.0,
                    len_px < 3.0 * wpx[k],
                    s.width_samples < 3,
                    ins >= 0.5 && s.length_um < 300.0,
                ];
                for (r, &f) in flags.iter().enumerate() {
                    if f {
                        tally[r][cat] += 1;
                        // A best record flagged inside a record that is not on
                        // its own truth shaft: a lost hair.
                        if cat == 0 {
                            let id = best_of[&k];
                            let covered = other.is_some_and(|o| {
                                m.pairs.iter().any(|p| p.0 == o && p.1 == id && p.2 >= 0.6)
                            });
                            if !covered || matches!(r, 4..=6) {
                                tally_lost[r] += 1;
                            }
                        }
                    }
                }
                if cat != 0 || std::env::var("EXTRA_ALL").is_ok() {
                    let p0 = s.centreline_px[0];
                    let pn = s.centreline_px[s.centreline_px.len() - 1];
                    println!(
                        "EXTRA {kind} {upp} {seed} {} det {} len {:.0} d {:.1} iqr {:.1} c {:.2} n {} n/10px {:.2} pieces {} inside {ins:.2} of {} (d {:.1}) at [{:.0},{:.0}]..[{:.0},{:.0}] {note}",
                        cats[cat],
                        s.id,
                        s.length_um,
                        s.diameter_um,
                        s.diameter_iqr_um,
                        s.contrast,
                        s.width_samples,
                        10.0 * s.width_samples as f64 / len_px.max(1.0),
                        s.pieces,
                        other.map_or(0, |o| st.shafts[o].id),
                        other.map_or(f64::NAN, |o| st.shafts[o].diameter_um),
                        p0[0], p0[1], pn[0], pn[1],
                    );
                }
            }
            println!(
                "EXTRA-COUNTS {kind} {upp} {seed}: records {n} truth {} {}",
                c.truth.hair_count,
                cats.iter()
                    .zip(counts)
                    .map(|(c, k)| format!("{c} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for (t, k) in totals.iter_mut().zip(counts) {
                *t += k;
            }
        }
    }
    println!(
        "EXTRA-TOTAL {}",
        cats.iter()
            .zip(totals)
            .map(|(c, k)| format!("{c} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (r, name) in rules.iter().enumerate() {
        println!(
            "RULE {name:>22}: {} (best records flagged whose hair no other record holds: {})",
            cats.iter()
                .zip(tally[r])
                .map(|(c, k)| format!("{c} {k}"))
                .collect::<Vec<_>>()
                .join(", "),
            tally_lost[r]
        );
    }
}

/// Diameters under three times the realistic sensor noise (issue #3: the
/// hair stage is judged on images of other styles too): the sparse scene
/// at 3.5 µm/px (1000 × 743 px) through the phantom's realistic optics with
/// the noise's σ tripled (full well ÷ 9, read noise × 3), seeds 202–204.
/// The issue's diameter bounds: MAE ≤ 3 µm, |bias| ≤ 2 µm over shafts ≥ 4
/// px wide. On main before `profile::stays_below` (the half-depth walk
/// ended at the first sample below half, so a noise dip inside a faint
/// shaft ended it) `ood_sweep`'s `ood_hair_sweep` case `noise-3x`
/// read MAE 3.71 / 5.27 / 3.46 µm, bias −0.88 / −3.62 / −1.96 on these
/// seeds (translucent shafts of 80–96 µm read 20–68 µm).
/// With it (a crossing holds where the profile stays below half for a
/// pixel or falls below it by twice the background's MAD) the test passed:
/// MAE 1.68 / 1.51 / 2.07, bias −0.15 / −0.17 / −0.38. Reverted before
/// landing in session 28: the same walk measures `compare`'s re-checked
/// hairs, and `recheck_finds_missed_hairs_and_keeps_true_changes` then
/// found 18 thickened hairs among the re-measured against 21 with every
/// hair detected (bound ±2; 20 and within it without the walk), and the
/// null pairs' false thinned calls rose 6 → 9. Without it, on the stage
/// alone: MAE 3.72 / 5.36 / 3.46, bias −0.86 / −3.97 / −1.96.
///
/// Re-landed (session 29, branch `hwalk29`). Why compare moved, measured
/// with the walk switchable per call: the re-checked hairs' calls did not
/// move at all (18 thickened with or without the walk, every re-measured
/// diameter within 0.03 µm); the reference run with every hair detected
/// moved 20 → 21, the walk finding a true thickening main missed
/// (follow-up 85, 87.9 → 102.9 µm: the follow-up read 88.5 µm on main,
/// 100.9 µm with the walk). The three calls the re-checked run lacks
/// are the same on main: follow-up 22 (its dropped baseline hair stays
/// a false gain), 39 (paired by geometry with a 27.6 µm unit-mate of the
/// dropped 88.9 µm hair) and 92 (re-checked by a stub probe: no
/// diameter). The null pairs' false thinned calls 6 → 9: 2 from the
/// stage's records, 1 from compare's paired measurement, which sized
/// each visit's profile window by that visit's record, so a record error
/// gave the two visits different windows and walks (see
/// `compare::PairedCtx::change`). One window at both visits: null pairs
/// thinned / thickened 9 / 2 → 5 / 2 (main 6 / 2), gained / lost 31 / 25
/// (main 32 / 25); the re-check test 18 of 21 → 17 of 19 (the reference
/// run loses two marginal calls on baseline profiles reading 131–145 µm
/// for 86–89 µm hairs: paired change 8.9 → 8.5 µm against 8.6, and one
/// whose spread grew); every non-ignored compare test passes;
/// end-to-end pair −8 → −7 vs −29 (gained 12, lost 19; thinned 2,
/// thickened 1). The background's MAD is taken only when a walk meets a
/// sample below half that does not stay below for a pixel, its median
/// in place (the same bits).
#[test]
fn diameters_under_three_times_the_sensor_noise() {
    use trichometry::synth::optics::{OpticsSpec, SensorNoise};
    let r = OpticsSpec::realistic();
    let n = r.noise.unwrap();
    let k = OodCase {
        name: "noise-3x".into(),
        upp: 3.5,
        w: 1000,
        h: 743,
        hs: sparse(),
        skin: trichometry::synth::skin::SkinSpec::default(),
        vessels: false,
        look: Look::Spec(OpticsSpec {
            noise: Some(SensorNoise {
                full_well: n.full_well / 9.0,
                read_noise: n.read_noise * 3.0,
            }),
            ..r
        }),
    };
    let mut fails = Vec::new();
    for seed in [202, 203, 204] {
        let (c, _) = render_ood(&k, seed);
        let st = run(&c);
        let rep = evaluate(&c, &st, false);
        print(&rep, &format!("noise ×3 seed {seed}"));
        if rep.mae > 3.0 || rep.bias.abs() > 2.0 {
            fails.push((seed, rep.mae, rep.bias));
        }
    }
    assert!(
        fails.is_empty(),
        "(seed, MAE, bias) out of bounds: {fails:?}"
    );
}
