"""Names that moved keep a deprecated alias for one release: the prior table (now
:mod:`reddiff_imaging.priors.registry`) and the default tuning grids (now ``Solver.tuning_grid``)."""

from __future__ import annotations

import importlib

import pytest

from reddiff_imaging.priors import registry


@pytest.mark.parametrize("module", ["reddiff_imaging.workbench.parts", "reddiff_imaging.workbench.specs"])
def test_priors_table_is_a_deprecated_alias_of_the_prior_registry(module: str) -> None:
    with pytest.warns(DeprecationWarning, match="priors.registry"):
        table = importlib.import_module(module).PRIORS
    assert list(table) == registry.available()
    description, factory = table["tv-denoiser"]
    assert description == registry.describe("tv-denoiser") and factory().weight == 8.5


def test_default_grids_alias_is_deprecated() -> None:
    module = importlib.import_module("reddiff_imaging.workbench.tune")
    with pytest.warns(DeprecationWarning, match="tuning_grid"):
        grids = module.DEFAULT_GRIDS
    assert grids["reddiff"] == {"lam": [0.05, 0.1, 0.25, 0.5], "lr": [0.1, 0.25, 0.5]} and "ddim" not in grids


def test_unknown_module_attributes_still_raise() -> None:
    for module in ("reddiff_imaging.workbench.parts", "reddiff_imaging.workbench.specs", "reddiff_imaging.workbench.tune"):
        with pytest.raises(AttributeError, match="no attribute 'NOPE'"):
            getattr(importlib.import_module(module), "NOPE")


def test_methods_record_current_option_names() -> None:
    """``--set admm.iterations=50`` runs and is recorded as ``steps``, so that a results file written
    with the old name resumes with the new one."""
    from reddiff_imaging.workbench.specs import methods_for

    with pytest.warns(DeprecationWarning) as caught:
        methods = methods_for(["admm", "pnp-pgd/tv"], ["tv"], {"admm": {"iterations": 50}, "pnp-pgd": {"pinv_rcond": 0.1}})
    assert [m.overrides for m in methods] == [{"rcond": 0.1}, {"steps": 50}]
    assert sorted(str(w.message).split(":")[1].split(";")[0] for w in caught) == [
        " the option 'iterations' is now called 'steps'",
        " the option 'pinv_rcond' is now called 'rcond'",
    ]
