"""Forms of the account and project pages. They check shape; services check the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Project, Role


class SignInForm(forms.Form):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=_("Current password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label=_("New password"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    new_password_again = forms.CharField(
        label=_("New password again"),
        max_length=4096,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if (
            data.get("new_password")
            and data.get("new_password_again")
            and data["new_password"] != data["new_password_again"]
        ):
            self.add_error("new_password_again", _("The two new passwords differ."))
        return data


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        required=False,
        help_text=_("What the token is for, e.g. “CI import script”."),
    )


class ProjectCreateForm(forms.Form):
    key = forms.RegexField(
        label=_("Key"),
        regex=r"^[A-Z0-9]{2,10}\Z",
        max_length=10,
        help_text=_("2 to 10 upper-case letters or digits; change requests are numbered KEY-1…"),
        error_messages={"invalid": _("2 to 10 upper-case letters or digits.")},
    )
    name = forms.CharField(label=_("Name"), max_length=200)
    customer = forms.CharField(label=_("Customer"), max_length=200, required=False)
    description = forms.CharField(
        label=_("Description"), max_length=100_000, required=False, widget=forms.Textarea
    )


def _threshold(label, *, help_text="", max_value=None):
    return forms.DecimalField(
        label=label, required=False, min_value=0, max_value=max_value, max_digits=14,
        decimal_places=2, help_text=help_text,
    )  # fmt: skip


class ProjectSettingsForm(forms.Form):
    """Project settings; only the changed fields are sent to ``project_update``."""

    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        max_length=100_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    customer = forms.CharField(label=_("Customer"), max_length=200, required=False)
    currency = forms.RegexField(
        label=_("Currency"),
        regex=r"^[A-Z]{3}\Z",
        max_length=3,
        help_text=_("ISO 4217 code, e.g. CNY, USD, EUR."),
        error_messages={"invalid": _("Three upper-case letters, e.g. CNY.")},
    )
    delegate_max_effort_hours = _threshold(_("Delegation: max effort (hours)"))
    delegate_max_cost = _threshold(_("Delegation: max cost"))
    delegate_max_schedule_days = _threshold(_("Delegation: max schedule (days)"))
    delegate_max_risk_exposure = _threshold(
        _("Delegation: max risk exposure"),
        help_text=_("The largest single risk's probability × impact (0–5)."),
        max_value=5,
    )
    change_budget = _threshold(
        _("Change budget"),
        help_text=_("Money set aside for approved changes, in the project's currency."),
    )
    schedule_contingency_days = _threshold(
        _("Schedule contingency (days)"),
        help_text=_("Days of schedule set aside for approved changes."),
    )

    @classmethod
    def for_project(cls, project: Project, data=None) -> ProjectSettingsForm:
        initial = {name: getattr(project, name) for name in cls.base_fields}
        initial["customer"] = project.customer.name if project.customer is not None else ""
        return cls(data, initial=initial)


class MemberForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    # No preselected role: a slip must not make a newcomer project manager.
    role = forms.ChoiceField(label=_("Role"), choices=[("", _("Choose a role")), *Role.choices])


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
