"""trichometry beside the scikit-image / OpenCV way, on phantoms with truth.

Renders phantoms with ``trichometry synth`` (a realistic 12 MP scene by
default: 4000 × 3000 px at 3.5 µm/px, the default hair and vessel scenes,
blur, vignetting, glare, sensor noise, JPEG 90), runs ``trichometry
analyze`` and ``skimage_way.py`` on each, and prints one row per image and
tool: CPU seconds (user + system of the child process, so a busy machine
does not inflate it), and the figures both produce against the phantom's
truth. The peer has no per-hair record: its hair "count" is the number of
skeleton components (networks of crossing hairs), its vessel count the
number of Sato components above Otsu.

Run (needs scikit-image, opencv-python-headless and a release build of
the CLI; not part of the test suite):

    cargo build --release -p trichometry-cli
    python benches/peer/side_by_side.py --out /tmp/peer --count 3 --seed 301
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

REALISTIC = {
    "width": 4000,
    "height": 3000,
    "um_per_px": 3.5,
    "hairs": {},
    "vessels": {},
    "optics": {
        "blur_sigma_um": 2.0,
        "vignetting": 0.15,
        "glare_spots": 4,
        "glare_radius_um": 60.0,
        "noise": {"full_well": 4000.0, "read_noise": 6.0},
        "jpeg_quality": 90,
    },
}


def run_timed(cmd: list[str]) -> tuple[str, float]:
    """Run `cmd`, return (stdout, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True, help="folder for phantoms and results")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--seed", type=int, default=301)
    ap.add_argument("--cli", type=Path, default=ROOT / "target" / "release" / "trichometry")
    ap.add_argument("--spec", type=Path, help="a scene spec (JSON) instead of the realistic 12 MP one")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    spec_path = args.spec
    if spec_path is None:
        spec_path = args.out / "spec.json"
        spec_path.write_text(json.dumps(REALISTIC))
    subprocess.run(
        [str(args.cli), "synth", "--spec", str(spec_path), "--out", str(args.out),
         "--count", str(args.count), "--seed", str(args.seed), "--format", "jpeg"],
        check=True, capture_output=True,
    )
    images = sorted(args.out.glob("phantom*.jpg"))[: args.count]
    print(f"{'image':16s} {'tool':12s} {'CPU s':>6s} {'hairs':>11s} {'vellus fr.':>11s} "
          f"{'diam. µm':>11s} {'capillaries':>11s} {'a* median':>11s}")
    for img in images:
        truth_doc = json.loads(img.with_suffix(".truth.json").read_text())
        t, upp = truth_doc["truth"], truth_doc["spec"]["um_per_px"]
        th = t["hairs"]
        print(f"{img.name:16s} {'truth':12s} {'':>6s} {th['hair_count']:>11d} {th['vellus_fraction']:>11.3f} "
              f"{th['diameter_mean_um']:>11.1f} {t['countable_capillary_count']:>11d} "
              f"{t['skin_a_star_median']:>11.2f}")
        res = args.out / (img.stem + ".trichometry.json")
        _, cpu = run_timed([str(args.cli), "analyze", str(img), "--um-per-px", str(upp), "--out", str(res)])
        r = json.loads(res.read_text())
        r = r[0] if isinstance(r, list) else r
        print(f"{'':16s} {'trichometry':12s} {cpu:>6.2f} {r['hair_count']:>11d} {r['vellus_fraction']:>11.3f} "
              f"{r['shaft_diameter_mean_um']:>11.1f} {r['capillary_count']:>11d} "
              f"{r['erythema_a_star_median']:>11.2f}")
        out, cpu = run_timed([sys.executable, str(HERE / "skimage_way.py"), str(img), "--um-per-px", str(upp)])
        p = json.loads(out)
        print(f"{'':16s} {'skimage way':12s} {cpu:>6.2f} {p['hair_components']:>11d} {'—':>11s} "
              f"{p['hair_width_mean_um']:>11.1f} {p['vessel_components']:>11d} {p['a_star_median']:>11.2f}")
    print("truth: hairs with >= 150 µm in the frame; capillaries with >= 1/4 of their pixels "
          "outside hair and glare (countable_capillary_count)", file=sys.stderr)


if __name__ == "__main__":
    main()
