"""Schematic figures of the course: MAML's two loops and CxGrad's Algorithm 1.

Both are drawn with plain matplotlib boxes and arrows (no data, no randomness, no LaTeX:
matplotlib's own mathtext), so the book builds them offline in a fraction of a second.
Chapter 2 shows ``maml_loops_figure()`` and chapter 5 ``cxgrad_algorithm_figure()``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

INNER = "#dbe9f6"  # inner loop: per task, on the support set
QUERY = "#fde7c8"  # query loss
OUTER = "#d9f0d3"  # outer loop: meta-parameters
CONTEXT = "#ece2f5"  # CxGrad's context and scaling


def _canvas(width: float, height: float) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig, ax


def _box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str, color: str, spacing: float = 1.7
) -> None:
    """A rounded box centred at (x, y), of width w and height h, holding ``text``."""
    ax.add_patch(
        FancyBboxPatch(
            (x - w / 2, y - h / 2),
            w,
            h,
            boxstyle="round,pad=0.005,rounding_size=0.015",
            facecolor=color,
            edgecolor="0.3",
            linewidth=1.0,
        )
    )
    ax.text(x, y, text, ha="center", va="center", fontsize=9, linespacing=spacing)


def _arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    label: str = "",
    bend: float = 0.0,
    label_offset: tuple[float, float] = (0.0, 0.0),
) -> None:
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=12,
            color="0.25",
            linewidth=1.0,
            connectionstyle=f"arc3,rad={bend}",
        )
    )
    if label:
        x = (start[0] + end[0]) / 2 + label_offset[0]
        y = (start[1] + end[1]) / 2 + label_offset[1]
        ax.text(x, y, label, ha="center", va="center", fontsize=8, color="0.2")


def _path_arrow(ax: Axes, points: list[tuple[float, float]]) -> None:
    """Straight segments through ``points`` with an arrowhead on the last one."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color="0.25", linewidth=1.0, solid_capstyle="butt")
    _arrow(ax, points[-2], points[-1])


def maml_loops_figure() -> Figure:
    """MAML's inner loop (Eq. 2, per task, on the support set) and outer loop (Eq. 3)."""
    fig, ax = _canvas(9.0, 5.0)
    top = 0.52
    _box(ax, top, 0.91, 0.30, 0.09, r"meta-parameters $\theta$", OUTER)
    columns = {0.23: "1", 0.52: "2", 0.81: "B"}
    for x, i in columns.items():
        _box(
            ax,
            x,
            0.63,
            0.25,
            0.21,
            f"inner loop on task $\\mathcal{{T}}_{i}$ (Eq. 2)\n"
            f"$\\theta_{i} \\leftarrow \\theta$, then repeat (inner steps):\n"
            f"$\\theta_{i} \\leftarrow \\theta_{i} - \\alpha\\, \\nabla_{{\\theta_{i}}}"
            f"\\mathcal{{L}}(\\theta_{i}; S_{i})$",
            INNER,
        )
        _box(ax, x, 0.37, 0.21, 0.08, f"query loss $\\mathcal{{L}}(\\theta_{i}; Q_{i})$", QUERY)
        _arrow(ax, (top, 0.865), (x, 0.74))
        _arrow(ax, (x, 0.525), (x, 0.41))
        _arrow(ax, (x, 0.33), (top, 0.215))
    ax.text(0.665, 0.63, r"$\cdots$", ha="center", va="center", fontsize=14)
    _box(
        ax,
        top,
        0.13,
        0.44,
        0.15,
        "outer loop (Eq. 3), once per meta-batch of $B$ tasks:\n"
        r"$\theta \leftarrow \theta - \eta\, \nabla_\theta \Sigma_{i=1}^{B}\,"
        r"\mathcal{L}(\theta_i; Q_i)$",
        OUTER,
    )
    _path_arrow(ax, [(0.30, 0.13), (0.03, 0.13), (0.03, 0.91), (0.37, 0.91)])
    ax.text(
        0.05,
        0.5,
        "meta-gradient, through the inner loop",
        rotation=90,
        ha="center",
        va="center",
        fontsize=8,
        color="0.2",
    )
    ax.set_title("MAML: an inner loop per task, one outer loop over tasks", fontsize=11)
    fig.tight_layout()
    return fig


