from changeflow.core import audit
from tests.factories import advance, make_cr


def test_main_path_to_closed_keeps_the_chain(personas):
    p = personas
    cr = make_cr(p.project, by=p.customer, title="登录页面需要支持短信验证码")
    cr = advance(cr, p, "closed")
    assert cr.state == "closed"
    assert cr.decision_mode == "board"
    assert audit.verify().ok
