"""The scikit-image / OpenCV way of doing trichometry's job, timed stage by stage.

This is the baseline trichometry is measured against: what a researcher
would write in a notebook with the usual libraries. It is deliberately
ordinary (no tricks a typical notebook would not use):

- colour: ``skimage.color.rgb2lab`` → a* map; EI = 100·log10(R/G) with numpy;
- hairs: DullRazor-style black top-hat on grey (``cv2.morphologyEx``),
  Otsu threshold, ``skimage.morphology.skeletonize``, ``label``,
  ``regionprops``, width from the distance transform on the skeleton;
- vessels: haemoglobin channel log(R) − log(G), ``skimage.filters.sato``
  (bright ridges, sigmas for 10–35 µm at the given scale), threshold,
  ``label``, ``regionprops``.

Run: ``python benches/peer/skimage_way.py IMAGE --um-per-px 3.5`` (needs
scikit-image and opencv-python-headless; not part of the test suite).
Prints one JSON object with seconds per stage.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
from skimage import color, filters, measure, morphology


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--um-per-px", type=float, required=True)
    ap.add_argument("--skip-sato", action="store_true", help="skip the slow Sato filter")
    args = ap.parse_args()
    s = args.um_per_px
    times: dict[str, float] = {}

    t = time.perf_counter()
    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    times["decode"] = time.perf_counter() - t

    t = time.perf_counter()
    lab = color.rgb2lab(rgb)
    a_star = lab[..., 1]
    f = rgb.astype(np.float32) / 255.0
    linear = np.where(f <= 0.04045, f / 12.92, ((f + 0.055) / 1.055) ** 2.4)
    ei = 100.0 * np.log10(np.maximum(linear[..., 0], 1e-4) / np.maximum(linear[..., 1], 1e-4))
    times["colour_rgb2lab_and_ei"] = time.perf_counter() - t

    t = time.perf_counter()
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    k = max(3, int(round(120.0 / s)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    blackhat = cv2.morphologyEx(grey, cv2.MORPH_BLACKHAT, kernel)
    _, hair_mask = cv2.threshold(blackhat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    hair_mask = hair_mask > 0
    skel = morphology.skeletonize(hair_mask)
    labels = measure.label(skel, connectivity=2)
    dist = cv2.distanceTransform(hair_mask.astype(np.uint8), cv2.DIST_L2, 5)
    props = measure.regionprops(labels, intensity_image=dist)
    widths = [2.0 * p.intensity_mean * s for p in props if p.area > 10]
    times["hairs_tophat_skeleton_regionprops"] = time.perf_counter() - t

    t = time.perf_counter()
    hb = np.log(np.maximum(linear[..., 0], 1e-4)) - np.log(np.maximum(linear[..., 1], 1e-4))
    hb[hair_mask] = np.median(hb)
    if args.skip_sato:
        ridge = filters.gaussian(hb, sigma=10.0 / s)
    else:
        sigmas = [w / s / (2.0 * np.sqrt(3.0)) for w in (10.0, 20.0, 35.0)]
        ridge = filters.sato(hb, sigmas=sigmas, black_ridges=False)
    thr = filters.threshold_otsu(ridge)
    vlabels = measure.label(ridge > thr)
    vprops = measure.regionprops(vlabels)
    times["vessels_sato_label_regionprops"] = time.perf_counter() - t

    times["total"] = sum(times.values())
    print(
        json.dumps(
            {
                "image": args.image,
                "shape": list(rgb.shape),
                "seconds": times,
                "a_star_median": float(np.median(a_star)),
                "ei_median": float(np.median(ei)),
                "hair_components": len(widths),
                "hair_width_mean_um": float(np.mean(widths)) if widths else float("nan"),
                "vessel_components": len(vprops),
            }
        )
    )


if __name__ == "__main__":
    main()
