"""The user's own parts in compare/tune/CLI: objects, factories, module:attribute, prior specs."""

from __future__ import annotations

import json
import sys
import textwrap

import h5py
import pytest
import torch

from reddiff_imaging import cli
from reddiff_imaging import operators as ops
from reddiff_imaging.priors import TV, Channelwise, DeepinvDenoiser, GrayFromColour, SelfEnsemble
from reddiff_imaging.solvers import ADMM, PnPPGD
from reddiff_imaging.workbench import compare
from reddiff_imaging.workbench.parts import (
    build_prior,
    build_solver,
    fingerprint,
    parts,
    resolve_reference,
)

deepinv = pytest.importorskip("deepinv")
SMALL_DRUNET = {"nc": (8, 8, 8, 8), "nb": 1}
QUERY = "?channels=1&nc=(8,8,8,8)&nb=1"


def _blur(shape):
    return ops.Blur(ops.gaussian_kernel(1.5), shape)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module ``my_parts`` on sys.path with an operator factory, a prior and a solver."""
    (tmp_path / "my_parts.py").write_text(textwrap.dedent("""
        from reddiff_imaging import operators as ops
        from reddiff_imaging.priors import TV
        from reddiff_imaging.solvers import ADMM

        def blur(shape):
            return ops.Blur(ops.gaussian_kernel(1.5), shape)

        tv = TV(weight=0.5)
        fast_admm = ADMM(steps=4, lam=0.02)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_parts"
    sys.modules.pop("my_parts", None)


@pytest.fixture
def drunet_weights(tmp_path):
    """A locally created DRUNet state dict (small architecture, random weights)."""
    torch.manual_seed(0)
    network = deepinv.models.DRUNet(in_channels=1, out_channels=1, pretrained=None, **SMALL_DRUNET)
    path = tmp_path / "drunet.pth"
    torch.save(network.state_dict(), path)
    return path, network


def _run_config(path):
    with h5py.File(path, "r") as f:
        return json.loads(f["comparison"].attrs["config"])


def test_compare_takes_an_operator_a_prior_object_a_deepinv_denoiser_and_a_solver(tmp_path, drunet_weights) -> None:
    _, network = drunet_weights
    out = tmp_path / "r.h5"
    table = compare(
        {"my-blur": _blur((1, 32, 32)), "box": "inpainting-box"},
        {"admm": ADMM(steps=3), "pnp": PnPPGD(steps=3)},
        {"tv-half": TV(weight=0.5), "drunet": network},
        num_images=1, size=32, output=out, progress=False, device="cpu",
    )
    methods = {(r.task, r.method) for r in table.rows}
    assert methods == {(t, f"{s}[{p}]") for t in ("my-blur", "box") for s in ("admm", "pnp") for p in ("tv-half", "drunet")}
    recorded = _run_config(out)["parts"]
    assert recorded["prior tv-half"]["sha256"] == fingerprint(TV(weight=0.5))
    assert recorded["prior drunet"]["sha256"] == fingerprint(DeepinvDenoiser(network))
    assert recorded["task my-blur"]["sha256"] == fingerprint(_blur((1, 32, 32)))
    assert "task box" not in recorded  # registry names need no record
    assert json.loads(recorded["solver admm"]["config"])["steps"] == 3
    # a rerun with another prior under the same label is refused, not mixed into the results
    with pytest.raises(ValueError, match="another configuration"):
        compare({"my-blur": _blur((1, 32, 32))}, {"admm": ADMM(steps=3), "pnp": PnPPGD(steps=3)},
                {"tv-half": TV(weight=0.6), "drunet": network}, num_images=1, size=32, output=out, progress=False, device="cpu")


def test_labels_of_objects_and_their_clashes() -> None:
    labelled = parts([TV(weight=0.5), "tv", _blur], "prior")
    assert [p.label for p in labelled] == [f"TV-{fingerprint(TV(weight=0.5))[:8]}", "tv", "_blur"]
    assert labelled[1].named and not labelled[0].named
    with pytest.raises(ValueError, match=r"priors \['tv'\] appear more than once; pass a mapping"):
        parts(["tv", "tv"], "prior")


def test_fingerprint_follows_the_weights() -> None:
    a, b = TV(weight=0.5), TV(weight=0.5)
    assert fingerprint(a) == fingerprint(b) != fingerprint(TV(weight=0.7))
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3)
    before = fingerprint(net)
    with torch.no_grad():
        net.weight[0, 0, 0, 0] += 1e-6
    assert fingerprint(net) != before


