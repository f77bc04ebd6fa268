from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImpactConfig(AppConfig):
    """Estimation methods (PERT/Delphi, analogy) as pure modules; no models."""

    name = "changeflow.impact"
    label = "impact"
    verbose_name = _("Impact estimation")
