"""The course's schematic figures: what they say, and that they are drawn the same every time."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cxgrad.book.schematics import cxgrad_algorithm_figure, maml_loops_figure  # noqa: E402


def texts(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(matplotlib.text.Text))


def png(draw) -> bytes:
    fig = draw()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=60, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def test_maml_figure_shows_both_loops():
    fig = maml_loops_figure()
    text = texts(fig)
    plt.close(fig)
    assert "inner loop" in text and "(Eq. 2)" in text and "outer loop (Eq. 3)" in text
    assert r"\alpha" in text and r"\eta" in text and "S_" in text and "Q_" in text


def test_cxgrad_figure_follows_algorithm_1():
    fig = cxgrad_algorithm_figure()
    text = texts(fig)
    plt.close(fig)
    for lines in ("lines 5-6", "lines 8-10", "lines 11-15", "line 16", "line 18"):
        assert lines in text, f"Algorithm 1's {lines} are not in the figure"
    assert "IGS (Algorithm 2)" in text and r"g_\phi(\nu_i)" in text and r"\beta" in text


@pytest.mark.parametrize("draw", [maml_loops_figure, cxgrad_algorithm_figure])
def test_figures_are_deterministic(draw):
    assert png(draw) == png(draw)