def test_module_attribute_references_and_their_errors(user_module) -> None:
    assert resolve_reference("my_parts:tv").weight == 0.5
    assert resolve_reference("reddiff_imaging.operators:registry.available")() == ops.registry.available()
    with pytest.raises(ValueError, match="prior 'no_such_module:x': cannot import module 'no_such_module'"):
        build_prior("no_such_module:x")
    with pytest.raises(ValueError, match="prior 'my_parts:nothing': 'my_parts' has no attribute 'nothing'"):
        build_prior("my_parts:nothing")
    with pytest.raises(TypeError, match="a prior must be .* got ADMM"):
        build_prior("my_parts:fast_admm")


def test_prior_specs_with_paths_and_options(drunet_weights, tmp_path) -> None:
    path, network = drunet_weights
    prior = build_prior(f"drunet:{path}{QUERY}&sigma=0.1")
    assert isinstance(prior, DeepinvDenoiser) and prior.sigma == 0.1
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(prior.denoise(x, 0.1), network(x, torch.tensor([0.1])))
    with pytest.raises(FileNotFoundError, match="prior 'drunet:/nowhere.pth': no file at '/nowhere.pth'"):
        build_prior("drunet:/nowhere.pth")
    with pytest.raises(ValueError, match="option 'depth=3' must be one of channels=VALUE, nc=VALUE"):
        build_prior(f"drunet:{path}?depth=3")
    with pytest.raises(ValueError, match="the weights do not fit DRUNet") as caught:
        build_prior(f"drunet:{path}?channels=3&nc=(8,8,8,8)&nb=1")
    assert "\n" not in str(caught.value)  # one line, as the command line shows it
    # deepinv's own reading failed with a bare EOFError / KeyError (an 'unexpected error' on the command line)
    (tmp_path / "empty.pth").touch()
    (tmp_path / "text.pth").write_text("hello")
    torch.save([1, 2], tmp_path / "list.pth")
    for name, message in (("empty.pth", r"is empty \(0 bytes\); expected a DRUNet state dict"),
                          ("text.pth", r"is not a file written by torch.save, .*; expected a DRUNet state dict"),
                          ("list.pth", "holds a list, expected a DRUNet state dict")):
        with pytest.raises(ValueError, match=message):
            build_prior(f"drunet:{tmp_path / name}")
    with pytest.raises(ValueError, match="unknown prior kind 'drunett'"):
        build_prior(f"drunett:{path}")


def test_prior_adapters_take_a_module_attribute_reference(user_module) -> None:
    prior = build_prior("channelwise:my_parts:tv")
    assert isinstance(prior, Channelwise) and isinstance(prior.prior, TV) and prior.prior.weight == 0.5


def test_prior_adapters_nest_and_their_errors_name_the_spec() -> None:
    prior = build_prior("ensemble:gray:natural")
    assert isinstance(prior, SelfEnsemble) and isinstance(prior.model, GrayFromColour) and prior.channels == 1
    with pytest.raises(ValueError, match="prior 'ensemble:tv': model must be a DiffusionModel, got TV"):
        build_prior("ensemble:tv")
    with pytest.raises(ValueError, match="prior 'gray:default': colour must be a 3-channel prior, got a 1-channel one"):
        build_prior("gray:default")
    with pytest.raises(ValueError, match="unknown prior 'nosuch' in 'ensemble:gray:nosuch'; available: default"):
        build_prior("ensemble:gray:nosuch")
    with pytest.raises(ValueError, match="unknown prior kind 'drunett' in 'gray:drunett:x/y.pt'"):
        build_prior("gray:drunett:x/y.pt")


