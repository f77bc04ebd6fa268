"""Forms of the notification pages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from . import events
from .models import Channel, Kind, WebhookKind


class PreferencesForm(forms.Form):
    """One choice per kind, and the language of e-mails."""

    language = forms.ChoiceField(label=_("Language of your e-mails"), required=False)

    def __init__(self, *args, current: dict[str, str], language: str, **kwargs):
        super().__init__(*args, **kwargs)
        language_field = self.fields["language"]
        assert isinstance(language_field, forms.ChoiceField)
        # The names in settings.LANGUAGES are lazy translations already.
        language_field.choices = [("", _("The site's default")), *settings.LANGUAGES]
        self.fields["language"].initial = language
        for kind, label in Kind.choices:
            self.fields[f"kind:{kind}"] = forms.ChoiceField(
                label=label, choices=Channel.choices, initial=current.get(kind)
            )

    def channels(self) -> dict[str, str]:
        return {name[5:]: v for name, v in self.cleaned_data.items() if name.startswith("kind:")}


class WebhookForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    url = forms.CharField(
        label=_("URL"), max_length=2000,
        help_text=_("http(s) only; addresses of this server or private networks are refused."),
    )  # fmt: skip
    kind = forms.ChoiceField(label=_("Format"), choices=WebhookKind.choices)
    events = forms.MultipleChoiceField(
        label=_("Events"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every event."),
    )  # fmt: skip
    secret = forms.CharField(
        label=_("Secret"), max_length=200, required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Signs each request. Leave empty to keep the current one."),
    )  # fmt: skip
    language = forms.ChoiceField(label=_("Language of the messages"), required=False)
    active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(Kind.choices)
        self.fields["events"].choices = [(k, labels[k]) for k in events.WEBHOOK_KINDS]
        self.fields["language"].choices = [("", _("The site's default"))] + [
            (code, _(name)) for code, name in settings.LANGUAGES
        ]

    def data_for_service(self, *, creating: bool) -> dict:
        data = dict(self.cleaned_data)
        data["events"] = data.get("events") or ["*"]
        if not data.get("secret") and not creating:
            data.pop("secret", None)
        return data
