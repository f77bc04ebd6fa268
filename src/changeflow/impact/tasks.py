"""Background tasks of the impact engine (``django.tasks``; the backend is chosen in settings)."""

from __future__ import annotations

from django.tasks import task


@task
def run_simulation(run_id: int) -> None:
    """Compute a queued simulation run; its row shows the progress and, at the end, the result."""
    from .plans import simulation_execute

    simulation_execute(run_id)
