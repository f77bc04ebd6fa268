"""Every page: allowed, forbidden and outsider (another project's member gets 404)."""

import pytest

from tests.factories import make_cr

pytestmark = pytest.mark.django_db

MEMBERS = ("pm", "tech_lead", "qa", "developer", "customer_rep", "customer", "viewer", "admin")


def _get(client, user, url):
    client.force_login(user)
    return client.get(url)


def test_anonymous_is_sent_to_sign_in(client, personas):
    cr = make_cr(personas.project, by=personas.customer)
    for url in (
        "/projects/",
        "/projects/ACME/",
        "/projects/new/",
        "/projects/ACME/settings/",
        "/projects/ACME/changes/new/",
        "/changes/",
        f"/changes/{cr.key}/",
        f"/changes/{cr.key}/edit/",
        f"/changes/{cr.key}/assessment/",
        "/account/tokens/",
        "/account/password/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/signin/?next="), url


@pytest.mark.parametrize("who", MEMBERS)
def test_members_see_the_project_and_its_change_requests(client, personas, who):
    cr = make_cr(personas.project, by=personas.customer, title="可见的变更")
    user = getattr(personas, who)
    assert _get(client, user, "/projects/").status_code == 200
    response = _get(client, user, "/projects/ACME/")
    assert response.status_code == 200
    assert "可见的变更" in response.content.decode()
    assert _get(client, user, f"/changes/{cr.key}/").status_code == 200


def test_outsider_gets_404_for_everything_of_another_project(client, personas):
    cr = make_cr(personas.project, by=personas.customer, title="别人的变更")
    out = personas.outsider
    listing = _get(client, out, "/projects/").content.decode()
    assert "OTHER" in listing and "/projects/ACME/" not in listing
    assert "别人的变更" not in _get(client, out, "/changes/").content.decode()
    for url in (
        "/projects/ACME/",
        "/projects/ACME/settings/",
        "/projects/ACME/changes/new/",
        f"/changes/{cr.key}/",
        f"/changes/{cr.key}/edit/",
        f"/changes/{cr.key}/assessment/",
    ):
        assert _get(client, out, url).status_code == 404, url
    for url in (
        f"/changes/{cr.key}/transition/",
        f"/changes/{cr.key}/comments/",
        f"/changes/{cr.key}/vote/",
        f"/changes/{cr.key}/attachments/",
        f"/changes/{cr.key}/actuals/",
        "/projects/ACME/settings/",
        "/projects/ACME/members/",
    ):
        assert client.post(url, {"action": "withdraw", "body": "x"}).status_code == 404, url


@pytest.mark.parametrize(
    ("who", "status"),
    [("pm", 200), ("admin", 200), ("tech_lead", 403), ("customer", 403), ("viewer", 403)],
)
def test_project_settings_are_for_project_managers(client, personas, who, status):
    assert _get(client, getattr(personas, who), "/projects/ACME/settings/").status_code == status


@pytest.mark.parametrize(("who", "status"), [("admin", 200), ("pm", 403), ("customer", 403)])
def test_project_create_is_for_site_admins(client, personas, who, status):
    assert _get(client, getattr(personas, who), "/projects/new/").status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("pm", 200), ("customer", 200), ("developer", 200), ("viewer", 403)]
)
def test_new_change_request_form(client, personas, who, status):
    assert _get(client, getattr(personas, who), "/projects/ACME/changes/new/").status_code == status


@pytest.mark.parametrize(
    ("who", "status"),
    [("customer", 200), ("pm", 200), ("tech_lead", 200), ("developer", 403), ("viewer", 403)],
)
def test_edit_form_follows_workflow_can_edit(client, personas, who, status):
    cr = make_cr(personas.project, by=personas.customer)
    assert _get(client, getattr(personas, who), f"/changes/{cr.key}/edit/").status_code == status


@pytest.mark.parametrize(
    ("who", "status"),
    [("pm", 200), ("tech_lead", 200), ("admin", 200), ("qa", 403), ("customer", 403)],
)
def test_assessment_form_is_for_pm_and_tech_lead(client, personas, who, status):
    cr = make_cr(personas.project, by=personas.customer, submit=True)
    page = _get(client, getattr(personas, who), f"/changes/{cr.key}/assessment/")
    assert page.status_code == status


def test_unknown_change_request_is_404(client, personas):
    assert _get(client, personas.pm, "/changes/ACME-999/").status_code == 404
    assert _get(client, personas.pm, "/projects/NOPE/").status_code == 404


def test_pages_hold_the_strict_csp(client, personas):
    """No inline script or style anywhere: the CSP allows only files from this site."""
    import re

    from tests.factories import advance

    cr = advance(make_cr(personas.project, by=personas.customer), personas, "in_review")
    client.force_login(personas.pm)
    for url in ("/projects/", "/projects/ACME/", f"/changes/{cr.key}/", "/projects/ACME/settings/",
                f"/changes/{cr.key}/assessment/", "/projects/ACME/changes/new/"):  # fmt: skip
        response = client.get(url)
        html = response.content.decode()
        assert "script-src 'self'" in response["Content-Security-Policy"], url
        assert " style=" not in html and "<style" not in html, url
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [], url
        assert " on" not in re.sub(r'"[^"]*"', '""', "".join(re.findall(r"<[a-z][^>]*>", html)))
