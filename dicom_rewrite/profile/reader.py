"""What a rule kind reads its YAML through: a :class:`Reader` (the
loader's file, for which YAML nodes are opaque), and the small types the
rule kinds share."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol, TypeAlias

from dicom_rewrite.errors import ProfileError
from dicom_rewrite.profile.model import Origin

#: a YAML node: opaque here, only the loader (the one module that imports
#: yaml) looks inside
Node: TypeAlias = Any
Shape: TypeAlias = Literal["mapping", "list", "text"]
#: one entry of a rule section: the tag as written, where, and its value
Entry: TypeAlias = tuple[str, Origin, Node]
Schema: TypeAlias = dict[str, Any]


class Reader(Protocol):
    """What a rule kind needs of the file it is read from (the loader's
    errors name the file and the line of the node)."""

    def origin(self, node: Node) -> Origin: ...

    def error(self, at: Origin, msg: str) -> ProfileError: ...

    def shape(self, node: Node) -> Shape: ...

    def mapping(self, node: Node, what: str) -> list[tuple[str, Node, Node]]: ...

    def scalar(self, node: Node, what: str) -> str: ...

    def items(self, node: Node, what: str) -> list[Node]: ...


def quote(text: str) -> str:
    """A YAML (JSON) double-quoted string."""
    return json.dumps(text, ensure_ascii=False)
