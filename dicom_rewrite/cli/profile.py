"""``dicom-rewrite profile``: check, describe and start site profiles.

* ``profile check P.yaml``: validate and print the resolved profile (after
  ``extends``), each rule with the file and line it comes from;
* ``profile schema``: print the JSON Schema of the language (for editors);
* ``profile init --from REF.dcm [--metadata TABLE] [--out FILE]``: a
  starter profile for a template (mapping the table's columns), listing
  (as comments, never values) which of its attributes ``identity: strip``
  removes and which it keeps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dicom_rewrite.cli.common import EXIT_OK
from dicom_rewrite.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="validate a profile and print it resolved")
    check.add_argument("profile", metavar="P.yaml")
    check.add_argument("--quiet", "-q", action="store_true", help="validate only, print nothing")
    sub.add_parser("schema", help="print the JSON Schema of the profile language")
    init = sub.add_parser("init", help="write a starter profile for a template")
    init.add_argument("--from", dest="template", required=True, metavar="REF.dcm",
                      help="the reference DICOM the profile is for")
    init.add_argument("--metadata", metavar="TABLE",
                      help="a manifest (.csv, .tsv, .json, .jsonl): map the columns it recognises")
    init.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")


def run(args: argparse.Namespace) -> int:
    from dicom_rewrite import profile as prof

    if args.profile_command == "check":
        loaded = prof.load_profile(args.profile)
        if not args.quiet:
            print(loaded.describe(), end="")
        return EXIT_OK
    if args.profile_command == "schema":
        print(json.dumps(prof.json_schema(), indent=2))
        return EXIT_OK
    # init
    from dicom_rewrite.engine.template import Template
    from dicom_rewrite.io.files import atomic_write

    template = Template.load(args.template)
    columns: tuple[str, ...] = ()
    if args.metadata:
        from dicom_rewrite.io.manifest import read_manifest

        columns = read_manifest(args.metadata).columns
    text = prof.starter_profile(template.dataset, Path(args.template).name, columns)
    if not args.out:
        print(text, end="")
        return EXIT_OK
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out}: exists; use --force to overwrite")
    atomic_write(out, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return EXIT_OK
