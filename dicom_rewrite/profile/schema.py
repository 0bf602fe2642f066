"""The JSON Schema (draft-07) of the profile language, for editors.

The choices it offers come from the code that checks them: the enums, the
rule kinds and their words, the transfer syntaxes we write.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_description, dictionary_is_retired, keyword_dict
from pydicom.tag import Tag

from dicom_rewrite.encode.syntax import TRANSFER_SYNTAXES
from dicom_rewrite.profile.model import SCHEMA_VERSION, SPACING_MODES, Identity, SopClassMode, UidMode
from dicom_rewrite.profile.paths import TAG_PATTERN
from dicom_rewrite.profile.policy import engine_owned, is_file_meta
from dicom_rewrite.profile.rules import RULE_KINDS
from dicom_rewrite.profile.vr import tag_vr

_ROOT_PATTERN = r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\.?$"


def _tag_properties() -> dict[str, Any]:
    """Every current keyword a profile may set, for completion."""
    keywords = sorted(k for k, t in keyword_dict.items() if not dictionary_is_retired(t))
    props = {}
    for kw in keywords:
        t = int(keyword_dict[kw])
        if engine_owned(t) or is_file_meta(t):
            continue
        # listed for completion; the value is checked by additionalProperties'
        # sibling below only for unlisted tags, so keep the description short
        props[kw] = {"description": f"{Tag(t)} {dictionary_description(t)}, VR {tag_vr(t)}"}
    return props


def _uids() -> dict[str, Any]:
    mode = {"enum": [m.value for m in UidMode]}
    # PS3.3 C.12.1.1.1: new pixels are a new instance, never the template's
    instance = {"enum": [m.value for m in UidMode if m is not UidMode.KEEP]}
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "root": {"type": "string", "pattern": _ROOT_PATTERN, "maxLength": 41},
            "key": {"type": "string", "description": "env:NAME or a literal secret"},
            "study": mode, "series": mode,
            "instance": instance,
            "frame_of_reference": mode,
            "study_key": {"type": "string", "description": "template: outputs with the same rendered key share "
                          "a study (default: the Patient ID), e.g. '{meta[Patient ID]}-{meta[Follow-up #]}'"},
            "series_key": {"type": "string", "description": "template: outputs of a study with the same "
                           "rendered key share a series (default: one series per study)"},
        },
    }


def _pixel() -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "transfer_syntax": {"enum": list(TRANSFER_SYNTAXES)},
            "sop_class": {"enum": [m.value for m in SopClassMode]},
            "spacing": {"anyOf": [{"enum": list(SPACING_MODES)},
                                  {"type": "string", "pattern": r"^[0-9.eE+-]+\\[0-9.eE+-]+$"},
                                  {"type": "string", "pattern": r"\{"}],
                        "description": "the template's pixel-matrix facts: auto, keep, drop, or 'ROW\\COLUMN' mm "
                                       "(a template such as '{meta[Spacing]}\\{meta[Spacing]}' for per-image values)"},
            "spacing_size": {"type": "string", "description": "template 'ROWS\\COLUMNS' of the matrix a "
                             "templated spacing was measured on; scaled to the output's"},
            "rescale": {"type": "string", "pattern": r"^[0-9.eE+-]+\\[0-9.eE+-]+$",
                        "description": "Modality LUT of gray pixels: 'SLOPE\\INTERCEPT', e.g. '1\\-1024'"},
        },
    }


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft-07) of the profile language, for editors."""
    tag = {"type": "string", "pattern": TAG_PATTERN}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://github.com/dicom-rewrite/dicom-rewrite/profile-1.schema.json",
        "title": f"dicom-rewrite site profile (schema version {SCHEMA_VERSION})",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "version": {"description": "schema version", "enum": [SCHEMA_VERSION, int(SCHEMA_VERSION)]},
            "description": {"type": "string"},
            "extends": {
                "description": "parent profile(s), relative to this file; the child wins per tag",
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            },
            "identity": {"description": "the template's patient/study identity",
                         "enum": [m.value for m in Identity], "default": Identity.STRIP.value},
            "uids": _uids(),
            **{key: kind.schema(tag) for key, kind in RULE_KINDS.items()},
            "pixel": _pixel(),
        },
        "definitions": {
            "assignments": {
                "type": "object",
                "properties": _tag_properties(),
                "propertyNames": tag,
                "additionalProperties": {"$ref": "#/definitions/value"},
            },
            "scalar": {"type": ["string", "number", "integer"]},
            "value": {"anyOf": [
                {"$ref": "#/definitions/scalar"},
                {"type": "array", "items": {"$ref": "#/definitions/scalar"}, "minItems": 1},
                {"type": "object", "required": ["vr", "value"], "additionalProperties": False,
                 "properties": {"vr": {"type": "string"}, "value": {}}},
            ]},
        },
    }
