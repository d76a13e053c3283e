//! The hair stage on the benchmark's 12 MP phantoms (`benches`'
//! `hair_phantom_12mp`: seed 13, the default hair scene, realistic optics),
//! for profiling and for checking that a speed change keeps the output.
//! Run with `--release`:
//!
//! - `hairs_12mp time UPP [N]`: N runs at UPP µm/px, wall and CPU time
//!   (all threads of the process) of each;
//! - `hairs_12mp fingerprint`: a SHA-256 over shafts, summary, mask and
//!   labels for several scenes and scales, at 1 and 2 threads (the two
//!   must agree); compare the lines before and after a change. A third
//!   run per scene, with one `HairScratch` kept (and stages recycled)
//!   across all scenes and scales, must agree too;
//! - `HAIRS_SCRATCH=1 hairs_12mp time …`: the runs with one `HairScratch`
//!   kept between them (`detect_hairs_with`, each stage recycled);
//! - `HAIRS_STEP=PX hairs_12mp …`: `HairParams::sample_step_px` set to PX
//!   (the smallest spacing of the width profiles along a shaft).
//!
//! `serial` in the timing lines is the CPU time of the calling thread: the
//! stage's serial part (the parallel parts run on rayon's pool while the
//! caller waits).

use sha2::{Digest, Sha256};
use std::time::Instant;
use trichometry::color::{to_linear, LinearRgb};
use trichometry::hairs::{detect_hairs, detect_hairs_with, HairParams, HairScratch, HairStage};
use trichometry::image::Mask;
use trichometry::quality::{assess, QualityParams};
use trichometry::synth::hairs::HairSceneSpec;
use trichometry::synth::optics::OpticsSpec;
use trichometry::synth::{render, SceneSpec};
use trichometry::StageInput;

