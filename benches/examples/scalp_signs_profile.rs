//! Profiling harness for the yellow-dot and scale stage on the bench's 12 MP
//! phantoms (`scalp_sign_phantom_12mp`: the hair scene, seed 13, with
//! yellow dots, pinpoint white dots and scales; realistic optics; the
//! analysable mask without glare; the true hair mask). Run with `--release`:
//!
//! - `scalp_signs_profile time 2,3.5,5.5 [N]`: N runs per scale, wall and
//!   CPU time of each (CPU: all threads of the process; `serial`: the
//!   calling thread alone, the part a second core cannot speed up);
//! - `scalp_signs_profile fingerprint`: a SHA-256 over the dot table, the
//!   summary, the white-dot count and both masks, on the three 12 MP
//!   phantoms and on 1 MP scenes like the tests' (busy scene, hair from the
//!   hair stage) at 2, 3.5 and 5.5 µm/px, each at 1 and 2 threads (the two
//!   must agree); compare the lines before and after a speed change.
//!
//! `SCALP_PHANTOM_CACHE=DIR` keeps the rendered 12 MP phantoms in DIR
//! (rendering takes longer than the stage).
use sha2::{Digest, Sha256};
use std::time::Instant;
use trichometry::hairs::{detect_hairs, HairParams};
use trichometry::scalp_signs::{detect_scalp_signs, ScalpSignParams, ScalpSigns};
use trichometry::synth::hairs::HairSceneSpec;
use trichometry::synth::optics::OpticsSpec;
use trichometry::synth::{render, SceneSpec};
use trichometry::{Image, Mask, Samples, StageInput};
use trichometry_benches::{linear_without_glare, process_cpu_ns, scalp_sign_phantom_12mp};

/// CPU time (ns) of the calling thread.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The 12 MP phantom and its hair mask at `um`, from the cache directory
/// when one is set and holds it.
fn phantom(um: f64) -> (Image, Mask) {
    let Ok(dir) = std::env::var("SCALP_PHANTOM_CACHE") else {
        return scalp_sign_phantom_12mp(um);
    };
    let path = std::path::Path::new(&dir).join(format!("scalp_signs_12mp_{um}.bin"));
    if let Ok(bytes) = std::fs::read(&path) {
        let (w, h) = (
            u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize,
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
        );
        let n = w * h;
        if bytes.len() == 8 + 4 * n {
            let image = Image::new(w, h, 3, Samples::U8(bytes[8..8 + 3 * n].to_vec())).unwrap();
            let hair = Mask {
                width: w,
                height: h,
                data: bytes[8 + 3 * n..].iter().map(|&b| b != 0).collect(),
            };
            return (image, hair);
        }
    }
    let (image, hair) = scalp_sign_phantom_12mp(um);
    if let Samples::U8(s) = image.samples() {
        let mut bytes = (image.width() as u32).to_le_bytes().to_vec();
        bytes.extend((image.height() as u32).to_le_bytes());
        bytes.extend(s);
        bytes.extend(hair.data.iter().map(|&b| b as u8));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&path, bytes);
    }
    (image, hair)
}

fn fingerprint(s: &ScalpSigns) -> String {
    let mut h = Sha256::new();
    h.update(format!("{:?}", s.yellow_dots).as_bytes());
    h.update(format!("{:?} {}", s.summary, s.white_dot_count).as_bytes());
    for m in [&s.yellow_dot_mask, &s.scale_mask] {
        h.update(m.data.iter().map(|&b| b as u8).collect::<Vec<u8>>());
    }
    let d = h.finalize();
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The stage at 1 and 2 threads: the fingerprints and the last output.
fn run_threads(input: &StageInput<'_>, hair: &Mask) -> (String, String, ScalpSigns) {
    let params = ScalpSignParams::default();
    let mut fps = Vec::new();
    let mut last = None;
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let s = pool.install(|| detect_scalp_signs(input, Some(hair), &params).unwrap());
        fps.push(fingerprint(&s));
        last = Some(s);
    }
    (fps[0].clone(), fps[1].clone(), last.unwrap())
}

