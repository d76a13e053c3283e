//! Vessel segmentation: haemoglobin channel, background, inpainting of hair
//! and glare, multi-scale Hessian, contrast hysteresis, half-maximum edges.

use super::VesselParams;
use crate::image::{Labels, Mask, Plane};
use crate::kernels::{
    gaussian_blur, label, max_filter, ridge_and_blob_response, Footprint, Polarity,
};
use rayon::prelude::*;

/// Peak σ²-normalised ridge response of a bar of contrast 1 at its best
/// scale (kernels::hessian module docs): divides the ridge strength into
/// contrast units.
pub(crate) const RIDGE_PEAK: f32 = 0.484;
/// Peak blob response (√det) of a disc of contrast 1 at its best scale.
pub(crate) const BLOB_PEAK: f32 = 0.368;

/// Planes at the working resolution.
pub(crate) struct Work {
    /// Work size.
    pub w: usize,
    /// Work height.
    pub h: usize,
    /// µm per work pixel.
    pub um: f64,
    /// Box-averaged linear R, G, B.
    pub r: Vec<f32>,
    /// Green.
    pub g: Vec<f32>,
    /// Blue.
    pub b: Vec<f32>,
    /// Work pixels that can be analysed (valid, not hair + margin).
    pub ok: Vec<bool>,
    /// Number of analysable input pixels (valid and not hair).
    pub analysable_px: usize,
}

/// Box-downsample by `f`, and mark excluded (glare / hair) work pixels.
pub(crate) fn to_work(
    rgb: &crate::color::LinearRgb,
    valid: &Mask,
    hair: Option<&Mask>,
    f: usize,
    um_per_px: f64,
    hair_margin_px: usize,
) -> Work {
    let (w0, h0) = (rgb.width, rgb.height);
    let (w, h) = (w0.div_ceil(f), h0.div_ceil(f));
    let mut r = vec![0.0f32; w * h];
    let mut g = vec![0.0f32; w * h];
    let mut b = vec![0.0f32; w * h];
    // 0 = fine, 1 = hair, 2 = invalid
    let mut bad = vec![0u8; w * h];
    let mut counts = vec![0usize; h];
    r.par_chunks_mut(w)
        .zip(g.par_chunks_mut(w))
        .zip(b.par_chunks_mut(w))
        .zip(bad.par_chunks_mut(w))
        .zip(counts.par_iter_mut())
        .enumerate()
        .for_each(|(wy, ((((rr, gg), bb), bd), cnt))| {
            let y0 = wy * f;
            let y1 = (y0 + f).min(h0);
            for wx in 0..w {
                let x0 = wx * f;
                let x1 = (x0 + f).min(w0);
                let (mut sr, mut sg, mut sb, mut n) = (0.0f32, 0.0f32, 0.0f32, 0u32);
                let mut flag = 0u8;
                for y in y0..y1 {
                    let row = y * w0;
                    for x in x0..x1 {
                        let i = row + x;
                        sr += rgb.r[i];
                        sg += rgb.g[i];
                        sb += rgb.b[i];
                        n += 1;
                        if !valid.data[i] {
                            flag = 2;
                        } else if hair.is_some_and(|m| m.data[i]) {
                            flag = flag.max(1);
                        } else {
                            *cnt += 1;
                        }
                    }
                }
                let inv = 1.0 / n as f32;
                rr[wx] = sr * inv;
                gg[wx] = sg * inv;
                bb[wx] = sb * inv;
                bd[wx] = flag;
            }
        });
    // Hair margin: dilate hair flags by a square of radius hair_margin_px.
    let mut ok: Vec<bool> = bad.iter().map(|&v| v == 0).collect();
    if hair_margin_px > 0 && bad.contains(&1) {
        let hairf: Vec<f32> = bad.iter().map(|&v| (v == 1) as u8 as f32).collect();
        let grown = max_filter(
            &Plane::from_vec(w, h, hairf),
            hair_margin_px,
            Footprint::Square,
        )
        .data;
        for (o, &gv) in ok.iter_mut().zip(&grown) {
            *o = *o && gv == 0.0;
        }
    }
    Work {
        w,
        h,
        um: um_per_px * f as f64,
        r,
        g,
        b,
        ok,
        analysable_px: counts.iter().sum(),
    }
}

/// h = ln R − ln G (vessels bright), on the work planes.
pub(crate) fn redness(work: &Work) -> Vec<f32> {
    work.r
        .par_iter()
        .zip(work.g.par_iter())
        .map(|(&r, &g)| r.max(1e-4).ln() - g.max(1e-4).ln())
        .collect()
}

