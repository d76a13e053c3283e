//! Follicular units and miniaturization indices from the hair stage
//! (yellow dots and scales: [`crate::scalp_signs`]).
//!
//! A follicular unit is a cluster of follicle exits (single linkage within
//! [`FollicleParams::unit_radius_um`]): hairs of one unit leave the skin
//! within about 100 µm of each other, while units are several hundred µm
//! apart. Only shafts whose exit was located count (see
//! [`crate::hairs::HairShaft::exit_px`]); the exit location is best effort.

use crate::analysis::StageInput;
use crate::error::{check_positive, Result};
use crate::hairs::HairStage;
use serde::{Deserialize, Serialize};

/// Follicle-stage parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FollicleParams {
    /// Exits closer than this belong to one follicular unit (µm).
    pub unit_radius_um: f64,
}

impl Default for FollicleParams {
    fn default() -> Self {
        FollicleParams {
            unit_radius_um: 150.0,
        }
    }
}

/// One follicular unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollicularUnit {
    /// 1-based id.
    pub id: u32,
    /// Mean exit position (px).
    pub centre_px: [f32; 2],
    /// Ids of the shafts leaving it.
    pub hair_ids: Vec<u32>,
}

/// Image-level follicle figures (`None` when the stage did not run or the
/// figure is not measured yet).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FollicleSummary {
    /// Number of follicular units (clusters of located exits).
    pub follicular_unit_count: Option<usize>,
    /// Mean number of hairs per unit.
    pub hairs_per_unit_mean: Option<f64>,
    /// Fraction of units with a single hair.
    pub single_hair_unit_fraction: Option<f64>,
}

/// The output of the follicle stage.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FollicleStage {
    /// Follicular units.
    pub units: Vec<FollicularUnit>,
    /// Image-level figures.
    pub summary: FollicleSummary,
}

/// Group shafts into follicular units by their exits.
pub fn detect_follicles(
    input: &StageInput<'_>,
    hairs: &HairStage,
    params: &FollicleParams,
) -> Result<FollicleStage> {
    check_positive("unit_radius_um", params.unit_radius_um)?;
    let upp = check_positive("um_per_px", input.um_per_px)?;
    let r = (params.unit_radius_um / upp) as f32;
    let exits: Vec<(u32, [f32; 2])> = hairs
        .shafts
        .iter()
        .filter_map(|s| s.exit_px.map(|e| (s.id, e)))
        .collect();
    // Single linkage by union-find (n is small: one per shaft).
    let n = exits.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], i: usize) -> usize {
        let mut i = i;
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (exits[i].1, exits[j].1);
            if (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) <= r * r {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                if ri != rj {
                    parent[ri.max(rj)] = ri.min(rj);
                }
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push(i);
    }
    let units: Vec<FollicularUnit> = groups
        .values()
        .enumerate()
        .map(|(k, g)| {
            let c = g.iter().fold([0.0f32; 2], |a, &i| {
                [a[0] + exits[i].1[0], a[1] + exits[i].1[1]]
            });
            FollicularUnit {
                id: k as u32 + 1,
                centre_px: [c[0] / g.len() as f32, c[1] / g.len() as f32],
                hair_ids: g.iter().map(|&i| exits[i].0).collect(),
            }
        })
        .collect();
    let nu = units.len();
    let summary = FollicleSummary {
        follicular_unit_count: Some(nu),
        hairs_per_unit_mean: (nu > 0).then(|| n as f64 / nu as f64),
        single_hair_unit_fraction: (nu > 0)
            .then(|| units.iter().filter(|u| u.hair_ids.len() == 1).count() as f64 / nu as f64),
    };
    Ok(FollicleStage { units, summary })
}
