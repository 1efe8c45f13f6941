"""The ``reddiff-imaging`` command line: the demo, comparisons, tuning, restoring one image,
training a prior, and checks."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tomllib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from reddiff_imaging import __version__
from reddiff_imaging._cli_types import (
    device_option,
    image_side,
    nonnegative_float,
    nonnegative_int,
    positive_int,
)
from reddiff_imaging._threads import available_cores, configure_threads
from reddiff_imaging._validation import (
    MAX_IMAGE_SIDE,
    check_bool,
    check_device,
    check_distinct_files,
    check_int,
    check_not_hdf5,
    check_real,
    check_writable,
    is_hdf5_file,
)

#: errors that mean bad input (reported in one line, exit code 2); anything else is a bug
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, ArithmeticError, torch.OutOfMemoryError)
#: set to 1 to see the full traceback of an unexpected error
TRACEBACK_VARIABLE = "REDDIFF_IMAGING_TRACEBACK"

#: options of ``compare`` that a TOML configuration file may set (flags given on the command line win)
COMPARE_KEYS = ("tasks", "solvers", "priors", "preset", "dataset", "num_images", "size", "channels", "rescale", "steps", "sigma", "device", "seed", "output", "run")


def _info(_: argparse.Namespace) -> int:
    from reddiff_imaging import operators, priors, solvers
    from reddiff_imaging.workbench.parts import PRIOR_ADAPTERS, PRIOR_SPECS

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"reddiff-imaging {__version__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA device: {cuda}")
    print(f"CPU threads: {torch.get_num_threads()} (of {available_cores()} cores; set with --threads)")
    print("operators (registry): " + ", ".join(operators.registry.available()))
    print("priors (registry): " + ", ".join(priors.registry.available()))
    print(
        "your own parts: module:attribute (tasks, solvers, priors); priors also "
        + ", ".join([*(f"{kind}:PATH[?options]" for kind in PRIOR_SPECS), *(f"{kind}:NAME" for kind in PRIOR_ADAPTERS)])
    )
    print("solvers: " + ", ".join(solvers.available()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from reddiff_imaging.workbench.demo import run_demo

    run_demo(args.output_dir, suite=args.suite, num_images=args.images, device=args.device, seed=args.seed)
    return 0


def load_compare_config(path: str | None) -> dict[str, Any]:
    """Read a TOML configuration of ``compare``; unknown keys are an error that lists the valid ones."""
    if path is None:
        return {}
    file = Path(path)
    if file.is_dir():
        raise IsADirectoryError(f"--config {path!r} is a folder; give a TOML configuration file")
    if not file.is_file():
        raise FileNotFoundError(f"--config: configuration file {path!r} does not exist")
    try:
        text = file.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write (tune reads it too)
    except UnicodeDecodeError:
        kind = "an HDF5 file (a results file?)" if is_hdf5_file(file) else "a binary file"
        raise ValueError(f"--config {path!r} is {kind}, not a TOML configuration (UTF-8 text)") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"--config: configuration file {path!r} is not valid TOML: {err}") from err
    unknown = sorted(set(config) - {*COMPARE_KEYS, "overrides"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {path!r}; valid keys: {', '.join((*COMPARE_KEYS, 'overrides'))}")
    for key, value in config.items():
        _check_config_value(key, value, f"{key!r} in {path!r}")
    return config


def _check_config_value(key: str, value: Any, name: str) -> None:
    """Check one value of a ``compare`` configuration file, with the checks of its option."""
    if key in ("tasks", "solvers", "priors"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise TypeError(f"{name} must be a non-empty list of names or module:attribute references, got {value!r}")
    elif key in ("num_images", "steps"):
        check_int(value, name)
    elif key == "size":
        check_int(value, name, maximum=MAX_IMAGE_SIDE)
    elif key == "seed":
        check_int(value, name, minimum=0)
    elif key == "sigma":
        check_real(value, name, low=0.0)
    elif key == "rescale":
        check_bool(value, name)
    elif key == "channels":  # as --channels takes it
        if isinstance(value, bool) or value not in (1, 3):
            raise ValueError(f"{name} must be 1 (gray) or 3 (colour), got {value!r}")
    elif key == "device":
        if value != "auto":
            check_device(value, name)
    elif key == "overrides":
        if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
            raise TypeError(f"{name} must be tables [overrides.SOLVER] of option = value, got {value!r}")
    elif not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")


def _compare(args: argparse.Namespace) -> int:
    from reddiff_imaging.workbench import compare
    from reddiff_imaging.workbench.distributed import is_main_process
    from reddiff_imaging.workbench.figures import convergence_plot, figure_grid
    from reddiff_imaging.workbench.specs import check_outside_dataset, parse_overrides
    from reddiff_imaging.workbench.store import check_results_file

    config = load_compare_config(args.config)
    options = {key: config[key] for key in COMPARE_KEYS if key in config}
    options.update({key: value for key in COMPARE_KEYS if (value := getattr(args, key)) is not None})
    overrides = {solver: dict(values) for solver, values in config.get("overrides", {}).items()}
    for solver, values in parse_overrides(args.set or []).items():
        overrides.setdefault(solver, {}).update(values)
    for required in ("tasks", "solvers"):
        if not options.get(required):
            raise ValueError(f"give --{required} or set {required} in the --config file")
    output = Path(options.pop("output", "results.h5"))
    named = "--output" if args.output is not None else "output"
    check_results_file(output, named)  # named as written
    derived = _derived_outputs(output)
    for path in derived.values():  # written after the work: a folder or an unwritable name there fails now
        check_writable(path, f"{path.name} (beside {named} {str(output)!r})")
        check_not_hdf5(path, f"{path.name} (beside {named} {str(output)!r})", "a table or figure")
    check_distinct_files({named: output, **{f"{path.name} (beside {named})": path for path in derived.values()}})
    check_outside_dataset(  # the figures would be read as images by the next run
        options.get("dataset", "heldout"),
        {named: output, **{f"{path.name} (beside {named} {str(output)!r})": path for path in derived.values()}},
        dataset_name="--dataset" if args.dataset is not None else "dataset",
    )
    table = compare(options.pop("tasks"), options.pop("solvers"), overrides=overrides, output=output, **options)
    if not is_main_process():  # under torchrun, rank 0 writes the table and figures
        return 0
    if not table.rows:
        raise ValueError(f"no unit was computed (every method was skipped, see above); {output} holds no results to tabulate or draw")
    run = options.get("run", "comparison")
    print(table.to_markdown())
    derived["table.md"].write_text(table.to_markdown())
    table.to_csv(derived["table.csv"])
    figure_grid(output, run, derived["figure.png"])
    convergence_plot(output, run, derived["convergence.png"])
    print(f"results in {output}; table, figure and convergence plot beside it ({output.with_suffix('').name}-*.md/csv/png)")
    return 0


def _derived_outputs(output: Path) -> dict[str, Path]:
    """The files ``compare`` writes beside its results file ``output``: ``<stem>-table.md``,
    ``-table.csv``, ``-figure.png`` and ``-convergence.png``."""
    stem = output.with_suffix("")
    return {kind: stem.parent / f"{stem.name}-{kind}" for kind in ("table.md", "table.csv", "figure.png", "convergence.png")}


def _image_and_run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options tune and restore share, as their Python functions take them."""
    return {
        "size": args.size, "channels": args.channels, "rescale": bool(args.rescale), "steps": args.steps,
        "sigma": args.sigma, "device": args.device, "seed": args.seed,
    }


