"""scripts/gpu_train.sh, the one call a GPU loan spends on training the natural prior, checked by its
CPU dry run: it must resume the committed state, stop on its time limit and hand back a state
that reassembles and resumes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reddiff_imaging.models import load_unet_checkpoint

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "training" / "natural_prior" / "state.pt"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_dry_run_returns_a_resumable_state(tmp_path: Path) -> None:
    before = STATE.read_bytes()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "out"
    parts = sorted(out.glob("state.pt.part-*"))
    assert len(parts) == 2 and all(p.stat().st_size <= 16 * 2**20 for p in parts)
    (tmp_path / "state.pt").write_bytes(b"".join(p.read_bytes() for p in parts))
    state = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)
    committed = torch.load(STATE, map_location="cpu", weights_only=True)
    assert state["step"] > committed["step"] and state["config"] == committed["config"]
    assert load_unet_checkpoint(out / "ema.pt")[1]["meta"]["steps"] == state["step"]
    assert "mean" in (out / "validation.txt").read_text() and "interrupted; training state saved" in (out / "train.log").read_text()
    assert STATE.read_bytes() == before  # the dry run trains a copy


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_dry_run_starts_a_deepened_network_from_a_checkpoint(tmp_path: Path) -> None:
    shipped = ROOT / "reddiff_imaging" / "data" / "assets" / "natural_prior.pt"
    env = {
        **os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
        "STATE": str(tmp_path / "deep"), "INIT": str(shipped), "DEEPEN": "1",
    }
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = tmp_path / "out"
    (tmp_path / "state.pt").write_bytes(b"".join(p.read_bytes() for p in sorted(out.glob("state.pt.part-*"))))
    state = torch.load(tmp_path / "state.pt", map_location="cpu", weights_only=True)
    config = load_unet_checkpoint(shipped)[1]["config"]
    assert state["step"] > 0 and state["config"] == {**config.to_dict(), "num_res_blocks": config.num_res_blocks + 1}
    assert not (tmp_path / "deep").exists()  # the dry run trains in a temporary folder


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_a_failed_run_returns_no_state(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable, "LR": "-1"}
    done = subprocess.run(["bash", "scripts/gpu_train.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "training failed (status 2): no state returned" in done.stdout
    assert not list((tmp_path / "out").glob("state.pt.part-*"))
