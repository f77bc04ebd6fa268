"""The process document's validation (pure): each bad field named by its path; the presets
pass their own checks and the board policy's."""

from __future__ import annotations

import copy

import pytest

from changeflow.ccb import policy
from changeflow.core.errors import ValidationError
from changeflow.processes import definitions, presets

GOOD = {
    "version": 1,
    "board": {
        "rule": "weighted", "threshold": "0.6", "quorum": 2, "required_roles": ["customer_rep"],
        "veto_roles": ["qa"], "ratification_days": 3,
        "voters": {"project_manager": 2, "qa": "1", "customer_rep": "3.5"},
    },
    "delegation": {"max_effort_hours": 8, "max_cost": "2000.50", "max_schedule_days": None,
                   "max_risk_exposure": "1"},
    "sla": {"submitted": {"P1": 2}},
    "review_schedule": "weekly",
    "cr_templates": [{"name": "Data fix", "type": "defect", "labels": ["data"],
                      "fields": [{"key": "rows", "label": "Rows", "kind": "number"}]}],
}  # fmt: skip


def _bad(path_to_value, value):
    doc = copy.deepcopy(GOOD)
    target = doc
    *head, last = path_to_value
    for step in head:
        target = target[step]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return doc


def test_a_good_document_is_made_canonical():
    clean = definitions.clean_document(GOOD)
    assert clean["board"]["voters"] == {"project_manager": "2", "qa": "1", "customer_rep": "3.5"}
    assert clean["board"]["threshold"] == "0.6"
    assert clean["delegation"] == {
        "max_effort_hours": "8",
        "max_cost": "2000.5",
        "max_schedule_days": None,
        "max_risk_exposure": "1",
    }
    assert clean["sla"]["submitted"] == {"P1": 2, "P2": 8, "P3": 24, "P4": 48}
    assert clean["sla"]["verifying"]["P4"] == 168  # the defaults fill the rest
    assert clean["cr_templates"][0]["fields"][0]["required"] is False
    assert definitions.clean_document(clean) == clean  # idempotent
    assert definitions.clean_document({"version": 1}) == {"version": 1}
    assert definitions.clean_document({"version": 1, "board": None})["board"] is None


@pytest.mark.parametrize(
    ("change", "value", "path"),
    [
        (("version",), 2, "version"),
        (("extra",), 1, "extra"),
        (("board", "rule"), "plurality", "board.rule"),
        (("board", "threshold"), "1.5", "board.threshold"),
        (("board", "threshold"), None, "board.threshold"),  # weighted needs one
        (("board", "threshold"), "0.6666", "board.threshold"),
        (("board", "quorum"), 0, "board.quorum"),
        (("board", "quorum"), True, "board.quorum"),
        (("board", "ratification_days"), 400, "board.ratification_days"),
        (("board", "required_roles"), ["developer"], "board.required_roles"),
        (("board", "veto_roles"), ["boss"], "board.veto_roles"),
        (("board", "voters"), {}, "board.voters"),
        (("board", "voters", "viewer"), 1, "board.voters.viewer"),
        (("board", "voters", "qa"), 0, "board.voters.qa"),
        (("board", "voters", "qa"), "x", "board.voters.qa"),
        (("board", "chair"), "wang.lei", "board.chair"),
        (("delegation", "max_cost"), -1, "delegation.max_cost"),
        (("delegation", "max_risk_exposure"), 6, "delegation.max_risk_exposure"),
        (("delegation", "max_effort_hours"), "1.234", "delegation.max_effort_hours"),
        (("delegation", "max_days"), 1, "delegation.max_days"),
        (("sla", "submitted", "P1"), 0, "sla.submitted.P1"),
        (("sla", "submitted", "P9"), 4, "sla.submitted.P9"),
        (("sla", "closed"), {"P1": 4}, "sla.closed"),
        (("review_schedule",), "daily", "review_schedule"),
        (("cr_templates",), {"name": "x"}, "cr_templates"),
        (("cr_templates", 0, "name"), "", "cr_templates.0.name"),
        (("cr_templates", 0, "type"), "wish", "cr_templates.0.type"),
        (("cr_templates", 0, "labels"), "data", "cr_templates.0.labels"),
        (("cr_templates", 0, "scaffold"), "a\x00b", "cr_templates.0.scaffold"),
        (("cr_templates", 0, "fields"), [{"key": "Bad", "label": "x", "kind": "text"}],
         "cr_templates.0.fields"),
        (("cr_templates", 0, "owner"), "x", "cr_templates.0.owner"),
    ],
)  # fmt: skip
def test_each_bad_field_is_named_by_its_path(change, value, path):
    with pytest.raises(ValidationError) as caught:
        definitions.clean_document(_bad(change, value))
    assert list(caught.value.fields) == [path]