def _tune(args: argparse.Namespace) -> int:
    from reddiff_imaging.workbench.distributed import is_main_process
    from reddiff_imaging.workbench.specs import check_outside_dataset
    from reddiff_imaging.workbench.tune import GridEdgeWarning, check_tune_output, tune

    if args.output is not None:
        check_tune_output(args.output, "--output")  # named as written here
        if args.dataset != "validation" or args.rescale:  # a folder or file, not the bundled validation images
            check_outside_dataset(args.dataset, {"--output": args.output}, dataset_name="--dataset")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GridEdgeWarning)  # the table printed below ends with the same notes
        result = tune(
            args.solver,
            prior=args.prior,
            task=args.task,
            grid=parse_grid(args.grid) if args.grid else None,
            search=args.search,
            num_trials=args.trials,
            metric=args.metric,
            dataset=args.dataset,
            num_images=args.images,
            output=args.output,
            **_image_and_run_options(args),
        )
    if is_main_process():
        print(result.to_markdown())
    return 0


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``--grid`` items ``option=v1,v2,...`` as ``{option: [v1, v2, ...]}`` (values are Python
    literals, bare words strings)."""
    from reddiff_imaging.workbench.specs import parse_value

    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ValueError(f"--grid {item!r} must look like option=v1,v2,..., e.g. lam=0.1,0.25,0.5")
        if name.strip() in grid:  # the later item would silently replace the earlier one's values
            raise ValueError(f"--grid sets {name.strip()!r} twice; give all its values once: {name.strip()}=v1,v2,...")
        grid[name.strip()] = [parse_value(v) for v in values.split(",")]
    return grid


def _restore(args: argparse.Namespace) -> int:
    from reddiff_imaging.data.image_io import check_image_suffix
    from reddiff_imaging.workbench.restore import restore_image
    from reddiff_imaging.workbench.specs import check_overrides, parse_overrides

    overrides = parse_overrides(args.set or [])
    check_overrides(overrides, [args.solver])
    check_distinct_files({"image": args.image, "--output": args.output, "--measurement": args.measurement})  # as written here
    for path, option in ((args.output, "--output"), (args.measurement, "--measurement")):
        if path is not None:
            check_image_suffix(path, option)
            check_writable(path, option)
            check_not_hdf5(path, option, "an image")
    report = restore_image(
        args.image,
        args.output,
        task=args.task,
        solver=args.solver,
        prior=args.prior,
        overrides=overrides.get(args.solver, {}),
        save_measurement=args.measurement,
        **_image_and_run_options(args),
        progress=True,
    )
    print(f"read {report['input'].describe()}")
    if args.prior == "auto":
        print(f"prior: {report['prior']} (auto: the natural-image prior for a {report['shape'][0]}-channel image; --prior to choose another)")
    for note in report["notes"]:
        print(f"note: {note}")
    measurement = f"; measurement ({report['measurement_label']}) in {report['measurement']}" if report["measurement"] else ""
    depth = "float" if report["bit_depth"] == 32 else f"{report['bit_depth']}-bit"
    print(
        f"wrote {report['output']} ({depth}): PSNR {report['psnr']:.2f} dB, SSIM {report['ssim']:.3f} against the input, "
        f"{report['seconds']:.1f} s{measurement}"
    )
    return 0


def _check_operators(args: argparse.Namespace) -> int:
    from reddiff_imaging.operator_report import operator_report

    operator_report(size=args.size, seed=args.seed)
    return 0


def _train_prior(args: argparse.Namespace) -> int:
    from reddiff_imaging.models.training import main as train_main

    return train_main(args.args)


def _add_run_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Options shared by compare, tune and restore (compare takes its defaults from the config)."""
    parser.add_argument("--steps", type=positive_int, default=None, help="steps of every solver (its steps option)")
    parser.add_argument(
        "--sigma", type=nonnegative_float, default=0.01 if defaults else None, help="Gaussian noise std (default 0.01)"
    )
    parser.add_argument("--device", type=device_option, default="auto" if defaults else None, help="auto (default), cpu or cuda")
    parser.add_argument("--seed", type=nonnegative_int, default=0 if defaults else None, help="run seed (default 0)")


