"""Browser pages."""

from django.urls import include, path
from django.views.generic import RedirectView

from changeflow.accounts import views as accounts
from changeflow.ccb import views as ccb
from changeflow.changes import link_views as cr_links
from changeflow.changes import views as changes
from changeflow.impact import plan_views as impact_plans
from changeflow.requirements import cr_views as change_sets
from changeflow.requirements import views as requirements

impact_plan_urls = [
    path("projects/<str:key>/plan/", impact_plans.plan_page, name="plan"),
    path("projects/<str:key>/plan/<str:what>/", impact_plans.plan_edit, name="plan-edit"),
    path(
        "projects/<str:key>/plan/<str:what>/<str:ref>/delete/",
        impact_plans.plan_delete,
        name="plan-delete",
    ),
    path("changes/<str:key>/simulate/", impact_plans.cr_simulate, name="cr-simulate"),
    path("changes/<str:key>/simulation/", impact_plans.cr_simulation_panel, name="cr-simulation"),
    path("changes/<str:key>/change-plan/", impact_plans.change_plan_edit, name="cr-change-plan"),
    path(
        "changes/<str:key>/simulations/<int:pk>/chart.<str:fmt>",
        impact_plans.run_chart,
        name="cr-simulation-chart",
    ),
    path(
        "changes/<str:key>/simulations/<int:pk>/assess/",
        impact_plans.run_assess,
        name="cr-simulation-assess",
    ),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="my-work"), name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("signin/", accounts.sign_in, name="login"),
    path("signout/", accounts.sign_out, name="logout"),
    path("account/password/", accounts.password_change, name="password-change"),
    path("account/tokens/", accounts.token_list, name="token-list"),
    path("account/tokens/<int:token_id>/revoke/", accounts.token_revoke, name="token-revoke"),
    path("projects/", accounts.project_list, name="project-list"),
    path("projects/new/", accounts.project_create, name="project-create"),
    path("projects/<str:key>/", changes.cr_list, name="project-detail"),
    path("projects/<str:key>/settings/", accounts.project_settings, name="project-settings"),
    path("projects/<str:key>/members/", accounts.member_add, name="member-add"),
    path(
        "projects/<str:key>/members/<str:username>/",
        accounts.member_change,
        name="member-change",
    ),
    path("projects/<str:key>/changes/new/", changes.cr_create, name="cr-create"),
    path("projects/<str:key>/changes/import/", changes.cr_import, name="cr-import"),
    path(
        "projects/<str:key>/changes/import/<int:id>/",
        changes.cr_import_job,
        name="cr-import-job",
    ),
    path("projects/<str:key>/changes/export/", changes.cr_export, name="cr-export"),
    path("changes/", changes.cr_list, name="cr-list"),
    path("changes/<str:key>/", changes.cr_detail, name="cr-detail"),
    path("changes/<str:key>/edit/", changes.cr_edit, name="cr-edit"),
    path("changes/<str:key>/transition/", changes.cr_transition, name="cr-transition"),
    path("changes/<str:key>/actuals/", changes.cr_actuals, name="cr-actuals"),
    path("changes/<str:key>/comments/", changes.comment_create, name="cr-comment"),
    path("changes/<str:key>/attachments/", changes.attachment_upload, name="cr-attach"),
    path(
        "changes/<str:key>/attachments/<int:pk>/",
        changes.attachment_download,
        name="cr-attachment",
    ),
    path("changes/<str:key>/assessment/", changes.assessment, name="cr-assessment"),
    path("changes/<str:key>/vote/", changes.vote, name="cr-vote"),
    path("changes/<str:key>/links/", cr_links.link_add, name="cr-link-add"),
    path("changes/<str:key>/links/<int:pk>/remove/", cr_links.link_remove, name="cr-link-remove"),
    path("changes/<str:key>/mark-duplicate/", cr_links.mark_duplicate, name="cr-mark-duplicate"),
    path("", include("changeflow.meetings.urls")),
    path("", include("changeflow.reports.urls")),
    path("", include("changeflow.guide.urls")),
    path("", include("changeflow.cases.urls")),
    path("", include("changeflow.crtemplates.urls")),
    path("", include("changeflow.processes.urls")),
    path("", include("changeflow.orders.urls")),
    path("", include("changeflow.notifications.web_urls")),
    path("", include("changeflow.work.urls")),
    *impact_plan_urls,
    path("changes/<str:key>/change-set/new/", change_sets.edit_new, name="cs-new"),
    path("changes/<str:key>/change-set/remove/", change_sets.edit_remove, name="cs-remove"),
    path("changes/<str:key>/change-set/apply/", change_sets.apply, name="cs-apply"),
    path("changes/<str:key>/change-set/<int:edit_id>/", change_sets.edit_change, name="cs-edit"),
    path(
        "changes/<str:key>/change-set/<int:edit_id>/delete/",
        change_sets.edit_delete,
        name="cs-delete",
    ),
    path(
        "changes/<str:key>/change-set/<int:edit_id>/rebase/", change_sets.rebase, name="cs-rebase"
    ),
    path("projects/<str:key>/board/", ccb.board_settings, name="ccb-board"),
    path("projects/<str:key>/board/delegation/", ccb.delegation, name="ccb-delegation"),
    path("projects/<str:key>/freeze-windows/", ccb.freeze_create, name="ccb-freeze-create"),
    path(
        "projects/<str:key>/freeze-windows/<int:pk>/delete/",
        ccb.freeze_delete,
        name="ccb-freeze-delete",
    ),
    path("projects/<str:key>/emergencies/", ccb.emergencies, name="ccb-emergencies"),
    path("projects/<str:key>/supervision/", ccb.supervision, name="ccb-supervision"),
    path("votes/pending/", ccb.pending_votes, name="ccb-pending-votes"),
    path("", include("changeflow.impact.urls")),
]

