//! CPU time of `compare` on the bench's 12 MP analysed pair (the
//! `12mp_compare` case of `benches/pipeline.rs`), without criterion:
//! `cargo run --release -p trichometry-benches --example compare_time [runs]`.
//! Prints the process CPU time (user + system, all threads, from
//! `/proc/self/stat`) and the wall time of each run, per parameter set.

use std::time::Instant;
use trichometry::compare::{compare, CompareParams, Visit};

/// User + system CPU seconds of this process so far.
fn cpu_s() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // Fields 14 and 15 of the stat line (utime, stime) are 11 and 12 here.
    (tick(11) + tick(12)) / 100.0
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let trichometry_benches::AnalysedPair {
        pair,
        baseline: ab,
        followup: af,
    } = trichometry_benches::analysed_pair_12mp();
    let (vb, vf) = (
        Visit::new(&pair.baseline.image, &ab),
        Visit::new(&pair.followup.image, &af),
    );
    let sets = [
        ("default", CompareParams::default()),
        (
            "capillary-recheck",
            CompareParams {
                recheck_unmatched_capillaries: true,
                ..CompareParams::default()
            },
        ),
    ];
    for (name, cp) in &sets {
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            let (c0, t0) = (cpu_s(), Instant::now());
            let c = compare(&vb, &vf, cp).unwrap();
            wall.push(t0.elapsed().as_secs_f64());
            cpu.push(cpu_s() - c0);
            last = Some(c.matches);
        }
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        println!(
            "{name:18} cpu min {:.3} s median {:.3} s, wall min {:.3} s median {:.3} s; {:?}",
            cpu[0],
            cpu[cpu.len() / 2],
            wall[0],
            wall[wall.len() / 2],
            last
        );
    }
}
