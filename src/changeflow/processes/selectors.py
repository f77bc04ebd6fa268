"""Reads of process templates and of a project's process, and who may do what with them.

- **See the saved templates and the presets**: site admins and staff, and every signed-in
  member of some project (a template names no users and no project data). Archived templates
  only to their creator and site admins; to everyone else they do not exist (404).
- **Create a template from a document**: site admins and the project managers of some project;
  **save a project's process as a template**: that project's managers (and site admins).
- **Edit, archive, restore**: the template's creator and site admins (others 403).
- **Read a project's process, apply a template to it**: its managers and site admins (other
  members 403, outsiders 404), as the board and the other settings.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.core.access import manages, role_in
from changeflow.core.errors import NotFound, PermissionDenied

from . import presets
from .models import ProcessTemplate


def may_see(user: User, *, is_member: bool | None = None) -> bool:
    """Whether ``user`` sees the site's process templates at all: site staff, and members of
    some project. ``is_member`` saves the query when the caller has counted memberships."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.is_staff:
        return True
    if is_member is None:
        is_member = Membership.objects.filter(user=user).exists()
    return is_member


def may_create(user: User) -> bool:
    """Whether ``user`` creates templates from a document: site admins and project managers."""
    return (
        user.is_superuser
        or Membership.objects.filter(user=user, role=Role.PROJECT_MANAGER).exists()
    )


def may_edit(user: User, template: ProcessTemplate) -> bool:
    """Whether ``user`` edits, archives and restores ``template``: its creator, site admins."""
    return user.is_superuser or template.created_by_id == user.pk


def require_viewer(user: User) -> None:
    """404 unless ``user`` sees the templates (a user of no project sees nothing)."""
    if not may_see(user):
        raise NotFound(_("No such process template."))


def require_creator(user: User) -> None:
    require_viewer(user)
    if not may_create(user):
        raise PermissionDenied(_("Only project managers and site admins create process templates."))


def require_editor(user: User, template: ProcessTemplate) -> None:
    if not may_edit(user, template):
        raise PermissionDenied(
            _("Only the template's creator and site admins change or archive it.")
        )


def require_process_manager(user: User, project: Project) -> None:
    """The one check before ``project``'s process is read whole, saved as a template or
    changed by a template: its managers and site admins (other members 403, outsiders 404)."""
    if manages(user, project):
        return
    if role_in(user, project) is None:
        raise NotFound(_("No such project."))
    raise PermissionDenied(_("Only the project's managers may change its process."))


def project_get(*, user: User, key: str) -> Project:
    """The project ``user`` manages the process of (404 outsiders, 403 other members)."""
    project = Project.objects.filter(key=key).first()
    if project is None or (not user.is_superuser and role_in(user, project) is None):
        raise NotFound(_("No such project."))
    require_process_manager(user, project)
    return project


def template_list(*, user: User, include_archived: bool = False) -> QuerySet[ProcessTemplate]:
    """The saved templates ``user`` may see, by name; archived ones (their own, or all for a
    site admin) only when asked for."""
    if not may_see(user):
        return ProcessTemplate.objects.none()
    qs = ProcessTemplate.objects.select_related("created_by", "source_project")
    if not include_archived:
        qs = qs.filter(archived=False)
    elif not user.is_superuser:
        qs = qs.filter(Q(archived=False) | Q(created_by=user))
    return qs.order_by("name", "id")


def template_get(*, user: User, pk: Any) -> ProcessTemplate:
    try:
        pk = int(str(pk))
    except ValueError:
        raise NotFound(_("No such process template.")) from None
    template = template_list(user=user, include_archived=True).filter(pk=pk).first()
    if template is None:
        raise NotFound(_("No such process template."))
    return template


def template_by_name(*, user: User, name: str) -> ProcessTemplate:
    template = template_list(user=user).filter(name=name).first()
    if template is None:
        raise NotFound(_("No such process template: %s") % name, fields={"template": [name]})
    return template


def preset_get(slug: Any) -> presets.Preset:
    preset = presets.BY_SLUG.get(slug) if isinstance(slug, str) else None
    if preset is None:
        raise NotFound(
            _("No such preset: %(name)s. One of: %(valid)s")
            % {"name": slug, "valid": ", ".join(presets.BY_SLUG)},
            fields={"preset": [_("Unknown preset.")]},
        )
    return preset
