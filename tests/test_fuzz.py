"""Property-based bad-input tests: generated shapes, dtypes, devices and values for every operator
of the registry, every solver and prior constructor, the validation vocabulary, ``compare`` and
every numeric option of the command lines. Each bad input must raise one of our error types
(TypeError, ValueError...) whose message names the argument or option as the user wrote it;
each good input generated alongside must be accepted.

Hypothesis draws the cases (a fixed seed per test via ``derandomize``, so failures reproduce).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import time
import typing

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reddiff_imaging import _cli_types, cli, operators, solvers
from reddiff_imaging._validation import (
    MAX_IMAGE_SIDE,
    as_shape,
    check_device,
    check_int,
    check_real,
    check_tensor,
)
from reddiff_imaging.models.training import build_parser as train_parser
from reddiff_imaging.priors import (
    TV,
    GaussianFilterDenoiser,
    MedianDenoiser,
    WaveletDenoiser,
)

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
ERRORS = (TypeError, ValueError)

# -- value strategies ------------------------------------------------------------------------------
#: floats without subnormals: a library loaded earlier in the suite may set flush-to-zero (as
#: -ffast-math builds do), and Hypothesis then refuses to draw subnormal floats
floats = functools.partial(st.floats, allow_subnormal=False)
not_finite = st.sampled_from([math.nan, math.inf, -math.inf])
numeric_text = st.one_of(st.integers(-5, 50).map(str), floats(-5, 50, allow_nan=False).map(str))
wrong_kind = st.one_of(st.booleans(), numeric_text, st.none(), st.just([1]), st.just(object()))
#: never an int: bools, floats (even integral ones), numeric strings, None, containers
not_int = st.one_of(wrong_kind, floats(allow_nan=True), st.integers(1, 9).map(float))
#: never a finite real number
not_real = st.one_of(wrong_kind, not_finite)
bad_dtypes = st.sampled_from([torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.uint8, torch.bool])
bad_devices = st.sampled_from(["meta", "foo", "cuda:99", "gpu", "cpu:x", ""] + ([] if torch.cuda.is_available() else ["cuda"]))


def _names(error: BaseException, *names: str) -> bool:
    return any(name in str(error) for name in names)


# -- the vocabulary --------------------------------------------------------------------------------
@FUZZ
@given(value=not_int)
def test_check_int_refuses_everything_but_ints(value) -> None:
    with pytest.raises(TypeError, match="^count must be an int"):
        check_int(value, "count")


@FUZZ
@given(value=st.integers(-(10**6), 10**6), minimum=st.integers(-5, 5))
def test_check_int_keeps_ints_and_bounds_them(value, minimum) -> None:
    if value >= minimum:
        assert check_int(value, "count", minimum=minimum) == value
    else:
        with pytest.raises(ValueError, match=f"^count must be an int >= {minimum}, got {value}"):
            check_int(value, "count", minimum=minimum)


@FUZZ
@given(value=not_real)
def test_check_real_refuses_non_numbers_and_non_finite(value) -> None:
    with pytest.raises(ERRORS, match="^level must be"):
        check_real(value, "level")


@FUZZ
@given(shape=st.lists(st.one_of(st.integers(1, 9), not_int, st.integers(-3, 0)), min_size=1, max_size=4))
def test_shapes_hold_positive_ints_only(shape) -> None:
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        assert as_shape(shape, "in_shape") == tuple(shape)
    else:
        with pytest.raises(ERRORS, match="^in_shape must be"):
            as_shape(shape, "in_shape")


@FUZZ
@given(device=bad_devices)
def test_devices(device) -> None:
    with pytest.raises(ERRORS, match="^device "):
        check_device(device)


@FUZZ
@given(dtype=bad_dtypes, batch=st.integers(0, 3))
def test_tensors_of_a_bad_dtype_or_an_empty_batch(dtype, batch) -> None:
    x = torch.zeros(batch, 1, 4, 4, dtype=dtype)
    with pytest.raises(ERRORS, match="^x (must|has)"):
        check_tensor(x, "x", (1, 4, 4))


# -- every operator of the registry ----------------------------------------------------------------
OPERATORS = {name: operators.registry.build(name, (1, 16, 16)) for name in operators.registry.available()}


@FUZZ
@given(name=st.sampled_from(sorted(OPERATORS)), dtype=bad_dtypes)
def test_operators_refuse_bad_dtypes(name, dtype) -> None:
    with pytest.raises(TypeError, match="^x "):
        OPERATORS[name](torch.zeros(1, 1, 16, 16, dtype=dtype))


@FUZZ
@given(name=st.sampled_from(sorted(OPERATORS)), where=st.integers(0, 255), bad=not_finite)
def test_operators_refuse_nan_and_inf(name, where, bad) -> None:
    x = torch.rand(1, 1, 16, 16)
    x.view(-1)[where] = bad
    with pytest.raises(ValueError, match="^x contains NaN or Inf"):
        OPERATORS[name](x)


@FUZZ
@given(name=st.sampled_from(sorted(OPERATORS)), shape=st.tuples(st.integers(0, 2), st.integers(1, 3), st.integers(1, 17), st.integers(1, 17)))
def test_operators_refuse_wrong_shapes_and_empty_batches(name, shape) -> None:
    if shape[0] >= 1 and shape[1:] == (1, 16, 16):
        return
    with pytest.raises(ValueError, match="^x must"):
        OPERATORS[name](torch.rand(*shape))


@FUZZ
@given(name=st.sampled_from(sorted(OPERATORS)))
def test_operators_refuse_the_meta_device(name) -> None:
    with pytest.raises(ValueError, match="^x is on"):
        OPERATORS[name](torch.zeros(1, 1, 16, 16, device="meta"))


@FUZZ
@given(name=st.sampled_from(sorted(OPERATORS)), entry=st.one_of(not_int, st.integers(-3, 0)), axis=st.integers(0, 2))
def test_the_registry_refuses_bad_shapes(name, entry, axis) -> None:
    shape: list[object] = [1, 16, 16]
    shape[axis] = entry
    with pytest.raises(ERRORS, match="^in_shape must be"):
        operators.registry.build(name, shape)  # type: ignore[arg-type]


@FUZZ
@given(name=st.sampled_from(sorted(n for n, op in OPERATORS.items() if op.is_linear)), max_iter=st.one_of(not_int, st.integers(-3, 0)))
def test_norm_iteration_counts(name, max_iter) -> None:
    with pytest.raises(ERRORS, match="^max_iter must be"):
        OPERATORS[name].norm(max_iter=max_iter)


@FUZZ
@given(
    name=st.sampled_from(sorted(n for n, op in OPERATORS.items() if hasattr(op, "pinv"))),
    option=st.sampled_from(["rcond", "max_iter", "tol"]),
    value=st.one_of(not_real.filter(lambda v: v is not None), st.just(-1)),
)
def test_pseudo_inverse_options(name, option, value) -> None:
    operator = OPERATORS[name]
    with pytest.raises(ERRORS, match=f"^{option} must"):
        operator.pinv(operator(torch.rand(1, 1, 16, 16)), **{option: value})


@FUZZ
@given(name=st.sampled_from(sorted(n for n, op in OPERATORS.items() if op.is_linear)), rho=st.one_of(not_real.filter(lambda v: v is not None), floats(-5, 0)))
def test_normal_solve_rho(name, rho) -> None:
    with pytest.raises(ERRORS, match="^rho must"):
        OPERATORS[name].solve_normal(torch.rand(1, 1, 16, 16), rho)


@FUZZ
@given(factor=st.one_of(not_finite, st.booleans()))
def test_scalar_factors(factor) -> None:
    with pytest.raises(ERRORS, match="^scalar factor"):
        factor * OPERATORS["deblur-gaussian"]  # noqa: B018 - the product is the call under test


@FUZZ
@given(where=st.integers(0, 63), bad=not_finite, as_numpy=st.booleans())
def test_circulant_transfer(where, bad, as_numpy) -> None:
    transfer = torch.ones(8, 8, dtype=torch.complex128)
    assert operators.Circulant(transfer.numpy() if as_numpy else transfer, (1, 8, 8)).in_shape == (1, 8, 8)
    transfer.view(-1)[where] = bad
    with pytest.raises(ValueError, match="^transfer contains NaN or Inf"):
        operators.Circulant(transfer.numpy() if as_numpy else transfer, (1, 8, 8))


@FUZZ
@given(angle=not_real)
def test_motion_kernel_angle(angle) -> None:
    with pytest.raises(ERRORS, match="^angle must be"):
        operators.motion_kernel(5, angle)


# -- every solver field ----------------------------------------------------------------------------
def _fields(kind: type) -> list[tuple[str, str]]:
    found = []
    for name in solvers.available():
        cls = solvers.registry.solver_class(name)
        hints = typing.get_type_hints(cls)
        found += [(name, f.name) for f in dataclasses.fields(cls) if kind in (typing.get_args(hints[f.name]) or (hints[f.name],))]  # type: ignore[arg-type]
    return found


@FUZZ
@given(field=st.sampled_from(_fields(int)), value=st.one_of(not_int, st.integers(-3, 0)))
def test_solver_int_options(field, value) -> None:
    solver, option = field
    with pytest.raises(ERRORS, match=f"^{option} must"):
        solvers.get(solver, **{option: value})


@FUZZ
@given(field=st.sampled_from(_fields(float)), value=not_real)
def test_solver_float_options(field, value) -> None:
    solver, option = field
    if value is None and option == "step":  # "step: float | None": None picks the step automatically
        return
    with pytest.raises(ERRORS, match=f"^{option} must"):
        solvers.get(solver, **{option: value})


@FUZZ
@given(field=st.sampled_from(_fields(bool)), value=st.one_of(st.integers(0, 1), st.just("True"), st.none()))
def test_solver_bool_options(field, value) -> None:
    solver, option = field
    with pytest.raises(TypeError, match=f"^{option} must be a bool"):
        solvers.get(solver, **{option: value})


@FUZZ
@given(eta=st.one_of(floats(1.0001, 100), floats(-100, -0.0001)), solver=st.sampled_from(["ddim", "ddrm", "dps", "pigdm"]))
def test_eta_outside_the_unit_interval(eta, solver) -> None:
    with pytest.raises(ValueError, match="^eta must be"):
        solvers.get(solver, eta=eta)


@FUZZ
@given(option=st.sampled_from(["metrics_every", "check_every"]), value=st.one_of(not_int, st.integers(-5, -1)))
def test_solve_options(option, value) -> None:
    from reddiff_imaging import InverseProblem, noise

    problem = InverseProblem(OPERATORS["denoising"], torch.rand(1, 1, 16, 16), noise.Gaussian(0.1))
    with pytest.raises(ERRORS, match=f"^{option} must"):
        solvers.get("admm", steps=2).solve(problem, TV(), **{option: value})


# -- prior constructors ----------------------------------------------------------------------------
PRIOR_OPTIONS = [
    (TV, "weight"), (TV, "max_iter"), (TV, "tol"), (TV, "smoothing"),
    (GaussianFilterDenoiser, "width_per_sigma"), (GaussianFilterDenoiser, "truncate"), (GaussianFilterDenoiser, "sigma"),
    (MedianDenoiser, "radius_per_sigma"), (MedianDenoiser, "sigma"),
    (WaveletDenoiser, "threshold_per_sigma"), (WaveletDenoiser, "level"), (WaveletDenoiser, "sigma"),
]


@FUZZ
@given(option=st.sampled_from(PRIOR_OPTIONS), value=st.one_of(not_real, floats(-10, 0)))
def test_prior_options(option, value) -> None:
    cls, name = option
    with pytest.raises(ERRORS, match=name):
        cls(**{name: value})


@FUZZ
@given(prior=st.sampled_from([TV(), GaussianFilterDenoiser(), MedianDenoiser(), WaveletDenoiser()]), where=st.integers(0, 63), bad=not_finite)
def test_priors_refuse_nan_inputs(prior, where, bad) -> None:
    x = torch.rand(1, 1, 8, 8)
    x.view(-1)[where] = bad
    with pytest.raises(ValueError, match="^x contains NaN or Inf"):
        prior.denoise(x, 0.1)


def test_diffusion_prior_refuses_nan_inputs(default_prior) -> None:
    x = torch.zeros(1, 1, 64, 64)
    x[0, 0, 3, 5] = math.nan
    with pytest.raises(ValueError, match="^x_t contains NaN or Inf"):
        default_prior.eps(x, 10)
    with pytest.raises(ValueError, match="^x contains NaN or Inf"):
        default_prior.denoise(x, 0.1)
    with pytest.raises(ValueError, match="^sigma must be"):
        default_prior.denoise(torch.zeros(1, 1, 64, 64), math.nan)
    with pytest.raises(TypeError, match="^x_t has dtype torch.float16"):
        default_prior.eps(torch.zeros(1, 1, 64, 64, dtype=torch.float16), 10)


# -- compare() and the command lines ---------------------------------------------------------------
COMPARE_BAD = st.one_of(
    st.tuples(st.just("num_images"), st.one_of(not_int, st.integers(-3, 0))),
    st.tuples(st.just("steps"), st.one_of(not_int.filter(lambda v: v is not None), st.integers(-3, 0))),
    st.tuples(st.just("size"), st.one_of(not_int.filter(lambda v: v is not None), st.integers(-3, 0), st.just(MAX_IMAGE_SIDE + 1))),
    st.tuples(st.just("sigma"), st.one_of(not_real, floats(-5, -0.001))),
    st.tuples(st.just("seed"), st.one_of(not_int, st.integers(-9, -1))),
    st.tuples(st.just("device"), bad_devices),
    st.tuples(st.just("run"), st.sampled_from(["", "a/b", ".", 3])),
    st.tuples(st.just("tasks"), st.sampled_from(["ct", [], [3]])),
)


@FUZZ
@given(bad=COMPARE_BAD)
def test_compare_arguments(tmp_path_factory, bad) -> None:
    from reddiff_imaging.workbench import compare

    name, value = bad
    options = {"tasks": ["denoising"], "solvers": ["admm/tv"], "output": tmp_path_factory.mktemp("c") / "r.h5", name: value}
    with pytest.raises(ERRORS) as caught:
        compare(options.pop("tasks"), options.pop("solvers"), progress=False, **options)
    assert _names(caught.value, name)
    assert not options["output"].exists()  # refused before any work


def _typed_options(parser: argparse.ArgumentParser) -> list[tuple[list[str], str, object]]:
    """``(command prefix, option, type)`` of every option of ``parser`` (and its sub-commands)
    whose type is one of our checked option types."""
    checked = {getattr(_cli_types, name) for name in _cli_types.__all__}
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                found += [([command, *prefix], option, kind) for prefix, option, kind in _typed_options(sub)]
        elif action.option_strings and action.type in checked:
            found.append(([], action.option_strings[0], action.type))
    return found


CLI_OPTIONS = [(["train-prior", *p], o, t) for p, o, t in _typed_options(train_parser())] + _typed_options(cli.build_parser())
BAD_TEXT = {
    _cli_types.positive_int: st.sampled_from(["0", "-1", "8.5", "True", "x", "", "1e3"]),
    _cli_types.nonnegative_int: st.sampled_from(["-1", "8.5", "True", "x", ""]),
    _cli_types.image_side: st.sampled_from(["0", "-4", "8.5", "x", str(10**6)]),
    _cli_types.nonnegative_float: st.sampled_from(["-1", "nan", "inf", "x", ""]),
    _cli_types.positive_float: st.sampled_from(["0", "-1", "nan", "inf", "x"]),
    _cli_types.unit_float: st.sampled_from(["-0.1", "1.5", "nan", "x"]),
    _cli_types.device_option: bad_devices.filter(bool),
}


def test_every_numeric_option_is_checked() -> None:
    assert len(CLI_OPTIONS) >= 20 and {o for _, o, _ in CLI_OPTIONS} >= {"--steps", "--num-images", "--size", "--device", "--batch-size"}


@settings(FUZZ, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), index=st.integers(0, len(CLI_OPTIONS) - 1))
def test_cli_options_are_checked_when_parsed(capsys, data, index) -> None:
    prefix, option, kind = CLI_OPTIONS[index]
    text = data.draw(BAD_TEXT[kind])
    required = {"tune": ["reddiff", "--task", "ct"], "restore": ["image.png", "--task", "ct"], "train-prior": ["--out", "o"]}
    argv = [*prefix, *required.get(prefix[0], []), f"{option}={text}"]
    with pytest.raises(SystemExit) as stopped:  # argparse stops with exit code 2
        cli.main(argv)
    assert stopped.value.code == 2
    assert f"argument {option}: " in capsys.readouterr().err


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys) -> None:
    config = tmp_path / "c.toml"
    config.write_text('tasks = ["denoising"]\nsolvers = ["admm/tv"]\noverrides = 3\n')
    assert cli.main(["compare", "--config", str(config)]) == 2
    # a loaded machine adds a one-line threads warning before the error (reddiff_imaging._threads)
    errors = [line for line in capsys.readouterr().err.splitlines() if ": warning: " not in line]
    assert len(errors) == 1 and "'overrides' in" in errors[0] and "must be tables" in errors[0]
    config.write_text('tasks = ["denoising"]\nsolvers = ["admm/tv"]\nnum_images = "4"\n')
    assert cli.main(["compare", "--config", str(config)]) == 2
    assert "'num_images' in" in capsys.readouterr().err
    assert cli.main(["train-prior", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "missing"), "--steps", "1"]) == 2
    assert "train-prior: error: --data" in capsys.readouterr().err
    assert cli.main(["train-prior", "--out", str(tmp_path / "o"), "--config", '{"base_channels": 100000}', "--steps", "1"]) == 2
    assert "parameters; the limit is" in capsys.readouterr().err


# -- checkpoints -----------------------------------------------------------------------------------
def _checkpoint(tmp_path, change) -> str:
    from reddiff_imaging.models import UNet, UNetConfig, save_unet_checkpoint
    from reddiff_imaging.priors import VPSchedule

    config = UNetConfig(image_size=8, base_channels=8, channel_mults=(1, 2), attention_resolutions=(), num_groups=4)
    path = save_unet_checkpoint(tmp_path / "net.pt", UNet(config), schedule=VPSchedule.linear())
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return str(path)


def _first_weight(payload) -> str:
    return next(k for k, v in payload["state_dict"].items() if v.is_floating_point())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["config"].update(base_channels=200_000), r"network of [\d,]+ parameters; the limit is 1,000,000,000"),
        (lambda p: p["config"].update(num_res_blocks=1000), "residual blocks; the limit is 256"),
        (lambda p: p["state_dict"].update({_first_weight(p): p["state_dict"][_first_weight(p)].long()}), "expected floating-point weights, got torch.int64"),
        (lambda p: p["state_dict"][_first_weight(p)].view(-1).__setitem__(0, math.nan), "holds NaN or Inf"),
    ],
)
def test_checkpoints_are_checked_before_use(tmp_path, change, message) -> None:
    from reddiff_imaging.priors import DiffusionPrior

    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        DiffusionPrior.from_checkpoint(_checkpoint(tmp_path, change))
    assert time.perf_counter() - start < 10  # bounded before the network is built


def test_a_comparison_without_any_unit_is_a_clear_error(tmp_path, capsys) -> None:
    argv = ["compare", "--tasks", "ct", "--solvers", "ddrm/default", "--num-images", "1", "--steps", "2", "--device", "cpu"]
    assert cli.main([*argv, "--output", str(tmp_path / "r.h5")]) == 2
    err = capsys.readouterr().err
    assert err.endswith("error: no unit was computed (every method was skipped, see above); "
                        f"{tmp_path / 'r.h5'} holds no results to tabulate or draw\n")
    assert not list(tmp_path.glob("*.png"))


def test_unexpected_errors_get_a_short_message_and_a_hint(monkeypatch, capsys) -> None:
    def broken(_: argparse.Namespace) -> int:
        raise KeyError("internal")

    monkeypatch.setattr(cli, "_info", broken)
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err
    assert "unexpected error KeyError" in err and "REDDIFF_IMAGING_TRACEBACK=1" in err and "Traceback" not in err
    monkeypatch.setenv("REDDIFF_IMAGING_TRACEBACK", "1")
    with pytest.raises(KeyError, match="internal"):
        cli.main(["info"])
