"""Hair records of ``trichometry analyze`` matched to a phantom's truth shafts.

For the whole-field files of ``side_by_side.py`` (a phantom's
``*.truth.json`` from ``trichometry synth`` and the record ``analyze`` wrote
for it), prints per image:

- records, truth hairs counted (>= 150 µm in the frame);
- truth hairs with a record of their own (a record belongs to the truth
  shaft that most of its centreline lies on, within ``tol`` = max(4 px,
  20 µm); the shaft has one when its records cover >= 20 % of its in-frame
  centreline), by class, and records per such hair;
- records on no truth shaft;
- mixed records: a second truth shaft holds >= 25 % of the record's
  centreline and >= 150 µm of it (a join across a crossing onto another
  hair, or unit-mates merged);
- truth hairs that no record covers (>= 20 %) at all.

Run (scipy and numpy; not part of the test suite):

    python benches/peer/match_hairs.py /tmp/peer/phantom_0001.truth.json \
        /tmp/peer/phantom_0001.trichometry.json [--list]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def polyline_points(pl: list, step_px: float = 0.5) -> np.ndarray:
    """Points every ``step_px`` along a polyline ``[[x, y], ...]``."""
    parts = []
    for (x0, y0), (x1, y1) in zip(pl[:-1], pl[1:]):
        n = max(1, int(np.hypot(x1 - x0, y1 - y0) / step_px))
        t = np.arange(n) / n
        parts.append(np.stack([x0 + (x1 - x0) * t, y0 + (y1 - y0) * t], 1))
    if pl:
        parts.append(np.array([pl[-1]], float))
    return np.concatenate(parts) if parts else np.zeros((0, 2))


def centreline(record: dict) -> list:
    c = record["centreline_px"]
    return json.loads(c) if isinstance(c, str) else c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("truth", help="*.truth.json of trichometry synth")
    ap.add_argument("record", help="the JSON trichometry analyze wrote")
    ap.add_argument("--list", action="store_true", help="print each mixed record and each uncovered hair")
    a = ap.parse_args()

    tj = json.load(open(a.truth))
    w, h, upp = tj["spec"]["width"], tj["spec"]["height"], tj["spec"]["um_per_px"]
    shafts = tj["truth"]["hairs"]["shafts"]
    by_id = {s["id"]: s for s in shafts}
    rec = json.load(open(a.record))
    rec = rec[0] if isinstance(rec, list) else rec
    records = rec["hairs"]
    tol = max(4.0, 20.0 / upp)

    def clip(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.clip(p[:, 1].astype(int), 0, h - 1), np.clip(p[:, 0].astype(int), 0, w - 1)

    # Nearest truth shaft (within tol) of every pixel.
    lab = np.zeros((h, w), np.int32)
    truth_pts = {}
    for s in shafts:
        p = polyline_points(s["centreline_px"])
        p = p[(p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)]
        truth_pts[s["id"]] = p
        lab[clip(p)] = s["id"]
    dist, (iy, ix) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    near = lab[iy, ix]
    near[dist > tol] = 0

    owned: dict[int, list[np.ndarray]] = {}
    off = mixed = 0
    rec_pts = []
    for r in records:
        p = polyline_points(centreline(r))
        rec_pts.append(p)
        ids = near[clip(p)]
        ids = ids[ids > 0]
        if len(ids) == 0 or len(ids) < 0.5 * len(p):
            off += 1
            continue
        vals, cnt = np.unique(ids, return_counts=True)
        order = np.argsort(-cnt)
        owner = int(vals[order[0]])
        owned.setdefault(owner, []).append(p)
        if len(vals) > 1 and cnt[order[1]] >= 0.25 * len(p) and cnt[order[1]] * 0.5 * upp >= 150:
            mixed += 1
            if a.list:
                s0, s1 = by_id[owner], by_id[int(vals[order[1]])]
                print(
                    f"  mixed record {r['id']} ({float(r['length_um']):.0f} µm, {r.get('pieces')} pieces): "
                    f"shaft {s0['id']} {s0['diameter_um']:.0f} µm unit {s0['unit']} + "
                    f"shaft {s1['id']} {s1['diameter_um']:.0f} µm unit {s1['unit']}"
                )
    all_tree = cKDTree(np.concatenate(rec_pts)) if rec_pts else None

    classes = ("vellus", "intermediate", "terminal")
    own = {c: [0, 0] for c in classes}
    per_hair = []
    uncovered = 0
    for s in shafts:
        if not s["counted"]:
            continue
        tp = truth_pts[s["id"]]
        own[s["class"]][1] += 1
        if s["id"] in owned and len(tp):
            d, _ = cKDTree(np.concatenate(owned[s["id"]])).query(tp)
            if (d <= tol).mean() >= 0.2:
                own[s["class"]][0] += 1
                per_hair.append(len(owned[s["id"]]))
        if all_tree is None or not len(tp) or (all_tree.query(tp)[0] <= tol).mean() < 0.2:
            uncovered += 1
            if a.list:
                print(
                    f"  uncovered shaft {s['id']} {s['diameter_um']:.0f} µm light {s['light']} "
                    f"visible {s['visible_length_um']:.0f} µm truncated {s['truncated']}"
                )
    counted = sum(v[1] for v in own.values())
    print(
        f"{a.record}: records {len(records)} / truth {counted}; with a record of their own "
        f"{sum(v[0] for v in own.values())} ("
        + ", ".join(f"{c} {own[c][0]}/{own[c][1]} = {own[c][0] / max(own[c][1], 1):.2f}" for c in classes)
        + f"), records per such hair {np.mean(per_hair) if per_hair else float('nan'):.2f}; "
        f"records on no shaft {off}; mixed records {mixed}; hairs no record covers {uncovered}"
    )


if __name__ == "__main__":
    main()
