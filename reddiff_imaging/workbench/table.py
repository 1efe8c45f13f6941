"""The comparison table: mean ± std of each metric per task × method, from a results file."""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from reddiff_imaging._validation import check_not_hdf5, check_output_file, check_writable
from reddiff_imaging.workbench.store import ResultsStore

METRICS = ("psnr", "ssim", "seconds", "peak_memory_bytes")


@dataclass(frozen=True)
class Row:
    """Aggregated metrics of one method on one task: ``{metric: (mean, std)}`` over ``count`` images."""

    task: str
    method: str
    count: int
    values: dict[str, tuple[float, float]]


class ComparisonTable:
    """Rows of (task, method) with mean ± std of PSNR, SSIM, seconds and peak memory.

    Build it with :meth:`from_results`; export with :meth:`to_markdown` and :meth:`to_csv`;
    draw it with :meth:`plot`.
    """

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows

    @classmethod
    def from_results(cls, path: str | os.PathLike[str], run: str) -> ComparisonTable:
        """Aggregate the complete units of ``run`` in the results file at ``path``."""
        groups: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        with ResultsStore(path, "r") as store:
            if run not in store.runs():
                raise ValueError(f"run {run!r} is not in {str(path)!r}; runs present: {store.runs()}")
            for task, method, _, item in store.units(run):
                for metric in METRICS:
                    groups[(task, method)][metric].append(float(item.attrs[metric]))
        rows = [
            Row(task, method, len(values["psnr"]), {m: _mean_std(values[m]) for m in METRICS})
            for (task, method), values in sorted(groups.items())
        ]
        return cls(rows)

    @property
    def tasks(self) -> list[str]:
        return sorted({r.task for r in self.rows})

    @property
    def methods(self) -> list[str]:
        return sorted({r.method for r in self.rows})

    def get(self, task: str, method: str) -> Row | None:
        return next((r for r in self.rows if r.task == task and r.method == method), None)

    def to_markdown(self) -> str:
        """A Markdown table, one row per task × method."""
        lines = [
            "| task | method | images | PSNR (dB) | SSIM | seconds / image | peak memory (MiB) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            psnr, ssim, sec, mem = (r.values[m] for m in METRICS)
            lines.append(
                f"| {r.task} | {r.method} | {r.count} | {psnr[0]:.2f} ± {psnr[1]:.2f} | {ssim[0]:.3f} ± {ssim[1]:.3f} "
                f"| {sec[0]:.2f} ± {sec[1]:.2f} | {mem[0] / 2**20:.1f} |"
            )
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """CSV text (written to ``path`` when given, a ``.csv`` or ``.txt`` file): task, method,
        count, and mean/std per metric. An existing HDF5 file at ``path`` (a results file) is
        refused, never overwritten."""
        if path is not None:
            check_output_file(path, "path", (".csv", ".txt"), "a CSV table")
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["task", "method", "count", *[f"{m}_{s}" for m in METRICS for s in ("mean", "std")]])
        for r in self.rows:
            writer.writerow([r.task, r.method, r.count, *[v for m in METRICS for v in r.values[m]]])
        text = buffer.getvalue()
        if path is not None:
            Path(path).write_text(text)
        return text

    def plot(self, path: str | os.PathLike[str], metric: str = "psnr") -> Path:
        """A grouped bar chart of ``metric`` (mean ± std) per task and method, saved as PNG (or
        the format ``path``'s suffix names, e.g. ``.pdf``, ``.svg``). A suffix matplotlib cannot
        write, or an existing HDF5 file at ``path`` (a results file), is refused before drawing."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.backend_bases import FigureCanvasBase

        if metric not in METRICS:
            raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
        check_writable(path, "path")
        formats = FigureCanvasBase.get_supported_filetypes()
        suffix = Path(path).suffix.lower().lstrip(".")
        if suffix not in formats:
            got = f"ends in {Path(path).suffix!r}" if suffix else "has no suffix"
            raise ValueError(f"path {str(path)!r} {got}; a figure is written as .png or another format matplotlib writes: {', '.join(sorted(formats))}")
        check_not_hdf5(path, "path", "a figure")
        tasks, methods = self.tasks, self.methods
        width = 0.8 / max(len(methods), 1)
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(tasks)), 4))
        for j, method in enumerate(methods):
            rows = [self.get(t, method) for t in tasks]
            means = [r.values[metric][0] if r else math.nan for r in rows]
            stds = [r.values[metric][1] if r else 0.0 for r in rows]
            ax.bar([i + j * width for i in range(len(tasks))], means, width, yerr=stds, label=method)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks, rotation=20)
        ax.set_ylabel(metric)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = Path(path)
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _mean_std(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))
