"""The navigation bar's counts (unread notifications, my pending votes): one query for both,
none on a page that does not show them, and never stale."""

import re

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from changeflow.accounts import services as accounts
from changeflow.ccb import decisions
from changeflow.ccb.models import VotingSnapshot
from changeflow.changes import services
from changeflow.changes.models import ChangeRequest
from changeflow.context_processors import Nav
from changeflow.notifications import services as notifications
from changeflow.notifications.selectors import unread_count
from tests.factories import PASSWORD, advance, complete_assessment, fresh, make_cr

pytestmark = pytest.mark.django_db

# What each page reads besides the navigation: the session and the user, then the view's own.
PAGES = {
    "/account/password/": 0,
    "/projects/": 1,  # the projects
    "/projects/ACME/": 4,  # the project, the role, the count and the page of CRs
}
# A site admin's role in a project is never asked: it does not decide what an admin may do.
ADMIN_SAVES = {"/projects/ACME/": 1}
# Who may change CRs in bulk (the team, site admins) gets the bulk bar, with the project's
# assignable members: one more query (customers and viewers do not).
BULK_BAR = {"/projects/ACME/": 1}


def nav_of(user):
    request = RequestFactory().get("/")
    request.user = user
    return Nav(request)


def badges(html):
    """(unread, pending votes) as the top bar shows them (0 when it shows no badge)."""
    unread = re.search(r'class="count-badge"[^>]*>(\d+)<', html)
    pending = re.search(r'data-testid="pending-votes-count">(\d+)<', html)
    return int(unread[1]) if unread else 0, int(pending[1]) if pending else 0


def vote(user, cr):
    services.vote_cast(user=user, cr=fresh(cr, user), decision="approve", password=PASSWORD)


@pytest.fixture
def busy(personas, django_capture_on_commit_callbacks):
    """Two CRs in review and an emergency awaiting ratification, with their notifications."""
    p = personas
    with django_capture_on_commit_callbacks(execute=True):
        crs = [advance(make_cr(p.project, by=p.customer), p, "in_review") for _ in range(2)]
        emergency = advance(make_cr(p.project, by=p.customer, emergency=True), p, "triaged")
        services.change_request_transition(
            user=p.pm, cr=fresh(emergency, p.pm), action="approve_emergency"
        )
    return [*crs, emergency]


@pytest.mark.parametrize("role", ["pm", "customer_rep", "customer", "admin"])
@pytest.mark.parametrize("url", list(PAGES))
def test_a_page_pays_one_query_for_the_navigation(client, personas, busy, role, url):
    user = getattr(personas, role)
    client.force_login(user)
    client.get(url)  # the session's first read
    with CaptureQueriesContext(connection) as queries:
        html = client.get(url).content.decode()
    page = PAGES[url] - (ADMIN_SAVES.get(url, 0) if user.is_superuser else 0)
    page += BULK_BAR.get(url, 0) if role in ("pm", "admin") else 0
    assert len(queries) == 2 + page + 1, "\n".join(q["sql"] for q in queries)
    nav = [q["sql"] for q in queries if "notifications_notification" in q["sql"]]
    assert len(nav) == 1 and "ccb_votingsnapshot" in nav[0]  # both counts, one query
    assert badges(html) == (unread_count(user), len(decisions.pending_votes(user=user)))


def test_both_counts_in_one_query_and_only_when_asked(personas, busy, django_assert_num_queries):
    p = personas
    unread = unread_count(p.customer_rep)
    assert unread > 0
    with django_assert_num_queries(0):
        nav = nav_of(p.customer_rep)  # the context processor itself reads nothing
    with django_assert_num_queries(1):
        assert (nav.unread, nav.pending_votes) == (unread, 3)
    with django_assert_num_queries(0):
        assert (nav.pending_votes, nav.unread) == (3, unread)


def test_pages_without_the_navigation_pay_nothing(client, personas, busy):
    client.force_login(personas.pm)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/projects/").status_code == 200
        assert client.get("/projects/ACME/", headers={"HX-Request": "true"}).status_code == 200
    assert not [q for q in queries if "notifications_notification" in q["sql"]]


