//! Scoring of the hair stage against phantom truth, shared by the hair
//! tests (`tests/hairs.rs`) and the out-of-distribution survey
//! (`tests/ood_sweep.rs`): truth tubes, one detected record per truth shaft,
//! count, diameter MAE / bias over shafts ≥ 4 px wide, crossing one-record
//! fraction, vellus fraction, mixed and split records, extra records.
#![allow(dead_code)] // each test crate uses a part

use trichometry::color::LinearRgb;
use trichometry::hairs::HairStage;
use trichometry::image::Mask;
use trichometry::synth::hairs::HairTruth;

/// A rendered hair scene: linear RGB, truth, scale and the analysed area.
pub struct Case {
    pub rgb: LinearRgb,
    pub truth: HairTruth,
    pub upp: f64,
    pub valid: Mask,
}

/// Truth tubes: for each pixel, the truth shafts whose visible centreline
/// passes within `tol` px.
pub struct Tubes {
    pub w: usize,
    pub h: usize,
    pub ids: Vec<Vec<u32>>,
}

pub fn tubes(t: &HairTruth, w: usize, h: usize, tol: f64) -> Tubes {
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); w * h];
    for s in t.shafts.iter().filter(|s| s.counted) {
        let r = tol + 0.5 * s.diameter_um * 0.0;
        for p in &s.centreline_px {
            let (x0, x1) = (
                (p[0] - r).floor().max(0.0) as usize,
                (p[0] + r).ceil() as usize,
            );
            let (y0, y1) = (
                (p[1] - r).floor().max(0.0) as usize,
                (p[1] + r).ceil() as usize,
            );
            for y in y0..=y1.min(h - 1) {
                for x in x0..=x1.min(w - 1) {
                    if (x as f64 - p[0]).powi(2) + (y as f64 - p[1]).powi(2) <= r * r {
                        let v = &mut ids[y * w + x];
                        if !v.contains(&s.id) {
                            v.push(s.id);
                        }
                    }
                }
            }
        }
    }
    Tubes { w, h, ids }
}

pub struct Matched {
    /// (detected index, truth id, fraction of detected points on the truth)
    pub pairs: Vec<(usize, u32, f64)>,
}

/// One detected shaft per truth shaft: the one with the most centreline
/// points on it (of those with ≥ 60 % of their points on it).
pub fn best_per_truth(
    st: &HairStage,
    m: &Matched,
) -> std::collections::BTreeMap<u32, (usize, f64)> {
    let mut best: std::collections::BTreeMap<u32, (usize, f64)> = Default::default();
    for &(k, id, frac) in &m.pairs {
        if frac < 0.6 {
            continue;
        }
        let n = st.shafts[k].centreline_px.len() as f64 * frac;
        let e = best.entry(id).or_insert((k, 0.0));
        if n > e.1 {
            *e = (k, n);
        }
    }
    best
}

/// Records beyond one per truth shaft: second records on a matched shaft
/// (`dup`) and records on no shaft (`off`), with their median length; and
/// the truth shafts with a record (`matched`).
pub struct Extra {
    pub matched: usize,
    pub dup: usize,
    pub off: usize,
    pub median_len_um: f64,
}

pub fn extra_records(c: &Case, st: &HairStage) -> Extra {
    let tol = 4.0f64.max(20.0 / c.upp);
    let m = match_shafts(st, &tubes(&c.truth, c.rgb.width, c.rgb.height, tol));
    let best = best_per_truth(st, &m);
    let kept: std::collections::BTreeSet<usize> = best.values().map(|v| v.0).collect();
    let (mut dup, mut off, mut lens) = (0, 0, Vec::new());
    for (i, sh) in st.shafts.iter().enumerate() {
        if kept.contains(&i) {
            continue;
        }
        match m.pairs.iter().find(|p| p.0 == i) {
            Some(p) if p.2 >= 0.6 => dup += 1,
            _ => off += 1,
        }
        lens.push(sh.length_um);
    }
    lens.sort_by(f64::total_cmp);
    Extra {
        matched: best.len(),
        dup,
        off,
        median_len_um: lens.get(lens.len() / 2).copied().unwrap_or(f64::NAN),
    }
}

pub fn match_shafts(st: &HairStage, tb: &Tubes) -> Matched {
    let mut pairs = Vec::new();
    for (k, s) in st.shafts.iter().enumerate() {
        let mut votes: std::collections::BTreeMap<u32, usize> = Default::default();
        for p in &s.centreline_px {
            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
            if x < tb.w && y < tb.h {
                for &id in &tb.ids[y * tb.w + x] {
                    *votes.entry(id).or_default() += 1;
                }
            }
        }
        if let Some((&id, &n)) = votes
            .iter()
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse(**id)))
        {
            pairs.push((k, id, n as f64 / s.centreline_px.len() as f64));
        }
    }
    Matched { pairs }
}