def test_two_templates_of_one_name_and_not_an_object():
    doc = copy.deepcopy(GOOD)
    doc["cr_templates"].append(dict(doc["cr_templates"][0]))
    with pytest.raises(ValidationError) as caught:
        definitions.clean_document(doc)
    assert list(caught.value.fields) == ["cr_templates.1.name"]
    with pytest.raises(ValidationError) as caught:
        definitions.clean_document([1])
    assert list(caught.value.fields) == ["document"]


def test_parts_are_checked_against_the_document():
    clean = definitions.clean_document({"version": 1, "sla": {}, "review_schedule": "off"})
    assert definitions.clean_parts(None, clean) == ["sla", "review_schedule"]
    assert definitions.clean_parts("review_schedule, sla", clean) == ["sla", "review_schedule"]
    for bad in (["board"], ["colour"], "x", [1]):
        with pytest.raises(ValidationError) as caught:
            definitions.clean_parts(bad, clean)
        assert list(caught.value.fields) == ["parts"]


@pytest.mark.parametrize("preset", presets.PRESETS, ids=lambda p: p.slug)
def test_every_preset_passes_its_checks_and_the_policy(preset):
    clean = definitions.clean_document(preset.document)
    assert clean == preset.document  # written in canonical form
    assert str(preset.name) and str(preset.description)
    board = clean.get("board")
    if board is not None:
        # One member per voting role: a board the policy accepts and can decide with.
        members = {f"user_{role}": role for role in board["voters"]}
        assert not policy.problems(
            members=members, rule=board["rule"], threshold=board["threshold"],
            quorum=board["quorum"], required_roles=board["required_roles"],
            veto_roles=board["veto_roles"],
        )  # fmt: skip
        weights = {f"user_{r}": definitions.Decimal(w) for r, w in board["voters"].items()}
        rules = policy.Policy(
            rule=board["rule"], threshold=board["threshold"] and definitions.Decimal(
                board["threshold"]), quorum=board["quorum"], weights=weights,
            roles=dict(members),
            required_roles=tuple(board["required_roles"]), veto_roles=tuple(board["veto_roles"]),
        )  # fmt: skip
        everyone = policy.evaluate(rules, members, dict.fromkeys(members, "approve"))
        assert everyone.verdict == "approve"


def test_the_presets_differ_as_described():
    by = presets.BY_SLUG
    assert by["standard"].document["board"] is None
    fixed = by["fixed-price"].document
    assert fixed["board"]["required_roles"] == ["customer_rep"]
    assert fixed["review_schedule"] == "weekly"
    assert fixed["sla"]["submitted"]["P1"] < by["standard"].document["sla"]["submitted"]["P1"]
    regulated = by["regulated"].document
    assert regulated["board"]["rule"] == "unanimous" and regulated["board"]["veto_roles"] == ["qa"]
    assert set(regulated["delegation"].values()) == {None}
    internal = by["internal"].document["board"]["voters"]
    assert not {"customer_rep", "customer"} & set(internal)


def test_unknown_fields_are_named_by_their_path_and_prefixed_in_a_request():
    doc = copy.deepcopy(GOOD)
    doc["cr_templates"][0]["fields"][0]["colour"] = "red"
    with pytest.raises(ValidationError) as caught:
        definitions.clean_document(doc, prefix="document.")
    assert list(caught.value.fields) == ["document.cr_templates.0.fields.0.colour"]
    with pytest.raises(ValidationError) as caught:
        definitions.clean_document("x", prefix="document.")
    assert list(caught.value.fields) == ["document"]
