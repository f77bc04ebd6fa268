"""Reads of CR form templates, permission-filtered through ``core.access.restrict``.

Who sees and who writes a template (decided here and in ``crtemplates.services``):

- **See the active templates**: every member of the project, customers and viewers too
  (customers submit change requests through them).
- **See archived templates, create, edit, archive, restore, reorder**: the project's project
  managers (and site admins): ``may_manage``, the rule of the other project settings. To
  everyone else an archived template does not exist (404).
- Outsiders see nothing of the project (404).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project, User
from changeflow.core.access import manages, restrict
from changeflow.core.errors import NotFound

from .models import CRTemplate


def may_manage(user: User, project: Project) -> bool:
    """Whether ``user`` creates, edits, archives and reorders the templates of ``project``."""
    return manages(user, project)


def project_get(*, user: User, key: str) -> Project:
    """The project (NotFound for outsiders)."""
    return account_selectors.project_get(user=user, key=key)


def template_list(
    *, user: User, project: Project, include_archived: bool = False
) -> QuerySet[CRTemplate]:
    """The project's templates ``user`` may see, in their order; archived ones only for those
    who manage them, and only when asked for."""
    qs = restrict(CRTemplate.objects, user).filter(project_id=project.pk)
    if not (include_archived and may_manage(user, project)):
        qs = qs.filter(archived=False)
    return qs.order_by("position", "id")


def template_get(*, user: User, project: Project, pk: object) -> CRTemplate:
    """One template of ``project``; NotFound when it is another project's, archived (for those
    who do not manage templates) or not there."""
    try:
        pk = int(str(pk))
    except ValueError:
        raise NotFound(_("No such template.")) from None
    template = (
        template_list(user=user, project=project, include_archived=True)
        .filter(pk=pk)
        .select_related("project")
        .first()
    )
    if template is None:
        raise NotFound(_("No such template."))
    return template
