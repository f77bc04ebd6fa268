"""ReqIF (DOORS, Polarion, Jama): reading a document or a .reqifz archive into ``ImportRow``s
(objects, hierarchy, relations; each SPEC-OBJECT IDENTIFIER kept as the external id) and
writing the export (our key as ReqIF.ForeignID)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - writing only; parsing uses defusedxml

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project
from changeflow.core.errors import TooLarge

from ..models import (
    EXTERNAL_ID_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Kind,
    LinkKind,
    RequirementPriority,
    RequirementStatus,
)
from .common import (
    FOREIGN_STATUS,
    ImportRejected,
    ImportRow,
    ParsedFile,
    _newlines,
    _norm,
    choice,
    link_kind,
    max_bytes,
)

# ---------------------------------------------------------------- ReqIF


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element | None, name: str | None = None) -> list[ET.Element]:
    if el is None:
        return []
    return [c for c in el if name is None or _local(c.tag) == name]


def _ref(el: ET.Element, container: str) -> str | None:
    """The text of the ``*-REF`` inside ``el``'s child ``container`` (DEFINITION, TYPE...)."""
    holder = _child(el, container)
    if holder is None:
        return None
    for c in holder:
        ref = (c.text or "").strip()
        if _local(c.tag).endswith("-REF") and ref:
            return ref
    return None


_BLOCKS = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "pre", "ul", "ol"}


def _xhtml_text(value: ET.Element) -> str:
    """Text of an XHTML value: one plain ``div`` verbatim (what we export), otherwise blocks
    separated by line breaks."""
    parts = list(value)
    if len(parts) == 1 and len(parts[0]) == 0 and _local(parts[0].tag) in ("div", "p"):
        return parts[0].text or ""
    out: list[str] = []

    def walk(el: ET.Element) -> None:
        block = _local(el.tag) in _BLOCKS
        if block and out and not out[-1].endswith("\n"):
            out.append("\n")
        if el.text:
            out.append(el.text)
        for c in el:
            walk(c)
            if c.tail:
                out.append(c.tail)
        if block and out and not out[-1].endswith("\n"):
            out.append("\n")

    for el in parts:
        walk(el)
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()


# Attribute LONG-NAMEs (normalised) that carry our fields, best first.
_REQIF_NAMES = {
    "key": ("reqif.foreignid", "key", "id", "requirement_id", "uid"),
    "title": ("reqif.name", "title", "name", "reqif.chaptername", "heading", "summary"),
    "text": ("reqif.text", "text", "description", "reqif.description", "statement",
             "technical_description", "object_text"),
    "kind": ("kind", "requirement_kind", "requirement_type", "reqif.category"),
    "priority": ("priority",),
    "status": ("status", "state", "reqif.status"),
}  # fmt: skip


