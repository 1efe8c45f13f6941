"""The demo: the bundled prior and held-out images on six tasks and seven methods, with a table,
a figure grid and convergence plots."""

from __future__ import annotations

import os
from pathlib import Path

from reddiff_imaging.workbench.compare import compare, resolve_device
from reddiff_imaging.workbench.distributed import is_main_process
from reddiff_imaging.workbench.specs import DEMO_TASKS

#: the demo's methods, with their iteration counts on CPU and on GPU (the papers' counts are
#: larger: RED-diff 1000, DPS 1000, ΠGDM 100, DDRM 20, DiffPIR 100)
DEMO_METHODS = {
    "reddiff/default": {"cpu": {"steps": 100}, "cuda": {"steps": 1000}},
    "dps/default": {"cpu": {"steps": 100, "zeta": 3.0}, "cuda": {"steps": 1000}},
    "pigdm/default": {"cpu": {"steps": 50}, "cuda": {"steps": 100}},
    "ddrm/default": {"cpu": {"steps": 20}, "cuda": {"steps": 20}},
    "diffpir/default": {"cpu": {"steps": 50, "zeta": 1.0}, "cuda": {"steps": 100, "zeta": 1.0}},
    "admm/tv": {"cpu": {"iterations": 100}, "cuda": {"iterations": 200}},
    "pnp-admm/default": {"cpu": {"iterations": 40}, "cuda": {"iterations": 100}},
}


def run_demo(
    output_dir: str | os.PathLike[str] = "demo-results",
    *,
    num_images: int = 4,
    device: str = "auto",
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Run the demo comparison and write ``results.h5``, ``table.md``, ``table.csv``,
    ``figure.png`` and ``convergence.png`` into ``output_dir``; return that folder."""
    from reddiff_imaging.workbench.figures import convergence_plot, figure_grid

    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = resolve_device(device)
    kind = "cuda" if target.type == "cuda" else "cpu"
    overrides = {m.split("/")[0]: options[kind] for m, options in DEMO_METHODS.items()}
    if kind == "cpu":
        steps = ", ".join(f"{m.split('/')[0]} {next(iter(o['cpu'].values()))}" for m, o in DEMO_METHODS.items())
        print(f"running on CPU with fewer steps than the papers ({steps}); a GPU runs the full counts")
    results = folder / "results.h5"
    table = compare(
        DEMO_TASKS,
        list(DEMO_METHODS),
        overrides=overrides,
        num_images=num_images,
        device=target,
        seed=seed,
        output=results,
        run=f"demo-{kind}",
        progress=progress,
    )
    if not is_main_process():  # under torchrun, rank 0 writes the files
        return folder
    (folder / "table.md").write_text(table.to_markdown())
    table.to_csv(folder / "table.csv")
    figure_grid(results, f"demo-{kind}", folder / "figure.png")
    convergence_plot(results, f"demo-{kind}", folder / "convergence.png")
    print(table.to_markdown())
    print(f"wrote {results}, {folder / 'table.md'}, {folder / 'figure.png'} and {folder / 'convergence.png'}")
    return folder

