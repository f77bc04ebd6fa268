"""Parsing real mail: GB2312 base64 and raw 8-bit headers, quoted-printable, multipart."""

import pytest

from changeflow.comms import mail


def parse(samples, name):
    return mail.parse((samples / name).read_bytes())


def test_raw_gb2312_headers_and_html_body(samples):
    m = parse(samples, "flanker_charset-gb2312.eml")
    assert m.subject == "提示：您的企业成员暂时无法登录邮件客户端"
    assert m.sender_name == "腾讯企业邮箱"
    assert m.sender == "10000@qq.com"
    assert m.body.startswith("尊敬的管理员：")
    assert "频繁地登录失败，原因是密码错误。" in m.body
    assert "<" not in m.body and "style" not in m.body  # the HTML was turned into text
    assert m.auto_reason == ""


def test_gb2312_base64_subject_and_body(samples):
    m = parse(samples, "ltp_gb2312_base64_reply.eml")
    assert m.subject == "[LTP] 答复: [PATCH v3 0/3] Fix bug caused by default umask"
    assert m.sender == "zou_wei@huawei.com"
    assert "邮件原件" in m.body and "发件人" in m.body
    assert m.body.startswith("Hi Yang,")
    assert m.in_reply_to.startswith("<5E81A0EF.4040508@cn")
    assert m.auto_reason == "precedence: list"  # a mailing list is not a customer


def test_quoted_printable_and_utf8_words(samples):
    m = parse(samples, "flanker_bilingual-simple.eml")
    assert m.subject == "Simple text. How are you? Как ты поживаешь?"
    assert m.body.splitlines()[:2] == ["This line is in English", "А эта линия по-русски."]
    qp = parse(samples, "flanker_quoted-printable.eml")
    assert "sl=de&tl=en&u=http%3A%2F%2Fwww.horizont.at" in qp.body
    assert "=3D" not in qp.body


@pytest.mark.parametrize(
    ("name", "subject", "sender", "sender_name", "auto"),
    [
        ("flanker_encoded-header.eml", "hello", "foo.bar@example.com", "Foo, Bar", ""),
        ("flanker_from-encoding.eml", "Re: running server as root (Was: Re: PUT method)",
         "ingo@blank.pages.de", "Ingo Lütkebohle", "precedence: bulk"),
        ("flanker_multipart.eml", "Welcome", "administrator@example.com", "Administrator", ""),
        ("flanker_text-only.eml", "Testing message parsing", "bob@marley.com", "Bob Marley", ""),
    ],
)  # fmt: skip
def test_headers(samples, name, subject, sender, sender_name, auto):
    m = parse(samples, name)
    assert (m.subject, m.sender, m.sender_name, m.auto_reason) == (
        subject, sender, sender_name, auto
    )  # fmt: skip
    assert m.body


def test_multipart_prefers_plain_text(samples):
    assert parse(samples, "flanker_multipart.eml").body == "Sasha"


def test_every_sample_parses(samples):
    for path in sorted(samples.glob("*.eml")):
        m = mail.parse(path.read_bytes())
        assert m.subject and m.body and "\ufffd" not in m.subject + m.body, path.name


def test_mislabelled_gbk_body_and_unknown_charset():
    text = "需求变更：登录页面增加短信验证码，預算"
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nMessage-ID: <m1@x>\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + text.encode("gbk")
    )
    assert mail.parse(raw).body == text
    raw = raw.replace(b"charset=gb2312", b"charset=x-unknown-cs").replace(
        text.encode("gbk"), text.encode("utf-8")
    )
    assert mail.parse(raw).body == text


@pytest.mark.parametrize(
    "header",
    [
        b"Auto-Submitted: auto-replied",
        b"Precedence: junk",
        b"X-Autoreply: yes",
        b"X-Auto-Response-Suppress: All",
    ],
)
def test_automatic_mail_is_recognised(header):
    raw = b"From: a@example.com\r\nSubject: Out of office\r\n" + header + b"\r\n\r\nAway.\r\n"
    assert mail.parse(raw).auto_reason
    assert not mail.parse(raw.replace(header, b"Auto-Submitted: no")).auto_reason


def test_mailer_daemon_and_own_address(settings):
    assert mail.parse(b"From: MAILER-DAEMON@mx.example.com\r\n\r\nbounce").auto_reason
    settings.CHANGEFLOW_MAIL_FROM = "Changeflow <cf@example.com>"
    assert mail.parse(b"From: cf@example.com\r\n\r\nloop").auto_reason


def test_html_script_is_dropped():
    raw = (
        b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p>Hello &amp; bye</p><script>alert(1)</script>"
    )
    assert mail.parse(raw).body == "Hello & bye"
