"""Writes examples/quickstart.ipynb from the cells below (keeps the notebook
reviewable as code). Run: python examples/make_notebook.py"""
import json
import pathlib

CELLS = [
    ("markdown", """# trichometry quick start

One dermatoscope (trichoscope) image of the scalp in, objective numbers out:
erythema (CIELAB a*, erythema index) over skin only, capillary loops, hair
shafts with diameters in µm and the miniaturization figures; two visits in,
what changed.

This notebook runs on a **phantom** — a synthetic trichoscopy image with exact
ground truth — so every number can be checked. Swap in your own image with
`trichometry.load(path)` or pass the path straight to `analyze`."""),
    ("code", """import numpy as np
import trichometry as tm

print("trichometry", tm.__version__)"""),
    ("markdown", """## A phantom with known truth

`tm.synth` renders skin (mottling, erythema patches), capillaries under the
epidermis, hair shafts of known diameter, and the optics of a dermatoscope
(blur, vignetting, glare, sensor noise, JPEG). The truth comes back as a dict."""),
    ("code", """UM_PER_PX = 3.0  # about 35x; set this from your device's calibration
spec = {
    "hairs": {},
    "vessels": {},
    "optics": {
        "blur_sigma_um": 2.0,
        "vignetting": 0.1,
        "glare_spots": 3,
        "glare_radius_um": 60.0,
        "noise": {"full_well": 4000.0, "read_noise": 6.0},
        "jpeg_quality": 90,
    },
}
image, truth = tm.synth(width=1200, height=900, um_per_px=UM_PER_PX, seed=11, spec=spec)
image.shape, image.dtype"""),
    ("markdown", """## Analyse

`um_per_px` is required for every physical unit. Without a colour reference
the colours are measured as sRGB as they are, and the result says so in
`colour_calibration` and `warnings`."""),
    ("code", """result = tm.analyze(image, um_per_px=UM_PER_PX)
print(result.colour_calibration, result.warnings)
print(f"analysed skin area: {result.analysed_area_mm2:.2f} mm²")"""),
    ("code", """rows = [
    ("skin a* (mean)", result.erythema_a_star_mean, truth["skin_a_star_mean"]),
    ("erythema index (mean)", result.erythema_index_mean, truth["skin_erythema_index_mean"]),
    ("hairs", result.hair_count, truth["hairs"]["hair_count"]),
    ("mean shaft diameter (µm)", result.shaft_diameter_mean_um, truth["hairs"]["diameter_mean_um"]),
    ("vellus fraction", result.vellus_fraction, truth["hairs"]["vellus_fraction"]),
    ("capillaries", result.capillary_count,
     sum(v["class"] != "arborizing" for v in truth["vessels"]["vessels"])),
]
for name, measured, true in rows:
    print(f"{name:24s} measured {measured!s:>22}   truth {true!s:>22}")"""),
    ("markdown", """## Per-object tables

`result.hairs` and `result.capillaries` are column tables
(`dict[str, numpy.ndarray]`, like scikit-image's `regionprops_table`);
the `_frame()` methods give pandas DataFrames."""),
    ("code", """hairs = result.hairs_frame()
hairs.head()"""),
    ("code", """caps = result.capillaries_frame()
caps.groupby("class").size() if len(caps) else caps"""),
    ("markdown", """## Maps

Maps are numpy arrays shared with the Rust result (no copies): the a* map,
the skin mask the erythema figures ran over, and the hair and vessel masks."""),
    ("code", """import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))
ax[0, 0].imshow(image); ax[0, 0].set_title("image")
im = ax[0, 1].imshow(result.a_star_map, cmap="magma"); ax[0, 1].set_title("a*")
fig.colorbar(im, ax=ax[0, 1])
ax[1, 0].imshow(result.hair_mask, cmap="gray"); ax[1, 0].set_title("hair mask")
ax[1, 1].imshow(result.vessel_mask, cmap="gray"); ax[1, 1].set_title("vessel mask")
for a in ax.flat:
    a.set_axis_off()
fig.tight_layout()"""),
    ("markdown", """## Colour calibration

With a ColorChecker in the image (or in a separate image of the same
session), pass its four corners, clockwise from the outer corner of patch 1
("dark skin"). The result reports the chart fit's ΔE2000."""),
    ("code", """cast = [[1.1, 0.05, 0.0], [0.0, 0.95, 0.0], [0.0, 0.05, 0.85]]
spec_chart = dict(spec, chart={}, optics=dict(spec["optics"], colour_matrix=cast, vignetting=0.0))
img_c, truth_c = tm.synth(width=1200, height=900, um_per_px=UM_PER_PX, seed=12, spec=spec_chart)
plain = tm.analyze(img_c, um_per_px=UM_PER_PX)
# The chart is in the image itself: give its corners (it is then left out of the skin).
calibrated = tm.analyze(img_c, um_per_px=UM_PER_PX, chart_corners=truth_c["chart_corners_px"])
print("truth a*        ", round(truth_c["skin_a_star_mean"], 2))
print("uncalibrated a* ", round(plain.erythema_a_star_mean, 2), plain.colour_calibration)
print("chart a*        ", round(calibrated.erythema_a_star_mean, 2), calibrated.colour_calibration,
      "ΔE2000", round(calibrated.colour_delta_e2000_mean, 2))"""),
    ("markdown", """## Baseline vs follow-up

`tm.compare` registers the follow-up to the baseline (rotation, scale,
shift), measures both on the shared field only, matches hairs and
capillaries one to one and reports every change with a 95 % interval
(paired tile bootstrap). Here the "follow-up" is the same scene seen through
a shifted field of view with an exposure drift: nothing changed, so nothing
may come out significant."""),
    ("code", """baseline = np.ascontiguousarray(image[0:800, 0:1100])
drifted = np.clip(image[40:840, 60:1160].astype(np.float32) * 0.92, 0, 255).astype(np.uint8)
cmp = tm.compare(baseline, drifted, um_per_px=UM_PER_PX)
print("registration:", {k: round(v, 2) if isinstance(v, float) else v
                        for k, v in cmp.registration.items() if not isinstance(v, list)})
cmp.summary()"""),
    ("markdown", """## Many images

`analyze` releases the GIL, so a thread pool runs images in parallel. For a
whole study use the batch CLI (`trichometry analyze *.jpg --um-per-px 3.0
--out results.csv`), or Dask when it outgrows one machine:

```python
import dask.bag as db
records = db.from_sequence(paths).map(lambda p: tm.analyze(p, um_per_px=3.0).to_dict())
df = records.to_dataframe()
```"""),
    ("code", """from concurrent.futures import ThreadPoolExecutor

images = [tm.synth(width=600, height=450, um_per_px=UM_PER_PX, seed=s, spec=spec)[0] for s in range(4)]
with ThreadPoolExecutor() as pool:
    records = list(pool.map(lambda im: tm.analyze(im, um_per_px=UM_PER_PX).to_dict(), images))
[(r["hair_count"], r["capillary_count"], round(r["erythema_a_star_median"], 2)) for r in records]"""),
]


def main() -> None:
    cells = []
    for i, (kind, src) in enumerate(CELLS):
        cell = {
            "cell_type": kind,
            "id": f"cell-{i:02d}",
            "metadata": {},
            "source": src.splitlines(keepends=True),
        }
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    nb = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    out = pathlib.Path(__file__).with_name("quickstart.ipynb")
    out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
