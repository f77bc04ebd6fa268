"""The guide's topics, the pages each one helps with, and their text in each language.

A topic's text is a Markdown document per language under ``content/<language>/<slug>.md``:
long prose is translated as a whole document, as Django's own documentation is, rather than
sentence by sentence through gettext (whose catalogue entries would be whole paragraphs). The
titles go through gettext like every other string. ``tests/guide`` keeps the languages complete:
every topic has a document in each, with the same sections.

The facts that could drift from the code are not written in the documents: the guide's tables
of who may take which step, and in which states, are generated from ``changes.workflow``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils.functional import Promise
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

CONTENT = Path(__file__).parent / "content"
LANGUAGES = ("en", "zh_Hans")  # the directories under CONTENT; "en" is the fallback


@dataclass(frozen=True)
class Topic:
    slug: str
    title: Promise
    summary: Promise
    # The web pages (URL names) whose help link opens this topic.
    pages: tuple[str, ...] = ()


TOPICS: tuple[Topic, ...] = (
    Topic(
        "my-work",
        _("My work"),
        _("What waits on you across your projects: votes, estimates, signatures, assigned "
          "changes, action items and triage."),
        ("home", "my-work"),
    ),
    Topic(
        "process",
        _("The change process"),
        _("The six stages, the states of a change request and who takes each step."),
        ("project-list", "cr-list", "cr-detail", "cr-transition", "cr-link-add",
         "cr-link-remove", "cr-mark-duplicate"),
    ),
    Topic(
        "projects",
        _("Projects, members and roles"),
        _("Setting up a project, inviting people and what each role may do."),
        (
            "project-create", "project-settings", "member-add", "member-change", "token-list",
            "token-revoke", "password-change", "admin-tasks", "admin-task-retry",
            "process-settings", "process-apply", "process-save", "process-template-list",
            "process-template-create", "process-template-detail", "process-template-archive",
        ),
    ),
    Topic(
        "intake",
        _("Raising and recording a change"),
        _("Formal channels, the request form and its templates, e-mail intake, classification "
          "and duplicates."),
        (
            "project-detail", "cr-create", "cr-import", "cr-import-job", "cr-export", "cr-edit",
            "cr-comment",
            "cr-attach", "cr-attachment", "project-similar", "cr-watch", "crtemplate-list",
            "crtemplate-create", "crtemplate-edit", "crtemplate-archive", "crtemplate-move",
        ),
    ),
    Topic(
        "assessment",
        _("Assessing the impact"),
        _("Expert estimates and Delphi rounds, historical analogy, simulation, the assessment."),
        (
            "cr-assessment", "cr-estimate", "cr-round-close", "project-calibration", "plan",
            "plan-edit", "plan-delete", "cr-simulate", "cr-simulation", "cr-change-plan",
            "cr-simulation-chart", "cr-simulation-assess",
        ),
    ),
    Topic(
        "board",
        _("The Change Control Board"),
        _("Voting rules, delegated decisions, emergencies, freeze windows and supervision."),
        (
            "cr-vote", "ccb-board", "ccb-delegation", "ccb-freeze-create", "ccb-freeze-delete",
            "ccb-emergencies", "ccb-supervision", "ccb-pending-votes",
        ),
    ),
    Topic(
        "orders",
        _("Change orders the customer signs"),
        _("Price, scope and schedule of a billable change, issued as a document the customer "
          "signs before implementation starts."),
        (
            "order-list", "order-create", "order-detail", "order-edit", "order-issue",
            "order-revise", "order-withdraw", "order-sign", "order-decline", "order-download",
        ),
    ),
    Topic(
        "implementation",
        _("Implementing and updating the baseline"),
        _("Change sets, requirements, baselines, traceability, verification and actuals."),
        (
            "cs-new", "cs-remove", "cs-apply", "cs-edit", "cs-delete", "cs-rebase",
            "requirement-list", "requirement-create", "requirement-import",
            "requirement-export", "requirement-detail", "requirement-edit", "baseline-list",
            "baseline-diff", "artifact-list", "artifact-detail", "artifact-edit", "link-create",
            "link-review", "link-delete", "matrix", "matrix-export", "cr-actuals",
        ),
    ),
    Topic(
        "communication",
        _("Keeping everyone informed"),
        _("Notifications, the communication log, response times, mailboxes and meetings."),
        (
            "notification-inbox", "notification-read", "notification-open",
            "notification-preferences", "webhook-list", "webhook-detail", "webhook-test",
            "webhook-delete", "comms-log", "comms-sla", "comms-mailbox",
            "comms-quarantine-raw", "comms-quarantine-action", "meeting-list",
            "meeting-create", "project-calendar", "meeting-detail", "meeting-edit",
            "meeting-ics", "meeting-occurrence", "meeting-occurrence-post", "meeting-minutes",
            "calendar-feed-settings",
        ),
    ),
    Topic(
        "review",
        _("Reviewing and improving the process"),
        _("Process metrics, review reports, improvement actions, the case library and the "
          "customer's rating."),
        (
            "reports-metrics", "reports-metrics-chart", "review-report-list",
            "review-report-generate", "review-report-detail", "review-report-download",
            "review-schedule", "improvement-list",
            "improvement-create", "improvement-detail", "improvement-edit",
            "improvement-progress", "improvement-transition", "case-library", "case-list",
            "case-compare", "case-edit", "cr-rating",
        ),
    ),
    Topic(
        "records",
        _("Records and audit"),
        _("The tamper-evident audit trail, exports, backup and restore."),
    ),
)  # fmt: skip

BY_SLUG = {topic.slug: topic for topic in TOPICS}
BY_PAGE = {page: topic for topic in TOPICS for page in topic.pages}


def for_page(url_name: str | None) -> Topic | None:
    """The topic that helps with the page named ``url_name``, if any."""
    return BY_PAGE.get(url_name or "")


def language_dir(language: str | None = None) -> str:
    """The content directory for ``language`` (default: the active one); English otherwise."""
    code = (language or get_language() or "en").lower()
    return "zh_Hans" if code.startswith("zh") else "en"


@cache
def _read(directory: str, slug: str) -> str:
    return (CONTENT / directory / f"{slug}.md").read_text(encoding="utf-8")


def text(topic: Topic, language: str | None = None) -> str:
    """The topic's Markdown document in ``language`` (default: the active language)."""
    return _read(language_dir(language), topic.slug)
