"""``GET /api/v1/me/work/``: what waits on the caller, the sections of the "My work" page."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from changeflow.core.api_views import ApiView, errors

from . import selectors
from .serializers import MyWorkSerializer, as_data


class MyWorkView(ApiView):
    """What waits on me across my projects: CRs assigned to me, votes, estimates, change
    orders to sign, meeting and improvement actions, CRs to triage, questions and open
    requests (customers). Every section is always present."""

    @extend_schema(operation_id="me_work_retrieve", responses={200: MyWorkSerializer, **errors()})
    def get(self, request):
        return Response(as_data(selectors.my_work(user=request.user)))
