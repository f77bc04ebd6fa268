"""The demo's process template: the project manager saves the way the project works (its board,
delegation, service levels, review schedule and CR forms) for the team's next projects."""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import services
from .models import ProcessTemplate

NAME = "外包项目流程 / Outsourced project process"
DESCRIPTION = (
    "从电商平台项目保存：须客户代表批准的委员会、授权阈值、服务级别、每周评审和三种变更申请表单。"
    "/ Saved from the e-commerce platform project: a board on which the customer "
    "representative's approval is required, delegation, service levels, a weekly review and "
    "three CR forms."
)


def load_demo(project: Project, users: dict[str, User]) -> ProcessTemplate:
    return services.template_create(
        user=users["wang.lei"], name=NAME, description=DESCRIPTION, project=project
    )