def test_unused_and_unknown_overrides_are_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"option\(s\) admm\.lam set for a solver that is not in this run; the run's solvers are reddiff"):
        compare(["inpainting-box"], ["reddiff"], overrides=["admm.lam=0.1"], output=tmp_path / "r.h5", progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lamb'\] for solver ADMM"):
        build_solver(ADMM(), {"lamb": 1})
    assert build_solver(ADMM(lam=0.3), {}, steps=7) == ADMM(lam=0.3, steps=7)
    assert build_solver(ADMM(lam=0.3), {"steps": 2}, steps=7).steps == 2


def test_cli_compare_with_references_and_a_drunet_path(tmp_path, user_module, drunet_weights, capsys) -> None:
    path, _ = drunet_weights
    out = tmp_path / "cli.h5"
    argv = [
        "compare", "--tasks", "my_parts:blur", "--solvers", "my_parts:fast_admm", "pnp-pgd",
        "--priors", "my_parts:tv", f"drunet:{path}{QUERY}", "--set", "pnp-pgd.steps=2",
        "--num-images", "1", "--size", "32", "--device", "cpu", "--output", str(out),
    ]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "| my_parts:blur | my_parts:fast_admm[my_parts:tv] | 1 |" in text
    assert f"| my_parts:blur | pnp-pgd[drunet:{str(path).replace('/', '|')}{QUERY}] | 1 |" in text
    parts_record = _run_config(out)["parts"]
    assert parts_record["prior my_parts:tv"]["spec"] == "my_parts:tv"
    assert cli.main([*argv[:-2], "--output", str(tmp_path / "x.h5"), "--set", "reddiff.lam=1"]) == 2
    assert "reddiff.lam set for a solver that is not in this run; the run's solvers are" in capsys.readouterr().err


def test_cli_tune_with_a_grid_and_references(user_module, capsys) -> None:
    argv = ["tune", "my_parts:fast_admm", "--task", "my_parts:blur", "--prior", "my_parts:tv", "--grid", "lam=0.01,0.1",
            "rho=1.0", "--images", "1", "--device", "cpu"]
    assert cli.main(argv) == 0  # the edge note is printed once, with the table
    out = capsys.readouterr().out
    assert out.count("| 0.01 | 1.0 |") == 1 and out.count("| 0.1 | 1.0 |") == 1
    assert "note: the best lam" in out
    assert cli.main([*argv[:7], "lam", "--images", "1"]) == 2
    assert "--grid 'lam' must look like option=v1,v2,..." in capsys.readouterr().err


def test_restore_takes_objects_and_refuses_options_of_other_solvers(tmp_path, user_module, capsys) -> None:
    from PIL import Image

    from reddiff_imaging.data.synthetic import heldout_images
    from reddiff_imaging.workbench import restore_image

    image = tmp_path / "in.png"
    Image.fromarray((heldout_images(1, 32)[0, 0].numpy() * 255).astype("uint8")).save(image)
    report = restore_image(image, tmp_path / "out.png", task=_blur, solver=ADMM(steps=3), prior=TV(weight=0.5), device="cpu")
    assert report["config"]["steps"] == 3 and (tmp_path / "out.png").is_file()
    argv = ["restore", str(image), "--task", "my_parts:blur", "--solver", "admm", "--prior", "my_parts:tv", "--steps", "2",
            "--output", str(tmp_path / "cli.png"), "--device", "cpu"]
    assert cli.main([*argv, "--set", "reddiff.lam=0.1"]) == 2
    assert "reddiff.lam set for a solver that is not in this run; the run's solvers are admm" in capsys.readouterr().err
    assert cli.main([*argv, "--set", "admm.lam=0.05"]) == 0


def test_toml_config_takes_references(tmp_path, user_module, capsys) -> None:
    config = tmp_path / "mine.toml"
    config.write_text(
        'tasks = ["my_parts:blur"]\nsolvers = ["my_parts:fast_admm"]\npriors = ["my_parts:tv"]\nnum_images = 1\nsize = 32\n'
        f'device = "cpu"\noutput = "{tmp_path / "toml.h5"}"\n\n[overrides.admm]\nsteps = 2\n'
    )
    assert cli.main(["compare", "--config", str(config)]) == 0
    assert "| my_parts:blur | my_parts:fast_admm[my_parts:tv] | 1 |" in capsys.readouterr().out
    assert json.loads(_run_config(tmp_path / "toml.h5")["parts"]["solver my_parts:fast_admm"]["config"])["steps"] == 2


def test_a_task_that_does_not_fit_the_images_names_the_task_and_their_size() -> None:
    from reddiff_imaging.workbench.specs import build_task

    with pytest.raises(ValueError, match=r"task 'sr4-block' cannot run on 30×30 images: factor 4 must divide the image size \(30, 30\); crop"):
        build_task("sr4-block", (1, 30, 30), 0.01)
