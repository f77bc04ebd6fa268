"""A real OpenLDAP directory on loopback for the tests: Debian's ``slapd`` with a throwaway
slapd.conf and mdb database, plain LDAP with StartTLS on one port and LDAPS on another, under a
self-signed certificate made for the run."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.comms.servers import (
    PortTaken,
    await_listening,
    free_ports,
    self_signed_certificate,
    stop_process,
)

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SLAPADD = shutil.which("slapadd") or "/usr/sbin/slapadd"
SCHEMA = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

BASE = "dc=acme,dc=test"
PEOPLE = "ou=people," + BASE
GROUP = "cn=changeflow-users,ou=groups," + BASE
SERVICE_DN = "cn=changeflow,ou=services," + BASE
SERVICE_PASSWORD = "service-pw-1"
ADMIN_DN = "cn=admin," + BASE
ADMIN_PASSWORD = "admin-pw-1"

CONFIG = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
modulepath {modules}
moduleload back_mdb
pidfile {root}/slapd.pid
TLSCertificateFile {root}/tls/cert.pem
TLSCertificateKeyFile {root}/tls/key.pem
# Anyone may bind (that is how passwords are checked); only the service account and the
# administrator may search; nobody reads a password.
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="{service}" read
  by dn.exact="{admin}" write
  by anonymous auth
  by * none
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{admin}"
rootpw {admin_password}
directory {root}/db
"""

# People: 王磊 has a Chinese display name; Carol is outside the group; Dave has no e-mail.
PEOPLE_LDIF = """\
dn: {base}
objectClass: top
objectClass: dcObject
objectClass: organization
o: ACME
dc: acme

dn: ou=people,{base}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{base}
objectClass: organizationalUnit
ou: groups

dn: ou=services,{base}
objectClass: organizationalUnit
ou: services

dn: {service}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: changeflow
userPassword: {service_password}

dn: uid=alice,ou=people,{base}
objectClass: inetOrgPerson
uid: alice
cn: Alice Smith
sn: Smith
displayName: Alice Smith
mail: alice@acme.test
userPassword: alice-pw-1

dn: uid=wanglei,ou=people,{base}
objectClass: inetOrgPerson
uid: wanglei
cn: Wang Lei
sn: Wang
displayName:: {wang_b64}
mail: wang.lei@acme.test
userPassword: wanglei-pw-1

dn: uid=carol,ou=people,{base}
objectClass: inetOrgPerson
uid: carol
cn: Carol Jones
sn: Jones
displayName: Carol Jones
mail: carol@acme.test
userPassword: carol-pw-1

dn: uid=dave,ou=people,{base}
objectClass: inetOrgPerson
uid: dave
cn: Dave Brown
sn: Brown
userPassword: dave-pw-1

dn: uid=admin,ou=people,{base}
objectClass: inetOrgPerson
uid: admin
cn: Directory Admin
sn: Admin
mail: admin@acme.test
userPassword: directory-admin-pw-1

dn: {group}
objectClass: groupOfNames
cn: changeflow-users
member: uid=alice,ou=people,{base}
member: uid=wanglei,ou=people,{base}
member: uid=dave,ou=people,{base}
member: uid=admin,ou=people,{base}
"""

PASSWORDS = {
    "alice": "alice-pw-1",
    "wanglei": "wanglei-pw-1",
    "carol": "carol-pw-1",
    "dave": "dave-pw-1",
}


def slapd_unavailable() -> str:
    """Why slapd cannot run here ("" when it can)."""
    if not (os.path.exists(SLAPD) and os.path.exists(SLAPADD)):
        return "slapd is not installed (apt-get install slapd ldap-utils; .ci/run does it)"
    if not (MODULES / "back_mdb.so").exists() or not (SCHEMA / "core.schema").exists():
        return "slapd's mdb module or schema files are missing"
    return ""


@dataclass
class Slapd:
    root: Path
    port: int = 0  # ldap:// (StartTLS offered)
    tls_port: int = 0  # ldaps://
    ca_file: str = ""  # the self-signed certificate, the CA a client must trust
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return "ldap://127.0.0.1:%d" % self.port

    @property
    def tls_url(self) -> str:
        return "ldaps://localhost:%d" % self.tls_port

    def start(self) -> Slapd:
        import base64

        (self.root / "db").mkdir(parents=True, exist_ok=True)
        tls = self.root / "tls"
        tls.mkdir(exist_ok=True)
        certificate, key_pem = self_signed_certificate("changeflow test LDAP")
        (tls / "cert.pem").write_text(certificate)
        (tls / "key.pem").write_text(key_pem)
        (tls / "key.pem").chmod(0o600)
        self.ca_file = str(tls / "cert.pem")
        names = {
            "root": self.root, "schema": SCHEMA, "modules": MODULES, "base": BASE,
            "service": SERVICE_DN, "service_password": SERVICE_PASSWORD, "admin": ADMIN_DN,
            "admin_password": ADMIN_PASSWORD, "group": GROUP,
            "wang_b64": base64.b64encode("王磊".encode()).decode(),
        }  # fmt: skip
        (self.root / "slapd.conf").write_text(CONFIG.format(**names))
        (self.root / "people.ldif").write_text(PEOPLE_LDIF.format(**names))
        subprocess.run(
            [SLAPADD, "-f", self.root / "slapd.conf", "-l", self.root / "people.ldif"],
            check=True, capture_output=True,
        )  # fmt: skip
        # A port chosen free can be taken by another process before slapd binds it: then slapd
        # exits, and new ports are tried.
        for attempt in range(3):
            try:
                return self._listen()
            except PortTaken:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _listen(self) -> Slapd:
        self.port, self.tls_port = free_ports(2)
        urls = "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/" % (self.port, self.tls_port)
        # -d 0: stay in the foreground (so the fixture owns the process) and log nothing.
        self.process = subprocess.Popen(
            [SLAPD, "-d", "0", "-f", str(self.root / "slapd.conf"), "-h", urls],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        # slapd says "daemon: bind(...) failed errno=98 (Address already in use)".
        await_listening(
            self.process, (self.port, self.tls_port), "slapd", ("Address already in use",)
        )
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def admin(self):
        """An ldap3 connection bound as the directory's administrator, to change entries."""
        import ldap3

        return ldap3.Connection(ldap3.Server(self.url), ADMIN_DN, ADMIN_PASSWORD, auto_bind=True)
