"""Presets: the published per-task settings, from the API and the workbench."""

from __future__ import annotations

import pytest

from reddiff_imaging.operators import registry as operator_registry
from reddiff_imaging.solvers import DDRM, DPS, DiffPIR, PiGDM, RedDiff, get, presets
from reddiff_imaging.workbench.specs import Method


def test_paper_presets_hold_the_official_settings() -> None:
    assert get("dps", preset="paper", task="inpainting-random") == DPS(steps=1000, zeta=0.5)
    assert get("dps", preset="paper", task="sr4-block") == DPS(steps=1000, zeta=0.3)
    assert get("dps", preset="paper", task="phase-retrieval") == DPS(steps=1000, zeta=1.0)
    assert get("reddiff", preset="paper", task="inpainting-box") == RedDiff(steps=1000, lam=0.25, lr=0.25)
    assert get("reddiff", preset="paper", task="deblur-gaussian") == RedDiff(steps=1000, lam=0.25, lr=0.5)
    assert get("ddrm", preset="paper", task="sr4-block") == DDRM(steps=20, eta=0.85, eta_b=1.0)
    assert get("pigdm", preset="paper", task="inpainting-box") == PiGDM(steps=1000, eta=1.0, project="always")
    assert get("diffpir", preset="paper", task="deblur-gaussian") == DiffPIR(steps=100, lam=7.0, zeta=0.3, schedule="quad")
    assert get("diffpir", preset="paper", task="inpainting-box") == DiffPIR(steps=20, lam=1.0, zeta=1.0)


def test_every_preset_names_real_tasks_and_options() -> None:
    tasks = set(operator_registry.available())
    for solver, table in presets.PRESETS.items():
        for preset, settings in table.items():
            assert set(settings) <= tasks, (solver, preset, set(settings) - tasks)
            for task in settings:
                get(solver, preset=preset, task=task)  # every option is one of the solver's


def test_explicit_options_win_over_the_preset() -> None:
    assert get("dps", preset="paper", task="sr4-block", zeta=0.7, steps=50) == DPS(steps=50, zeta=0.7)
    method = Method("diffpir", "default", {"zeta": 0.5}, preset="paper")
    assert method.build(steps=40, task="inpainting-box") == DiffPIR(steps=40, lam=1.0, zeta=0.5)


def test_bad_presets_are_refused_with_the_valid_names() -> None:
    with pytest.raises(ValueError, match="no published setting for task 'sr4-block'; it has: deblur-gaussian"):
        get("diffpir", preset="paper", task="sr4-block")
    with pytest.raises(ValueError, match=r"preset must be one of \['paper'\], got 'papr'"):
        get("dps", preset="papr", task="sr4-block")
    with pytest.raises(ValueError, match="solver 'admm' has no presets"):
        get("admm", preset="paper", task="sr4-block")
    with pytest.raises(ValueError, match="preset and task go together"):
        get("dps", preset="paper")
    with pytest.raises(ValueError, match="needs the task"):
        Method("dps", "default", preset="paper").build()