fn print_fp(name: &str, (a, b, s): (String, String, ScalpSigns)) {
    let same = if a == b { "" } else { "  THREADS DIFFER" };
    println!(
        "{name}: {} dots, {} white dots, scale {:.5}: {a} {b}{same}",
        s.yellow_dots.len(),
        s.white_dot_count,
        s.summary.scale_area_fraction.unwrap_or(f64::NAN)
    );
}

/// Runs `f` on the 12 MP phantom's stage input (linear, glare left out) and
/// its hair mask at `um`.
fn with_phantom_input(um: f64, f: impl FnOnce(&StageInput<'_>, &Mask)) {
    let (image, hair) = phantom(um);
    let (rgb, valid) = linear_without_glare(&image);
    let input = StageInput {
        rgb: &rgb,
        um_per_px: um,
        valid: &valid,
    };
    f(&input, &hair);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("time");
    match mode {
        "time" => {
            let ums: Vec<f64> = args
                .get(2)
                .map(|s| s.split(',').map(|v| v.parse().unwrap()).collect())
                .unwrap_or_else(|| vec![2.0, 3.5, 5.5]);
            let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
            let params = ScalpSignParams::default();
            for um in ums {
                with_phantom_input(um, |input, hair| {
                    let (mut walls, mut cpus, mut serials) = (Vec::new(), Vec::new(), Vec::new());
                    for _ in 0..reps {
                        let (t, c, s) = (Instant::now(), process_cpu_ns(), thread_cpu_ns());
                        let st = detect_scalp_signs(input, Some(hair), &params).unwrap();
                        walls.push(t.elapsed().as_secs_f64() * 1e3);
                        cpus.push((process_cpu_ns() - c) as f64 * 1e-6);
                        serials.push((thread_cpu_ns() - s) as f64 * 1e-6);
                        std::hint::black_box(st);
                    }
                    let stat = |v: &mut Vec<f64>| {
                        v.sort_by(f64::total_cmp);
                        format!("min {:.1} median {:.1}", v[0], v[v.len() / 2])
                    };
                    println!(
                        "{um} um/px 12 MP, {reps} runs: wall {} ms; cpu {} ms; serial {} ms",
                        stat(&mut walls),
                        stat(&mut cpus),
                        stat(&mut serials)
                    );
                });
            }
        }
        "fingerprint" => {
            for um in [2.0, 3.5, 5.5] {
                with_phantom_input(um, |input, hair| {
                    print_fp(&format!("bench 12 MP {um} um/px"), run_threads(input, hair))
                });
            }
            // The tests' busy scene (about 1 MP over the same field), hair
            // from the hair stage.
            let busy = HairSceneSpec {
                density_per_cm2: 200.0,
                yellow_dots_per_cm2: 400.0,
                white_dots_per_cm2: 300.0,
                scales_per_cm2: 120.0,
                ..HairSceneSpec::default()
            };
            for (um, seed) in [(2.0, 1), (3.5, 2), (5.5, 3), (3.5, 41)] {
                let spec = SceneSpec {
                    width: ((4400.0 / um) as usize).min(1300),
                    height: ((3300.0 / um) as usize).min(975),
                    um_per_px: um,
                    seed,
                    hairs: Some(busy.clone()),
                    optics: OpticsSpec::realistic(),
                    ..SceneSpec::default()
                };
                let p = render(&spec).unwrap();
                let (rgb, valid) = linear_without_glare(&p.image);
                let input = StageInput {
                    rgb: &rgb,
                    um_per_px: um,
                    valid: &valid,
                };
                let hair = detect_hairs(&input, &HairParams::default()).unwrap().mask;
                print_fp(
                    &format!("busy 1 MP {um} um/px seed {seed}"),
                    run_threads(&input, &hair),
                );
            }
        }
        _ => eprintln!("usage: scalp_signs_profile time UPP[,UPP…] [N] | fingerprint"),
    }
}