/// Local skin background of `h`: medians of analysable pixels in blocks of
/// `block` px, bilinearly interpolated between block centres. Medians make it
/// robust to vessels covering less than half of a block.
pub(crate) fn background(h: &[f32], ok: &[bool], w: usize, hh: usize, block: usize) -> Vec<f32> {
    let block = block.max(4);
    let (nbx, nby) = (w.div_ceil(block), hh.div_ceil(block));
    let mut med = vec![f32::NAN; nbx * nby];
    med.par_chunks_mut(nbx).enumerate().for_each(|(by, row)| {
        let mut vals = Vec::with_capacity(block * block / 4 + block);
        for (bx, m) in row.iter_mut().enumerate() {
            vals.clear();
            // Every other pixel in both directions: the median of a
            // 4 × subsample of a block of ≥ 50² px is as good, 4 × cheaper.
            for y in (by * block..((by + 1) * block).min(hh)).step_by(2) {
                for x in (bx * block..((bx + 1) * block).min(w)).step_by(2) {
                    let i = y * w + x;
                    if ok[i] {
                        vals.push(h[i]);
                    }
                }
            }
            if vals.len() * 20 >= block * block {
                let k = vals.len() / 2;
                let (_, v, _) = vals.select_nth_unstable_by(k, f32::total_cmp);
                *m = *v;
            }
        }
    });
    // Fill blocks without enough skin from their neighbours (deterministic sweeps).
    if med.iter().all(|v| v.is_nan()) {
        return vec![0.0; w * hh];
    }
    while med.iter().any(|v| v.is_nan()) {
        let prev = med.clone();
        for by in 0..nby {
            for bx in 0..nbx {
                if !prev[by * nbx + bx].is_nan() {
                    continue;
                }
                let (mut s, mut n) = (0.0, 0);
                for (dx, dy) in [(-1i32, 0i32), (1, 0), (0, -1), (0, 1)] {
                    let (x, y) = (bx as i32 + dx, by as i32 + dy);
                    if x >= 0 && y >= 0 && (x as usize) < nbx && (y as usize) < nby {
                        let v = prev[y as usize * nbx + x as usize];
                        if !v.is_nan() {
                            s += v;
                            n += 1;
                        }
                    }
                }
                if n > 0 {
                    med[by * nbx + bx] = s / n as f32;
                }
            }
        }
    }
    let mut out = vec![0.0f32; w * hh];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let fy = ((y as f32 + 0.5) / block as f32 - 0.5).clamp(0.0, (nby - 1) as f32);
        let y0 = fy.floor() as usize;
        let y1 = (y0 + 1).min(nby - 1);
        let ty = fy - y0 as f32;
        for (x, o) in row.iter_mut().enumerate() {
            let fx = ((x as f32 + 0.5) / block as f32 - 0.5).clamp(0.0, (nbx - 1) as f32);
            let x0 = fx.floor() as usize;
            let x1 = (x0 + 1).min(nbx - 1);
            let tx = fx - x0 as f32;
            let a = med[y0 * nbx + x0] * (1.0 - tx) + med[y0 * nbx + x1] * tx;
            let b = med[y1 * nbx + x0] * (1.0 - tx) + med[y1 * nbx + x1] * tx;
            *o = a * (1.0 - ty) + b * ty;
        }
    });
    out
}

/// Contrast plane d = h − background, with excluded pixels filled by a
/// normalised convolution of their analysable neighbours that falls back to
/// 0 (the background) where no neighbour is near: hair edges do not ring.
pub(crate) fn contrast_filled(
    h: &[f32],
    bg: &[f32],
    ok: &[bool],
    w: usize,
    hh: usize,
    sigma_px: f32,
) -> Vec<f32> {
    let mut d: Vec<f32> = h
        .iter()
        .zip(bg)
        .zip(ok)
        .map(|((&a, &b), &o)| if o { a - b } else { 0.0 })
        .collect();
    if ok.iter().all(|&o| o) {
        return d;
    }
    let num = gaussian_blur(&Plane::from_vec(w, hh, d.clone()), sigma_px);
    let den = gaussian_blur(
        &Plane::from_vec(w, hh, ok.iter().map(|&o| o as u8 as f32).collect()),
        sigma_px,
    );
    const C: f32 = 0.05; // weight of the background prior
    for i in 0..w * hh {
        if !ok[i] {
            d[i] = num.data[i] / (den.data[i] + C);
        }
    }
    d
}

