"""The demo: diffusion solvers against classical ones, with tables, figure grids and convergence plots.

Two suites:

* ``photos`` (the default) — the held-out photographs (:data:`~reddiff_imaging.data.photos.HELDOUT_PHOTOS`)
  with the natural-image prior, in gray (cameraman and Grace Hopper, prior ``gray:natural``) and in
  colour (astronaut and coffee, prior ``natural``), on deblurring, 4× super-resolution, random
  inpainting and a box hole;
* ``phantoms`` — the procedural 64×64 test scenes with the phantom prior on six tasks, CT and MRI
  included (for teaching and for the exact tests the phantom prior was made for).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reddiff_imaging._validation import check_choice, check_int
from reddiff_imaging.workbench.compare import ComparisonTable, compare, resolve_device
from reddiff_imaging.workbench.distributed import is_main_process
from reddiff_imaging.workbench.specs import DEMO_TASKS

__all__ = ["DEMO_METHODS", "DEMO_SUITES", "DemoRun", "run_demo"]

#: the phantom suite's methods, with their iteration counts on CPU and on GPU (the papers' counts
#: are larger: RED-diff 1000, DPS 1000, ΠGDM 100, DDRM 20, DiffPIR 100)
DEMO_METHODS: dict[str, dict[str, dict[str, Any]]] = {
    "reddiff/default": {"cpu": {"steps": 100}, "cuda": {"steps": 1000}},
    "dps/default": {"cpu": {"steps": 100, "zeta": 3.0}, "cuda": {"steps": 1000}},
    "pigdm/default": {"cpu": {"steps": 50}, "cuda": {"steps": 100}},
    "ddrm/default": {"cpu": {"steps": 20}, "cuda": {"steps": 20}},
    "diffpir/default": {"cpu": {"steps": 50, "zeta": 1.0}, "cuda": {"steps": 100, "zeta": 1.0}},
    "admm/tv": {"cpu": {"steps": 100}, "cuda": {"steps": 200}},
    "pnp-admm/default": {"cpu": {"steps": 40}, "cuda": {"steps": 100}},
}

#: the photograph suite's tasks
PHOTO_TASKS = ("deblur-gaussian", "sr4-block", "inpainting-random", "inpainting-box")


def _photo_methods(prior: str) -> dict[str, dict[str, dict[str, Any]]]:
    # with 50 steps on CPU, DPS needs a stronger guidance and RED-diff a smaller learning rate than
    # the papers' 1000-step settings: zeta and lr were chosen by `reddiff-imaging tune` on the
    # validation photographs (chelsea, rocket; deblurring, 128×128); see docs/results.rst
    return {
        f"reddiff/{prior}": {"cpu": {"steps": 50, "lr": 0.1}, "cuda": {"steps": 1000}},
        f"dps/{prior}": {"cpu": {"steps": 50, "zeta": 10.0}, "cuda": {"steps": 1000}},
        f"ddrm/{prior}": {"cpu": {"steps": 20}, "cuda": {"steps": 20}},
        f"diffpir/{prior}": {"cpu": {"steps": 50}, "cuda": {"steps": 100}},
        "admm/tv": {"cpu": {"steps": 100}, "cuda": {"steps": 200}},
    }


@dataclass(frozen=True)
class DemoRun:
    """One comparison of a demo suite: its dataset, tasks, methods (with CPU and GPU iteration
    counts), image size on CPU and GPU and channels."""

    name: str
    dataset: str
    tasks: tuple[str, ...]
    methods: dict[str, dict[str, dict[str, Any]]] = field(hash=False)
    size: dict[str, int | None] = field(hash=False)
    channels: int | None = None


#: the demo suites: ``photos`` (default) and ``phantoms``
DEMO_SUITES: dict[str, tuple[DemoRun, ...]] = {
    "photos": (
        DemoRun("photos-gray", "photos:camera,grace_hopper", PHOTO_TASKS, _photo_methods("gray:natural"),
                {"cpu": 128, "cuda": 256}, channels=1),
        DemoRun("photos-colour", "photos:astronaut,coffee", PHOTO_TASKS, _photo_methods("natural"),
                {"cpu": 128, "cuda": 256}, channels=3),
    ),
    "phantoms": (DemoRun("phantoms", "heldout", DEMO_TASKS, DEMO_METHODS, {"cpu": None, "cuda": None}),),
}


def run_demo(
    output_dir: str | os.PathLike[str] = "demo-results",
    *,
    suite: str = "photos",
    num_images: int = 4,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Run a demo suite and write ``results.h5`` and, per comparison of the suite, ``table-NAME.md``,
    ``table-NAME.csv``, ``figure-NAME.png`` and ``convergence-NAME.png`` into ``output_dir``;
    return that folder.

    Args:
        output_dir: the folder (created when missing).
        suite: ``"photos"`` (held-out photographs, natural-image prior) or ``"phantoms"``.
        num_images: images per comparison (at most what the suite's dataset holds).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``; on CPU the solvers run fewer steps than the
            papers, and the photographs are resized to 128×128 (256×256 on a GPU).
        seed: the run seed.
        progress: show progress bars.
    """
    from reddiff_imaging.workbench.figures import convergence_plot, figure_grid

    check_choice(suite, "suite", tuple(DEMO_SUITES))
    check_int(num_images, "num_images")
    check_int(seed, "seed", minimum=0)
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output_dir {str(folder)!r} is a file, not a folder; give a folder for the results")
    target = resolve_device(device)
    folder.mkdir(parents=True, exist_ok=True)
    kind = "cuda" if target.type == "cuda" else "cpu"
    results = folder / "results.h5"
    for demo in DEMO_SUITES[suite]:
        overrides = {m.split("/")[0]: options[kind] for m, options in demo.methods.items()}
        if kind == "cpu" and is_main_process():
            steps = ", ".join(f"{m.split('/')[0]} {next(iter(o['cpu'].values()))}" for m, o in demo.methods.items())
            size = f", images {demo.size['cpu']}×{demo.size['cpu']}" if demo.size["cpu"] else ""
            print(f"{demo.name}: running on CPU with fewer steps than the papers ({steps}{size}); a GPU runs the full counts")
        run = f"demo-{demo.name}-{kind}"
        table: ComparisonTable = compare(
            demo.tasks,
            list(demo.methods),
            overrides=overrides,
            dataset=demo.dataset,
            num_images=num_images,
            size=demo.size[kind],
            channels=demo.channels,
            device=target,
            seed=seed,
            output=results,
            run=run,
            progress=progress,
        )
        if not is_main_process():  # under torchrun, rank 0 writes the files
            continue
        (folder / f"table-{demo.name}.md").write_text(table.to_markdown())
        table.to_csv(folder / f"table-{demo.name}.csv")
        figure_grid(results, run, folder / f"figure-{demo.name}.png")
        convergence_plot(results, run, folder / f"convergence-{demo.name}.png")
        print(f"\n{demo.name}\n" + table.to_markdown())
    if is_main_process():
        print(f"wrote {results} and the tables and figures of suite {suite!r} into {folder}")
    return folder
