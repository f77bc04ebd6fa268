"""Forms of the communication pages (the services check everything again)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .models import LogChannel, Security


class CommunicationForm(forms.Form):
    channel = forms.ChoiceField(
        label=pgettext_lazy("communication record", "Channel"), choices=LogChannel.choices
    )
    occurred_at = forms.DateTimeField(
        label=_("When"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    participants = forms.CharField(
        label=_("Participants"), required=False, max_length=2000,
        help_text=_("Comma-separated names, e.g. 周杰, wang.lei"),
    )  # fmt: skip
    summary = forms.CharField(label=_("Summary"), widget=forms.Textarea(attrs={"rows": 4}))
    change_requests = forms.CharField(
        label=_("Change requests"), required=False, max_length=2000,
        help_text=_("Comma-separated keys, e.g. ACME-3, ACME-7"),
    )  # fmt: skip

    def split(self, name: str) -> list[str]:
        text = self.cleaned_data.get(name) or ""
        return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


class MailboxForm(forms.Form):
    host = forms.CharField(label=_("IMAP server"), max_length=255)
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, initial=993)
    security = forms.ChoiceField(label=_("Security"), choices=Security.choices)
    username = forms.CharField(label=_("User name"), max_length=255)
    password = forms.CharField(
        label=_("Password"), required=False, max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave blank to keep the stored password; it is never shown."),
    )  # fmt: skip
    trusted_certificate = forms.CharField(
        label=_("Trusted certificate (PEM)"), required=False, strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_(
            "Only for a server with a certificate of its own (self-signed or an in-house "
            "authority): paste it here to trust it. Otherwise leave empty."
        ),
    )  # fmt: skip
    folder = forms.CharField(label=_("Folder"), max_length=255, initial="INBOX")
    poll_minutes = forms.IntegerField(
        label=_("Poll every (minutes)"), min_value=1, max_value=1440, initial=5
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
