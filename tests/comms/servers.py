"""Real mail servers on loopback for the tests: Dovecot (IMAP, plain, STARTTLS and IMAPS with a
self-signed certificate made for the run) and aiosmtpd (SMTP)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
# TLS: IMAPS on its own port and STARTTLS on the plain one, with a self-signed certificate
# made for the run; plaintext login stays allowed so the tests of security "none" still run.
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service auth {{
  user = root
}}
service auth-worker {{
  user = root
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def self_signed_certificate(common_name: str = "changeflow test IMAP") -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a new self-signed certificate for 127.0.0.1 and
    localhost, valid for a day, as an administrator makes one for an in-house server."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


def free_ports(n: int) -> list[int]:
    """n distinct ports free now: every socket stays bound until all are chosen, so the
    kernel cannot hand the same port out twice (Dovecot refused two listeners on one port)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            sockets.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def dovecot_unavailable() -> str:
    """Why Dovecot cannot run here ("" when it can)."""
    if not os.path.exists(DOVECOT):
        return "dovecot is not installed (apt-get install dovecot-imapd; .ci/run does it)"
    return ""


class PortTaken(RuntimeError):
    """A test server could not listen on a port chosen for it."""


def await_listening(
    process: subprocess.Popen, ports: tuple[int, ...], name: str, taken: tuple[str, ...]
) -> None:
    """Wait until the server ``process`` accepts connections on every port. It exiting with
    one of the ``taken`` phrases on stderr (another process bound a port first) raises
    PortTaken, for the caller to try new ports; any other exit, or 20 s, RuntimeError."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            why = process.stderr.read().decode() if process.stderr else ""
            if any(phrase in why for phrase in taken):
                raise PortTaken(why)
            raise RuntimeError("%s exited: %s" % (name, why))
        try:
            for port in ports:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("%s did not start listening" % name)


def stop_process(process: subprocess.Popen | None) -> None:
    """Terminate a test server, killing it when it does not stop within 10 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Dovecot:
    root: Path
    port: int = 0
    tls_port: int = 0  # IMAPS
    certificate: str = ""  # the server's self-signed certificate (PEM)
    user: str = "acme@changeflow.test"
    password: str = "imap-pw-1"
    process: subprocess.Popen | None = field(default=None, repr=False)
    boxes: int = 500  # users box0..box499, one per test that wants an empty INBOX
    used: int = 0

    @staticmethod
    def box(n: int) -> str:
        return "box%d@changeflow.test" % n

    def next_user(self) -> str:
        """A user (so an INBOX) no test has used yet."""
        if self.used >= self.boxes:
            raise RuntimeError("all %d Dovecot test users are used" % self.boxes)
        self.user = self.box(self.used)
        self.used += 1
        return self.user

    def start(self) -> Dovecot:
        # Dovecot never delivers as root: as root, mail belongs to "nobody", in a folder that
        # user can reach (pytest's own temporary folders are private to root).
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:
            import pwd
            import tempfile

            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            self.root = Path(tempfile.mkdtemp(prefix="changeflow-dovecot-", dir="/tmp"))  # noqa: S108
            self.root.chmod(0o755)
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for sub in ("mail", "home"):
            os.chown(self.root / sub, uid, gid)
        tls = self.root / "tls"
        tls.mkdir(exist_ok=True)
        self.certificate, key_pem = self_signed_certificate()
        (tls / "cert.pem").write_text(self.certificate)
        key_path = tls / "key.pem"
        key_path.write_text(key_pem)
        key_path.chmod(0o600)
        # Every user the session's tests may need, written before the start: Dovecot does not
        # reliably see users appended to its passwd-file later (they failed to sign in).
        users = [self.user, *(self.box(n) for n in range(self.boxes))]
        (self.root / "users").write_text(
            "".join(f"{u}:{{PLAIN}}{self.password}::::::\n" for u in users)
        )
        # A port chosen free can be taken by another process (the other test worker) before
        # Dovecot binds it: then Dovecot exits naming the address, and new ports are tried.
        for attempt in range(3):
            try:
                return self._listen(uid, gid)
            except PortTaken:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _listen(self, uid: int, gid: int) -> Dovecot:
        self.port, self.tls_port = free_ports(2)
        conf = self.root / "dovecot.conf"
        conf.write_text(
            CONFIG.format(root=self.root, port=self.port, tls_port=self.tls_port, uid=uid, gid=gid)
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        await_listening(
            self.process, (self.port, self.tls_port), "dovecot",
            ("Address already in use", "duplicate listener"),
        )  # fmt: skip
        return self

    def stop(self) -> None:
        stop_process(self.process)
        if str(self.root).startswith("/tmp/changeflow-dovecot-"):
            shutil.rmtree(self.root, ignore_errors=True)

    def connect(self):
        import imaplib

        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        conn = self.connect()
        try:
            conn.create(folder) if folder != "INBOX" else None
            typ, data = conn.append(folder, None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def seen_flags(self, folder: str = "INBOX") -> list[bool]:
        conn = self.connect()
        try:
            conn.select(folder)
            typ, data = conn.fetch("1:*", "(FLAGS)")
            return [b"\\Seen" in d for d in data if d]
        finally:
            conn.logout()


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
                sink.messages.append(envelope)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def smtp_mailers(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
    }
