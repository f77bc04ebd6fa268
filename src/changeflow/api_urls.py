"""REST API v1 routes (see docs: API.md)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from changeflow.accounts import api as accounts
from changeflow.ccb import api as ccb
from changeflow.changes import api as changes
from changeflow.changes import link_api as cr_links
from changeflow.comms import api as comms
from changeflow.core import api_views as core
from changeflow.impact import plan_api
from changeflow.requirements import api as requirements
from changeflow.requirements import changeset_api


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI that loads under the strict CSP: no inline script or style, no CDN."""

    template_name = "core/api_docs.html"
    url_name = "api-schema"


CR = "change-requests/<str:key>/"
PLAN = "projects/<str:key>/plan/"

plan_api_urls = [
    path(PLAN, plan_api.PlanView.as_view(), name="api-plan"),
    path(PLAN + "import/", plan_api.PlanImportView.as_view(), name="api-plan-import"),
    path(PLAN + "tasks/", plan_api.PlanTaskListView.as_view(), name="api-plan-tasks"),
    path(
        PLAN + "tasks/<str:task>/",
        plan_api.PlanTaskDetailView.as_view(),
        name="api-plan-task-detail",
    ),
    path(PLAN + "dependencies/", plan_api.PlanDependencyListView.as_view(), name="api-plan-deps"),
    path(
        PLAN + "dependencies/<int:id>/",
        plan_api.PlanDependencyDetailView.as_view(),
        name="api-plan-dep-detail",
    ),
    path(
        PLAN + "milestones/", plan_api.PlanMilestoneListView.as_view(), name="api-plan-milestones"
    ),
    path(
        PLAN + "milestones/<int:id>/",
        plan_api.PlanMilestoneDetailView.as_view(),
        name="api-plan-milestone-detail",
    ),
    path(PLAN + "simulate/", plan_api.PlanSimulateView.as_view(), name="api-plan-simulate"),
    path(
        PLAN + "simulations/",
        plan_api.PlanSimulationListView.as_view(),
        name="api-plan-simulations",
    ),
    path(
        PLAN + "simulations/<int:id>/",
        plan_api.PlanSimulationDetailView.as_view(),
        name="api-plan-simulation",
    ),
    path(
        PLAN + "simulations/<int:id>/chart.<str:fmt>",
        plan_api.PlanSimulationChartView.as_view(),
        name="api-plan-simulation-chart",
    ),
    path(CR + "change-plan/", plan_api.ChangePlanView.as_view(), name="api-cr-change-plan"),
    path(CR + "simulate/", plan_api.SimulateView.as_view(), name="api-cr-simulate"),
    path(CR + "simulations/", plan_api.SimulationListView.as_view(), name="api-cr-simulations"),
    path(
        CR + "simulations/<int:id>/",
        plan_api.SimulationDetailView.as_view(),
        name="api-cr-simulation-detail",
    ),
    path(
        CR + "simulations/<int:id>/assessment/",
        plan_api.SimulationAssessView.as_view(),
        name="api-cr-simulation-assess",
    ),
    path(
        CR + "simulations/<int:id>/chart.<str:fmt>",
        plan_api.SimulationChartView.as_view(),
        name="api-cr-simulation-chart",
    ),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", DocsView.as_view(), name="api-docs"),
    path("auth/token/", accounts.TokenView.as_view(), name="api-token"),
    path("me/", accounts.MeView.as_view(), name="api-me"),
    path("projects/", accounts.ProjectListView.as_view(), name="api-project-list"),
    path("projects/<str:key>/", accounts.ProjectDetailView.as_view(), name="api-project-detail"),
    path("projects/<str:key>/members/", accounts.MemberListView.as_view(), name="api-member-list"),
    path(
        "projects/<str:key>/members/<str:username>/",
        accounts.MemberDetailView.as_view(),
        name="api-member-detail",
    ),
    path(
        "projects/<str:key>/changes/import/",
        changes.ChangeRequestImportView.as_view(),
        name="api-cr-import",
    ),
    path(
        "projects/<str:key>/changes/import/<int:id>/",
        changes.ChangeRequestImportJobView.as_view(),
        name="api-cr-import-job",
    ),
    path(
        "projects/<str:key>/changes/export/",
        changes.ChangeRequestExportView.as_view(),
        name="api-cr-export",
    ),
    path("change-requests/", changes.ChangeRequestListView.as_view(), name="api-cr-list"),
    # Before CR: "bulk" is no key.
    path("change-requests/bulk/", changes.BulkChangeView.as_view(), name="api-cr-bulk"),
    path(CR, changes.ChangeRequestDetailView.as_view(), name="api-cr-detail"),
    path(CR + "transitions/", changes.TransitionView.as_view(), name="api-cr-transitions"),
    path(CR + "history/", changes.HistoryView.as_view(), name="api-cr-history"),
    path(CR + "links/", cr_links.LinkListView.as_view(), name="api-cr-links"),
    path(CR + "links/<int:id>/", cr_links.LinkDetailView.as_view(), name="api-cr-link-detail"),
    path(
        CR + "mark-duplicate/", cr_links.MarkDuplicateView.as_view(), name="api-cr-mark-duplicate"
    ),
    path(CR + "comments/", changes.CommentListView.as_view(), name="api-cr-comments"),
    path(CR + "attachments/", changes.AttachmentListView.as_view(), name="api-cr-attachments"),
    path(
        CR + "attachments/<int:pk>/download/",
        changes.AttachmentDownloadView.as_view(),
        name="api-attachment-download",
    ),
    path(CR + "assessments/", changes.AssessmentListView.as_view(), name="api-cr-assessments"),
    path(CR + "votes/", changes.VoteListView.as_view(), name="api-cr-votes"),
    path(CR + "decision/", ccb.DecisionView.as_view(), name="api-cr-decision"),
    path("projects/<str:key>/board/", ccb.BoardView.as_view(), name="api-project-board"),
    path("projects/<str:key>/unratified/", ccb.UnratifiedView.as_view(), name="api-unratified"),
    path("projects/<str:key>/supervision/", ccb.SupervisionView.as_view(), name="api-supervision"),
    path("votes/pending/", ccb.PendingVotesView.as_view(), name="api-pending-votes"),
    path(
        "projects/<str:key>/freeze-windows/",
        ccb.FreezeWindowListView.as_view(),
        name="api-freeze-window-list",
    ),
    path(
        "projects/<str:key>/freeze-windows/<int:id>/",
        ccb.FreezeWindowDetailView.as_view(),
        name="api-freeze-window-detail",
    ),
    path(
        "projects/<str:key>/requirements/",
        requirements.RequirementListView.as_view(),
        name="api-requirement-list",
    ),
    path(
        "projects/<str:key>/requirements/import/",
        requirements.RequirementImportView.as_view(),
        name="api-requirement-import",
    ),
    path(
        "projects/<str:key>/requirements/export/",
        requirements.RequirementExportView.as_view(),
        name="api-requirement-export",
    ),
    path(
        "requirements/<str:key>/",
        requirements.RequirementDetailView.as_view(),
        name="api-requirement-detail",
    ),
    path(
        "requirements/<str:key>/versions/",
        requirements.RequirementVersionListView.as_view(),
        name="api-requirement-versions",
    ),
    path(
        "projects/<str:key>/baselines/",
        requirements.BaselineListView.as_view(),
        name="api-baseline-list",
    ),
    path(
        "projects/<str:key>/baselines/<str:name>/",
        requirements.BaselineDetailView.as_view(),
        name="api-baseline-detail",
    ),
    path(
        "projects/<str:key>/baselines/<str:name>/diff/",
        requirements.BaselineDiffView.as_view(),
        name="api-baseline-diff",
    ),
    path(
        "projects/<str:key>/artifacts/",
        requirements.ArtifactListView.as_view(),
        name="api-artifact-list",
    ),
    path(
        "projects/<str:key>/links/", requirements.TraceLinkListView.as_view(), name="api-link-list"
    ),
    path(
        "artifacts/<str:key>/",
        requirements.ArtifactDetailView.as_view(),
        name="api-artifact-detail",
    ),
    path(
        "artifacts/<str:key>/versions/",
        requirements.ArtifactVersionListView.as_view(),
        name="api-artifact-versions",
    ),
    path(
        "projects/<str:key>/links/<int:id>/",
        requirements.TraceLinkDetailView.as_view(),
        name="api-link-detail",
    ),
    path(
        "projects/<str:key>/links/<int:id>/review/",
        requirements.TraceLinkReviewView.as_view(),
        name="api-link-review",
    ),
    path(CR + "impact/", changeset_api.ImpactView.as_view(), name="api-cr-impact"),
    path(CR + "conflicts/", changeset_api.ConflictsView.as_view(), name="api-cr-conflicts"),
    path(CR + "change-set/", changeset_api.ChangeSetView.as_view(), name="api-cr-change-set"),
    path(
        CR + "change-set/apply/",
        changeset_api.ChangeSetApplyView.as_view(),
        name="api-cr-change-set-apply",
    ),
    path(
        CR + "change-set/<int:id>/",
        changeset_api.ChangeSetEditView.as_view(),
        name="api-cr-change-set-edit",
    ),
    path(
        CR + "change-set/<int:id>/rebase/",
        changeset_api.ChangeSetRebaseView.as_view(),
        name="api-cr-change-set-rebase",
    ),
    path("projects/<str:key>/matrix/", requirements.MatrixView.as_view(), name="api-matrix"),
    path(
        "projects/<str:key>/matrix/export/",
        requirements.MatrixExportView.as_view(),
        name="api-matrix-export",
    ),
    *plan_api_urls,
    path("projects/<str:key>/mailbox/", comms.MailboxView.as_view(), name="api-mailbox"),
    path(
        "projects/<str:key>/quarantine/",
        comms.QuarantineListView.as_view(),
        name="api-quarantine-list",
    ),
    path(
        "projects/<str:key>/quarantine/<int:id>/resolve/",
        comms.QuarantineResolveView.as_view(),
        name="api-quarantine-resolve",
    ),
    path(
        "projects/<str:key>/communications/",
        comms.CommunicationListView.as_view(),
        name="api-communication-list",
    ),
    path(
        CR + "communications/",
        comms.CrCommunicationListView.as_view(),
        name="api-cr-communications",
    ),
    path("projects/<str:key>/sla/", comms.SlaView.as_view(), name="api-sla"),
    path(
        "projects/<str:key>/sla/breaches/",
        comms.SlaBreachListView.as_view(),
        name="api-sla-breaches",
    ),
    path("audit/", core.AuditListView.as_view(), name="api-audit"),
    path("audit/verify/", core.AuditVerifyView.as_view(), name="api-audit-verify"),
    path("", include("changeflow.meetings.api_urls")),
    path("", include("changeflow.reports.api_urls")),
    path("", include("changeflow.cases.api_urls")),
    path("", include("changeflow.notifications.api_urls")),
    path("", include("changeflow.impact.api_urls")),
    path("", include("changeflow.crtemplates.api_urls")),
    path("", include("changeflow.processes.api_urls")),
    path("", include("changeflow.orders.api_urls")),
    path("", include("changeflow.work.api_urls")),
    re_path(r"", core.api_not_found),  # last: JSON 404 for any other API path
]
