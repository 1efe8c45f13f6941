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


@pytest.mark.parametrize("name", [3, None, True, ["tv"]])
def test_a_prior_name_that_is_not_a_string_is_a_type_error_listing_the_names(name: object) -> None:
    # before: a list failed inside the dict lookup ('unhashable type'), 3 read 'unknown prior 3'
    with pytest.raises(TypeError, match=r"name must be a prior name \(a str\), one of default, .*; got"):
        registry.get(name)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name must be a prior name"):
        registry.describe(name)  # type: ignore[arg-type]


def test_register_checks_name_description_and_what_the_factory_returns(monkeypatch) -> None:
    monkeypatch.setattr(registry, "_PRIORS", dict(registry._PRIORS))
    # before: a description of 3 or None was stored (describe then returned it), '' and names of
    # whitespace (' ', 'a\nb') were taken, and a name of 3 was a ValueError
    with pytest.raises(TypeError, match="description must be a one-line string, got 3"):
        registry.register("mine", TV, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="description must be a one-line string, got None"):
        registry.register("mine", TV, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="description must be a non-empty one-line string"):
        registry.register("mine", TV, " ")
    for name in (" ", "a\nb", "my tv"):
        with pytest.raises(ValueError, match="without whitespace"):
            registry.register(name, TV, "TV")
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        registry.register(3, TV, "TV")  # type: ignore[arg-type]
    assert "mine" not in registry.available()
    # before: get returned None, and the workbench failed later with "'NoneType' object has no attribute 'to'"
    registry.register("nothing", lambda: None, "a factory that forgets to return its prior")
    with pytest.raises(TypeError, match="the factory registered as prior 'nothing' .* returned NoneType, not a reddiff_imaging.priors.Prior"):
        registry.get("nothing")
