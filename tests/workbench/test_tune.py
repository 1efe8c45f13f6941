"""Hyperparameter sweeps: the best configuration, random search, TOML output, validation images."""

from __future__ import annotations

import dataclasses
import re
import sys
import tomllib
from pathlib import Path

import pytest
import torch

from reddiff_imaging import metrics, solvers
from reddiff_imaging.data.synthetic import validation_images
from reddiff_imaging.priors import DiffusionPrior
from reddiff_imaging.problem import InverseProblem
from reddiff_imaging.workbench.specs import build_task, unit_seed
from reddiff_imaging.workbench.tune import GridEdgeWarning, TuneResult, tune

FAST = {"solver": "pnp-pgd", "prior": "gaussian", "task": "denoising", "steps": 2, "size": 32, "device": "cpu", "progress": False}
GRID8 = {"sigma": [0.01, 0.02, 0.05, 0.1], "fista": [True, False]}


def test_grid_search_picks_the_best_configuration(tmp_path: Path) -> None:
    task, grid = "inpainting-box", {"lr": [0.05, 0.5]}
    result = tune(
        "reddiff", task=task, grid=grid, steps=3, num_images=2, device="cpu", seed=3, output=tmp_path / "best.toml", progress=False
    )
    assert [t.options for t in result.trials] == [{"lr": 0.05}, {"lr": 0.5}]
    # run the configurations directly on the validation images, with the documented seeds
    images = validation_images(2, 64)
    operator, noise = build_task(task, (1, 64, 64), 0.01)
    prior = DiffusionPrior.default()
    direct = []
    for options in result.trials:
        psnrs = []
        for i in range(2):
            truth = images[i : i + 1]
            g = torch.Generator().manual_seed(unit_seed(3, task, "measurement", i))
            problem = InverseProblem(operator, noise.sample(operator(truth), g), noise, truth)
            solver = solvers.get("reddiff", steps=3, **options.options)
            x = solver.solve(problem, prior, torch.Generator().manual_seed(unit_seed(3, task, "reddiff[default]", i))).x
            psnrs.append(float(metrics.psnr(x.clamp(0, 1), truth)))
        direct.append(sum(psnrs) / 2)
    assert result.scores == pytest.approx(direct, abs=1e-4)
    best = max(range(2), key=lambda k: direct[k])
    assert result.best == result.trials[best].options
    assert result.best_score == pytest.approx(direct[best], abs=1e-4)
    assert result.output == tmp_path / "best.toml"
    assert tomllib.loads(result.output.read_text()) == {"overrides": {"reddiff": result.best}}
    assert [row["rank"] for row in result.table] == ([1, 2] if best == 0 else [2, 1])
    assert "PSNR" in result.to_markdown()


def test_toml_round_trips_simple_values() -> None:
    best = {"lam": 0.1, "tiny": 1e-5, "steps": 3, "weighting": 'qu"o\\te\n', "clip": True, "fista": False}
    result = TuneResult("pnp-admm", "tv", "ct", "psnr", best, 20.0, [], settings={"num_images": 2})
    assert tomllib.loads(result.to_toml()) == {"overrides": {"pnp-admm": best}}