def cxgrad_algorithm_figure() -> Figure:
    """One task of CxGrad's Algorithm 1 (lines 5-16) and its meta-update (line 18)."""
    fig, ax = _canvas(10.0, 5.2)
    _box(
        ax,
        0.11,
        0.72,
        0.19,
        0.14,
        "start a task (lines 5-6)\n"
        r"$\theta_i \leftarrow \theta$" + "\n" + r"reset context $\nu_i = 0$",
        OUTER,
    )
    _box(
        ax,
        0.34,
        0.72,
        0.21,
        0.20,
        "warm-up (lines 8-10)\n"
        r"$\theta_i' = \mathrm{IGS}(\theta_i, \nu_i)$" + "\n"
        r"$\nu_i \leftarrow \nu_i - \beta\, \nabla_{\nu_i}\mathcal{L}(\theta_i'; S_i)$",
        CONTEXT,
    )
    _box(
        ax,
        0.61,
        0.72,
        0.26,
        0.26,
        "inner step (lines 11-15), repeated\n"
        r"$\theta_i \leftarrow \mathrm{IGS}(\theta_i, \nu_i)$" + "\n"
        r"$\theta_i \leftarrow \theta_i - \alpha\, \nabla_{\theta_i}\mathcal{L}(\theta_i; S_i)$"
        + "\n"
        r"$\nu_i \leftarrow \nu_i - \beta\, \nabla_{\nu_i}\mathcal{L}(\theta_i; S_i)$",
        INNER,
    )
    _box(
        ax,
        0.885,
        0.72,
        0.19,
        0.10,
        "query loss (line 16)\n" + r"$\mathcal{L}(\theta_i; Q_i)$",
        QUERY,
    )
    _box(
        ax,
        0.61,
        0.30,
        0.34,
        0.25,
        "IGS (Algorithm 2), conv layers only\n"
        r"$\{\gamma_i^{(\ell)}\}_{\ell=1}^{L} = g_\phi(\nu_i)$  (Eq. 8)" + "\n"
        r"$w_i^{(\ell)} \leftarrow \gamma_i^{(\ell)}\, w_i^{(\ell)} / \|w_i^{(\ell)}\|$"
        "  (Eq. 6)\n" + r"the head $\psi_i$ is not rescaled",
        CONTEXT,
        spacing=2.2,
    )
    _box(
        ax,
        0.20,
        0.30,
        0.34,
        0.14,
        "meta-update (line 18), over the $B$ tasks\n"
        r"$(\theta, \phi) \leftarrow (\theta, \phi) - \eta\, \nabla_{(\theta, \phi)}"
        r"\Sigma_{i=1}^{B}\,\mathcal{L}(\theta_i; Q_i)$",
        OUTER,
    )
    _arrow(ax, (0.205, 0.72), (0.228, 0.72))
    _arrow(ax, (0.452, 0.72), (0.478, 0.72))
    _arrow(ax, (0.742, 0.72), (0.788, 0.72))
    _arrow(ax, (0.57, 0.855), (0.65, 0.855), label="next step", bend=-1.2, label_offset=(0, 0.1))
    _arrow(ax, (0.61, 0.585), (0.61, 0.427), label="at every step", label_offset=(0.06, 0))
    _arrow(ax, (0.34, 0.618), (0.47, 0.37), label="once", bend=0.15, label_offset=(0.0, -0.03))
    _path_arrow(ax, [(0.885, 0.668), (0.885, 0.08), (0.20, 0.08), (0.20, 0.228)])
    _arrow(ax, (0.10, 0.372), (0.10, 0.648), label="next\nmeta-batch", label_offset=(-0.05, 0))
    ax.set_title(
        r"CxGrad (Algorithm 1) for task $\mathcal{T}_i$: the context $\nu_i$ sets each conv"
        " layer's step size through IGS",
        fontsize=11,
    )
    fig.tight_layout()
    return fig
