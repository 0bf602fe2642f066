"""A PACS as a sink: DIMSE C-STORE through pynetdicom (PS3.4 Annex B, PS3.7 9.1.1).

One association serves the batch. Presentation contexts are proposed from
the outputs' own SOP class and transfer syntax (with Explicit VR Little
Endian as a fallback, PS3.5 10.1); an output whose context was not proposed
re-opens the association with it added. A failed store (refused status,
aborted or lost association) is retried a bounded number of times on a new
association, then reported for that output; the batch goes on.
"""

from __future__ import annotations

import io
import logging
import re
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_rewrite.errors import UsageError, one_line
from dicom_rewrite.io.files import joined_parts

log = logging.getLogger(__name__)

_PEER = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>[^:@]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")
#: PS3.7 9.1.1.1.9 status classes: 0x0000 success, 0xB000-0xBFFF and 0x0107/0x0116 warning
_WARNINGS = {0x0107, 0x0116}


@dataclass(frozen=True)
class Peer:
    """A remote DICOM application entity: ``AET@HOST:PORT``."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Peer:
        m = _PEER.match(text.strip())
        if m is None or not 0 < int(m["port"]) < 65536:
            raise UsageError(f"{text!r}: expected AET@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242")
        # PS3.5 6.2: an AE title is at most 16 characters, no backslash or control characters
        aet = m["aet"].strip()
        if not aet or "\\" in aet or not aet.isprintable():
            raise UsageError(f"{text!r}: invalid AE title {aet!r}")
        return cls(aet, m["host"].strip("[]"), int(m["port"]))

    def __str__(self) -> str:
        return f"dimse://{self.aet}@{self.host}:{self.port}"


class StoreError(OSError):
    """A C-STORE that did not succeed (after its retries)."""


def tls_context(ca: str | None = None, cert: str | None = None, key: str | None = None) -> ssl.SSLContext:
    """A TLS client context for DICOM over TLS (PS3.15 B.1, the Basic TLS
    Secure Transport Connection Profile): the peer's certificate checked
    against ``ca`` (default: the system's authorities) and its host name;
    ``cert``/``key``: our certificate, when the peer asks for one."""
    if key is not None and cert is None:
        raise UsageError("--tls-key needs --tls-cert (the certificate of that key)")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # PS3.15 B.9: TLS 1.2 or later
    try:
        if ca is not None:
            context.load_verify_locations(cafile=ca)
        if cert is not None:
            context.load_cert_chain(certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"TLS: cannot load {ca if ca and cert is None else cert or ca} ({one_line(exc)})") from None
    return context


def _status_text(code: int) -> str:
    if code == 0:
        return "success"
    if code in _WARNINGS or 0xB000 <= code <= 0xBFFF:
        return f"warning 0x{code:04X}"
    return f"failure 0x{code:04X}"


class DimseSink:
    """Outputs sent to a PACS by C-STORE."""

    def __init__(self, peer: Peer, *, calling_aet: str = "DICOM_REWRITE", timeout: float = 30.0,
                 retries: int = 2, tls: ssl.SSLContext | None = None) -> None:
        """``tls``: associate over TLS with this context (see :func:`tls_context`)."""
        from pynetdicom import AE

        if not 0 < len(calling_aet) <= 16:
            raise UsageError(f"calling AE title {calling_aet!r}: 1 to 16 characters")
        self.peer = peer
        self.retries = retries
        self.tls = tls
        self.ae = AE(ae_title=calling_aet)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = timeout
        self._contexts: set[tuple[str, str]] = set()
        self._assoc: Any = None
        self.associations = 0  # how many were opened (one per batch when all goes well)

    def claim(self, name: str) -> str:
        return name

    def put(self, target: Any, parts: Sequence[Any], *,
            dump: Callable[[Any, BinaryIO], None] | None = None) -> str:
        data = joined_parts(parts)
        ds = dcmread(io.BytesIO(data))
        return self.store(ds)

    def store(self, ds: Dataset) -> str:
        """Send ``ds``; return ``dimse://AET@HOST:PORT <status>`` or raise
        :class:`StoreError` when every try failed."""
        context = (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
        last = "not sent"
        for _try in range(self.retries + 1):
            try:
                assoc = self._association(context)
                status = assoc.send_c_store(ds)
            except (OSError, RuntimeError, ValueError) as exc:
                last = f"association failed ({exc})"
                self._drop()
                continue
            code = int(status.Status) if status is not None and "Status" in status else None
            if code is None:  # timed out, aborted or an invalid response: a new association
                last = "no response (association aborted or timed out)"
                self._drop()
                continue
            text = _status_text(code)
            if not text.startswith("failure"):
                return f"{self.peer} {text}"
            last = text
            if code in (0x0122, 0x0124):  # SOP class not supported, not authorised: trying again won't help
                break
        raise StoreError(f"C-STORE to {self.peer}: {last}")

    def _association(self, context: tuple[str, str]) -> Any:
        if context not in self._contexts:
            self._contexts.add(context)
            self._drop()  # re-open with the new context proposed
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        self.ae.requested_contexts = []
        for sop, ts in sorted(self._contexts):
            syntaxes = list(dict.fromkeys([ts, ExplicitVRLittleEndian, ImplicitVRLittleEndian]))
            self.ae.add_requested_context(UID(sop), [UID(t) for t in syntaxes])
        assoc = self.ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.aet,
                                  tls_args=_tls_args(self.tls, self.peer))
        if not assoc.is_established:
            raise OSError(f"{self.peer} refused or did not answer the association")
        self.associations += 1
        self._assoc = assoc
        return assoc

    def _drop(self) -> None:
        if self._assoc is not None:
            try:
                if self._assoc.is_established:
                    self._assoc.release()
            except (OSError, RuntimeError):
                self._assoc.abort()
            self._assoc = None

    def discard(self, targets: Sequence[str]) -> None:
        """Instances stored in a PACS stay there (no C-STORE undo)."""

    def close(self) -> None:
        self._drop()


def _tls_args(tls: ssl.SSLContext | None, peer: Peer) -> tuple[ssl.SSLContext, str] | None:
    return None if tls is None else (tls, peer.host)


def echo(peer: Peer, *, calling_aet: str = "DICOM_REWRITE", timeout: float = 10.0,
         tls: ssl.SSLContext | None = None) -> str:
    """C-ECHO (PS3.7 9.1.5): check that ``peer`` answers; return its status text."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.add_requested_context(Verification)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.aet, tls_args=_tls_args(tls, peer))
    if not assoc.is_established:
        raise StoreError(f"C-ECHO to {peer}: association refused or no answer")
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if status is None or "Status" not in status:
        raise StoreError(f"C-ECHO to {peer}: no response")
    return f"{peer} {_status_text(int(status.Status))}"