def test_random_search_respects_num_trials_and_seed() -> None:
    first = tune(**FAST, grid=GRID8, search="random", num_trials=3, seed=1, num_images=1)
    again = tune(**FAST, grid=GRID8, search="random", num_trials=3, seed=1, num_images=1)
    configs = [t.options for t in first.trials]
    assert len(configs) == 3 and len({tuple(c.items()) for c in configs}) == 3
    assert all(c["sigma"] in GRID8["sigma"] and c["fista"] in GRID8["fista"] for c in configs)
    assert configs == [t.options for t in again.trials]
    assert first.scores == again.scores
    others = [[t.options for t in tune(**FAST, grid=GRID8, search="random", num_trials=3, seed=s, num_images=1).trials] for s in (2, 3)]
    assert any(o != configs for o in others)
    everything = tune(**FAST, grid={"sigma": [0.02, 0.05]}, search="random", num_trials=10, num_images=1)
    assert sorted(t.options["sigma"] for t in everything.trials) == [0.02, 0.05]


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match=r"'lamda'.*\['steps', 'lr', 'lam'"):
        tune("reddiff", task="inpainting-box", grid={"lamda": [0.1]}, progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        tune("reddiff", task="inpainting-box", grid={"lam": []}, progress=False)
    with pytest.raises(ValueError, match="unknown solver"):
        tune("nosuch", task="inpainting-box", progress=False)
    with pytest.raises(ValueError, match="metric"):
        tune(**FAST, metric="lpips")
    with pytest.raises(ValueError, match="num_trials"):
        tune(**FAST, search="random")
    with pytest.raises(ValueError, match="num_trials"):
        tune(**FAST, num_trials=2)
    with pytest.raises(ValueError, match="unknown task"):
        tune(**{**FAST, "task": "nosuch"})
    with pytest.raises(ValueError, match="TOML"):
        tune(**FAST, grid={"init": [torch.zeros(1)]}, output="never-written.toml")


def test_default_grids_name_real_options() -> None:
    for solver in solvers.available():
        cls = solvers.registry.solver_class(solver)
        assert set(cls.tuning_grid) <= {f.name for f in dataclasses.fields(cls)}, solver
        assert all(isinstance(values, tuple) and values for values in cls.tuning_grid.values()), solver
    assert not solvers.DDIM.tuning_grid  # unconditional: nothing to tune


def test_default_grids_table_of_the_docs_is_the_solvers_grids() -> None:
    docs = Path(__file__).parents[2] / "docs" / "workbench.rst"
    table = docs.read_text(encoding="utf-8").split("solver      grid\n", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^([a-z-]+) +(``.*)$", table, flags=re.M)
    documented = {
        solver: {name: tuple(float(v) for v in values.split(", ")) for name, values in re.findall(r"``(\w+)`` ∈ \{([^}]*)\}", grid)}
        for solver, grid in rows
    }
    declared = {name: dict(cls.tuning_grid) for name in solvers.available() if (cls := solvers.registry.solver_class(name)).tuning_grid}
    assert documented == declared


def test_a_user_solver_brings_its_own_default_grid() -> None:
    @dataclasses.dataclass
    class Gentle(solvers.PnPPGD):
        tuning_grid = {"sigma": (0.05,)}

    result = tune(**{**FAST, "solver": Gentle}, num_images=1)
    assert result.best == {"sigma": 0.05}


def test_tuning_on_heldout_warns() -> None:
    with pytest.warns(UserWarning, match="held-out"):
        result = tune(**FAST, grid={"sigma": [0.05]}, dataset="heldout", num_images=1)
    assert result.best == {"sigma": 0.05}


def test_best_value_at_the_edge_of_the_grid_is_reported() -> None:
    from reddiff_imaging.workbench.tune import _at_edge

    grid = {"lam": [0.1, 0.3, 1.0], "rho": [3.0, 1.0], "init": ["pinv", "zeros"], "fista": [True, False]}
    assert _at_edge(grid, {"lam": 0.3, "rho": 1.0, "init": "zeros", "fista": True}) == {"rho": "smallest"}
    assert _at_edge(grid, {"lam": 1.0, "rho": 3.0, "init": "pinv", "fista": False}) == {"lam": "largest", "rho": "largest"}
    with pytest.warns(UserWarning, match=r"the best sigma = .* is the (smallest|largest) value of its grid"):
        result = tune(**FAST, grid={"sigma": [0.02, 0.05]}, num_images=1)
    assert set(result.at_edge) == {"sigma"}
    assert result.at_edge["sigma"] == ("smallest" if result.best["sigma"] == 0.02 else "largest")
    assert "note: the best sigma" in result.to_markdown()


def test_tune_takes_user_objects() -> None:
    from reddiff_imaging import operators as ops
    from reddiff_imaging.priors import GaussianFilterDenoiser
    from reddiff_imaging.solvers import PnPPGD

    base = PnPPGD(steps=2, step_scale=0.5)
    result = tune(
        {"my-pgd": base},
        prior={"my-gauss": GaussianFilterDenoiser()},
        task={"my-blur": lambda shape: ops.Blur(ops.gaussian_kernel(1.0), shape)},
        grid={"sigma": [0.02, 0.05]}, num_images=1, size=32, device="cpu", progress=False,
    )
    assert (result.solver, result.prior, result.task) == ("my-pgd", "my-gauss", "my-blur")
    # every configuration keeps the object's settings and changes only the grid's option
    images = validation_images(1, 32)
    operator = ops.Blur(ops.gaussian_kernel(1.0), (1, 32, 32))
    noise = build_task("denoising", (1, 32, 32), 0.01)[1]
    truth = images[:1]
    y = noise.sample(operator(truth), torch.Generator().manual_seed(unit_seed(0, "my-blur", "measurement", 0)))
    solver = dataclasses.replace(base, sigma=result.trials[0].options["sigma"])
    x = solver.solve(InverseProblem(operator, y, noise, truth), GaussianFilterDenoiser(), torch.Generator().manual_seed(unit_seed(0, "my-blur", "my-pgd[my-gauss]", 0))).x
    assert result.trials[0].psnr[0] == pytest.approx(float(metrics.psnr(x.clamp(0, 1), truth)), abs=1e-4)


def test_tunes_of_several_solvers_share_one_file_and_other_files_are_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "tuned.toml"
    pgd = tune(**FAST, grid={"sigma": [0.02, 0.05]}, output=out)
    red = tune(**{**FAST, "solver": "red"}, grid={"lam": [0.05, 0.1]}, output=out)
    assert tomllib.loads(out.read_text()) == {"overrides": {"pnp-pgd": pgd.best, "red": red.best}}
    again = tune(**FAST, grid={"sigma": [0.1, 0.2]}, output=out)  # the same solver's table is replaced
    assert tomllib.loads(out.read_text()) == {"overrides": {"red": red.best, "pnp-pgd": again.best}}
    assert out.read_text().count("# reddiff-imaging tune: ") == 2
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes().replace(b"\n", b"\r\n"))  # as a Windows editor saves it
    tune(**{**FAST, "solver": "red"}, grid={"lam": [0.05, 0.1]}, output=out)
    assert tomllib.loads(out.read_text()) == {"overrides": {"pnp-pgd": again.best, "red": red.best}}

    config = tmp_path / "compare.toml"
    config.write_text("tasks = ['denoising']\nsolvers = ['pnp-pgd']\n\n[overrides.pnp-pgd]\nsigma = 0.05\n")
    with pytest.raises(ValueError, match=r"compare.toml' exists and holds solvers, tasks besides \[overrides\] tables"):
        tune(**FAST, output=config)
    edited = tmp_path / "edited.toml"
    edited.write_text("# my own settings\n[overrides.pnp-pgd]\nsigma = 0.05\n")
    with pytest.raises(ValueError, match="edited.toml' exists and was not written by tune"):
        tune(**FAST, output=edited)
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff binary")
    with pytest.raises(ValueError, match=r"photo.png' ends in '.png', but a TOML configuration is written there"):
        tune(**FAST, output=image)
    garbled = tmp_path / "garbled.toml"
    garbled.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff binary")
    with pytest.raises(ValueError, match="garbled.toml' exists and is not a TOML file; tune would replace it"):
        tune(**FAST, output=garbled)
    assert garbled.read_bytes().startswith(b"\x89PNG")
    assert config.read_text().startswith("tasks = ") and edited.read_text().startswith("# my own")
    assert image.read_bytes().startswith(b"\x89PNG")


def test_a_table_written_meanwhile_is_kept_and_a_failed_write_leaves_the_file_whole(tmp_path: Path, monkeypatch) -> None:
    import importlib

    import reddiff_imaging._validation as validation

    tune_module = importlib.import_module("reddiff_imaging.workbench.tune")  # the package exports the function tune
    out = tmp_path / "tuned.toml"
    red = tune(**{**FAST, "solver": "red"}, grid={"lam": [0.05, 0.1]}, output=out)
    run_trial = tune_module._run_trial
    written: list[str] = []

    def meanwhile(*args, **kwargs):  # another tune writes its table while this one runs
        if not written:
            written.append(out.read_text())
            tune(**{**FAST, "solver": "pnp-admm"}, grid={"sigma": [0.05]}, output=out)
        return run_trial(*args, **kwargs)

    monkeypatch.setattr(tune_module, "_run_trial", meanwhile)
    pgd = tune(**FAST, grid={"sigma": [0.02, 0.05]}, output=out)
    assert set(tomllib.loads(out.read_text())["overrides"]) == {"red", "pnp-admm", "pnp-pgd"}
    assert tomllib.loads(out.read_text())["overrides"]["pnp-pgd"] == pgd.best
    monkeypatch.setattr(tune_module, "_run_trial", run_trial)

    before = out.read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C just before the new file takes the old one's place

    monkeypatch.setattr(validation.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tune(**{**FAST, "solver": "red"}, grid={"lam": [0.2]}, output=out)
    monkeypatch.undo()
    assert out.read_text() == before and red.best == tomllib.loads(before)["overrides"]["red"]
    assert [p.name for p in tmp_path.iterdir()] == ["tuned.toml"]  # no temporary file left behind


def test_a_grid_value_that_does_not_fit_the_prior_is_refused_before_any_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_trial(*args: object) -> None:
        raise AssertionError("a trial ran before the grid was checked against the prior")

    monkeypatch.setattr(sys.modules["reddiff_imaging.workbench.tune"], "_run_trial", no_trial)  # the package's tune is the function
    with pytest.raises(ValueError, match="steps must be from 1 to the prior's 1000 timesteps for ddim, got 1001"):
        tune("ddim", prior="default", task="denoising", grid={"steps": [2, 1001]}, size=16, num_images=1, device="cpu", progress=False)


def test_the_auto_prior_of_a_sweep_suits_its_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import imageio.v3 as iio
    import numpy as np

    (tmp_path / "photos").mkdir()
    for name in ("a.png", "b.png"):
        iio.imwrite(tmp_path / "photos" / name, np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    options = {"task": "denoising", "steps": 2, "num_images": 1, "device": "cpu", "progress": False}
    on_photos = tune("pnp-pgd", grid={"sigma": [0.05]}, dataset=str(tmp_path / "photos"), **options)
    assert on_photos.prior == "natural"
    assert "note: prior 'auto' is 'natural': the natural-image prior for 3-channel images" in capsys.readouterr().out
    assert tune("pnp-pgd", grid={"sigma": [0.05]}, size=16, **options).prior == "default"  # the bundled phantom images
    assert tune("pnp-pgd", grid={"sigma": [0.05]}, dataset=str(tmp_path / "photos"), channels=1, **options).prior == "gray:natural"


def test_the_command_line_prints_a_grid_edge_once(capsys: pytest.CaptureFixture[str]) -> None:
    """The note came twice: as a Python warning with a line of cli.py, and at the end of the table."""
    import warnings

    from reddiff_imaging.cli import main

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["tune", "pnp-pgd", "--prior", "gaussian", "--task", "denoising", "--steps", "2", "--size", "16",
                     "--images", "1", "--grid", "sigma=0.02,0.05"]) == 0
    assert not [w for w in caught if issubclass(w.category, GridEdgeWarning)]
    assert "value of its grid; the optimum may lie" in capsys.readouterr().out  # the table's note
    with pytest.warns(GridEdgeWarning, match="value of its grid"):  # the API still warns
        tune(**FAST, grid={"sigma": [0.02, 0.05]}, num_images=1)
