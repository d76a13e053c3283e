//! Profiling harness: the hair stage on the 12 MP hair phantom, repeated
//! (phantom cached in /tmp). `cargo run --release -p trichometry-benches
//! --example hairs_profile -- 3.5 10`
//!
//! Instruction counts: `RAYON_NUM_THREADS=1 valgrind --tool=callgrind` on
//! `… 3.5 2` minus `… 3.5 1` is one steady call, free of the one-off
//! tables (≈ 750 M instructions in the first call: the blurred-cylinder
//! model) and of the idle workers' spinning, which moves multi-threaded
//! counts by ±10 M from run to run. Valgrind runs the AVX2 copy of the
//! kernels and counts a `rep stosb` (glibc's memset of large blocks) per
//! byte: "memset" instructions are bytes cleared. Session 25 (branch
//! `hspeed25`, bit-identical work): a steady call at 3.5 µm/px 3 378 →
//! 3 257 M instructions, of which this harness's fingerprint 423 M: the
//! stage ≈ 2 954 → 2 833 M (−4.1 %). Session 26 (branch `hspeed26`,
//! bit-identical, counted on `hairs_12mp time UPP 2` with callgrind's
//! `--dump-before/--dump-after=trichometry::hairs::stage`, the second
//! call's part): 2 835 → 2 572 M at 3.5 µm/px, 1 363 → 1 226 M at 2 µm/px.
//! Session 27 (branch `hspeed27`, bit-identical, counted the same way;
//! this build of main gave 2 557 M and 1 219 M): 2 557 → 2 536 M at
//! 3.5 µm/px, 1 219 → 1 213 M at 2 µm/px. A `rep movsb` (memcpy of large
//! blocks) counts per byte too.
use std::time::Instant;
use trichometry::hairs::{detect_hairs, HairParams};
use trichometry::{color, Image, Mask, Samples, StageInput};
use trichometry_benches::{hair_phantom_12mp, linear_all_valid, BENCH_SIZE};

/// FNV-1a over bytes.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// Best-of-5 timings of the ridge filter's parts at the working
/// resolution of a 12 MP image at 3.5 µm/px (2000 × 1500, σ as the hair
/// stage uses).
fn kern() {
    use trichometry::kernels::{gaussian_blur, ridge_response, Polarity};
    use trichometry::Plane;
    let (w, h) = (2000, 1500);
    let p = Plane::from_vec(
        w,
        h,
        (0..w * h)
            .map(|i| ((i * 7919) % 101) as f32 * 0.01 + ((i % w) as f32 * 0.01).sin())
            .collect(),
    );
    let best = |f: &dyn Fn()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min)
    };
    println!(
        "alloc+fill 12 MB: {:.1} ms",
        best(&|| {
            let mut v = vec![0.0f32; w * h];
            v.iter_mut().for_each(|x| *x = 1.0);
            std::hint::black_box(v);
        })
    );
    println!(
        "alloc+fill 3x12 MB: {:.1} ms",
        best(&|| {
            let mut v = vec![0.0f32; w * h];
            let mut v2 = vec![0.0f32; w * h];
            let mut v3 = vec![0.0f32; w * h];
            v.iter_mut().for_each(|x| *x = 1.0);
            v2.iter_mut().for_each(|x| *x = 1.0);
            v3.iter_mut().for_each(|x| *x = 1.0);
            std::hint::black_box((v, v2, v3));
        })
    );
    let sig = [0.6f32, 1.02, 1.74, 2.96, 5.04, 8.57];
    for &s in &sig {
        println!(
            "blur σ {s}: {:.1} ms",
            best(&|| {
                std::hint::black_box(gaussian_blur(&p, s));
            })
        );
    }
    for &s in &sig {
        println!(
            "ridge σ {s}: {:.1} ms",
            best(&|| {
                std::hint::black_box(ridge_response(&p, &[s], Polarity::Bright));
            })
        );
    }
    println!(
        "ridge all: {:.1} ms",
        best(&|| {
            std::hint::black_box(ridge_response(&p, &sig, Polarity::Bright));
        })
    );
}

