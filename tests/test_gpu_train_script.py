"""scripts/gpu_train.sh, the one call a GPU loan spends on training the natural prior, checked by its
CPU dry run: it must start from the shipped network (or resume a state), stop on its time limit and
hand back a state that reassembles and resumes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from reddiff_imaging.models import load_unet_checkpoint

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "reddiff_imaging" / "data" / "assets" / "natural_prior.pt"


def _dry_run(tmp_path: Path, out: str, **env: str) -> dict[str, Any]:
    """The script's dry run into ``tmp_path / out``; the state it returns, reassembled."""
    environment = {**os.environ, "OUT": str(tmp_path / out), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env}
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "--dry-run"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    parts = sorted((tmp_path / out).glob("state.pt.part-*"))
    assert parts and all(p.stat().st_size <= 16 * 2**20 for p in parts)
    (tmp_path / out / "state.pt").write_bytes(b"".join(p.read_bytes() for p in parts))
    state: dict[str, Any] = torch.load(tmp_path / out / "state.pt", map_location="cpu", weights_only=True)
    return state


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_dry_run_starts_from_the_shipped_network_and_its_state_resumes(tmp_path: Path) -> None:
    folder = tmp_path / "natural"
    state = _dry_run(tmp_path, "out", STATE=str(folder))
    out = tmp_path / "out"
    assert state["step"] > 0 and state["config"] == load_unet_checkpoint(SHIPPED)[1]["config"].to_dict()
    assert load_unet_checkpoint(out / "ema.pt")[1]["meta"]["steps"] == state["step"]
    assert "mean" in (out / "validation.txt").read_text() and "interrupted; training state saved" in (out / "train.log").read_text()
    assert not folder.exists()  # the dry run trains in a temporary folder
    folder.mkdir()
    shutil.copy(out / "state.pt", folder / "state.pt")
    resumed = _dry_run(tmp_path, "again", STATE=str(folder))
    assert resumed["step"] > state["step"] and resumed["config"] == state["config"]
    assert (folder / "state.pt").read_bytes() == (out / "state.pt").read_bytes()  # a copy was trained


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_dry_run_starts_a_deepened_network_from_a_checkpoint(tmp_path: Path) -> None:
    state = _dry_run(tmp_path, "out", STATE=str(tmp_path / "deep"), INIT=str(SHIPPED), DEEPEN="1")
    config = load_unet_checkpoint(SHIPPED)[1]["config"]
    assert state["step"] > 0 and state["config"] == {**config.to_dict(), "num_res_blocks": config.num_res_blocks + 1}
    assert not (tmp_path / "deep").exists()  # the dry run trains in a temporary folder


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_a_failed_run_returns_no_state(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "LR": "-1"}
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "training failed (status 2): no state returned" in done.stdout
    assert not list((tmp_path / "out").glob("state.pt.part-*"))
