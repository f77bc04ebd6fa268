"""The CR page's "Links" panel: shown both ways, grouped; add and remove (HTMX and plain
posts); mark as duplicate from the page and from the similar-change panel; allowed, forbidden,
outsider."""

from __future__ import annotations

import pytest

from changeflow.changes import links, services
from changeflow.changes.models import ChangeRequestLink
from tests.factories import fresh, make_cr

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def _as(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def trio(personas):
    p = personas
    return tuple(
        make_cr(p.project, by=p.customer, submit=True, title=f"登录页面需要支持短信验证码 {i}")
        for i in range(3)
    )


def test_the_panel_shows_links_both_ways(client, personas, trio):
    p = personas
    a, b, c = trio
    links.link_create(user=p.pm, cr=a, kind="depends_on", target=b.key, note="接口先行")
    links.link_create(user=p.pm, cr=c, kind="duplicates", target=a.key)
    html = _as(client, p.customer).get(f"/changes/{a.key}/").content.decode()
    assert 'id="links"' in html
    assert "Depends on" in html and "Is duplicated by" in html and "接口先行" in html
    assert f"<strong>{b.key}</strong>" in html and f"<strong>{c.key}</strong>" in html
    assert "Add link" not in html and "Remove" not in html  # the customer may not edit it
    html = _as(client, p.pm).get(f"/changes/{b.key}/").content.decode()
    assert "Blocks" in html and "Add link" in html
    html = client.get(f"/changes/{a.key}/").content.decode()
    assert f'action="/changes/{a.key}/links/{ChangeRequestLink.objects.first().pk}/remove/"' in html


def test_add_and_remove(client, personas, trio):
    p = personas
    a, b, c = trio
    client = _as(client, p.tech_lead)
    r = client.post(f"/changes/{a.key}/links/", {"kind": "relates_to", "target": b.key})
    assert r.status_code == 302 and r["Location"].endswith(f"/changes/{a.key}/#links")
    r = client.post(f"/changes/{a.key}/links/", {"kind": "replaces", "target": c.key}, headers=HTMX)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.lstrip().startswith("<section") and "Replaces" in html and c.key in html
    # A mistake: the panel again with the message (HTMX), or the page's message.
    r = client.post(f"/changes/{a.key}/links/", {"kind": "relates_to", "target": a.key},
                    headers=HTMX)  # fmt: skip
    assert r.status_code == 400 and "cannot be linked to itself" in r.content.decode()
    r = client.post(f"/changes/{a.key}/links/", {"kind": "relates_to", "target": "ACME-404"},
                    headers=HTMX)  # fmt: skip
    assert r.status_code == 404 and "No such change request" in r.content.decode()
    r = client.post(f"/changes/{a.key}/links/", {"kind": "nope", "target": b.key})
    assert r.status_code == 302
    assert ChangeRequestLink.objects.count() == 2
    link = ChangeRequestLink.objects.get(kind="replaces")
    r = client.post(f"/changes/{a.key}/links/{link.pk}/remove/", headers=HTMX)
    assert r.status_code == 200 and c.key not in r.content.decode()
    assert ChangeRequestLink.objects.count() == 1


def test_remove_from_the_other_side(client, personas, trio):
    """The target's page offers Remove to who may edit the link's source, and removes it there;
    a source no longer editable (withdrawn) keeps its link on both pages."""
    p = personas
    a, b, c = trio
    link = links.link_create(user=p.pm, cr=a, kind="depends_on", target=b.key)
    remove = f'action="/changes/{b.key}/links/{link.pk}/remove/"'
    assert remove in _as(client, p.tech_lead).get(f"/changes/{b.key}/").content.decode()
    assert remove not in _as(client, p.customer).get(f"/changes/{b.key}/").content.decode()
    r = _as(client, p.tech_lead).post(f"/changes/{b.key}/links/{link.pk}/remove/", headers=HTMX)
    assert r.status_code == 200 and a.key not in r.content.decode()
    assert not ChangeRequestLink.objects.exists()
    history = client.get(f"/changes/{b.key}/").content.decode()
    assert "removed a link" in history  # in the target's history too
    kept = links.link_create(user=p.pm, cr=c, kind="relates_to", target=b.key)
    services.change_request_transition(user=p.pm, cr=fresh(c, p.pm), action="withdraw",
                                       comment="not needed")  # fmt: skip
    html = _as(client, p.pm).get(f"/changes/{b.key}/").content.decode()
    assert c.key in html and f"/links/{kept.pk}/remove/" not in html
    assert client.post(f"/changes/{b.key}/links/{kept.pk}/remove/").status_code == 403


@pytest.mark.parametrize("who", ["developer", "qa", "customer", "customer_rep", "viewer"])
def test_forbidden(client, personas, trio, who):
    p = personas
    a, b, _c = trio
    link = links.link_create(user=p.pm, cr=a, kind="relates_to", target=b.key)
    client = _as(client, getattr(p, who))
    assert client.post(f"/changes/{a.key}/links/", {"kind": "depends_on"}).status_code == 403
    assert client.post(f"/changes/{a.key}/links/{link.pk}/remove/").status_code == 403
    assert client.post(f"/changes/{b.key}/mark-duplicate/", {"original": a.key}).status_code == 403
    assert ChangeRequestLink.objects.count() == 1 and fresh(b, p.pm).state == "submitted"


def test_outsider_gets_404(client, personas, trio):
    p = personas
    a, b, _c = trio
    link = links.link_create(user=p.pm, cr=a, kind="relates_to", target=b.key)
    client = _as(client, p.outsider)
    assert client.post(f"/changes/{a.key}/links/", {"kind": "depends_on"}).status_code == 404
    assert client.post(f"/changes/{a.key}/links/{link.pk}/remove/").status_code == 404
    assert client.post(f"/changes/{b.key}/mark-duplicate/", {"original": a.key}).status_code == 404
    # A link to another project's CR is a 404 for who cannot see it, and never shown.
    theirs = make_cr(p.other_project, by=p.outsider, submit=True)
    r = _as(client, p.pm).post(
        f"/changes/{a.key}/links/", {"kind": "relates_to", "target": theirs.key}, headers=HTMX
    )
    assert r.status_code == 404
    links.link_create(user=p.admin, cr=a, kind="depends_on", target=theirs.key)
    assert theirs.key not in client.get(f"/changes/{a.key}/").content.decode()
    assert a.key not in _as(client, p.outsider).get(f"/changes/{theirs.key}/").content.decode()


def test_mark_duplicate_from_the_similar_panel(client, personas, trio):
    p = personas
    a, b, _c = trio
    html = _as(client, p.pm).get(f"/changes/{b.key}/").content.decode()
    assert f'action="/changes/{b.key}/mark-duplicate/"' in html  # a suggestion's button
    assert f'name="original" value="{a.key}"' in html
    assert f'name="target" value="{a.key}"' in html  # and its "Link"
    dev = _as(client, p.developer).get(f"/changes/{b.key}/").content.decode()
    assert "mark-duplicate" not in dev and 'name="target"' not in dev
    r = _as(client, p.pm).post(f"/changes/{b.key}/mark-duplicate/", {"original": a.key})
    assert r.status_code == 302
    assert fresh(b, p.pm).state == "withdrawn"
    html = client.get(f"/changes/{a.key}/").content.decode()
    assert "Is duplicated by" in html and b.key in html
    html = client.get(f"/changes/{b.key}/").content.decode()
    assert "Duplicate of" in html  # the history's entry and the comment
    # A tech lead may link but not withdraw: the button is not offered, the post refused.
    tl = _as(client, p.tech_lead).get(f"/changes/{a.key}/").content.decode()
    assert "mark-duplicate" not in tl
    c = make_cr(p.project, by=p.customer, submit=True)
    assert client.post(f"/changes/{c.key}/mark-duplicate/", {"original": a.key}).status_code == 403
