"""The expert-estimate form: three-point figures for effort, schedule and cost."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import POINTS

LABELS = {
    "effort": _("Effort (hours)"),
    "schedule": _("Schedule (days)"),
    "cost": _("Cost"),
}
POINT_LABELS = {
    "optimistic": _("optimistic"),
    "most_likely": _("most likely"),
    "pessimistic": _("pessimistic"),
}


class ExpertEstimateForm(forms.Form):
    """Nine numbers and a comment; ordering and non-negativity are the service's to check
    (one rule, one message, the same for the API and the page)."""

    comment = forms.CharField(
        label=_("Reasoning (assumptions, risks)"), required=False, max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        # On the CR page beside the transition form and its own comment: ids of its own.
        kwargs.setdefault("auto_id", "id_estimate_%s")
        super().__init__(*args, **kwargs)
        for dim, label in LABELS.items():
            for point in POINTS:
                self.fields[f"{dim}_{point}"] = forms.DecimalField(
                    label=f"{label} · {POINT_LABELS[point]}",
                    required=dim == "effort",
                    min_value=0, max_digits=14, decimal_places=2,
                    widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
                )  # fmt: skip
        self.order_fields([f"{d}_{p}" for d in LABELS for p in POINTS] + ["comment"])

    def triple(self, dim: str):
        values = [self.cleaned_data.get(f"{dim}_{p}") for p in POINTS]
        if all(v is None for v in values):
            return None
        return {p: ("" if v is None else str(v)) for p, v in zip(POINTS, values, strict=True)}

    def grid(self):
        """Rows of (label, [bound fields o, m, p]) for the template."""
        return [(LABELS[d], [self[f"{d}_{p}"] for p in POINTS]) for d in LABELS]
