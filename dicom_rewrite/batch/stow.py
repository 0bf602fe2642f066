"""A DICOMweb server as a sink: STOW-RS through dicomweb-client (PS3.18 10.5).

Outputs are queued and sent as one multipart/related request per chunk
(at most ``max_instances`` instances or ``max_bytes`` bytes, the body in
transfer-encoding chunks of ``chunk_size``), the files' own bytes as they
were written. Each instance's status comes from the response's Store
Instances Response Module (PS3.18 10.5.3, Table 10.5.3-1): listed in the
Referenced SOP Sequence (with a Warning Reason, or not) or in the Failed SOP
Sequence with its Failure Reason; a request that fails as a whole fails
each of its instances. A bearer token comes from an environment variable,
never from the command line.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom_rewrite.batch.delivery import PENDING
from dicom_rewrite.errors import UsageError, one_line
from dicom_rewrite.io.files import joined_parts


class StowError(OSError):
    """A STOW-RS store that did not succeed."""


def bearer_headers(token_env: str | None) -> dict[str, str]:
    """The Authorization header of a bearer token kept in ``token_env``."""
    if token_env is None:
        return {}
    token = os.environ.get(token_env, "")
    if not token.strip():
        raise UsageError(f"--token-env {token_env}: the environment variable {token_env} is not set or empty")
    return {"Authorization": f"Bearer {token.strip()}"}


def _status(code: int) -> str:
    return f"warning 0x{code:04X}" if code else "success"


class StowSink:
    """Outputs stored in a DICOMweb server (``url`` is its base, e.g.
    ``http://host:8042/dicom-web``; the request goes to ``url/studies``)."""

    def __init__(self, url: str, *, token_env: str | None = None, timeout: float = 30.0,
                 max_instances: int = 50, max_bytes: int = 64 << 20, chunk_size: int = 1 << 20,
                 retries: int = 2) -> None:
        """``retries``: how many times a failed request is tried again (0.2 s,
        0.4 s ... apart) before its instances are reported failed."""
        from dicomweb_client.api import DICOMwebClient

        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--stow {url!r}: expected an http:// or https:// DICOMweb base URL")
        self.url = url.rstrip("/")
        self.client = DICOMwebClient(self.url, headers=bearer_headers(token_env), chunk_size=chunk_size,
                                     timeout=timeout)
        self.client.set_http_retry_params(retry=retries > 0, max_attempts=retries + 1, wait_exponential_multiplier=100)
        self.max_instances = max(1, max_instances)
        self.max_bytes = max_bytes
        self._queue: list[tuple[str, bytes]] = []  # (SOP Instance UID, file)
        self._results: list[str | StowError] = []
        self.requests = 0  # how many POSTs were made

    def __str__(self) -> str:
        return f"{self.url}/studies"

    def claim(self, name: str) -> str:
        return name

    def put(self, target: Any, parts: Sequence[Any], *,
            dump: Callable[[Any, BinaryIO], None] | None = None) -> str:
        data = joined_parts(parts)
        uid = str(dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
                  .SOPInstanceUID)
        self._queue.append((uid, data))
        if len(self._queue) >= self.max_instances or sum(len(d) for _, d in self._queue) >= self.max_bytes:
            self._send()
        return PENDING

    def ready(self) -> list[str | StowError]:
        """The statuses of the instances sent since the last call, in ``put`` order."""
        done, self._results = self._results, []
        return done

    def flush(self) -> list[str | StowError]:
        """Send what is queued; return every status not yet taken."""
        if self._queue:
            self._send()
        return self.ready()

    def _send(self) -> None:
        queue, self._queue = self._queue, []
        self.requests += 1
        try:
            response = self._post([d for _, d in queue])
        except StowError as exc:
            self._results.extend(exc for _ in queue)
            return
        stored = {str(item.get("ReferencedSOPInstanceUID", "")): int(item.get("WarningReason", 0) or 0)
                  for item in response.get("ReferencedSOPSequence", [])}
        failed = {str(item.get("ReferencedSOPInstanceUID", "")): int(item.get("FailureReason", 0) or 0)
                  for item in response.get("FailedSOPSequence", [])}
        for uid, _ in queue:
            if uid in failed:
                self._results.append(StowError(f"STOW-RS to {self}: failure 0x{failed[uid]:04X}"))
            elif uid in stored or not failed:  # a 200 without a body lists nothing: all stored
                self._results.append(f"{self} {_status(stored.get(uid, 0))}")
            else:
                self._results.append(StowError(f"STOW-RS to {self}: not in the server's response"))

    def _post(self, files: list[bytes]) -> Dataset:
        """One multipart/related POST of ``files`` as they are (dicomweb-client's
        public ``store_instances`` re-encodes datasets: the bytes would not be ours)."""
        import requests

        url = f"{self.url}/studies"
        try:
            result: Dataset = self.client._http_post_multipart_application_dicom(url, files)
            return result
        except requests.HTTPError as exc:
            body = _response_dataset(exc.response)
            if body is not None and "FailedSOPSequence" in body:  # 409 / 202: per instance
                return body
            raise StowError(f"STOW-RS to {self}: {one_line(exc)}") from None
        except (requests.RequestException, OSError, ValueError) as exc:
            raise StowError(f"STOW-RS to {self}: {one_line(exc)}") from None

    def discard(self, targets: Sequence[str]) -> None:
        """Instances stored in a server stay there."""

    def close(self) -> None:
        self.client._session.close()


def _response_dataset(response: Any) -> Dataset | None:
    """The Store Instances Response of a failed request, when it has one."""
    if response is None or not response.content:
        return None
    try:
        return Dataset.from_json(response.json())
    except (ValueError, TypeError, KeyError):
        return None
