"""Matplotlib figures of groups and hashes."""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np

from ._logging import logger


def _pyplot(show: bool | None):
    import matplotlib

    if show is False:
        # rendering only: never needs a display
        pass
    import matplotlib.pyplot as plt

    return plt, matplotlib


def _finish(plt, fig, savedir: str | None, name: str, show: bool | None) -> str | None:
    path = None
    if savedir is not None:
        os.makedirs(savedir, exist_ok=True)
        path = os.path.join(savedir, name)
        fig.savefig(path, dpi=80, bbox_inches="tight")
    if show is None:
        show = savedir is None
    if show:
        plt.show()
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 4)
    return int(math.ceil(n / cols)), cols


def plot_groups(model: Any, cmap: str | None = None, figsize: tuple[int, int] = (15, 10),
                max_groups: int | None = None, savedir: str | None = None, show: bool | None = None) -> list:
    """One figure per group; images titled with distance to the keeper and resolution.

    Parameters
    ----------
    model : Undouble
        A model after ``group()``.
    max_groups : int, optional
        Plot only the first groups.
    savedir : str, optional
        Save each figure as ``group_XXXX.png`` there (headless use); figures
        are then not shown unless ``show=True``.

    Returns
    -------
    list of matplotlib.figure.Figure
    """
    plt, _ = _pyplot(show)
    results = model.results
    groups = results["select_idx"][: max_groups if max_groups is not None else None]
    resolution = results.get("resolution")
    figures = []
    for g, (members, scores) in enumerate(zip(groups, results["select_scores"])):
        rows, cols = _grid(len(members))
        fig, axes = plt.subplots(rows, cols, figsize=figsize, squeeze=False)
        for ax in axes.ravel():
            ax.axis("off")
        for k, (i, score) in enumerate(zip(members, scores)):
            ax = axes.ravel()[k]
            img = results["img"][i]
            ax.imshow(img, cmap=cmap or ("gray" if img.ndim == 2 else None))
            res = "" if resolution is None else f"\n{resolution[i][0]}x{resolution[i][1]}"
            keep = " (keep)" if k == 0 else ""
            ax.set_title(f"{results['filenames'][i]}{keep}\nscore={int(score)}{res}", fontsize=9)
        fig.suptitle(f"Group {g + 1}: {len(members)} images")
        _finish(plt, fig, savedir, f"group_{g + 1:04d}.png", show)
        figures.append(fig)
    if not figures:
        logger.info("No groups to plot.")
    return figures


def plot_hashes(model: Any, idx: Sequence[int] | int | None = None, filenames: Sequence[str] | str | None = None,
                figsize: tuple[int, int] = (8, 8), savedir: str | None = None, show: bool | None = None) -> list:
    """Each chosen image beside its hash bits as a grid.

    Parameters
    ----------
    idx : int or list of int
        Rows of ``results``.
    filenames : str or list of str
        File names (as in ``results['filenames']``) instead of ``idx``.
    """
    plt, _ = _pyplot(show)
    results = model.results
    if filenames is not None:
        if isinstance(filenames, str):
            filenames = [filenames]
        lookup = {name: i for i, name in enumerate(results["filenames"])}
        missing = [f for f in filenames if f not in lookup]
        if missing:
            raise ValueError(f"not among the imported files: {missing}")
        idx = [lookup[f] for f in filenames]
    if idx is None:
        raise ValueError("give idx=... or filenames=...")
    if isinstance(idx, (int, np.integer)):
        idx = [int(idx)]
    nbits = results["hash_nbits"]
    shape = results.get("hash_shape")
    figures = []
    for i in idx:
        bits = results["img_hash_bin"][i][:nbits]
        grid = bits.reshape(shape) if shape and int(np.prod(shape)) == nbits else bits[None, :]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=figsize)
        img = results["img"][i]
        ax1.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax1.set_title(results["filenames"][i])
        ax1.axis("off")
        ax2.imshow(grid, cmap="gray", interpolation="nearest")
        ax2.set_title(f"{model.params['method']}: {results['img_hash_hex'][i]}", fontsize=9)
        ax2.axis("off")
        _finish(plt, fig, savedir, f"hash_{i:05d}.png", show)
        figures.append(fig)
    return figures
