"""The command line end to end: demo (with tiny step counts), compare from a TOML file, info, errors."""

from __future__ import annotations

import dataclasses

import pytest

from reddiff_imaging import cli
from reddiff_imaging.workbench import demo

PNG = b"\x89PNG\r\n\x1a\n"


def _tiny(run: demo.DemoRun, tasks: tuple[str, ...], size: int | None) -> demo.DemoRun:
    methods = {m: {"cpu": {next(iter(o["cpu"])): 2}, "cuda": {next(iter(o["cuda"])): 2}} for m, o in run.methods.items()}
    return dataclasses.replace(run, tasks=tasks, methods=methods, size={"cpu": size, "cuda": size})


def test_demo_on_photographs_writes_gray_and_colour_tables_and_figures(tmp_path, monkeypatch, capsys) -> None:
    gray, colour = demo.DEMO_SUITES["photos"]
    monkeypatch.setitem(demo.DEMO_SUITES, "photos", (_tiny(gray, ("inpainting-box",), 32), _tiny(colour, ("sr4-block",), 32)))
    assert cli.main(["demo", "--output-dir", str(tmp_path), "--images", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "fewer steps than the papers" in out
    table = (tmp_path / "table-photos-gray.md").read_text()
    for method in ("reddiff[gray:natural]", "dps[gray:natural]", "ddrm[gray:natural]", "diffpir[gray:natural]", "admm[tv]"):
        assert f"| inpainting-box | {method} | 1 |" in table
    assert "| sr4-block | reddiff[natural] | 1 |" in (tmp_path / "table-photos-colour.md").read_text()
    for name in ("figure-photos-gray.png", "convergence-photos-gray.png", "figure-photos-colour.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert (tmp_path / "results.h5").is_file() and (tmp_path / "table-photos-colour.csv").is_file()


def test_demo_phantom_suite(tmp_path, monkeypatch, capsys) -> None:
    (phantoms,) = demo.DEMO_SUITES["phantoms"]
    monkeypatch.setitem(demo.DEMO_SUITES, "phantoms", (_tiny(phantoms, ("inpainting-box", "ct"), None),))
    assert cli.main(["demo", "--suite", "phantoms", "--output-dir", str(tmp_path), "--images", "1", "--device", "cpu"]) == 0
    table = (tmp_path / "table-phantoms.md").read_text()
    for method in ("reddiff[default]", "dps[default]", "pigdm[default]", "diffpir[default]", "admm[tv]", "pnp-admm[default]"):
        assert f"| inpainting-box | {method} |" in table and f"| ct | {method} |" in table
    assert "| inpainting-box | ddrm[default] |" in table  # DDRM needs an SVD: CT has none
    assert (tmp_path / "figure-phantoms.png").read_bytes()[:8] == PNG


def test_compare_from_a_toml_config_with_command_line_overrides(tmp_path, capsys) -> None:
    config = tmp_path / "compare.toml"
    config.write_text(
        'tasks = ["inpainting-box"]\nsolvers = ["reddiff/default", "admm/tv"]\nnum_images = 1\ndevice = "cpu"\n'
        f'output = "{tmp_path / "out.h5"}"\n\n[overrides.reddiff]\nsteps = 3\nlam = 0.5\n\n[overrides.admm]\nsteps = 3\n'
    )
    assert cli.main(["compare", "--config", str(config), "--set", "reddiff.lr=0.1"]) == 0
    assert "| inpainting-box | reddiff[default] | 1 |" in capsys.readouterr().out
    import h5py

    with h5py.File(tmp_path / "out.h5", "r") as f:
        stored = f["comparison/inpainting-box/reddiff[default]"].attrs["config"]
    assert '"lam": 0.5' in stored and '"lr": 0.1' in stored and '"steps": 3' in stored
    for suffix in ("table.md", "table.csv", "figure.png", "convergence.png"):
        assert (tmp_path / f"out-{suffix}").is_file()


def test_info_lists_what_is_available(capsys) -> None:
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "reddiff-imaging" in out and "solvers: admm, ddim, ddrm, diffpir, dpir, dps, pigdm, pnp-admm, pnp-pgd, red, reddiff" in out


def test_errors_are_reported_with_the_command_name(tmp_path, capsys) -> None:
    assert cli.main(["compare", "--tasks", "blurr", "--solvers", "reddiff", "--output", str(tmp_path / "r.h5")]) == 2
    assert "reddiff-imaging compare: error: unknown task 'blurr'; available:" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("tasks = [\n")
    assert cli.main(["compare", "--config", str(tmp_path / "bad.toml")]) == 2
    assert "is not valid TOML" in capsys.readouterr().err
    (tmp_path / "unknown.toml").write_text("taks = ['x']\n")
    assert cli.main(["compare", "--config", str(tmp_path / "unknown.toml")]) == 2
    assert "unknown key(s) ['taks']" in capsys.readouterr().err
    assert cli.main(["compare", "--solvers", "reddiff"]) == 2
    # the last line: a "machine is busy" warning about threads may come first on a loaded machine
    assert capsys.readouterr().err.splitlines()[-1] == "reddiff-imaging compare: error: give --tasks or set tasks in the --config file"


def test_compare_and_tune_take_size_and_channels(tmp_path, capsys) -> None:
    import imageio.v3 as iio
    import numpy as np

    out = str(tmp_path / "sized.h5")
    common = ["--tasks", "inpainting-box", "--num-images", "1", "--steps", "2", "--device", "cpu"]
    assert cli.main(["compare", *common, "--solvers", "reddiff/default", "--size", "32", "--output", out]) == 0
    assert "| inpainting-box | reddiff[default] | 1 |" in capsys.readouterr().out  # the API's sizes, not only 64
    folder = tmp_path / "photos"
    folder.mkdir()
    iio.imwrite(folder / "a.png", np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    colour = ["--dataset", str(folder), "--output", str(tmp_path / "c.h5")]
    assert cli.main(["compare", *common, "--solvers", "reddiff/default", *colour]) == 2
    assert "prior DiffusionPrior works on 1-channel images, but the images have 3 channels" in capsys.readouterr().err
    assert cli.main(["compare", *common, "--solvers", "reddiff/default", "--channels", "1", *colour]) == 0
    assert "note: a.png: colour converted to gray" in capsys.readouterr().out
    tune = ["tune", "pnp-pgd", "--task", "denoising", "--prior", "gaussian", "--dataset", str(folder), "--images", "1"]
    assert cli.main([*tune, "--steps", "2", "--device", "cpu", "--size", "16", "--channels", "1"]) == 0
    assert "note: a.png: 24×24 image resized to 16×16 (bicubic)" in capsys.readouterr().out
    assert cli.main([*tune, "--steps", "2", "--device", "cpu", "--channels", "1", "--rescale"]) == 0
    assert "note: a.png: samples rescaled from their range [" in capsys.readouterr().out
    toml = tmp_path / "rescale.toml"
    toml.write_text(f"tasks = ['inpainting-box']\nsolvers = ['admm/tv']\ndataset = '{folder}'\nrescale = 'yes'\n")
    assert cli.main(["compare", "--config", str(toml), "--output", str(tmp_path / "t.h5")]) == 2
    assert "'rescale' in " in (err := capsys.readouterr().err) and "must be a bool, got 'yes'" in err
    toml.write_text(f"tasks = ['inpainting-box']\nsolvers = ['admm/tv']\ndataset = '{folder}'\nrescale = true\nnum_images = 1\nsteps = 2\n")
    assert cli.main(["compare", "--config", str(toml), "--output", str(tmp_path / "t.h5"), "--device", "cpu"]) == 0
    assert "note: a.png: samples rescaled from their range [" in capsys.readouterr().out
    for channels, expected in (("2", "must be 1 (gray) or 3 (colour), got 2"), ("'1'", "must be 1 (gray) or 3 (colour), got '1'")):
        toml.write_text(f"tasks = ['inpainting-box']\nsolvers = ['admm/tv']\ndataset = '{folder}'\nchannels = {channels}\n")
        assert cli.main(["compare", "--config", str(toml), "--output", str(tmp_path / "ch.h5")]) == 2
        assert f"'channels' in '{toml}' {expected}" in capsys.readouterr().err
    toml.write_text(f"tasks = ['inpainting-box']\nsolvers = ['admm/tv']\ndataset = '{folder}'\nchannels = 1\nnum_images = 1\nsteps = 2\n")
    assert cli.main(["compare", "--config", str(toml), "--output", str(tmp_path / "ch.h5"), "--device", "cpu"]) == 0  # was refused
    assert "note: a.png: colour converted to gray" in capsys.readouterr().out


def test_compare_with_the_paper_preset(tmp_path, capsys) -> None:
    output = tmp_path / "paper.h5"
    args = ["compare", "--tasks", "inpainting-box", "--solvers", "dps/default", "diffpir/default", "--preset", "paper"]
    args += ["--steps", "3", "--num-images", "1", "--device", "cpu", "--output", str(output)]
    assert cli.main(args) == 0
    import h5py

    with h5py.File(output, "r") as f:
        dps = f["comparison/inpainting-box/dps[default]"].attrs["config"]
        diffpir = f["comparison/inpainting-box/diffpir[default]"].attrs["config"]
    assert '"zeta": 0.5' in dps and '"steps": 3' in dps  # DPS's random-inpainting setting; --steps wins
    assert '"lam": 1.0' in diffpir and '"zeta": 1.0' in diffpir
    bad = ["compare", "--tasks", "sr4-block", "--solvers", "diffpir/default", "--preset", "paper", "--output", str(tmp_path / "b.h5")]
    assert cli.main(bad) == 2
    assert "no published setting for task 'sr4-block'" in capsys.readouterr().err


def test_a_grid_option_given_twice_is_refused(capsys) -> None:
    assert cli.main(["tune", "admm", "--task", "denoising", "--prior", "tv", "--grid", "rho=0.1", "rho=1", "--steps", "1"]) == 2
    assert "error: --grid sets 'rho' twice; give all its values once: rho=v1,v2,..." in capsys.readouterr().err


def test_outputs_named_for_another_format_are_refused_before_any_work(tmp_path, capsys) -> None:
    results, tuned = tmp_path / "r.txt", tmp_path / "t.json"
    assert cli.main(["compare", "--tasks", "denoising", "--solvers", "admm/tv", "--output", str(results), "--device", "cpu"]) == 2
    assert f"error: --output '{results}' ends in '.txt', but an HDF5 results file is written there: give a name ending in .h5" in capsys.readouterr().err
    assert cli.main(["tune", "admm", "--task", "denoising", "--prior", "tv", "--output", str(tuned), "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert f"error: --output '{tuned}' ends in '.json', but a TOML configuration is written there: give a name ending in .toml" in captured.err
    assert captured.out == "" and list(tmp_path.iterdir()) == []


def test_names_are_checked_before_what_the_parts_can_do_together(tmp_path, capsys) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"not read: the task name fails first")
    # the default prior has no prox, which admm needs: the unknown task is still what is reported
    for argv in (["tune", "admm", "--task", "nosuch"], ["restore", str(image), "--task", "nosuch", "--solver", "admm", "--prior", "default"]):
        assert cli.main([*argv, "--device", "cpu", "--output", str(tmp_path / "o.png" if argv[0] == "restore" else tmp_path / "o.toml")]) == 2
        assert "error: unknown task 'nosuch'; available: denoising," in capsys.readouterr().err
    assert cli.main(["tune", "admm", "--task", "nosuch", "--prior", "nosuch", "--device", "cpu"]) == 2
    assert "error: unknown prior 'nosuch'; available: default," in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        # the default prior has no prox (admm needs one): that was reported instead of the names below
        (["--dataset", "nosuch"], "error: dataset 'nosuch' is neither 'heldout', 'photos[:NAME,...]', an HDF5 file nor a folder"),
        (["--dataset", "photos:nosuch"], "error: dataset 'photos:nosuch': no bundled photograph 'nosuch'; bundled: aero,"),
        (["--task", "os:path"], "error: task 'os:path': a task must be a task name, an Operator or a factory(shape) -> Operator, got module"),
        (["--prior", "os:path"], "error: prior 'os:path': a prior must be a prior name or spec, a Prior, a deepinv denoiser"),
        (["--prior", "gray:nosuch"], "error: unknown prior 'nosuch' in 'gray:nosuch'; available: default,"),
    ],
)
def test_tune_checks_every_name_before_what_the_prior_can_do(tmp_path, capsys, options, error) -> None:
    argv = ["tune", "admm", "--task", "denoising", *options, "--device", "cpu", "--output", str(tmp_path / "o.toml")]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert error in captured.err and "prox" not in captured.err
    assert captured.out == "" and list(tmp_path.iterdir()) == []


def test_demo_checks_its_arguments_before_making_its_folder(tmp_path, capsys) -> None:
    file = tmp_path / "taken.png"
    file.write_bytes(b"keep")
    assert cli.main(["demo", "--output-dir", str(file), "--images", "1", "--device", "cpu"]) == 2
    assert f"error: output_dir '{file}' is a file, not a folder" in capsys.readouterr().err
    with pytest.raises(ValueError, match="num_images must be an int >= 1, got 0"):
        demo.run_demo(tmp_path / "new", num_images=0)
    assert file.read_bytes() == b"keep" and not (tmp_path / "new").exists()


def test_the_files_written_beside_the_results_are_checked_before_any_work(tmp_path, capsys) -> None:
    (tmp_path / "r-figure.png").mkdir()  # compare writes r-figure.png beside r.h5 after the work
    args = ["compare", "--tasks", "inpainting-box", "--solvers", "admm/tv", "--size", "16", "--num-images", "1",
            "--steps", "2", "--device", "cpu", "--output", str(tmp_path / "r.h5")]
    assert cli.main(args) == 2
    assert f"error: r-figure.png (beside --output '{tmp_path / 'r.h5'}') '{tmp_path / 'r-figure.png'}' is a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r-figure.png"]  # no results, no table: nothing ran
    (tmp_path / "r-figure.png").rmdir()
    (tmp_path / "other.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    (tmp_path / "r-table.csv").symlink_to(tmp_path / "other.h5")
    assert cli.main(args) == 2
    assert "r-table.csv (beside --output" in capsys.readouterr().err and not (tmp_path / "r.h5").exists()


def test_a_config_that_is_not_toml_text_is_named_as_given(tmp_path, capsys) -> None:
    results = tmp_path / "r.h5"
    results.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    assert cli.main(["compare", "--config", str(results)]) == 2
    assert f"error: --config '{results}' is an HDF5 file (a results file?), not a TOML configuration" in capsys.readouterr().err
    assert cli.main(["compare", "--config", str(tmp_path)]) == 2
    assert f"error: --config '{tmp_path}' is a folder; give a TOML configuration file" in capsys.readouterr().err
    saved = tmp_path / "compare.toml"  # as a Windows editor saves it: a byte-order mark (tune reads those too)
    saved.write_bytes(b"\xef\xbb\xbftasks = ['inpainting-box']\r\nsolvers = ['admm/tv']\r\n[overrides.admm]\r\nsteps = 2\r\n")
    output = tmp_path / "out.h5"
    assert cli.main(["compare", "--config", str(saved), "--size", "16", "--num-images", "1", "--device", "cpu", "--output", str(output)]) == 0
    assert output.is_file()


def test_a_warning_is_one_line_naming_the_command(capsys) -> None:
    """Warnings came with their source file and line (plan.py:154: RuntimeWarning: ...), in the
    middle of the progress bar."""
    argv = ["tune", "pnp-pgd", "--prior", "gaussian", "--task", "denoising", "--dataset", "heldout", "--steps", "2",
            "--size", "16", "--images", "1", "--grid", "sigma=0.02"]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "reddiff-imaging tune: warning: tuning on the held-out test images" in err
    assert "UserWarning" not in err and ".py:" not in err
