//! Profiling harness: the vessel stage on the 12 MP vessel phantom,
//! repeated, with a fingerprint of the output (bit-identity check across
//! optimisations). `cargo run --release -p trichometry-benches --example
//! vessels_profile -- 3.5 5` (µm/px, repetitions; µm/px may be a list).
//! With `VESSELS_SCRATCH=1` the stage runs in one kept `VesselScratch`
//! (`detect_vessels_with`, each stage recycled), and every repetition's
//! fingerprint must equal the first's (the scratch's resident memory is
//! printed after each scale).
use std::time::Instant;
use trichometry::vessels::{detect_vessels, detect_vessels_with, VesselParams, VesselScratch};
use trichometry::{Image, Samples, StageInput};
use trichometry_benches::{linear_all_valid, process_cpu_ns, vessel_phantom_12mp};

/// FNV-1a over bytes.
fn fnv(h: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *h ^= b as u64;
        *h = h.wrapping_mul(0x100_0000_01b3);
    }
}

/// Minor page faults of this process so far, from `/proc/self/stat`
/// (Linux; 0 elsewhere): each is a page first touched (and zeroed).
fn minor_faults() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0;
    };
    // Field 10 (minflt), counted after the command name's closing bracket.
    s.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok())
        .unwrap_or(0)
}

/// The 12 MP vessel phantom at `um`, from the cache directory when one is
/// set and holds it.
fn phantom(um: f64) -> Image {
    let Ok(dir) = std::env::var("VESSELS_PHANTOM_CACHE") else {
        return vessel_phantom_12mp(um);
    };
    let path = std::path::Path::new(&dir).join(format!("vessels_12mp_{um}.rgb"));
    if let Ok(bytes) = std::fs::read(&path) {
        let (w, h) = (
            u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize,
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
        );
        return Image::new(w, h, 3, Samples::U8(bytes[8..].to_vec())).unwrap();
    }
    let image = vessel_phantom_12mp(um);
    if let Samples::U8(s) = image.samples() {
        let mut bytes = (image.width() as u32).to_le_bytes().to_vec();
        bytes.extend((image.height() as u32).to_le_bytes());
        bytes.extend(s);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(&path, bytes);
    }
    image
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ums: Vec<f64> = args
        .get(1)
        .map(|s| s.split(',').map(|v| v.parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1.5, 3.5, 5.0]);
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let kept = std::env::var_os("VESSELS_SCRATCH").is_some_and(|v| v == "1");
    let mut scratch = VesselScratch::new();
    for um in ums {
        let image = phantom(um);
        let (rgb, valid) = linear_all_valid(&image);
        let input = StageInput {
            rgb: &rgb,
            um_per_px: um,
            valid: &valid,
        };
        let params = VesselParams::default();
        let mut times = Vec::new();
        let mut cpu = Vec::new();
        let mut faults = Vec::new();
        let mut hsh = 0xcbf2_9ce4_8422_2325u64;
        for i in 0..reps {
            let (t, c, mf) = (Instant::now(), process_cpu_ns(), minor_faults());
            let st = if kept {
                detect_vessels_with(&input, None, &params, &mut scratch).unwrap()
            } else {
                detect_vessels(&input, None, &params).unwrap()
            };
            times.push(t.elapsed().as_secs_f64() * 1e3);
            cpu.push(process_cpu_ns().saturating_sub(c) as f64 * 1e-6);
            faults.push(minor_faults().saturating_sub(mf));
            if i == 0 || kept {
                let mut h = 0xcbf2_9ce4_8422_2325u64;
                fnv(&mut h, format!("{:?}", st.capillaries).as_bytes());
                fnv(&mut h, format!("{:?}", st.summary).as_bytes());
                for &l in &st.labels.data {
                    fnv(&mut h, &l.to_le_bytes());
                }
                if i == 0 {
                    hsh = h;
                    println!("{um} um/px: {} capillaries", st.capillaries.len());
                } else {
                    assert_eq!(h, hsh, "repetition {i} differs from the first");
                }
            }
            if kept {
                scratch.recycle(st);
            }
        }
        times.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        faults.sort_unstable();
        println!(
            "{um} um/px: best {:.1} ms, median {:.1} ms (CPU best {:.1}, median {:.1} ms, minor faults median {}), fingerprint {hsh:016x}",
            times[0],
            times[times.len() / 2],
            cpu[0],
            cpu[cpu.len() / 2],
            faults[faults.len() / 2]
        );
        if kept {
            println!(
                "{um} um/px: scratch resident {:.1} MB",
                scratch.resident_bytes() as f64 * 1e-6
            );
        }
    }
}