def _add_image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--channels", type=int, choices=(1, 3), default=None,
        help="1: convert colour images to gray, 3: repeat gray ones (default: as stored)",
    )
    parser.add_argument(  # None when absent, so that a compare --config file can set it
        "--rescale", action="store_true", default=None,
        help="stretch each image file's own value range onto [0, 1] (a 12-bit scan in 16-bit samples, a float image in "
        "physical units); restore writes its result back on the input's scale",
    )


def _names(names: Sequence[str]) -> str:
    # argparse expands % in help texts
    return ", ".join(names).replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    from reddiff_imaging import operators, priors, solvers

    parser = argparse.ArgumentParser(prog="reddiff-imaging", description=__doc__)
    parser.add_argument("--version", action="version", version=f"reddiff-imaging {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions, device and what is available").set_defaults(run=_info)

    demo = commands.add_parser(
        "demo", help="diffusion vs classical solvers on held-out photographs with the natural-image prior (tables, figures)"
    )
    demo.add_argument("--output-dir", default="demo-results", help="folder for results.h5, tables and figures (default demo-results)")
    demo.add_argument(
        "--suite", choices=("photos", "phantoms"), default="photos",
        help="photos: held-out photographs, gray and colour, natural prior (default); phantoms: 64×64 test scenes, phantom prior",
    )
    demo.add_argument("--images", type=positive_int, default=4, help="held-out images per comparison, at most what the suite has (default 4)")
    demo.add_argument("--device", type=device_option, default="auto", help="auto (default), cpu or cuda")
    demo.add_argument("--seed", type=nonnegative_int, default=0)
    demo.set_defaults(run=_demo)

    comp = commands.add_parser("compare", help="run solvers × priors × tasks into an HDF5 results file")
    comp.add_argument("--config", help="TOML file with any of: " + ", ".join(COMPARE_KEYS) + " and [overrides.SOLVER] tables")
    comp.add_argument(
        "--tasks", nargs="+", help=f"task names ({_names(operators.registry.available())}) or module:attribute (an operator or factory(shape))"
    )
    comp.add_argument(
        "--solvers", nargs="+", help=f"solver names ({_names(solvers.available())}), solver/prior pairs, or module:attribute (a Solver)"
    )
    comp.add_argument(
        "--priors", nargs="+",
        help="priors crossed with the solvers (default: auto, the phantom prior for the bundled phantom images, else natural "
        f"for colour and gray:natural for gray images): names ({_names(priors.registry.available())}), "
        "checkpoint:PATH, drunet:PATH[?channels=3&...], gray:NAME, channelwise:NAME, module:attribute",
    )
    comp.add_argument("--set", nargs="+", metavar="SOLVER.OPTION=VALUE", help="solver options, e.g. reddiff.lam=0.5")
    comp.add_argument("--preset", help="published per-task settings, e.g. 'paper' (see reddiff_imaging.solvers.presets)")
    comp.add_argument("--dataset", help="heldout (default), an HDF5 file[:key] or a folder of images")
    comp.add_argument("--num-images", dest="num_images", type=positive_int, help="images from the dataset (default 4)")
    comp.add_argument("--size", type=image_side, help="crop the centred square and resize images to SIZE × SIZE (heldout: 64)")
    _add_image_options(comp)
    comp.add_argument("--output", help="HDF5 results file, .h5/.hdf5/.hdf (default results.h5); rerunning resumes it")
    comp.add_argument("--run", help="run name inside the results file (default comparison)")
    _add_run_options(comp, defaults=False)
    comp.set_defaults(run_command=_compare)

    tune = commands.add_parser("tune", help="hyperparameter sweep of one solver on validation images")
    tune.add_argument("solver", help=f"a solver name ({_names(solvers.available())}) or module:attribute")
    tune.add_argument("--task", required=True, help=f"a task name ({_names(operators.registry.available())}) or module:attribute")
    tune.add_argument("--prior", default="auto", help="as for compare --priors (default: auto)")
    tune.add_argument(
        "--grid", nargs="+", action="extend", metavar="OPTION=V1,V2,...", help="values to sweep (default: the solver's default grid)"
    )
    tune.add_argument("--search", choices=("grid", "random"), default="grid")
    tune.add_argument("--trials", type=positive_int, default=None, help="configurations drawn by random search")
    tune.add_argument("--metric", default="psnr", choices=("psnr", "ssim", "seconds"))
    tune.add_argument("--dataset", default="validation")
    tune.add_argument("--images", type=positive_int, default=2)
    tune.add_argument("--size", type=image_side, default=None, help="crop the centred square and resize images to SIZE × SIZE")
    _add_image_options(tune)
    tune.add_argument("--output", default=None, help=".toml file for the chosen configuration (usable by compare --config)")
    _add_run_options(tune, defaults=True)
    tune.set_defaults(run=_tune)

    restore = commands.add_parser("restore", help="simulate a task on one image file and reconstruct it at its size and bit depth")
    restore.add_argument("image", help="an image file (PNG, TIFF, JPEG and what else Pillow reads, .npy, DICOM with the dicom extra), read at its own size and bit depth")
    restore.add_argument(
        "--task", required=True, help=f"a task name ({_names(operators.registry.available())}) or module:attribute"
    )
    restore.add_argument(
        "--solver", default="reddiff", help=f"a solver name ({_names(solvers.available())}) or module:attribute (default reddiff)"
    )
    restore.add_argument(
        "--prior", default="auto", help="as for compare --priors (default auto: natural for a colour image, gray:natural for a gray one)"
    )
    restore.add_argument("--set", nargs="+", metavar="SOLVER.OPTION=VALUE", help="solver options, e.g. diffpir.zeta=1")
    restore.add_argument("--output", default="restored.png", help=".png, .tif, .jpg or .npy (default restored.png)")
    restore.add_argument("--size", type=image_side, default=None, help="crop the centred square and resize to SIZE × SIZE")
    _add_image_options(restore)
    restore.add_argument("--measurement", default=None, help="also write a PNG of the measurement")
    _add_run_options(restore, defaults=True)
    restore.set_defaults(run=_restore)

    check = commands.add_parser("check-operators", help="adjoint/Jacobian checks and pseudo-inverse baselines of every task")
    check.add_argument("--size", type=image_side, default=64)
    check.add_argument("--seed", type=nonnegative_int, default=0)
    check.set_defaults(run=_check_operators)

    for command in commands.choices.values():  # train-prior (below) has its own --threads
        command.add_argument(
            "--threads", type=positive_int, default=None, help="CPU threads (default: OMP_NUM_THREADS, else the cores per process)"
        )
    commands.add_parser(
        "train-prior", add_help=False, help="train a diffusion prior (see `reddiff-imaging train-prior --help`)"
    )
    return parser


