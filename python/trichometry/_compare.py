"""The result of :func:`trichometry.compare`."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

_DELTA_FIELDS = (
    "baseline",
    "followup",
    "delta",
    "ci95_low",
    "ci95_high",
    "p_value",
    "significant",
    "comparable",
    "computed",
)


class Comparison:
    """A baseline and a follow-up of one spot: what changed.

    Attributes mirror the JSON record: ``registration`` (dict with
    ``rotation_deg``, ``scale``, ``translation_um``, ``overlap_fraction``,
    ``residual_um``, ``inliers``, ...), ``deltas`` (figure → dict with
    ``baseline``, ``followup``, ``delta``, ``ci95_low``, ``ci95_high``,
    ``p_value``, ``significant``, ``comparable``), ``matches`` (counts:
    ``hairs_gained``, ``hairs_lost``, ``hairs_thinned``, ``hairs_thickened``,
    ``capillaries_gained``, ``capillaries_lost``, ``hairs_rechecked``,
    ``hairs_split_or_merged_baseline``, ``hairs_split_or_merged_followup``:
    records of one visit lying along a matched shaft of the other beside its
    partner, one hair split in two records or two hairs merged in one,
    counted neither gained nor lost, ``compare_params=
    {"join_split_hairs": False}`` counts them as changes, ...),
    ``hair_matches`` (one dict per hair: ids, ``change`` (``"unchanged"``,
    ``"thinned"``, ``"thickened"``, ``"gained"``, ``"lost"``,
    ``"split_or_merged"``), diameters,
    ``rechecked`` and the re-check's evidence ``recheck`` when the re-check
    of unmatched hairs (on by default; ``compare_params=
    {"recheck_unmatched_hairs": False}`` turns it off) found a hair detected
    at one visit only in the other visit's image),
    ``colour_comparable``,
    ``shared_area_mm2``, ``notes``.

    Maps in baseline pixel coordinates: ``delta_a_star_map`` (float32, NaN
    outside the shared field), ``shared_mask`` (bool: the shared analysable
    field every figure is computed on), ``overlap_mask`` (bool: the frames'
    overlap) and ``overlay``
    (uint8 RGB: gained hairs green, lost red, thinned orange, thickened
    blue; gained/lost capillaries as circles).
    """

    __slots__ = ("_record", "_maps")

    def __init__(self, record: Dict[str, Any], maps: Dict[str, Optional[np.ndarray]]):
        self._record = record
        self._maps = maps

    def __getattr__(self, name: str) -> Any:
        record = object.__getattribute__(self, "_record")
        if name in record:
            return record[name]
        maps = object.__getattribute__(self, "_maps")
        if name in maps:
            return maps[name]
        raise AttributeError(f"'Comparison' object has no attribute {name!r}")

    def __dir__(self) -> List[str]:
        return sorted(set(object.__dir__(self)) | set(self._record) | set(self._maps))

    def __repr__(self) -> str:
        sig = [k for k, d in self._record.get("deltas", {}).items() if d.get("significant")]
        reg = self._record.get("registration", {})
        return (
            f"Comparison(rotation_deg={reg.get('rotation_deg', float('nan')):.2f}, "
            f"scale={reg.get('scale', float('nan')):.4f}, "
            f"overlap_fraction={reg.get('overlap_fraction', float('nan')):.2f}, "
            f"significant={sig})"
        )

    def to_dict(self) -> Dict[str, Any]:
        """The JSON record as a dict (a deep copy is not made)."""
        return self._record

    def summary(self) -> Any:
        """One row per figure: baseline, follow-up, change, 95 % interval,
        p-value, significant, comparable.

        A ``pandas.DataFrame`` indexed by figure when pandas is installed,
        else ``dict[str, numpy.ndarray]`` (column ``figure`` first).
        """
        deltas = self._record.get("deltas", {})
        names = list(deltas)
        table: Dict[str, np.ndarray] = {"figure": np.array(names, dtype=object)}
        for f in _DELTA_FIELDS:
            if f in ("significant", "comparable", "computed"):
                table[f] = np.array([bool(deltas[n].get(f, True)) for n in names], dtype=bool)
            else:
                # A figure whose inputs are missing is null in the record: NaN here.
                table[f] = np.array(
                    [np.nan if deltas[n].get(f) is None else deltas[n][f] for n in names],
                    dtype=float,
                )
        try:
            import pandas as pd
        except ImportError:
            return table
        return pd.DataFrame(table).set_index("figure")

    def plot(self, ax: Any = None) -> Any:
        """Show the Δa* map and the change overlay side by side (matplotlib).

        Overlay colours: hairs green gained, red lost, orange thinned, blue
        thickened, dashed violet split or merged (joined to the other visit's
        shaft); capillaries as circles, green gained, red lost; the field
        outside the shared part is darkened.

        Returns the matplotlib axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(1, 2, figsize=(12, 5))
        ax = np.atleast_1d(ax)
        d = self._maps.get("delta_a_star_map")
        if d is not None and len(ax) > 0:
            lim = float(np.nanpercentile(np.abs(d), 99)) if np.isfinite(d).any() else 1.0
            im = ax[0].imshow(d, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax[0].set_title("Δa* (follow-up − baseline)")
            plt.colorbar(im, ax=ax[0], fraction=0.046)
        o = self._maps.get("overlay")
        if o is not None and len(ax) > 1:
            ax[1].imshow(o)
            ax[1].set_title("changes on the baseline")
        for a in ax:
            a.set_axis_off()
        return ax