/// Hash of the shafts, the summary, the labels and the mask.
fn fingerprint(st: &trichometry::hairs::HairStage) -> u64 {
    let mut hsh = 0xcbf2_9ce4_8422_2325u64;
    fnv(&mut hsh, format!("{:?}", st.shafts).as_bytes());
    fnv(&mut hsh, format!("{:?}", st.summary).as_bytes());
    for &l in &st.labels.data {
        fnv(&mut hsh, &l.to_le_bytes());
    }
    let m: Vec<u8> = st.mask.data.iter().map(|&b| b as u8).collect();
    fnv(&mut hsh, &m);
    hsh
}

/// Fingerprints of the hair stage's output on a set of 1–2 MP scenes
/// (bit-identity check across optimisations).
fn check() {
    use trichometry::synth::{self, hairs::HairSceneSpec, optics::OpticsSpec, SceneSpec};
    let scenes: Vec<(&str, HairSceneSpec, OpticsSpec)> = vec![
        ("default", HairSceneSpec::default(), OpticsSpec::default()),
        (
            "realistic",
            HairSceneSpec::default(),
            OpticsSpec::realistic(),
        ),
        (
            "decoys",
            HairSceneSpec {
                yellow_dots_per_cm2: 40.0,
                white_dots_per_cm2: 200.0,
                scales_per_cm2: 30.0,
                fov_radius_um: Some(1400.0),
                ..HairSceneSpec::default()
            },
            OpticsSpec::realistic(),
        ),
    ];
    for (name, hs, optics) in scenes {
        for um in [2.0, 3.5, 5.5] {
            let spec = SceneSpec {
                width: (3200.0 / um) as usize,
                height: (2400.0 / um) as usize,
                um_per_px: um,
                seed: 21,
                hairs: Some(hs.clone()),
                optics: optics.clone(),
                ..SceneSpec::default()
            };
            let ph = synth::render(&spec).unwrap();
            let rgb = color::to_linear(&ph.image.view()).unwrap();
            let valid = ph.truth.hairs.fov_mask.clone();
            let valid = if valid.width == rgb.width && valid.height == rgb.height {
                valid
            } else {
                Mask::filled(rgb.width, rgb.height, true)
            };
            let input = StageInput {
                rgb: &rgb,
                um_per_px: um,
                valid: &valid,
            };
            let st = detect_hairs(&input, &HairParams::default()).unwrap();
            let hsh = fingerprint(&st);
            println!(
                "{name} {um}: {} shafts, mean d {:?}, hash {hsh:016x}",
                st.shafts.len(),
                st.summary.shaft_diameter_mean_um
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("kern") {
        kern();
        return;
    }
    if args.get(1).map(String::as_str) == Some("check") {
        check();
        return;
    }
    let um: f64 = args.get(1).map_or(3.5, |a| a.parse().unwrap());
    let n: usize = args.get(2).map_or(5, |a| a.parse().unwrap());
    let path = format!("/tmp/kern_hair_phantom_{um}.raw");
    let (w, h) = BENCH_SIZE;
    let image = match std::fs::read(&path) {
        Ok(px) if px.len() == 3 * w * h => Image::new(w, h, 3, Samples::U8(px)).unwrap(),
        _ => {
            let im = hair_phantom_12mp(um);
            if let Samples::U8(px) = im.samples() {
                std::fs::write(&path, px).unwrap();
            }
            im
        }
    };
    let (rgb, valid) = linear_all_valid(&image);
    let input = StageInput {
        rgb: &rgb,
        um_per_px: um,
        valid: &valid,
    };
    let params = HairParams::default();
    for _ in 0..n {
        let t0 = Instant::now();
        let st = detect_hairs(&input, &params).unwrap();
        println!(
            "{um} µm/px: {:.1} ms, {} shafts, mask {} px, hash {:016x}",
            t0.elapsed().as_secs_f64() * 1e3,
            st.shafts.len(),
            st.mask.count(),
            fingerprint(&st)
        );
    }
}