def _warning_line(command: str) -> Callable[..., None]:
    """A :func:`warnings.showwarning` that writes ``reddiff-imaging COMMAND: warning: MESSAGE`` (no
    source line) through tqdm, so that a progress bar on the terminal is not cut."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        from tqdm.auto import tqdm

        tqdm.write(f"reddiff-imaging {command}: warning: {message}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; bad input ends it with a one-line message and exit code 2, an unexpected
    error with a short message, a hint and exit code 1 (the traceback with
    ``REDDIFF_IMAGING_TRACEBACK=1``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    try:
        if command == "train-prior":  # its own parser owns every option, --help included
            return _train_prior(argparse.Namespace(args=argv[1:]))
        args = build_parser().parse_args(argv)
        handler = getattr(args, "run_command", None) or args.run
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            configure_threads(args.threads)
        for warning in caught:
            print(f"reddiff-imaging {args.command}: warning: {warning.message}", file=sys.stderr)
        with warnings.catch_warnings():  # a warning is one line, as errors are, written above any progress bar
            warnings.showwarning = _warning_line(args.command)
            return int(handler(args))
    except KeyboardInterrupt:
        print(f"reddiff-imaging {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if os.environ.get(TRACEBACK_VARIABLE) == "1":
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if isinstance(err, USER_ERRORS):
            print(f"reddiff-imaging {command}: error: {message}", file=sys.stderr)
            return 2
        print(
            f"reddiff-imaging {command}: unexpected error {type(err).__name__}: {message}\n"
            f"  this is a bug or an input reddiff-imaging does not check yet; rerun with {TRACEBACK_VARIABLE}=1 "
            "for the traceback and report it",
            file=sys.stderr,
        )
        return 1
