"""Stored text features: the history pool loads them in one query, computes only what is
missing or stale, and a text change is noticed through the CR's version."""

import pytest

from changeflow.changes import services as change_services
from changeflow.impact import features, selectors
from changeflow.impact.models import TextFeatures
from tests.factories import fresh, make_cr

pytestmark = pytest.mark.django_db


def pool(project):
    selectors._POOLS.clear()
    return selectors.scope_pool((project.pk,))


def titles_found(s, text):
    return [s.keys[h.index] for h in s.pool.text.search(features.similar.document_terms(text))]


@pytest.fixture
def crs(personas):
    return [
        make_cr(personas.project, by=personas.customer, title=t, description=d)
        for t, d in (
            ("登录页面支持短信验证码", "用户希望通过短信验证码登录"),
            ("Export the sales report to Excel", "Weekly sales report per shop"),
            ("会员积分抵扣运费", "积分可以抵扣部分运费"),
        )
    ]


def test_first_load_stores_every_crs_features_and_the_next_reads_no_text(
    personas, crs, django_assert_num_queries
):
    assert not TextFeatures.objects.exists()
    s = pool(personas.project)
    stored = {f.change_request_id: f for f in TextFeatures.objects.all()}
    assert set(stored) == {c.pk for c in crs}
    for c in crs:
        f = stored[c.pk]
        assert (f.version, f.cr_version) == (features.VERSION, c.version)
        assert bytes(f.terms) == features.encode(c.title, c.description)
    assert titles_found(s, "短信验证码")[0] == crs[0].key
    # Everything is fresh: the head of the audit chain and the one query of the rows.
    selectors._POOLS.clear()
    with django_assert_num_queries(2):
        again = selectors.scope_pool((personas.project.pk,))
    assert titles_found(again, "短信验证码")[0] == crs[0].key


def test_a_text_change_is_computed_again_and_other_writes_keep_the_terms(personas, crs):
    pool(personas.project)
    before = TextFeatures.objects.get(pk=crs[1].pk)
    cr = change_services.change_request_update(
        user=personas.customer, cr=fresh(crs[1], personas.customer),
        data={"title": "短信验证码 for the sales report"},
    )  # fmt: skip
    cr0 = change_services.change_request_update(
        user=personas.customer, cr=fresh(crs[0], personas.customer),
        data={"desired_date": "2030-01-01"},
    )  # fmt: skip
    s = pool(personas.project)
    changed = TextFeatures.objects.get(pk=cr.pk)
    assert changed.cr_version == cr.version and changed.digest != before.digest
    assert bytes(changed.terms) == features.encode(cr.title, cr.description)
    kept = TextFeatures.objects.get(pk=cr0.pk)
    assert kept.cr_version == cr0.version
    assert kept.digest == features.digest(crs[0].title, crs[0].description)
    assert set(titles_found(s, "短信验证码")[:2]) == {crs[0].key, cr.key}


def test_features_of_an_older_version_are_computed_again(personas, crs, monkeypatch):
    pool(personas.project)
    TextFeatures.objects.filter(pk=crs[2].pk).update(terms=b"", version=features.VERSION)
    TextFeatures.objects.filter(pk=crs[0].pk).update(terms=b"", version=0)
    s = pool(personas.project)
    assert bytes(TextFeatures.objects.get(pk=crs[0].pk).terms) == features.encode(
        crs[0].title, crs[0].description
    )
    # Same version, same CR version: trusted as stored (here emptied: nothing found).
    assert bytes(TextFeatures.objects.get(pk=crs[2].pk).terms) == b""
    assert crs[2].key not in titles_found(s, "会员积分")
    assert titles_found(s, "短信验证码")[0] == crs[0].key


def test_the_upgrade_computes_the_features_of_existing_crs(
    personas, crs, django_assert_num_queries
):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("changeflow.impact.migrations.0004_textfeatures_backfill")
    migration.backfill(apps, None)
    migration.backfill(apps, None)  # again: nothing to do, nothing duplicated
    stored = {f.change_request_id: f for f in TextFeatures.objects.all()}
    assert set(stored) == {c.pk for c in crs}
    for c in crs:
        assert stored[c.pk].cr_version == c.version
        assert bytes(stored[c.pk].terms) == features.encode(c.title, c.description)
    with django_assert_num_queries(2):  # nothing left to compute at the first load
        s = selectors.scope_pool((personas.project.pk,))
    assert titles_found(s, "短信验证码")[0] == crs[0].key
