"""The batch pipeline on a Dask cluster (``dicom_rewrite.distributed``): a
LocalCluster of two worker processes, one of them killed mid-batch."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

CT = REPO / "templates" / "ct.dcm"
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _inputs(folder: Path, n: int) -> Path:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (96, 96), dtype=np.uint8)).save(folder / f"img{i:04d}.png")
    return folder


def _outputs(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(tmp_path, client):
    from dicom_rewrite import convert_files
    from dicom_rewrite.distributed import DaskExecutor

    src = _inputs(tmp_path / "in", 60)
    prof = tmp_path / "hash.yaml"
    prof.write_text("uids:\n  key: dask-test\n  study: hash\n  series: hash\n  instance: hash\n"
                    "  frame_of_reference: hash\n", encoding="utf-8")
    started = datetime(2021, 5, 6, 7, 8, 9)
    serial = list(convert_files([src], CT, tmp_path / "one", prof, started=started, durable=False))
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    entries = []
    for entry in convert_files([src], CT, tmp_path / "dask", prof, started=started, durable=False,
                               executor=DaskExecutor(client)):
        entries.append(entry)
        if len(entries) == 10:
            os.kill(victim, signal.SIGKILL)  # the worker goes with the inputs it holds
    assert victim not in client.run(os.getpid).values()  # it was killed (the nanny started another)
    assert json.dumps(entries).replace("/dask/", "/one/") == json.dumps(serial)
    assert _outputs(tmp_path / "dask") == _outputs(tmp_path / "one")  # nothing lost, no _2, no .part


@pytest.mark.slow
def test_the_cli_runs_on_a_scheduler(tmp_path, client, capsys):
    from dicom_rewrite.cli import main

    src = _inputs(tmp_path / "in", 5)
    report = tmp_path / "r.jsonl"
    assert main(["convert", str(src), "--template", str(CT), "--out", str(tmp_path / "out"), "--no-fsync",
                 "--scheduler", client.scheduler.address, "--report", str(report)]) == 0
    lines = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert [Path(e["outputs"][0]).name for e in lines] == [f"img{i:04d}.dcm" for i in range(5)]
    assert len({e["series_instance_uid"] for e in lines}) == 1


def test_an_unreachable_scheduler_is_a_usage_error(tmp_path):
    from dicom_rewrite import convert_files
    from dicom_rewrite.distributed import DaskExecutor
    from dicom_rewrite.errors import UsageError

    src = _inputs(tmp_path / "in", 1)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        list(convert_files([src], CT, tmp_path / "out", executor=DaskExecutor("tcp://127.0.0.1:9", timeout=1)))