def test_the_counts_follow_every_write_at_once(
    client, personas, busy, django_capture_on_commit_callbacks
):
    p = personas
    first, second, emergency = busy
    expected = {p.pm: 3, p.tech_lead: 3, p.qa: 3, p.customer_rep: 3}  # the default board
    for user in (p.customer, p.developer, p.viewer, p.outsider, p.admin):
        expected[user] = 0  # the requester, people not on the board, a site admin who is none

    def shown(user):
        client.force_login(user)
        return badges(client.get("/projects/").content.decode())

    for user, pending in expected.items():
        assert shown(user)[1] == pending == nav_of(user).pending_votes, user
    vote(p.qa, first)
    assert shown(p.qa)[1] == 2
    vote(p.qa, emergency)
    vote(p.pm, first)
    assert shown(p.qa)[1] == 1 and shown(p.pm)[1] == 2
    complete_assessment(first, by=p.tech_lead, cost="99999")  # a new estimate voids the votes
    assert shown(p.qa)[1] == 2 and shown(p.pm)[1] == 3
    # A site admin votes where a member and on the board only; the board's snapshot came first.
    accounts.membership_set(user=p.pm, project=p.project, username=p.admin.username, role="qa")
    assert shown(p.admin)[1] == 0

    unread = shown(p.customer_rep)[0]
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_create(
            user=p.pm, cr=fresh(second, p.pm), body="@customer_rep_acme please look again"
        )
    assert shown(p.customer_rep)[0] == unread + 1 == unread_count(p.customer_rep)
    notifications.mark_read(user=p.customer_rep)
    assert shown(p.customer_rep)[0] == 0


def test_a_round_without_its_snapshot_is_counted_and_gets_one(client, personas, busy):
    """Rows from before snapshots: the count takes the snapshot as the pending list does."""
    p = personas
    first = busy[0]
    VotingSnapshot.objects.filter(change_request=first).delete()
    assert nav_of(p.qa).pending_votes == 3
    assert VotingSnapshot.objects.filter(change_request=first, purpose="decision").exists()
    assert [r["cr"].key for r in decisions.pending_votes(user=p.qa)] == [c.key for c in busy]
    VotingSnapshot.objects.filter(change_request=first).delete()
    assert [r["cr"].key for r in decisions.pending_votes(user=p.qa)] == [c.key for c in busy]
    assert nav_of(p.customer).pending_votes == 0  # the requester is on no snapshot


def test_what_is_voted_on_reads_the_same_in_sql_as_in_python(personas, busy):
    """``voting_now`` (the counts' SQL) agrees with ``vote_purpose`` and ``_round`` (the CR
    page's Python) on every CR open for votes: a decision in a later round, a first-round
    decision and a ratification."""
    ChangeRequest.objects.filter(pk=busy[0].pk).update(review_round=3)
    rows = ChangeRequest.objects.annotate(**decisions.voting_now())
    seen = set()
    for cr in rows:
        purpose = services.vote_purpose(cr)
        if purpose is None:
            continue
        assert (cr.vote_purpose, cr.vote_round) == (purpose, decisions._round(cr, purpose))
        seen.add((purpose, cr.vote_round))
    assert seen == {("decision", 3), ("decision", 1), ("ratification", 1)}


def _links(html, nav_class):
    block = re.search(rf'<nav class="{nav_class}"[^>]*>(.*?)</nav>', html, re.S)
    assert block, nav_class
    return re.findall(r'href="([^"]+)"', block[1])


@pytest.mark.parametrize(
    "role, sees_reviews", [("pm", True), ("viewer", True), ("customer_rep", False)]
)
def test_the_top_bar_is_site_wide_and_the_project_tabs_lead_to_its_sections(
    client, personas, role, sees_reviews
):
    """The top bar links what is not one project's (it fits a 1280-pixel window in English);
    a project's meetings and improvement actions are tabs of the project, next to its metrics."""
    client.force_login(getattr(personas, role))
    for url in ("/projects/ACME/", "/projects/ACME/meetings/", "/projects/ACME/requirements/"):
        html = client.get(url).content.decode()
        assert _links(html, "mainnav") == [
            "/my-work/", "/projects/", "/changes/", "/cases/", "/notifications/", "/votes/pending/",
        ]  # fmt: skip
        tabs = _links(html, "tabs")
        assert "/projects/ACME/meetings/" in tabs
        assert ("/projects/ACME/improvements/" in tabs) is sees_reviews
        assert ("/projects/ACME/reports/" in tabs) is sees_reviews
