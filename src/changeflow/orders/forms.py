"""Forms of the change order pages (the services check the terms again)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import TEXT_MAX


class OrderForm(forms.Form):
    scope = forms.CharField(
        label=_("Scope statement"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("What is delivered for the price, in the customer's words if possible."),
    )  # fmt: skip
    amount = forms.DecimalField(label=_("Price"), min_value=0, max_digits=14, decimal_places=2)
    currency = forms.CharField(label=_("Currency"), min_length=3, max_length=3)
    schedule_delta_days = forms.IntegerField(
        label=_("Schedule delta (days)"), min_value=-36500, max_value=36500
    )
    payment_terms = forms.CharField(
        label=_("Payment terms and notes"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip
    valid_until = forms.DateField(
        label=_("Valid until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class SignForm(forms.Form):
    signer_name = forms.CharField(label=_("Your name"), max_length=200)
    password = forms.CharField(
        label=_("Your password"), max_length=4096, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Re-entering your password signs the change order."),
    )  # fmt: skip


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you decline it?"), max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )  # fmt: skip


class WithdrawForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )  # fmt: skip