def parse_reqif(raw: bytes) -> ParsedFile:
    """A ReqIF document (or a .reqifz archive holding one) as rows: every SPEC-OBJECT a
    requirement, the SPEC-HIERARCHY its parent, SPEC-RELATIONs its links."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    if raw[:4] == b"PK\x03\x04":
        raw = _unzip_reqif(raw)
    try:
        root = fromstring(raw, forbid_dtd=True)
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        raise ImportRejected(
            [
                _("Broken XML at line %(line)d, column %(col)d: %(why)s")
                % {"line": line, "col": column, "why": str(exc).split(":")[0]}
            ]  # fmt: skip
        ) from None
    except DefusedXmlException:
        raise ImportRejected(
            [_("The XML declares a DTD or entities, which are refused for safety.")]
        ) from None
    if _local(root.tag) != "REQ-IF":
        raise ImportRejected(
            [
                _("This is not a ReqIF document: its root element is <%s>, not <REQ-IF>.")
                % _local(root.tag)
            ]  # fmt: skip
        )
    warnings: list[str] = []
    problems: list[str] = []
    definitions: dict[str, str] = {}  # attribute definition id -> normalised LONG-NAME
    enum_values: dict[str, str] = {}  # enum value id -> LONG-NAME
    relation_types: dict[str, str] = {}
    for el in root.iter():
        tag = _local(el.tag)
        ident = el.get("IDENTIFIER")
        if not ident:
            continue
        if tag.startswith("ATTRIBUTE-DEFINITION-"):
            definitions[ident] = (el.get("LONG-NAME") or ident).strip().lower()
        elif tag == "ENUM-VALUE":
            enum_values[ident] = (el.get("LONG-NAME") or ident).strip()
        elif tag == "SPEC-RELATION-TYPE":
            relation_types[ident] = (el.get("LONG-NAME") or ident).strip()

    objects: dict[str, ImportRow] = {}
    order: list[str] = []
    ignored: set[str] = set()
    for n, obj in enumerate(_iter_local(root, "SPEC-OBJECT"), start=1):
        ident = (obj.get("IDENTIFIER") or "").strip()
        if not ident:
            problems.append(_("SPEC-OBJECT #%d has no IDENTIFIER") % n)
            continue
        where = "SPEC-OBJECT %s" % ident
        if ident in objects:
            problems.append(_("%s: the IDENTIFIER is used twice") % where)
            continue
        values: dict[str, str] = {}
        for value in _children(_child(obj, "VALUES")):
            def_id = _ref(value, "DEFINITION")
            name = definitions.get(def_id or "")
            if name is None:
                warnings.append(
                    _("%(where)s: a value of an undefined attribute (%(ref)s) was ignored")
                    % {"where": where, "ref": def_id or "?"}
                )
                continue
            values[name] = _reqif_value(value, enum_values, where, warnings)
        row = _reqif_row(where, ident, values, warnings, ignored)
        objects[ident] = row
        order.append(ident)

    # The hierarchy: document order, parent = the enclosing SPEC-HIERARCHY's object.
    placed: dict[str, None] = {}  # ordered, with fast membership
    for spec in _iter_local(root, "SPECIFICATION"):
        for top in _children(_child(spec, "CHILDREN"), "SPEC-HIERARCHY"):
            _walk_hierarchy(top, None, objects, placed, problems, warnings)
    for ident in placed:
        objects[ident].has_parent = True
    for rel in _iter_local(root, "SPEC-RELATION"):
        where = "SPEC-RELATION %s" % (rel.get("IDENTIFIER") or "?")
        source, target = _ref(rel, "SOURCE"), _ref(rel, "TARGET")
        type_name = relation_types.get(_ref(rel, "TYPE") or "", "")
        for end in (source, target):
            if end not in objects:
                problems.append(
                    _("%(where)s refers to SPEC-OBJECT %(ref)s, which the file does not define")
                    % {"where": where, "ref": end or "?"}
                )
        kind = link_kind(type_name) if type_name else None
        if kind is None:
            warnings.append(
                _("%(where)s: relation type '%(type)s' is not a link kind of ours; skipped")
                % {"where": where, "type": type_name or "?"}
            )
            continue
        if source in objects and target in objects:
            objects[source].links.append((kind, target))
    if ignored:
        warnings.append(_("Attributes not imported: %s") % ", ".join(sorted(ignored)))
    if problems:
        raise ImportRejected(problems)
    if not objects:
        raise ImportRejected([_("The ReqIF document has no SPEC-OBJECT.")])
    seen = set(placed)
    rows = [objects[i] for i in placed] + [objects[i] for i in order if i not in seen]
    return ParsedFile("reqif", rows, warnings)


def _unzip_reqif(raw: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".reqif")]
            if not names:
                raise ImportRejected([_("The .reqifz archive holds no .reqif file.")])
            info = archive.getinfo(names[0])
            if info.file_size > max_bytes():
                raise TooLarge(_("The ReqIF file inside the archive is too large."))
            return archive.read(names[0])
    except zipfile.BadZipFile:
        raise ImportRejected([_("This is not a valid .reqifz (zip) archive.")]) from None


def _iter_local(root: ET.Element, name: str) -> Iterable[ET.Element]:
    return (el for el in root.iter() if _local(el.tag) == name)


def _reqif_value(value: ET.Element, enums: dict[str, str], where: str, warnings) -> str:
    tag = _local(value.tag)
    if tag == "ATTRIBUTE-VALUE-ENUMERATION":
        labels = []
        for ref in _children(_child(value, "VALUES")):
            ident = (ref.text or "").strip()
            if ident in enums:
                labels.append(enums[ident])
            else:
                warnings.append(
                    _("%(where)s: enumeration value %(ref)s is not defined; ignored")
                    % {"where": where, "ref": ident}
                )
        return ", ".join(labels)
    if tag == "ATTRIBUTE-VALUE-XHTML":
        the_value = _child(value, "THE-VALUE")
        return _xhtml_text(the_value) if the_value is not None else ""
    return value.get("THE-VALUE") or ""


def _reqif_row(where, ident, values: dict[str, str], warnings, ignored: set[str]) -> ImportRow:
    row = ImportRow(where=where, ref=ident)
    if len(ident) <= EXTERNAL_ID_MAX:
        row.external_id = ident
    else:
        warnings.append(
            _("%(where)s: the IDENTIFIER is longer than %(n)d characters and is not kept; "
              "importing this file again will add it again")
            % {"where": where, "n": EXTERNAL_ID_MAX}
        )  # fmt: skip
    used = set()

    def pick(name: str) -> str | None:
        for candidate in _REQIF_NAMES[name]:
            if candidate in values:
                used.add(candidate)
                return values[candidate]
        return None

    foreign_id = pick("key")
    if foreign_id:
        row.key = foreign_id.strip()  # ours only if of this project's form (resolved later)
        row.aliases = (row.key,)
    title = pick("title") or ""
    text = _newlines(pick("text") or "")
    if not title.strip():
        first = text.strip().split("\n", 1)[0]
        title = first[:80].rsplit(" ", 1)[0] if len(first) > 80 else first
        title = title or foreign_id or ident
    row.fields["title"] = title.strip()[:TITLE_MAX]
    row.fields["text"] = text
    for name in ("kind", "priority", "status"):
        raw = pick(name)
        if not raw:
            continue
        code = choice(name, raw) or (FOREIGN_STATUS.get(_norm(raw)) if name == "status" else None)
        if code is None:
            warnings.append(
                _("%(where)s: %(field)s '%(value)s' is not one of ours; left at the default")
                % {"where": where, "field": name, "value": raw}
            )
        else:
            row.fields[name] = code
    ignored.update(set(values) - used)
    return row


def _walk_hierarchy(top, parent, objects, placed, problems, warnings) -> None:
    """Depth first, in document order, without recursion (a file may nest deeply)."""
    stack = [(top, parent)]
    while stack:
        node, parent = stack.pop()
        ident = _ref(node, "OBJECT")
        where = "SPEC-HIERARCHY %s" % (node.get("IDENTIFIER") or "?")
        if ident not in objects:
            problems.append(
                _("%(where)s refers to SPEC-OBJECT %(ref)s, which the file does not define")
                % {"where": where, "ref": ident or "?"}
            )
            continue
        if ident in placed:
            warnings.append(
                _(
                    "%(where)s: SPEC-OBJECT %(ref)s appears twice in the hierarchy; the first "
                    "place is kept"
                )
                % {"where": where, "ref": ident}  # fmt: skip
            )
        else:
            placed[ident] = None
            objects[ident].parent = parent
        kids = _children(_child(node, "CHILDREN"), "SPEC-HIERARCHY")
        stack.extend((kid, ident) for kid in reversed(kids))


REQIF_NS = "http://www.omg.org/spec/ReqIF/20110401/reqif.xsd"
XHTML_NS = "http://www.w3.org/1999/xhtml"


def _ident(value: str) -> str:
    """An xsd:ID from a key (an ID cannot start with a digit, a project key may)."""
    return "cf-" + re.sub(r"[^A-Za-z0-9_.-]", "_", value)


def write_reqif(project: Project, rows: list[dict[str, Any]]) -> bytes:
    """A ReqIF 1.0 document: one SPEC-OBJECT-TYPE "Requirement" with ReqIF.ForeignID (our
    key), ReqIF.Name, ReqIF.Text (XHTML) and the enumerations Kind, Priority and Status; the
    hierarchy as one SPECIFICATION; requirement-to-requirement links as SPEC-RELATIONs."""
    ET.register_namespace("", REQIF_NS)
    ET.register_namespace("xhtml", XHTML_NS)

    def el(parent, tag, text=None, **attrs):
        node = ET.SubElement(
            parent, f"{{{REQIF_NS}}}{tag}", {k.replace("_", "-"): v for k, v in attrs.items()}
        )
        if text is not None:
            node.text = text
        return node

    now = timezone.now().isoformat(timespec="seconds")
    root = ET.Element(f"{{{REQIF_NS}}}REQ-IF")
    header = el(el(root, "THE-HEADER"), "REQ-IF-HEADER", IDENTIFIER=_ident(f"{project.key}-hdr"))
    el(header, "COMMENT", _("Requirements of %s exported by changeflow") % project.key)
    el(header, "CREATION-TIME", now)
    el(header, "REQ-IF-TOOL-ID", "changeflow")
    el(header, "REQ-IF-VERSION", "1.0")
    el(header, "SOURCE-TOOL-ID", "changeflow")
    el(header, "TITLE", f"{project.key} {project.name}".strip())
    content = el(el(root, "CORE-CONTENT"), "REQ-IF-CONTENT")
    types = el(content, "DATATYPES")
    el(types, "DATATYPE-DEFINITION-STRING", IDENTIFIER="cf-dt-string", LAST_CHANGE=now,
       LONG_NAME="String", MAX_LENGTH=str(TEXT_MAX))  # fmt: skip
    el(types, "DATATYPE-DEFINITION-XHTML", IDENTIFIER="cf-dt-xhtml", LAST_CHANGE=now,
       LONG_NAME="Text")  # fmt: skip
    enums = {"kind": Kind, "priority": RequirementPriority, "status": RequirementStatus}
    for name, choices in enums.items():
        dtype = el(types, "DATATYPE-DEFINITION-ENUMERATION", IDENTIFIER=f"cf-dt-{name}",
                   LAST_CHANGE=now, LONG_NAME=name.capitalize())  # fmt: skip
        values = el(dtype, "SPECIFIED-VALUES")
        for n, (value, label) in enumerate(choices.choices):
            with translation.override("en"):
                label = str(label)
            ev = el(values, "ENUM-VALUE", IDENTIFIER=f"cf-{name}-{value}", LAST_CHANGE=now,
                    LONG_NAME=value)  # fmt: skip
            el(el(ev, "PROPERTIES"), "EMBEDDED-VALUE", KEY=str(n), OTHER_CONTENT=label)
    spec_types = el(content, "SPEC-TYPES")
    el(spec_types, "SPECIFICATION-TYPE", IDENTIFIER="cf-specification-type", LAST_CHANGE=now,
       LONG_NAME="Requirements specification")  # fmt: skip
    otype = el(spec_types, "SPEC-OBJECT-TYPE", IDENTIFIER="cf-requirement-type",
               LAST_CHANGE=now, LONG_NAME="Requirement")  # fmt: skip
    attrs = el(otype, "SPEC-ATTRIBUTES")
    for ident, long_name, kind, dtype in (
        ("cf-ad-key", "ReqIF.ForeignID", "STRING", "cf-dt-string"),
        ("cf-ad-title", "ReqIF.Name", "STRING", "cf-dt-string"),
        ("cf-ad-text", "ReqIF.Text", "XHTML", "cf-dt-xhtml"),
        ("cf-ad-kind", "Kind", "ENUMERATION", "cf-dt-kind"),
        ("cf-ad-priority", "Priority", "ENUMERATION", "cf-dt-priority"),
        ("cf-ad-status", "Status", "ENUMERATION", "cf-dt-status"),
    ):
        extra = {"MULTI_VALUED": "false"} if kind == "ENUMERATION" else {}
        ad = el(attrs, f"ATTRIBUTE-DEFINITION-{kind}", IDENTIFIER=ident, LAST_CHANGE=now,
                LONG_NAME=long_name, **extra)  # fmt: skip
        el(el(ad, "TYPE"), f"DATATYPE-DEFINITION-{kind}-REF", dtype)
    for value in LinkKind.values:
        el(spec_types, "SPEC-RELATION-TYPE", IDENTIFIER=f"cf-link-{value}", LAST_CHANGE=now,
           LONG_NAME=value)  # fmt: skip

    objects = el(content, "SPEC-OBJECTS")
    for r in rows:
        changed = r["updated_at"].isoformat(timespec="seconds")
        obj = el(objects, "SPEC-OBJECT", IDENTIFIER=_ident(r["key"]), LAST_CHANGE=changed)
        values = el(obj, "VALUES")
        for def_id, value in (("cf-ad-key", r["key"]), ("cf-ad-title", r["title"])):
            av = el(values, "ATTRIBUTE-VALUE-STRING", THE_VALUE=value)
            el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-STRING-REF", def_id)
        av = el(values, "ATTRIBUTE-VALUE-XHTML")
        el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-XHTML-REF", "cf-ad-text")
        div = ET.SubElement(el(av, "THE-VALUE"), f"{{{XHTML_NS}}}div")
        div.text = r["text"]
        for name in enums:
            av = el(values, "ATTRIBUTE-VALUE-ENUMERATION")
            el(el(av, "DEFINITION"), "ATTRIBUTE-DEFINITION-ENUMERATION-REF", f"cf-ad-{name}")
            el(el(av, "VALUES"), "ENUM-VALUE-REF", f"cf-{name}-{r[name]}")
        el(el(obj, "TYPE"), "SPEC-OBJECT-TYPE-REF", "cf-requirement-type")

    relations = el(content, "SPEC-RELATIONS")
    keys = {r["key"] for r in rows}
    for r in rows:
        for link in r["links"]:
            kind, target = link.split(":", 1)
            if target not in keys:
                continue  # an artifact: ReqIF carries requirements only
            rel = el(relations, "SPEC-RELATION", IDENTIFIER=_ident(f"{r['key']}-{kind}-{target}"),
                     LAST_CHANGE=now)  # fmt: skip
            el(el(rel, "SOURCE"), "SPEC-OBJECT-REF", _ident(r["key"]))
            el(el(rel, "TARGET"), "SPEC-OBJECT-REF", _ident(target))
            el(el(rel, "TYPE"), "SPEC-RELATION-TYPE-REF", f"cf-link-{kind}")

    specs = el(content, "SPECIFICATIONS")
    spec = el(specs, "SPECIFICATION", IDENTIFIER=_ident(f"{project.key}-spec"), LAST_CHANGE=now,
              LONG_NAME=project.name or project.key)  # fmt: skip
    el(el(spec, "TYPE"), "SPECIFICATION-TYPE-REF", "cf-specification-type")
    children: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        children.setdefault(r["parent"], []).append(r)

    top = children.get("", [])
    stack = [(spec, None, top)]  # (element, its CHILDREN holder or None, rows to place)
    while stack:
        node, holder, todo = stack.pop()
        if not todo:
            continue
        if holder is None:
            holder = el(node, "CHILDREN")
        r, rest = todo[0], todo[1:]
        stack.append((node, holder, rest))
        child = el(holder, "SPEC-HIERARCHY", IDENTIFIER=_ident(f"{r['key']}-h"),
                   LAST_CHANGE=now)  # fmt: skip
        el(el(child, "OBJECT"), "SPEC-OBJECT-REF", _ident(r["key"]))
        stack.append((child, None, children.get(r["key"], [])))
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