/// Fraction of truth shaft `id`'s visible centreline within `tol` of the
/// detected shaft `d`.
pub fn coverage(
    t: &HairTruth,
    id: u32,
    d: &trichometry::hairs::HairShaft,
    w: usize,
    h: usize,
    tol: f64,
) -> f64 {
    let s = t.shafts.iter().find(|s| s.id == id).unwrap();
    let vis: Vec<&[f64; 2]> = s
        .centreline_px
        .iter()
        .filter(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= (w - 1) as f64 && p[1] <= (h - 1) as f64)
        .collect();
    if vis.is_empty() {
        return 0.0;
    }
    let near = vis
        .iter()
        .filter(|p| {
            d.centreline_px
                .iter()
                .any(|q| (q[0] as f64 - p[0]).powi(2) + (q[1] as f64 - p[1]).powi(2) <= tol * tol)
        })
        .count();
    near as f64 / vis.len() as f64
}

pub struct Report {
    pub count_truth: usize,
    pub count_det: usize,
    pub mae: f64,
    pub bias: f64,
    pub n_diam: usize,
    pub crossing_one_record: f64,
    /// Crossing shafts covered ≥ 80 % by all records together.
    pub crossing_covered: f64,
    pub n_crossing: usize,
    pub vellus_truth: f64,
    pub vellus_det: f64,
    /// Records with at least a quarter of their centreline on a second
    /// truth shaft and off their own (wrong joins).
    pub mixed: usize,
    /// Truth shafts with at least a fifth of their visible centreline in
    /// each of two or more records (missed joins).
    pub split: usize,
}

