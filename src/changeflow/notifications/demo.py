"""Demo data: the CCB's DingTalk group robot, a watcher, and preferences.

The demo's history (everything loaded before this) makes in-app notifications only: no
e-mails and no webhook calls, so loading the demo never reaches the network.
"""

from __future__ import annotations

from changeflow.accounts.models import Project, User

from . import services

# The shape of a DingTalk custom robot address as its documentation shows it, with a made-up
# token. The webhook is saved inactive: the demo never calls out to the internet; a team puts
# its own robot's address and secret in and ticks "Active".
DEMO_DINGTALK_URL = "https://oapi.dingtalk.com/robot/send?access_token=demo-0000000000000000"
DEMO_DINGTALK_SECRET = "SECdemo0000000000000000000000000000000000000000000000000000000000"


def load_demo(project: Project, users: dict[str, User], crs: list) -> None:
    services.history_mark(project=project)
    services.webhook_create(
        user=users["wang.lei"], project=project, resolve=False,
        data={"name": "CCB 钉钉群", "url": DEMO_DINGTALK_URL, "kind": "dingtalk",
              "events": ["cr.vote_needed", "cr.decided", "sla.breached"],
              "secret": DEMO_DINGTALK_SECRET, "language": "zh-hans", "active": False},
    )  # fmt: skip
    for username in ("wang.lei", "chen.jing", "liu.yang", "li.na"):
        services.preferences_set(user=users[username], channels={}, language="zh-hans")
    open_crs = [cr for cr in crs if cr.state not in ("closed", "rejected", "withdrawn")]
    if open_crs:
        services.watch_set(user=users["zhao.min"], cr=open_crs[0], watching=True)