/// Vesselness in contrast units: the larger of the ridge strength / bar peak
/// and the blob strength / disc peak, max over scales, bright structures.
pub(crate) fn vesselness(d: &[f32], w: usize, h: usize, sigmas_px: &[f32]) -> Vec<f32> {
    let p = Plane::from_vec(w, h, d.to_vec());
    let (ridge, blob) = ridge_and_blob_response(&p, sigmas_px, Polarity::Bright);
    ridge
        .strength
        .data
        .par_iter()
        .zip(blob.strength.data.par_iter())
        .map(|(&r, &b)| (r / RIDGE_PEAK).max(b / BLOB_PEAK))
        .collect()
}

/// What segmentation produced at the working resolution.
pub(crate) struct Segmented {
    /// Groups (one capillary each), 0 elsewhere.
    pub labels: Labels,
    /// Edge threshold on d per work pixel (background-relative, ln units).
    pub edge: Vec<f32>,
    /// Background of h.
    pub bg: Vec<f32>,
}

/// Hysteresis on vesselness and contrast, half-maximum edges, grouping.
pub(crate) fn segment(work: &Work, params: &VesselParams) -> Segmented {
    let (w, h, um) = (work.w, work.h, work.um);
    let hch = redness(work);
    let block = (params.background_block_um / um).round().max(4.0) as usize;
    // White and yellow dots, scales: much brighter than the skin. They are
    // not skin, and JPEG rings (darker, redder) around them, so they are
    // excluded like glare, with the hair margin.
    let lny: Vec<f32> = (0..w * h)
        .into_par_iter()
        .map(|i| {
            (0.2126 * work.r[i] + 0.7152 * work.g[i] + 0.0722 * work.b[i])
                .max(1e-4)
                .ln()
        })
        .collect();
    let bg_y = background(&lny, &work.ok, w, h, block);
    // Hair the hair stage left unmasked (ends, shafts it rejected, shafts at
    // the frame): melanin absorbs red nearly as much as green, blood hardly
    // absorbs red. Pixels much darker than the skin in red are hair and are
    // excluded like the bright ones, with the hair margin (their edges ring
    // redder after blur and JPEG).
    let lnr: Vec<f32> = work.r.par_iter().map(|&r| r.max(1e-4).ln()).collect();
    let bg_r = background(&lnr, &work.ok, w, h, block);
    let (be, de) = (params.bright_exclude as f32, params.dark_red_exclude as f32);
    let bright: Vec<f32> = (0..w * h)
        .into_par_iter()
        .map(|i| (lny[i] - bg_y[i] >= be || lnr[i] - bg_r[i] <= -de) as u8 as f32)
        .collect();
    let margin = (params.hair_margin_um / um).ceil() as usize;
    let ok: Vec<bool> = if bright.iter().any(|&b| b > 0.0) {
        let grown = max_filter(&Plane::from_vec(w, h, bright), margin, Footprint::Square).data;
        work.ok
            .iter()
            .zip(&grown)
            .map(|(&o, &g)| o && g == 0.0)
            .collect()
    } else {
        work.ok.clone()
    };
    let ok = &ok[..];
    let bg = background(&hch, ok, w, h, block);
    let d = contrast_filled(&hch, &bg, ok, w, h, (params.inpaint_sigma_um / um) as f32);
    let sigmas: Vec<f32> = params
        .scales_um
        .iter()
        .map(|&s| ((s / um) as f32).max(0.7))
        .collect();
    let v = vesselness(&d, w, h, &sigmas);
    // Contrast against the background, lightly smoothed (noise), at the
    // smallest scale.
    let ds = gaussian_blur(&Plane::from_vec(w, h, d.clone()), sigmas[0].min(1.0)).data;
    let (lo, hi) = (params.low_contrast as f32, params.high_contrast as f32);
    let cand: Vec<bool> = (0..w * h)
        .map(|i| ok[i] && v[i] >= lo && ds[i] >= lo)
        .collect();
    let comps = label(&mask_of(cand.clone(), w, h));
    // Haemoglobin check: blood darkens green (ln G falls by ≈ 1.1 × the
    // rise of ln R/G for the absorption spectrum of haemoglobin), whereas
    // chroma artefacts (JPEG ringing next to white dots or hair) raise R/G
    // without darkening green. A component is kept when its seed pixels
    // darken green by at least half their redness contrast.
    let lng: Vec<f32> = work.g.par_iter().map(|&g| g.max(1e-4).ln()).collect();
    let bg_g = background(&lng, ok, w, h, block);
    // Hair check per component: blood hardly darkens red, hair darkens red
    // nearly as much as green. A component whose seeds darken red by more
    // than `red_drop_ratio` × their green drop is hair left unmasked.
    let nc = comps.count as usize + 1;
    let mut sum_d = vec![0.0f64; nc];
    let mut sum_g = vec![0.0f64; nc];
    let mut sum_r = vec![0.0f64; nc];
    let mut n_seed = vec![0usize; nc];
    // Seeds keep 2 px off the frame (the Hessian is one-sided there and JPEG
    // pads partial blocks) and `seed_clearance_um` off excluded pixels.
    let clear_px = (params.seed_clearance_um / um).ceil() as usize;
    let near_excluded = if clear_px > 0 && ok.iter().any(|&o| !o) {
        let ex: Vec<f32> = ok.iter().map(|&o| (!o) as u8 as f32).collect();
        max_filter(&Plane::from_vec(w, h, ex), clear_px, Footprint::Square).data
    } else {
        vec![0.0; w * h]
    };
    let inner = |i: usize| {
        let (x, y) = (i % w, i / w);
        x >= 2 && y >= 2 && x + 2 < w && y + 2 < h && near_excluded[i] == 0.0
    };
    for i in 0..w * h {
        if cand[i] && v[i] >= hi && ds[i] >= hi && inner(i) {
            let l = comps.data[i] as usize;
            sum_d[l] += d[i] as f64;
            n_seed[l] += 1;
            sum_g[l] += (lng[i] - bg_g[i]) as f64;
            sum_r[l] += (lnr[i] - bg_r[i]) as f64;
        }
    }
    let seeded: Vec<bool> = (0..nc)
        .map(|l| {
            sum_d[l] > 0.0
                && sum_g[l] <= -params.green_drop_ratio * sum_d[l]
                && sum_r[l] >= params.red_drop_ratio * sum_g[l]
                && n_seed[l] >= params.min_seed_px
        })
        .collect();
    // Half-maximum edge: a pixel is vessel when its contrast reaches
    // `edge_fraction` of the local peak contrast (within the widest vessel
    // half-width), and at least the low threshold.
    let rad = (params.peak_radius_um / um).ceil().max(1.0) as usize;
    let peak = max_filter(&Plane::from_vec(w, h, ds.clone()), rad, Footprint::Square).data;
    let ef = params.edge_fraction as f32;
    let edge: Vec<f32> = peak.iter().map(|&m| (ef * m).max(lo)).collect();
    let mask: Vec<bool> = (0..w * h)
        .map(|i| {
            let l = comps.data[i] as usize;
            l > 0 && seeded[l] && d[i] >= edge[i]
        })
        .collect();
    // Group: components of the mask closed by merge_gap (a dilation by half
    // the gap joins pieces of one loop), labelled on the mask itself.
    let r_merge = (params.merge_gap_um / (2.0 * um)).round() as usize;
    let grouped = if r_merge > 0 {
        let mf: Vec<f32> = mask.iter().map(|&b| b as u8 as f32).collect();
        let dil = max_filter(&Plane::from_vec(w, h, mf), r_merge, Footprint::Square);
        label(&mask_of(dil.data.iter().map(|&v| v > 0.0).collect(), w, h))
    } else {
        label(&mask_of(mask.clone(), w, h))
    };
    let mut labels = Labels {
        width: w,
        height: h,
        data: mask
            .iter()
            .zip(&grouped.data)
            .map(|(&m, &l)| if m { l } else { 0 })
            .collect(),
        count: grouped.count,
    };
    // Minimum area, then compact relabelling in raster order.
    let min_px = params.min_area_um2 / (um * um);
    let mut area = vec![0usize; labels.count as usize + 1];
    for &l in &labels.data {
        area[l as usize] += 1;
    }
    let mut remap = vec![0u32; area.len()];
    let mut next = 0;
    for l in labels.data.iter_mut() {
        if *l > 0 {
            if (area[*l as usize] as f64) < min_px {
                *l = 0;
                continue;
            }
            if remap[*l as usize] == 0 {
                next += 1;
                remap[*l as usize] = next;
            }
            *l = remap[*l as usize];
        }
    }
    labels.count = next;
    Segmented { labels, edge, bg }
}

/// A `Mask` over `data` (w × h).
pub(crate) fn mask_of(data: Vec<bool>, w: usize, h: usize) -> Mask {
    Mask {
        width: w,
        height: h,
        data,
    }
}
