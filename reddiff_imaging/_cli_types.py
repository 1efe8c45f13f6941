"""Option types of the command lines (``reddiff-imaging`` and ``train-prior``): each checks its
value with :mod:`reddiff_imaging._validation` when the command line is parsed, so a bad number
or device stops the command before any work, and argparse names the option as typed
(``argument --steps: must be an int >= 1, got 0``)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from reddiff_imaging._validation import (
    MAX_IMAGE_SIDE,
    check_device,
    check_int,
    check_real,
)

__all__ = [
    "device_option",
    "image_side",
    "nonnegative_float",
    "nonnegative_int",
    "positive_float",
    "positive_int",
    "unit_float",
]


def _parsed(convert: Callable[[str], Any], check: Callable[[Any], Any], kind: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text!r}") from None
        try:
            return check(value)
        except (TypeError, ValueError) as err:
            # the checks name their value "value"; argparse prefixes the option's name
            raise argparse.ArgumentTypeError(str(err).removeprefix("value ")) from None

    parse.__name__ = kind  # argparse shows it in "invalid <name> value" messages
    return parse


#: an int >= 1 (``--steps``, ``--num-images``...)
positive_int = _parsed(int, lambda v: check_int(v, "value"), "an int")
#: an int >= 0 (``--seed``)
nonnegative_int = _parsed(int, lambda v: check_int(v, "value", minimum=0), "an int")
#: a finite number >= 0 (``--sigma``)
nonnegative_float = _parsed(float, lambda v: check_real(v, "value", low=0.0), "a number")
#: a finite number > 0 (``--lr``)
positive_float = _parsed(float, lambda v: check_real(v, "value", low=0.0, open_low=True), "a number")
#: a number in [0, 1] (``--ema-decay``)
unit_float = _parsed(float, lambda v: check_real(v, "value", low=0.0, high=1.0), "a number")


#: an image side in pixels (``--size``): an int in [1, MAX_IMAGE_SIDE]
image_side = _parsed(int, lambda v: check_int(v, "value", maximum=MAX_IMAGE_SIDE), "an int")


def _device(text: str) -> str:
    return text if text == "auto" else str(check_device(text, "value"))


#: ``auto`` or a device this machine has (``cpu``, ``cuda``, ``cuda:1``...)
device_option = _parsed(str, _device, "a device")
