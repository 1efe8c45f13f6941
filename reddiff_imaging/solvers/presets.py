r"""Published per-task hyper-parameters of the diffusion solvers, as data with their sources.

``options(solver, preset, task)`` gives the solver options of a preset for one of the task names of
:func:`reddiff_imaging.operators.registry.available`; :func:`reddiff_imaging.solvers.get` takes them
as ``get("dps", preset="paper", task="sr4-block")`` (explicit keyword options still win), and the
workbench as ``compare(..., preset="paper")`` / ``reddiff-imaging compare --preset paper``.

The ``paper`` preset is the setting of each method's own paper and official code. The values refer
to images in ``[-1, 1]`` and their measurements, which is how the solvers here take them (see the
range convention in :mod:`reddiff_imaging.solvers.diffusion_common`); DiffPIR's :math:`\lambda`
multiplies the public-units :math:`\sigma^2`, as in its official code. A task without a published
setting for a method is an error that lists the tasks that have one.

Sources:

* RED-diff — Mardani et al., ICLR 2024, and NVlabs/RED-diff (``README.md``, ``sample_test.sh``):
  :math:`\lambda` (``grad_term_weight``) 0.25, learning rate 0.25 for inpainting and 0.5 for the
  other tasks (super-resolution, deblurring, HDR, JPEG), Adam, 1000 steps in the paper.
* DPS — DPS2022/diffusion-posterior-sampling ``configs/*.yaml`` (``conditioning.params.scale``):
  ζ = 0.5 for inpainting (random mask), 0.3 for super-resolution ×4, Gaussian, motion and nonlinear
  deblurring, 1.0 for phase retrieval; 1000 DDPM steps (``configs/diffusion_config.yaml``).
* ΠGDM — NVlabs/RED-diff ``sample_batch.sh`` (the reference implementation's runs for the RED-diff
  paper's comparison on ``sr4`` and ``in2_20ff``): η = 1, ``grad_term_weight`` 1, 1000 steps, and
  for inpainting its ``in2`` variant (``project="always"``).
* DDRM — Kawar et al., NeurIPS 2022, main results, and bahjat-kawar/ddrm (``configs``,
  ``_configs/algo/ddrm.yaml`` of NVlabs/RED-diff): 20 steps, η = 0.85, η_b = 1.
* DiffPIR — yuanzhi-zhu/DiffPIR ``main_ddpir_deblur.py`` (100 steps, ``quad``,
  ``lambda_ = 1 × 7``, ``zeta = 0.1 × 3``) and ``main_ddpir_inpainting.py`` (20 steps, ``quad``,
  λ = 1, ζ = 1). Its super-resolution script sweeps λ over 2–12 (ζ = 0.25) without a single
  choice, so super-resolution has no ``paper`` entry.
* DPIR — Zhang et al., TPAMI 2022, and cszn/DPIR ``main_dpir_deblur.py`` (8 steps, the last
  denoiser level the noise level) and ``main_dpir_sisr.py`` (24 steps, the last level
  :math:`\max(s, 255\sigma_y)/255` for the scale factor :math:`s`: 4/255 at :math:`\sigma_y = 0.01`);
  λ = 0.23, :math:`\sigma_1` = 49/255 and the periodic geometric self-ensemble in both. The
  values here are for the tasks' noise level 0.01 or below.
"""

from __future__ import annotations

from typing import Any

from reddiff_imaging._validation import check_choice

INPAINTING = ("inpainting-box", "inpainting-random", "inpainting-freeform")
SUPER_RESOLUTION = ("sr4-block", "sr2-bicubic")
DEBLURRING = ("deblur-gaussian", "deblur-uniform", "deblur-motion", "deblur-zero-padded")


def _each(tasks: tuple[str, ...], options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {task: dict(options) for task in tasks}


#: ``PRESETS[solver][preset][task]`` -> solver options
PRESETS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "reddiff": {
        "paper": {
            **_each(INPAINTING, {"steps": 1000, "lam": 0.25, "lr": 0.25}),
            **_each((*SUPER_RESOLUTION, *DEBLURRING, "hdr"), {"steps": 1000, "lam": 0.25, "lr": 0.5}),
        },
    },
    "dps": {
        "paper": {
            **_each(INPAINTING, {"steps": 1000, "zeta": 0.5}),
            **_each(("sr4-block", "deblur-gaussian", "deblur-motion"), {"steps": 1000, "zeta": 0.3}),
            "phase-retrieval": {"steps": 1000, "zeta": 1.0},
        },
    },
    "pigdm": {
        "paper": {
            **_each(INPAINTING, {"steps": 1000, "eta": 1.0, "guidance_scale": 1.0, "project": "always"}),
            "sr4-block": {"steps": 1000, "eta": 1.0, "guidance_scale": 1.0},
        },
    },
    "ddrm": {
        "paper": _each((*INPAINTING, *SUPER_RESOLUTION, *DEBLURRING, "denoising"), {"steps": 20, "eta": 0.85, "eta_b": 1.0}),
    },
    "diffpir": {
        "paper": {
            **_each(DEBLURRING, {"steps": 100, "lam": 7.0, "zeta": 0.3, "schedule": "quad"}),
            **_each(INPAINTING, {"steps": 20, "lam": 1.0, "zeta": 1.0, "schedule": "quad"}),
        },
    },
    "dpir": {
        "paper": {
            **_each(DEBLURRING, {"steps": 8, "lam": 0.23, "geometric": True}),
            "sr4-block": {"steps": 24, "lam": 0.23, "sigma_end": 4 / 255, "geometric": True},
            "sr2-bicubic": {"steps": 24, "lam": 0.23, "sigma_end": 2 / 255, "geometric": True},
        },
    },
}


def available(solver: str) -> list[str]:
    """The preset names of ``solver`` (empty when it has none)."""
    return sorted(PRESETS.get(solver, {}))


def names() -> list[str]:
    """Every preset name that some solver has."""
    return sorted({name for table in PRESETS.values() for name in table})


def options(solver: str, preset: str, task: str) -> dict[str, Any]:
    """The options of ``solver`` under ``preset`` for ``task`` (a copy).

    Raises:
        ValueError: the solver has no such preset, or the preset has no setting for the task
            (the message lists the valid names).
    """
    if solver not in PRESETS:
        raise ValueError(f"solver {solver!r} has no presets; solvers with presets: {', '.join(sorted(PRESETS))}")
    check_choice(preset, "preset", tuple(available(solver)))
    table = PRESETS[solver][preset]
    if task not in table:
        raise ValueError(
            f"preset {preset!r} of {solver!r} has no published setting for task {task!r}; it has: {', '.join(sorted(table))}"
        )
    return dict(table[task])
