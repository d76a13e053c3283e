//! Times the vessel stage on the 12 MP bench phantoms (1.5, 3.5, 5 µm/px).
//! `cargo run --release -p trichometry-benches --example vessel_profile [um...]`
use std::time::Instant;
use trichometry::vessels::{detect_vessels, VesselParams};
use trichometry::{color, Mask, StageInput};
use trichometry_benches::vessel_phantom_12mp;

fn main() {
    let ums: Vec<f64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("µm/px"))
        .collect();
    let ums = if ums.is_empty() {
        vec![1.5, 3.5, 5.0]
    } else {
        ums
    };
    for um in ums {
        let image = vessel_phantom_12mp(um);
        let rgb = color::to_linear(&image.view()).expect("colour");
        let valid = Mask::filled(rgb.width, rgb.height, true);
        let input = StageInput {
            rgb: &rgb,
            um_per_px: um,
            valid: &valid,
        };
        let params = VesselParams::default();
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let st = detect_vessels(&input, None, &params).expect("runs");
            best = best.min(t.elapsed().as_secs_f64());
            n = st.capillaries.len();
        }
        println!("{um} µm/px: best of 5 {:.1} ms, {n} vessels", best * 1e3);
    }
}
