"""Threads of the command line: the default, the oversubscription warning and bad values."""

from __future__ import annotations

import os
import warnings

import pytest
import torch

from reddiff_imaging import _threads, cli


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_is_the_cores_per_process(monkeypatch) -> None:
    monkeypatch.setattr(_threads, "available_cores", lambda: 16)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert _threads.default_threads() == 16
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun with 4 processes on this node
    assert _threads.default_threads() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
    assert _threads.default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's setting wins
    assert _threads.default_threads() == 3


def test_oversubscription_warns_and_one_thread_does_not(monkeypatch) -> None:
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.9, 2.0, 1.0))
    with pytest.warns(RuntimeWarning, match=r"load average 2\.9 on 2 cores.*--threads 1"):
        assert _threads.configure_threads(2) == 2
    assert torch.get_num_threads() == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _threads.configure_threads(1) == 1
        monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
        assert _threads.configure_threads(2) == 2  # an idle machine


def test_cli_sets_threads_and_reports_bad_values(monkeypatch, capsys) -> None:
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert cli.main(["info", "--threads", "1"]) == 0
    assert "CPU threads: 1 (of" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:  # checked when parsed, like every numeric option
        cli.main(["info", "--threads", "0"])
    assert exit_info.value.code == 2
    assert "argument --threads: must be an int >= 1, got 0" in capsys.readouterr().err
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 3.0, 3.0))
    assert cli.main(["info", "--threads", "2"]) == 0
    assert "reddiff-imaging info: warning: the machine is busy" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["info", "demo", "compare", "tune", "restore", "check-operators"])
def test_every_command_takes_threads(command: str) -> None:
    parser = cli.build_parser()
    required = {"tune": ["reddiff", "--task", "denoising"], "restore": ["x.png", "--task", "denoising"]}.get(command, [])
    assert parser.parse_args([command, *required, "--threads", "3"]).threads == 3
