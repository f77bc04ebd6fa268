from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ImpactConfig(AppConfig):
    """Estimation: pure maths (PERT/Delphi, analogy, calibration, similarity) plus the tables
    that keep expert estimates, Delphi rounds and calibration records."""

    name = "changeflow.impact"
    label = "impact"
    verbose_name = _("Impact estimation")

    def ready(self) -> None:
        from changeflow.core.signals import audit_recorded

        from . import services

        audit_recorded.connect(services.on_audit_recorded, dispatch_uid="impact-calibration")
