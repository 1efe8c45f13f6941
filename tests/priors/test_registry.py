"""The prior registry: names, descriptions, options, and registering a prior of one's own."""

from __future__ import annotations

import re

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


def test_prior_spec_options_are_checked_before_the_network_is_built(tmp_path) -> None:
    import torch
    from deepinv.models import DRUNet

    from reddiff_imaging.workbench.parts import build_prior

    path = tmp_path / "drunet.pth"
    torch.save(DRUNet(in_channels=1, out_channels=1, nc=(8, 8, 8, 8), nb=1, pretrained=None).state_dict(), path)
    spec = f"drunet:{path}?nc=(8,8,8,8)&nb=1"
    assert build_prior(f"{spec}&compile=false").sigma == 0.05
    cases = [
        (f"{spec}&compile=yes", TypeError, r"option compile must be True or False, got 'yes'"),
        (f"{spec}&compile=1", TypeError, r"option compile must be True or False, got 1"),
        (f"{spec}&sigma=0.1&sigma=0.2", ValueError, r"option sigma is given twice; give it once"),
        (f"{spec}&channels=True", TypeError, r"option channels must be an int, got True \(bool\)"),
        (f"{spec}&sigma=-1", ValueError, r"option sigma must be a finite number > 0, got -1"),
        (f"drunet:{path}?nc=(8,8)", TypeError, r"option nc must be 4 channel counts such as \(64,128,256,512\), got \(8, 8\)"),
        (f"drunet:{path}?nc=(8,8,8,0)", ValueError, r"option nc\[3\] must be an int >= 1"),
        (f"drunet:{path}?nb=100000", ValueError, r"option nb must be an int >= 1 and <= 256, got 100000"),
        (f"drunet:{path}?nc=(99999,99999,99999,99999)", ValueError, r"asks for a DRUNet of [\d,]+ parameters; the limit is 1,000,000,000"),
    ]
    for text, kind, message in cases:
        with pytest.raises(kind, match=rf"^prior {re.escape(repr(text))}: {message}"):
            build_prior(text)