pub fn evaluate(c: &Case, st: &HairStage, verbose: bool) -> Report {
    let (w, h) = (c.rgb.width, c.rgb.height);
    let tol = 4.0f64.max(20.0 / c.upp);
    let tb = tubes(&c.truth, w, h, tol);
    let m = match_shafts(st, &tb);
    // Diameters over truth shafts ≥ 4 px wide; one detected shaft per truth
    // shaft (the one with the most points on it).
    if verbose {
        for (k, d) in st.shafts.iter().enumerate() {
            let fr = m
                .pairs
                .iter()
                .find(|p| p.0 == k)
                .map(|p| p.2)
                .unwrap_or(0.0);
            if std::env::var("HAIRS_DETS").is_ok() {
                let n = d.centreline_px.len();
                println!(
                    "det {} -> truth {:?} len {:.0} d {:.1} n {} pieces {} ends {:?}..{:?}",
                    d.id,
                    m.pairs.iter().find(|p| p.0 == k).map(|p| p.1),
                    d.length_um,
                    d.diameter_um,
                    d.width_samples,
                    d.pieces,
                    d.centreline_px[0].map(f32::round),
                    d.centreline_px[n - 1].map(f32::round)
                );
            }
            if fr < 0.6 {
                println!(
                    "unmatched det {} frac {fr:.2} len {:.0} d {:.1} n {} contrast {:.2} pieces {} at {:?}",
                    d.id, d.length_um, d.diameter_um, d.width_samples, d.contrast, d.pieces, d.centreline_px[0]
                );
            }
        }
    }
    let best = best_per_truth(st, &m);
    if verbose {
        for t in c.truth.shafts.iter().filter(|t| t.counted) {
            if best.contains_key(&t.id) {
                continue;
            }
            let v: Vec<&[f64; 2]> = t
                .centreline_px
                .iter()
                .filter(|p| {
                    p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= (w - 1) as f64 && p[1] <= (h - 1) as f64
                })
                .collect();
            let mut cv: Vec<(f64, u32)> = st
                .shafts
                .iter()
                .map(|d| (coverage(&c.truth, t.id, d, w, h, tol), d.id))
                .filter(|x| x.0 > 0.02)
                .collect();
            cv.sort_by(|a, b| b.0.total_cmp(&a.0));
            println!(
                "missed truth {} d {:.1} light {} vis {:.0} µm, {} pts in frame from {:?} to {:?} cross {:?}; covered by {cv:.2?}",
                t.id,
                t.diameter_um,
                t.light,
                t.visible_length_um,
                v.len(),
                v.first().map(|p| [p[0].round(), p[1].round()]),
                v.last().map(|p| [p[0].round(), p[1].round()]),
                t.crosses
            );
        }
    }
    let mut errs = Vec::new();
    for (&id, &(k, _)) in &best {
        let t = c.truth.shafts.iter().find(|s| s.id == id).unwrap();
        let d = &st.shafts[k];
        if verbose {
            println!(
                "truth {id} d {:.1} light {} cross {:?} -> det {} d {:.1} iqr {:.1} n {} pieces {} contrast {:.2}",
                t.diameter_um, t.light, t.crosses, d.id, d.diameter_um, d.diameter_iqr_um, d.width_samples, d.pieces, d.contrast
            );
        }
        if t.diameter_um / c.upp >= 4.0 && d.width_samples >= 3 {
            errs.push(d.diameter_um - t.diameter_um);
        }
    }
    let n_diam = errs.len();
    let mae = errs.iter().map(|e| e.abs()).sum::<f64>() / n_diam.max(1) as f64;
    let bias = errs.iter().sum::<f64>() / n_diam.max(1) as f64;
    // Crossing shafts: one detected record covers ≥ 80 % of the visible truth.
    let crossing: Vec<u32> = c
        .truth
        .shafts
        .iter()
        .filter(|s| s.counted && !s.crosses.is_empty())
        .map(|s| s.id)
        .collect();
    let mut ok = 0;
    // Crossing shafts covered ≥ 80 % by all records together (the others of
    // those not in one record are split, not lost).
    let mut covered_any = 0;
    for &id in &crossing {
        let t = c.truth.shafts.iter().find(|s| s.id == id).unwrap();
        let vis: Vec<&[f64; 2]> = t
            .centreline_px
            .iter()
            .filter(|p| {
                p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= (w - 1) as f64 && p[1] <= (h - 1) as f64
            })
            .collect();
        let near = vis
            .iter()
            .filter(|p| {
                st.shafts.iter().any(|d| {
                    d.centreline_px.iter().any(|q| {
                        (q[0] as f64 - p[0]).powi(2) + (q[1] as f64 - p[1]).powi(2) <= tol * tol
                    })
                })
            })
            .count();
        if !vis.is_empty() && near as f64 >= 0.8 * vis.len() as f64 {
            covered_any += 1;
        }
    }
    for &id in &crossing {
        let covered = st
            .shafts
            .iter()
            .map(|d| coverage(&c.truth, id, d, w, h, tol))
            .fold(0.0, f64::max);
        if covered >= 0.8 {
            ok += 1;
        } else if verbose {
            let mut cv: Vec<(f64, u32)> = st
                .shafts
                .iter()
                .map(|d| (coverage(&c.truth, id, d, w, h, tol), d.id))
                .filter(|x| x.0 > 0.02)
                .collect();
            cv.sort_by(|a, b| b.0.total_cmp(&a.0));
            let t = c.truth.shafts.iter().find(|s| s.id == id).unwrap();
            println!(
                "crossing truth {id} d {:.0} light {} best coverage {covered:.2}; by {cv:.2?}",
                t.diameter_um, t.light
            );
        }
    }
    // Joining figures: mixed records and split truth shafts.
    let mut mixed = 0;
    for (k, s) in st.shafts.iter().enumerate() {
        // Points on other truth shafts and not on the record's own.
        let Some(&(_, own, _)) = m.pairs.iter().find(|p| p.0 == k) else {
            continue;
        };
        let mut votes: std::collections::BTreeMap<u32, usize> = Default::default();
        for p in &s.centreline_px {
            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
            if x < tb.w && y < tb.h && !tb.ids[y * tb.w + x].contains(&own) {
                for &id in &tb.ids[y * tb.w + x] {
                    *votes.entry(id).or_default() += 1;
                }
            }
        }
        if votes.values().any(|&v| v * 4 >= s.centreline_px.len()) {
            mixed += 1;
        }
    }
    let split = c
        .truth
        .shafts
        .iter()
        .filter(|t| t.counted)
        .filter(|t| {
            st.shafts
                .iter()
                .filter(|d| coverage(&c.truth, t.id, d, w, h, tol) >= 0.2)
                .count()
                >= 2
        })
        .count();
    Report {
        mixed,
        split,
        count_truth: c.truth.hair_count,
        count_det: st.shafts.len(),
        mae,
        bias,
        n_diam,
        crossing_one_record: ok as f64 / crossing.len().max(1) as f64,
        crossing_covered: covered_any as f64 / crossing.len().max(1) as f64,
        n_crossing: crossing.len(),
        vellus_truth: c.truth.vellus_fraction,
        vellus_det: st.summary.vellus_fraction.unwrap_or(f64::NAN),
    }
}