# The communication app's pages (communication log, SLA, mailbox and quarantine, tasks).
from changeflow.comms import views as comms  # noqa: E402
from changeflow.core import tasks_admin  # noqa: E402

urlpatterns += [
    path("projects/<str:key>/communications/", comms.communication_log, name="comms-log"),
    path("projects/<str:key>/sla/", comms.sla_page, name="comms-sla"),
    path("projects/<str:key>/mailbox/", comms.mailbox_page, name="comms-mailbox"),
    path(
        "projects/<str:key>/mailbox/quarantine/<int:pk>/raw/",
        comms.quarantine_raw,
        name="comms-quarantine-raw",
    ),
    path(
        "projects/<str:key>/mailbox/quarantine/<int:pk>/<str:action>/",
        comms.quarantine_action,
        name="comms-quarantine-action",
    ),
    path("admin/tasks/", tasks_admin.task_list, name="admin-tasks"),
    path("admin/tasks/<uuid:task_id>/retry/", tasks_admin.task_retry, name="admin-task-retry"),
    # Requirements, baselines, artifacts, trace links, the traceability matrix.
    path(
        "projects/<str:key>/requirements/", requirements.requirement_list, name="requirement-list"
    ),
    path(
        "projects/<str:key>/requirements/new/",
        requirements.requirement_create,
        name="requirement-create",
    ),
    path(
        "projects/<str:key>/requirements/import/",
        requirements.requirement_import,
        name="requirement-import",
    ),
    path(
        "projects/<str:key>/requirements/export/",
        requirements.requirement_export,
        name="requirement-export",
    ),
    path("requirements/<str:key>/", requirements.requirement_detail, name="requirement-detail"),
    path("requirements/<str:key>/edit/", requirements.requirement_edit, name="requirement-edit"),
    path("projects/<str:key>/baselines/", requirements.baseline_list, name="baseline-list"),
    path("projects/<str:key>/baselines/diff/", requirements.baseline_diff, name="baseline-diff"),
    path("projects/<str:key>/artifacts/", requirements.artifact_list, name="artifact-list"),
    path("artifacts/<str:key>/", requirements.artifact_detail, name="artifact-detail"),
    path("artifacts/<str:key>/edit/", requirements.artifact_edit, name="artifact-edit"),
    path("projects/<str:key>/links/new/", requirements.link_create, name="link-create"),
    path("projects/<str:key>/links/<int:pk>/review/", requirements.link_review, name="link-review"),
    path("projects/<str:key>/links/<int:pk>/delete/", requirements.link_delete, name="link-delete"),
    path("projects/<str:key>/matrix/", requirements.matrix, name="matrix"),
    path("projects/<str:key>/matrix/export/", requirements.matrix_export, name="matrix-export"),
]
