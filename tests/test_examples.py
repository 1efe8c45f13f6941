"""Every script in ``examples/`` runs to the end and prints what docs/examples.rst says it shows.

docs/examples.rst includes the scripts' source and no pasted output: this module is where their
output is checked. Each script is found in ``examples/`` (a new script without checks here fails
:func:`test_every_example_is_checked`), run as ``__main__`` in this process with :mod:`runpy`
(the package is already imported, which saves seconds per script; the warning filters a script sets
are restored afterwards), and its printed lines are parsed and checked: the adjoint and Jacobian
tests pass, structured operators keep their structure, exact identities hold to rounding, and
each solver beats the plain (pseudo-)inverse baseline of its script.
"""

from __future__ import annotations

import re
import runpy
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(path.name for path in EXAMPLES.glob("*.py"))


def line(output: str, pattern: str) -> re.Match[str]:
    """The first line of ``output`` matching ``pattern`` (a regular expression searched in each line)."""
    for text in output.splitlines():
        found = re.search(pattern, text)
        if found is not None:
            return found
    raise AssertionError(f"no line matches {pattern!r} in the output:\n{output}")


def number(output: str, pattern: str) -> float:
    """The first group of the first line matching ``pattern``, as a float."""
    return float(line(output, pattern).group(1))


def psnr(output: str, name: str) -> float:
    """The PSNR printed on the line that starts with ``name``."""
    return number(output, rf"^{re.escape(name)}\s+PSNR\s+([\d.]+) dB")


def check_operator_algebra(output: str) -> None:
    assert len(re.findall(r"^dot test: error \S+ \(tolerance \S+\) passed$", output, re.MULTILINE)) == 2
    assert number(output, r"^dot test: error (\S+) \(tolerance 1\.0e-10\)") <= 1e-10
    line(output, r"^A = LinearComposition linear: True$")
    line(output, r"^mask @ mask is Inpainting$")
    line(output, r"^2 \* blur is Circulant with an SVD: True$")
    assert 0.9 < number(output, r"^‖A‖ = ([\d.]+) \(power iteration\)") <= 1.0  # blur and mask: norm ≤ 1
    tikhonov = number(output, r"^Tikhonov PSNR ([\d.]+) dB")
    assert number(output, r"noise-free deblurring by pinv ([\d.]+) dB") > max(tikhonov, 35.0)
    line(output, r"^scipy lsqr: 4096 unknowns, \d+ iterations$")
    line(output, r"^deepinv physics: \w+ A\(x\) agrees: True$")
    line(output, r"^jacobian: error \S+ \(tolerance \S+\) passed$")


def check_inpainting_reddiff_vs_tv(output: str) -> None:
    baseline = psnr(output, "pseudo-inverse")
    for name in ("RED-diff, default prior", "ADMM, TV"):
        assert psnr(output, name) > baseline + 10.0, name
        assert number(output, rf"^{re.escape(name)} .* inside the box\s+([\d.]+) dB") > 20.0, name
    history = line(output, r"^  (\d+) history records; PSNR every 10 steps: (.*)$")
    assert history.group(1) == "100"
    curve = [float(value) for value in re.findall(r"\(\d+, ([\d.]+)\)", history.group(2))]
    assert len(curve) == 4 and curve == sorted(curve), curve  # RED-diff's PSNR rises along the run


def check_gaussian_mixture_posterior(output: str) -> None:
    line(output, r"^GaussianMixture\(num_components=3, shape=\(1, 4, 4\)")
    assert number(output, r"^score vs autograd: max error (\S+)$") < 1e-10
    assert number(output, r"^denoise vs posterior mean: max error (\S+)$") < 1e-10
    weights = [float(w) for w in line(output, r"^posterior component weights: \[(.*)\]$").group(1).split(",")]
    assert len(weights) == 3 and abs(sum(weights) - 1.0) < 2e-3
    floor = number(output, r"^  another exact sample set\s+([\d.]+)$")
    prior = number(output, r"^  prior samples\s+([\d.]+)$")
    assert floor < prior
    for sampler in ("ddrm", "pigdm", "dps"):  # each sampler lands closer to the posterior than the prior
        distance = number(output, rf"^  {sampler}\s+\(\s*\d+ steps\)\s+([\d.]+)")
        assert floor <= distance < prior, sampler
    estimate = line(output, r"^RED-diff estimate: distance ([\d.]+) to the posterior mode, ([\d.]+) to the mean")
    assert all(float(value) > 0 for value in estimate.groups())


def check_reddiff_with_tv(output: str) -> None:
    line(output, r"^TV capabilities: \('denoise', .*\) -> as a diffusion model: \(.*'eps'.*\)$")
    baseline = psnr(output, "pseudo-inverse (rcond 3e-2)")
    for name in ("RED-diff, TV prior", "RED-diff, default prior", "ADMM, TV"):
        assert psnr(output, name) > baseline + 3.0, name
        assert number(output, rf"^{re.escape(name)} .* SSIM ([\d.]+)") > 0.7, name


def check_deepinv_physics(output: str) -> None:
    line(output, r"^DeepinvLinearOperator in \(1, 64, 64\) out \(1, 32, 32\) linear: True$")
    line(output, r"^dot test: error \S+ \(tolerance \S+\) passed$")
    assert abs(number(output, r"^‖A‖ = ([\d.]+)$") - 0.5) < 1e-3  # 2x2 average pooling: norm 1/2
    line(output, r"^composition: LinearComposition dot test: error \S+ \(tolerance \S+\) passed$")
    baseline = psnr(output, "Tikhonov (rho 3e-3)")
    for name in ("RED-diff, default prior", "PnP-PGD, Gaussian filter"):
        assert psnr(output, name) > baseline, name
    line(output, r"^DDRM: .*needs an operator with an SVD")
    line(output, r"^deepinv's adjointness test on our blur passes: True$")


CHECKS: dict[str, Callable[[str], None]] = {
    "operator_algebra.py": check_operator_algebra,
    "inpainting_reddiff_vs_tv.py": check_inpainting_reddiff_vs_tv,
    "gaussian_mixture_posterior.py": check_gaussian_mixture_posterior,
    "reddiff_with_tv.py": check_reddiff_with_tv,
    "deepinv_physics.py": check_deepinv_physics,
}


def test_every_example_is_checked() -> None:
    assert SCRIPTS, f"no script found in {EXAMPLES}"
    assert set(SCRIPTS) == set(CHECKS), "add the checks of a new example to CHECKS (and drop those of a removed one)"


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs_and_prints_its_claims(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():  # a script may change the warning filters (reddiff_with_tv does)
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    output = capsys.readouterr().out
    line(output, r"^done in [\d.]+ s$")
    CHECKS[script](output)
