"""``core.db.expressions`` on the database the suite runs on (SQLite or PostgreSQL)."""

import pytest

from changeflow.ccb.models import VotingSnapshot
from changeflow.core.db.expressions import JSONArrayHas, count_of
from tests.factories import make_cr

pytestmark = pytest.mark.django_db


def test_json_array_has_matches_whole_elements_only(personas):
    p = personas
    crs = [make_cr(p.project, by=p.customer) for _ in range(3)]
    for cr, eligible in zip(crs, (["王磊", "a.b+c@x"], ["王", "a.b"], []), strict=True):
        VotingSnapshot.objects.create(
            change_request=cr, purpose="decision", round=1, eligible=eligible
        )

    def holding(username):
        rows = VotingSnapshot.objects.filter(JSONArrayHas("eligible", username))
        return sorted(rows.values_list("change_request__key", flat=True))

    assert holding("王磊") == [crs[0].key]  # stored escaped on SQLite, decoded to compare
    assert holding("a.b+c@x") == [crs[0].key]
    assert holding("王") == [crs[1].key] and holding("a.b") == [crs[1].key]
    assert holding("a") == [] and holding('"王磊"') == [] and holding("") == []


def test_count_of_reads_several_counts_in_one_query(personas, django_assert_num_queries):
    from changeflow.accounts.models import User

    p = personas
    make_cr(p.project, by=p.customer)
    with django_assert_num_queries(1):
        counts = (
            User.objects.filter(pk=p.pm.pk)
            .values_list(count_of(User.objects.all()), count_of(User.objects.filter(pk=p.pm.pk)))
            .get()
        )
    assert counts == (User.objects.count(), 1)
