"""README.md stays true: its examples run, and CI runs its test command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def _console_commands() -> list[str]:
    blocks = re.findall(r"```console\n(.*?)```", README, flags=re.S)
    return [ln[2:].strip() for b in blocks for ln in b.splitlines() if ln.startswith("$ ")]


def _setup_commands() -> list[str]:
    section = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_exactly_two_setup_commands_and_ci_runs_the_test_one():
    install_run, test = _setup_commands()
    assert "dicom-rewrite convert sample_data" in install_run and "templates/" in install_run
    assert "pytest" in test
    ci = (REPO / ".ci" / "run").read_text()
    assert test in ci, ".ci/run must run the README's test command verbatim"


def test_console_examples_run(tmp_path):
    for name in ("templates", "sample_data"):
        (tmp_path / name).symlink_to(REPO / name)
    commands = _console_commands()
    assert commands, "README has no console examples"
    for cmd in commands:
        argv = shlex.split(cmd)
        env = dict(os.environ)
        while re.fullmatch(r"[A-Z_]+=\S*", argv[0]):  # VAR=value before the command
            name, _, value = argv.pop(0).partition("=")
            env[name] = value
        assert argv[0] == "dicom-rewrite"
        proc = subprocess.run([sys.executable, "-m", "dicom_rewrite", *argv[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, f"README example failed: {cmd}\n{proc.stderr}"
