"""Rule templates: a rule written once and rendered for every substance (and every published AEGL duration).

A rule file may hold, beside ``rules:``, a ``per_substance:`` list. Each entry is a rule whose strings use
``${field}`` placeholders (``{sensor}``-style placeholders stay for the engine's messages). An entry with
``for_each: aegl1`` (or ``aegl2``, ``aegl3``) is rendered once per duration for which the substance's AEGL of that
level is published. The rendered rules come first, substance by substance in the order of
``detectors.substances.SUBSTANCES``, then the file's own ``rules:``; every rendered rule is located at its
template's lines, so a validation error points at the template. ``hazwatch rules show`` prints the result.

Fields: ``id`` (formula in lower case), ``formula``, ``name_en``, ``name_zh``, ``idlh``, ``idlh_deadband`` (10 % of
the IDLH), and for ``for_each`` entries ``window`` (``10min`` ... ``8h``, the core's condition suffix),
``window_en`` (``10-min``), ``window_zh`` (``10 分钟``); ``for_each: erpg1`` (``erpg2``, ``erpg3``) renders one rule
where that AIHA ERPG tier is published and the AEGL of the same tier is not (the DOE PAC hierarchy), with ``erpg``
its value.
"""

from __future__ import annotations

import re
from typing import Any

from detectors.substances import AEGL_DURATIONS_MIN, SUBSTANCES, Substance
from rules.yaml_source import ConfigFileError, Loc, YamlDocument

PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
FOR_EACH = {"aegl1": 1, "aegl2": 2, "aegl3": 3, "erpg1": -1, "erpg2": -2, "erpg3": -3}
IDLH_DEADBAND = 0.1  # clears 10 % below the IDLH, so a reading hovering at the level does not chatter


def window_name(minutes: int) -> str:
    """The core's suffix for an averaging window: ``10min`` up to ``60min``, then ``4h``, ``8h``."""
    return f"{minutes}min" if minutes <= 60 else f"{minutes // 60}h"


def substance_fields(substance: Substance) -> dict[str, Any]:
    """The placeholders every per-substance template may use."""
    return {
        "id": substance.formula.lower(),
        "formula": substance.formula,
        "name_en": substance.name_en or substance.formula,
        "name_zh": substance.name_zh or substance.formula,
        "idlh": substance.idlh,
        "idlh_deadband": round(substance.idlh * IDLH_DEADBAND, 6),
    }


def window_fields(minutes: int) -> dict[str, Any]:
    """The placeholders of one averaging window."""
    short = f"{minutes} 分钟" if minutes <= 60 else f"{minutes // 60} 小时"
    return {
        "window": window_name(minutes),
        "window_en": f"{minutes}-min" if minutes <= 60 else f"{minutes // 60}-h",
        "window_zh": short,
    }


def render(value: Any, fields: dict[str, Any]) -> Any:
    """``value`` with every ``${field}`` filled; a string that is one placeholder takes the field's own type."""
    if isinstance(value, dict):
        return {key: render(item, fields) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, fields) for item in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value)
    if whole is not None:
        return fields[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]), value)


def _renderings(template: dict[str, Any], substance: Substance) -> list[dict[str, Any]]:
    body = {key: item for key, item in template.items() if key != "for_each"}
    fields = substance_fields(substance)
    each = template.get("for_each")
    if each is None:
        return [render(body, fields)]
    if each.startswith("erpg"):
        # The US DOE Protective Action Criteria hierarchy (PAC Rev. 29, 2016): an AEGL where one is published, the
        # ERPG only where that AEGL tier is missing. Judging both would page on the lower of two guidelines for the
        # same effect (H2S: ERPG-1 0.1 ppm, an odour level, far under its AEGL-1 of 0.51 ppm for 1 h).
        tier = -FOR_EACH[each]
        value = substance.erpg[tier - 1]
        return [] if value is None or substance.aegl(tier) is not None else [render(body, fields | {"erpg": value})]
    levels = substance.aegl(FOR_EACH[each])
    if levels is None:  # not published for this substance (e.g. phosgene AEGL-1: "not recommended")
        return []
    return [render(body, fields | window_fields(m)) for m, v in zip(AEGL_DURATIONS_MIN, levels, strict=True) if v]


def expand_templates(doc: YamlDocument) -> YamlDocument:
    """The document with ``per_substance`` rendered into ``rules``; raise ``ConfigFileError`` naming the template."""
    data = doc.data
    if not isinstance(data, dict) or "per_substance" not in data:
        return doc
    templates = data["per_substance"]
    if not isinstance(templates, list):
        raise ConfigFileError([doc.issue(("per_substance",), "must be a list of rule templates")])
    own = data.get("rules") or []
    rendered: list[Any] = []
    lines = {loc: line for loc, line in doc.lines.items() if loc[:1] != ("rules",) or len(loc) < 2}
    origin: list[int] = []
    for substance in SUBSTANCES.values():
        for j, template in enumerate(templates):
            if not isinstance(template, dict):
                raise ConfigFileError([doc.issue(("per_substance", j), "a rule template must be a mapping")])
            if template.get("for_each", None) not in (None, *FOR_EACH):
                raise ConfigFileError(
                    [doc.issue(("per_substance", j, "for_each"), f"for_each must be one of {', '.join(FOR_EACH)}")]
                )
            try:
                rules = _renderings(template, substance)
            except KeyError as exc:
                raise ConfigFileError(
                    [doc.issue(("per_substance", j), f"unknown placeholder ${{{exc.args[0]}}}")]
                ) from None
            rendered += rules
            origin += [j] * len(rules)
    # Locate rendered rule k at its template's lines, and the file's own rules after the rendered ones.
    for loc, line in doc.lines.items():
        if loc[:1] == ("per_substance",) and len(loc) >= 2:
            for k, j in enumerate(origin):
                if loc[1] == j:
                    lines[("rules", k, *loc[2:])] = line
        elif loc[:1] == ("rules",) and len(loc) >= 2 and isinstance(loc[1], int):
            shifted: Loc = ("rules", loc[1] + len(rendered), *loc[2:])
            lines[shifted] = line
    lines.setdefault(("rules",), doc.lines.get(("per_substance",), 1))
    expanded = {key: item for key, item in data.items() if key != "per_substance"}
    expanded["rules"] = rendered + list(own)
    return YamlDocument(doc.file, expanded, lines)
