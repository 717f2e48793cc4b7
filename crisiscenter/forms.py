from __future__ import annotations

from django import forms

from crisiscenter.models import Role


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organisation name")
    slug = forms.CharField(
        max_length=50,
        label="Address",
        help_text="Lowercase letters, digits and hyphens; appears in links, e.g. acme-foods.",
    )


class OrganizationRenameForm(forms.Form):
    name = forms.CharField(max_length=120, label="Organisation name")


class OnCallRolesForm(forms.Form):
    on_call_roles = forms.MultipleChoiceField(
        choices=Role.choices, widget=forms.CheckboxSelectMultiple, label="On call for spikes",
        help_text="Members with these roles are told of every spike in the app, by e-mail and in the chat channels below.",
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.RESPONDER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AcceptWithNewAccountForm(forms.Form):
    username = forms.CharField(max_length=150)
    display_name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput, label="Password", help_text="At least 10 characters.")


class AuditFilterForm(forms.Form):
    action = forms.CharField(required=False, max_length=80, label="Action starts with")
    actor = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Actor")
    object_type = forms.CharField(required=False, max_length=80, label="Object type")
    since = forms.DateTimeField(required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    def __init__(self, *args, actors: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["actor"].choices = [("", "Anyone")] + actors
