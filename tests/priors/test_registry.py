"""The prior registry: names, descriptions, options, and registering a prior of one's own."""

from __future__ import annotations

import pytest

from reddiff_imaging.priors import TV, DiffusionPrior, registry


def test_every_name_builds_its_prior_with_options() -> None:
    assert registry.available()[:3] == ["default", "natural", "tv"]
    assert all(registry.describe(name) for name in registry.available())
    assert isinstance(registry.get("default"), DiffusionPrior)
    assert registry.get("tv-denoiser").weight == 8.5
    assert registry.get("tv-denoiser", weight=2.0).weight == 2.0


def test_unknown_names_and_options_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown prior 'tvv'; available: default, natural, tv"):
        registry.get("tvv")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['wieght'\] for prior 'tv'; its options are \['weight'"):
        registry.get("tv", wieght=2.0)


def test_register_a_prior_of_ones_own(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_PRIORS", dict(registry._PRIORS))
    registry.register("smooth-tv", lambda weight=3.0: TV(weight=weight), "TV, weight 3")
    assert registry.get("smooth-tv").weight == 3.0 and registry.describe("smooth-tv") == "TV, weight 3"
    with pytest.raises(ValueError, match="without ':' or '/'"):
        registry.register("gray:tv", TV, "not a name")
