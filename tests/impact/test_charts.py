"""Charts in Chinese: with a CJK font installed every label has its glyphs; without one the
chart falls back to English labels rather than empty boxes."""

import io
import warnings

import numpy as np
import pytest
from django.utils import translation

from changeflow.impact import charts


def result() -> dict:
    rng = np.random.default_rng(1)
    out = {"iterations": 2000, "start_date": "2027-01-04", "calendar": "working",
           "currency": "CNY", "charts": {}}  # fmt: skip
    for metric, scale in (("finish", 40.0), ("cost", 90_000.0)):
        a = rng.normal(scale, scale / 10, 2000)
        b = a * 1.1
        edges = np.linspace(min(a.min(), b.min()), max(a.max(), b.max()), 41)
        levels = np.linspace(0, 100, 201)
        out["charts"][metric] = {
            "edges": edges.tolist(),
            "baseline_counts": np.histogram(a, edges)[0].tolist(),
            "with_change_counts": np.histogram(b, edges)[0].tolist(),
            "baseline_quantiles": np.percentile(a, levels).tolist(),
            "with_change_quantiles": np.percentile(b, levels).tolist(),
        }
    return out


def render_all(lang: str) -> list[str]:
    """Every kind, metric and format drawn in ``lang``; the missing-glyph warnings."""
    with warnings.catch_warnings(record=True) as caught, translation.override(lang):
        warnings.simplefilter("always")
        for kind in charts.KINDS:
            for metric in charts.METRICS:
                for fmt in charts.FORMATS:
                    assert charts.render(result(), kind=kind, fmt=fmt, metric=metric)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_chinese_labels_have_their_glyphs_when_a_cjk_font_is_installed():
    if charts.cjk_font() is None:
        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    with translation.override("zh-hans"):
        assert charts._language() is None  # labelled in Chinese
    assert render_all("zh-hans") == []


def test_without_a_cjk_font_chinese_charts_fall_back_to_english(monkeypatch):
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    with translation.override("zh-hans"):
        assert charts._language() == "en"
    assert render_all("zh-hans") == []


def test_the_missing_glyph_check_can_fail():
    """Without the CJK font in the font list, Chinese labels do warn (what the test above
    would catch)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with (
        warnings.catch_warnings(record=True) as caught,
        matplotlib.rc_context({"font.family": ["DejaVu Sans"]}),
    ):
        warnings.simplefilter("always")
        fig = Figure()
        FigureCanvasAgg(fig)
        fig.add_subplot().set_title("累积概率")
        fig.savefig(io.BytesIO(), format="png")
    assert any("missing from font" in str(w.message) for w in caught)
