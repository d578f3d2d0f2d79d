"""Candidate sources and receptors in the site file."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from daemon.sites.generate_demo_site import build
from rules.site import ReceptorType, Site


def test_demo_site_lists_sources_and_receptors() -> None:
    """The demo park has plant units with their gases and populated places of every type."""
    site = Site.model_validate(build())
    assert {"cl2-liquefaction", "hf-storage", "nh3-sphere"} <= {s.id for s in site.sources}
    assert "Cl2" in next(s for s in site.sources if s.id == "cl2-liquefaction").substances
    assert {r.type for r in site.receptors} == set(ReceptorType)
    assert all(r.population > 0 for r in site.receptors)


@pytest.mark.parametrize("section", ["sources", "receptors"])
def test_ids_must_be_unique(section: str) -> None:
    """Two sources (or receptors) with one id are rejected."""
    data: dict[str, Any] = build()
    data[section] = [data[section][0], data[section][0]]
    with pytest.raises(ValidationError, match=f"{section[:-1]} ids must be unique"):
        Site.model_validate(data)


def test_receptor_needs_an_outline_and_a_known_type() -> None:
    """A receptor with two vertices or an unknown type is an error, not a silent default."""
    data: dict[str, Any] = build()
    broken = dict(data["receptors"][0], polygon=data["receptors"][0]["polygon"][:2])
    with pytest.raises(ValidationError):
        Site.model_validate({**data, "receptors": [broken]})
    with pytest.raises(ValidationError):
        Site.model_validate({**data, "receptors": [dict(data["receptors"][0], type="stadium")]})