/// CPU time (s) of all threads of this process so far.
fn cpu_s() -> f64 {
    let mut ns = 0u64;
    if let Ok(rd) = std::fs::read_dir("/proc/self/task") {
        for e in rd.flatten() {
            let p = e.path().join("schedstat");
            if let Ok(s) = std::fs::read_to_string(p) {
                ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    ns as f64 * 1e-9
}

/// CPU time (s) of the calling thread so far: while the stage runs, the
/// calling thread does only the stage's serial work (rayon runs the
/// parallel parts on its pool and the caller waits), so its share is what
/// a second core cannot speed up.
fn thread_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0) as f64
        * 1e-9
}

/// User and system CPU time (s) of the process (clock-tick resolution) and
/// its minor page faults.
fn user_sys_faults() -> (f64, f64, u64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (num(11) as f64 / 100.0, num(12) as f64 / 100.0, num(7))
}

fn scene(w: usize, h: usize, upp: f64, seed: u64, hairs: HairSceneSpec) -> (LinearRgb, Mask) {
    let spec = SceneSpec {
        width: w,
        height: h,
        um_per_px: upp,
        seed,
        hairs: Some(hairs.clone()),
        optics: OpticsSpec::realistic(),
        ..SceneSpec::default()
    };
    let fov = hairs.fov_radius_um.is_some();
    let p = render(&spec).expect("phantom renders");
    let rgb = to_linear(&p.image.view()).unwrap();
    let valid = if fov {
        p.truth.hairs.fov_mask.clone()
    } else {
        Mask::filled(rgb.width, rgb.height, true)
    };
    (rgb, valid)
}

/// The benchmark scene at `upp`, cached under the system's temporary
/// directory (rendering takes longer than the stage).
fn cached_bench_scene(upp: f64) -> (LinearRgb, Mask) {
    let path = std::env::temp_dir().join(format!("hairs_12mp_seed13_{upp}.f32"));
    let (w, h) = (4000, 3000);
    if let Ok(bytes) = std::fs::read(&path) {
        if bytes.len() == 3 * w * h * 4 {
            let f: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let rgb = LinearRgb {
                width: w,
                height: h,
                r: f[..w * h].to_vec(),
                g: f[w * h..2 * w * h].to_vec(),
                b: f[2 * w * h..].to_vec(),
                is_colour: true,
            };
            return (rgb, Mask::filled(w, h, true));
        }
    }
    let (rgb, valid) = scene(w, h, upp, 13, HairSceneSpec::default());
    let bytes: Vec<u8> = [&rgb.r, &rgb.g, &rgb.b]
        .iter()
        .flat_map(|p| p.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    let _ = std::fs::write(&path, bytes);
    (rgb, valid)
}

fn fingerprint(st: &HairStage) -> String {
    let mut h = Sha256::new();
    h.update(format!("{:?}", st.shafts).as_bytes());
    h.update(format!("{:?}", st.summary).as_bytes());
    h.update(st.mask.data.iter().map(|&b| b as u8).collect::<Vec<u8>>());
    for &l in &st.labels.data {
        h.update(l.to_le_bytes());
    }
    let d = h.finalize();
    d.iter().take(10).map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("time");
    let mut params = HairParams::default();
    // `HAIRS_CYLINDER=0`: the raw widths, without the blurred-cylinder model.
    if std::env::var("HAIRS_CYLINDER").is_ok_and(|v| v == "0") {
        params.cylinder_model = false;
    }
    if let Some(v) = std::env::var("HAIRS_STEP")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        params.sample_step_px = v;
    }
    match mode {
        "time" => {
            let upp: f64 = args.get(2).map_or(3.5, |s| s.parse().unwrap());
            let n: usize = args.get(3).map_or(5, |s| s.parse().unwrap());
            let (rgb, valid) = cached_bench_scene(upp);
            let input = StageInput {
                rgb: &rgb,
                um_per_px: upp,
                valid: &valid,
            };
            let keep = std::env::var("HAIRS_SCRATCH").is_ok_and(|v| v == "1");
            let mut scratch = HairScratch::new();
            for k in 0..n {
                let (t, c, u) = (Instant::now(), cpu_s(), user_sys_faults());
                let c0 = thread_cpu_s();
                let st = if keep {
                    detect_hairs_with(&input, &params, &mut scratch).unwrap()
                } else {
                    detect_hairs(&input, &params).unwrap()
                };
                let (dt, dc) = (t.elapsed().as_secs_f64(), cpu_s() - c);
                let serial = thread_cpu_s() - c0;
                let u1 = user_sys_faults();
                println!(
                    "{upp} um/px run {k}: wall {:.1} ms, cpu {:.1} ms (serial {:.1}; user {:.0}, sys {:.0}), {} faults, {} shafts",
                    dt * 1e3,
                    dc * 1e3,
                    serial * 1e3,
                    (u1.0 - u.0) * 1e3,
                    (u1.1 - u.1) * 1e3,
                    u1.2 - u.2,
                    st.shafts.len()
                );
                if keep {
                    scratch.recycle(st);
                }
            }
            if keep {
                println!(
                    "scratch resident: {:.1} MB",
                    scratch.resident_bytes() as f64 / 1e6
                );
            }
        }
        "fingerprint" => {
            let crowded = HairSceneSpec {
                density_per_cm2: 450.0,
                hairs_per_unit_weights: [0.2, 0.3, 0.3, 0.2],
                yellow_dots_per_cm2: 200.0,
                white_dots_per_cm2: 200.0,
                scales_per_cm2: 80.0,
                ..HairSceneSpec::default()
            };
            let fov = HairSceneSpec {
                fov_radius_um: Some(2500.0),
                ..HairSceneSpec::default()
            };
            let cases: Vec<(&str, usize, usize, f64, u64, HairSceneSpec, bool)> = vec![
                (
                    "bench",
                    4000,
                    3000,
                    2.0,
                    13,
                    HairSceneSpec::default(),
                    false,
                ),
                (
                    "bench",
                    4000,
                    3000,
                    3.5,
                    13,
                    HairSceneSpec::default(),
                    false,
                ),
                ("crowded", 1600, 1200, 1.5, 5, crowded.clone(), true),
                ("crowded", 1600, 1200, 5.5, 6, crowded.clone(), true),
                ("crowded", 1200, 900, 7.5, 7, crowded, true),
                ("fov", 1500, 1500, 3.0, 8, fov, false),
            ];
            let mut scratch = HairScratch::new();
            for (name, w, h, upp, seed, hs, glare) in cases {
                let (rgb, mut valid) = scene(w, h, upp, seed, hs);
                if glare {
                    let q = assess(&rgb, &QualityParams::default());
                    valid = q.glare_mask.complement();
                }
                let input = StageInput {
                    rgb: &rgb,
                    um_per_px: upp,
                    valid: &valid,
                };
                let mut fps = Vec::new();
                let mut n = 0;
                for threads in [1, 2] {
                    let pool = rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .unwrap();
                    let st = pool.install(|| detect_hairs(&input, &params).unwrap());
                    n = st.shafts.len();
                    fps.push(fingerprint(&st));
                }
                let st = detect_hairs_with(&input, &params, &mut scratch).unwrap();
                let fs = fingerprint(&st);
                scratch.recycle(st);
                let same = match (fps[0] == fps[1], fps[0] == fs) {
                    (true, true) => "",
                    (false, _) => "  THREADS DIFFER",
                    (true, false) => "  SCRATCH DIFFERS",
                };
                println!(
                    "{name} {w}x{h} {upp} um/px seed {seed}: {n} shafts {} {}{same}",
                    fps[0], fps[1]
                );
            }
        }
        _ => eprintln!("usage: hairs_12mp time UPP [N] | fingerprint"),
    }
}
