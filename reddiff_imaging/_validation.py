"""Input checks shared by operators, noise models, problems, priors and solvers.

Every check raises early with a message that names the argument, what was expected and what came.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TypeGuard

import numpy as np
import torch
from torch import Tensor

Shape = tuple[int, ...]
#: a noise level or step size: one number, or a tensor of one value per batch item
Level = float | Tensor

#: dtypes our operators, priors and solvers compute in (FFTs and sparse products refuse half precision)
SUPPORTED_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)
#: the most pixels (height × width) an image file may claim before it is decoded
MAX_IMAGE_PIXELS = 100_000_000
#: the most values a data set file may claim before it is read (16 GiB of float32)
MAX_DATASET_ELEMENTS = 2**32
#: the largest side of a square image within that bound (``--size``)
MAX_IMAGE_SIDE = math.isqrt(MAX_IMAGE_PIXELS)
#: the most entries a sparse operator matrix (e.g. Radon's projection matrix) may be built with,
#: counted before it is built (8 bytes each while building: 16 GiB)
MAX_MATRIX_ENTRIES = 2**31
#: the most values a function may generate in one call (random test inputs, synthetic images,
#: random projections), counted before anything is allocated (8 GiB of float32)
MAX_GENERATED_ELEMENTS = 2**31
#: file name suffixes of HDF5 files (results files, data sets)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")

_FINITE_SCANS: ContextVar[bool] = ContextVar("reddiff_imaging_finite_scans", default=True)


@contextmanager
def monitored_finiteness() -> Iterator[None]:
    """Skip the NaN/Inf scan of :func:`check_tensor` inside the block (all other checks stay).

    Solver loops run in this block: their :class:`~reddiff_imaging.solvers.base.Monitor` checks the
    iterate every ``check_every`` steps, so scanning every operator and prior input again (a full
    reduction and, on a GPU, a host synchronisation per call) would only cost time.
    """
    token = _FINITE_SCANS.set(False)
    try:
        yield
    finally:
        _FINITE_SCANS.reset(token)


def as_shape(value: Sequence[int] | torch.Size, name: str) -> Shape:
    """Return ``value`` as a tuple of positive ints, or raise naming ``name``.

    Every entry must be an int (``8.5``, ``True`` and ``"8"`` are refused, never truncated).
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, torch.Size, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of ints, got {value!r}")
    if any(not _is_int(v) for v in value):
        raise TypeError(f"{name} must be a sequence of ints, got {tuple(value)!r}")
    shape = tuple(int(v) for v in value)
    if len(shape) == 0 or any(v <= 0 for v in shape):
        raise ValueError(f"{name} must be a non-empty tuple of positive ints, got {shape}")
    return shape


def _is_int(value: object) -> TypeGuard[numbers.Integral | np.integer]:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> TypeGuard[numbers.Real | np.floating | np.integer]:
    return isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_int(value: object, name: str, *, minimum: int | None = 1, maximum: int | None = None) -> int:
    """Return ``value`` when it is an int in ``[minimum, maximum]``, or raise naming ``name``.

    Bools, floats (even ``8.0``) and numeric strings are refused with a TypeError.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    number = int(value)
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else f">= {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be an int {' and '.join(b for b in (low, high) if b)}, got {number}")
    return number


def check_real(
    value: object, name: str, *, low: float | None = None, high: float | None = None, open_low: bool = False
) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` with ``open_low``).

    Bools and strings are refused with a TypeError; NaN, Inf and values out of range with a ValueError.
    """
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if not _is_real(value):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    number = float(value)
    below = low is not None and (number <= low if open_low else number < low)
    if not math.isfinite(number) or below or (high is not None and number > high):
        if low is not None and high is not None:
            raise ValueError(f"{name} must be in {'(' if open_low else '['}{low:g}, {high:g}], got {value!r}")
        bound = f" {'>' if open_low else '>='} {low:g}" if low is not None else f" <= {high:g}" if high is not None else ""
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return number


def check_unit_interval(value: object, name: str) -> float:
    """Return ``value`` as a float in ``[0, 1]``, or raise naming ``name``."""
    return check_real(value, name, low=0.0, high=1.0)


def check_device(value: object, name: str = "device", *, auto: bool = False) -> torch.device:
    """Return ``value`` as a usable :class:`torch.device`, or raise naming ``name``.

    Refused: strings torch does not know, the ``meta`` device (it holds no data), and devices of a
    kind or index this machine lacks. With ``auto``, ``"auto"`` is taken: CUDA when present, else
    the CPU (the messages offer it only then).
    """
    if auto and isinstance(value, str) and value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(value, (str, torch.device)):
        raise TypeError(f"{name} must be a device name such as 'cpu' or 'cuda', got {value!r}")
    try:
        device = torch.device(value)
    except RuntimeError as err:
        choices = "auto, cpu, cuda or cuda:N" if auto else "cpu, cuda or cuda:N"
        raise ValueError(f"{name} {str(value)!r} is not a device; use {choices}") from err
    if device.type == "meta":
        raise ValueError(f"{name} 'meta' holds no data and cannot run a computation; use cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {str(value)!r} was requested but no CUDA device is available; use cpu" + (" or auto" if auto else ""))
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"{name} {str(value)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        backend = getattr(torch.backends, device.type, None)
        if backend is None or not getattr(backend, "is_available", lambda: False)():
            raise ValueError(f"{name} {str(value)!r} is not available on this machine; use cpu or cuda")
    return device


def check_parameter(value: object, name: str, *, allow_bool: bool = False) -> Tensor:
    """An operator parameter (transfer function, kernel, mask...) as a non-empty finite tensor.

    NumPy arrays and nested sequences are converted; empty arrays, NaN or Inf entries are refused,
    and so are bool arrays unless ``allow_bool`` (returned as they are).
    """
    if isinstance(value, np.ndarray) or (isinstance(value, Sequence) and not isinstance(value, (str, bytes))):
        try:
            value = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(value).__name__}") from err
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or a NumPy array, got {type(value).__name__}")
    if value.dtype == torch.bool and not allow_bool:
        raise TypeError(f"{name} must hold numbers, got dtype {value.dtype}")
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {value.numel()} entries)")
    return value


def check_path_name(path: object, name: str) -> Path:
    """``path`` as a Path when it is a file or folder name as the workbench takes them (``str`` or a
    text ``os.PathLike``), else a :class:`TypeError` naming ``name`` (``Path`` itself fails inside
    pathlib with a message that names no argument)."""
    text = os.fspath(path) if isinstance(path, (str, os.PathLike)) else None
    if not isinstance(text, str):
        hint = "; decode bytes with os.fsdecode" if isinstance(path, bytes) or isinstance(text, bytes) else ""
        raise TypeError(f"{name} must be a file name (str or os.PathLike), got {type(path).__name__}{hint}")
    return Path(text)


def check_writable(path: str | os.PathLike[str], name: str) -> Path:
    """Return ``path`` when a file can be written there (its folder exists or can be created and is
    writable, and it is not a folder), or raise naming ``name`` — before any work is done."""
    target = check_path_name(path, name)
    if target.is_dir():
        raise ValueError(f"{name} {str(target)!r} is a folder; give a file name")
    if target.is_symlink() and not target.exists():  # writing would create a file wherever the link points
        raise FileNotFoundError(
            f"{name} {str(target)!r} is a link to {os.readlink(target)!r}, which does not exist (an unmounted disk, a moved "
            "folder?); give the file itself or fix the link"
        )
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{name} {str(target)!r}: {str(folder)!r} is not a folder")
    try:  # a real write test: permission bits do not tell (root, read-only mounts, /proc)
        if target.exists():
            with open(target, "ab"):
                pass
        else:
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
            os.close(handle)
            os.unlink(probe)
    except OSError as err:
        raise PermissionError(f"{name} {str(target)!r} is not writable ({err.strerror} in {str(folder)!r})") from err
    return target


def check_output_file(path: str | os.PathLike[str], name: str, suffixes: Sequence[str], written: str) -> Path:
    """:func:`check_writable`, and refuse a name whose suffix (in any case) is not one of
    ``suffixes``: ``written`` (what goes there, e.g. "an HDF5 results file") would otherwise land in
    a file its name calls something else. Unless ``written`` is HDF5 itself, an existing HDF5 file
    there is refused too (:func:`check_not_hdf5`): a link named ``figure.png`` may lead to a results file."""
    target = check_writable(path, name)
    if target.suffix.lower() not in suffixes:
        got = f"ends in {target.suffix!r}" if target.suffix else "has no suffix"
        raise ValueError(f"{name} {str(path)!r} {got}, but {written} is written there: give a name ending in {' or '.join(suffixes)}")
    if not set(suffixes) & set(HDF5_SUFFIXES):
        check_not_hdf5(path, name, written)
    return target


def replace_whole(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Run ``write`` on a temporary file beside ``path`` (same suffix), flush it to disk, then rename
    it over ``path``: a crash, Ctrl-C or error midway leaves the earlier file whole (it may be the
    input image) and no broken one. A link is followed (its target is replaced, the link kept); an
    existing file keeps its permissions, a new one gets the umask's, as :func:`open` would give it.
    Returns the file written (the link's target)."""
    target = Path(path)
    target = target.resolve() if target.is_symlink() else target
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        mode = target.stat().st_mode & 0o7777
    else:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        fsync_path(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_path(target.parent)  # the rename itself reaches the disk before anything relies on it
    return target


def fsync_path(path: Path) -> None:
    """Have the operating system write ``path`` (a file, or a folder's entries) to the disk."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except (IsADirectoryError, PermissionError):  # a folder where it cannot be opened (Windows)
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` all at once (:func:`replace_whole`)."""
    replace_whole(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
    return Path(path)


#: the first bytes of every HDF5 file (at offset 0 unless the file has a user block)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (links followed) is an existing file that starts like an HDF5 file, at
    offset 0 or after a user block (512, 1024, ... bytes)."""
    try:
        with open(path, "rb") as handle:
            offset = 0
            while True:
                handle.seek(offset)
                head = handle.read(len(HDF5_SIGNATURE))
                if head == HDF5_SIGNATURE:
                    return True
                if len(head) < len(HDF5_SIGNATURE) or offset >= 1 << 20:
                    return False
                offset = 512 if offset == 0 else offset * 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return False


def check_not_hdf5(path: str | os.PathLike[str], name: str, written: str) -> None:
    """Refuse, naming ``name``, to write ``written`` (a figure, a table) over an existing HDF5 file
    — a results file or a data set, reached under another name or through a link: it would be
    destroyed."""
    if is_hdf5_file(path):
        shown = f" (a link to {str(Path(path).resolve())!r})" if Path(path).is_symlink() else ""
        raise ValueError(
            f"{name} {str(path)!r}{shown} is an existing HDF5 file (results or data); writing {written} there would destroy it: "
            "choose another name"
        )


def check_distinct_files(paths: Mapping[str, str | os.PathLike[str] | None]) -> None:
    """Refuse two of the named paths (``None``: not given) that are one file — links resolved, and
    for existing files also hard links and case-insensitive names (``os.path.samefile``): writing
    one would destroy the other (an input image, or another output)."""
    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        key = check_path_name(path, name).resolve()
        same = next((k for k in seen if k == key or (k.exists() and key.exists() and os.path.samefile(k, key))), None)
        if same is not None:
            raise ValueError(f"{name} {str(path)!r} is the same file as {seen[same]}; writing it would destroy that file: choose another name")
        seen[key] = f"{name} {str(path)!r}"


def check_dataset_size(shape: Sequence[int], name: str, *, max_elements: int = MAX_DATASET_ELEMENTS) -> None:
    """Refuse a stored array whose header claims more than ``max_elements`` values, or images
    above :data:`MAX_IMAGE_PIXELS` (its last two axes), before it is read."""
    if len(shape) >= 2:
        check_image_size(int(shape[-2]), int(shape[-1]), name)
    if math.prod(int(s) for s in shape) > max_elements:
        raise ValueError(f"{name} claims shape {tuple(shape)}; the limit is {max_elements:,} values")


def check_image_size(height: int, width: int, name: str, *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an image whose header claims more than ``max_pixels`` pixels, before it is decoded
    (a small file can claim a huge image and exhaust memory when decoded)."""
    if height <= 0 or width <= 0 or height * width > max_pixels:
        raise ValueError(
            f"{name} claims {height} × {width} pixels; the limit is {max_pixels:,} pixels (and at least 1 × 1)"
        )


def check_allocation(count: int, name: str, what: str, *, maximum: int = MAX_GENERATED_ELEMENTS) -> None:
    """Refuse, naming ``name``, a request for ``what`` (e.g. "random inputs of shape (B, 1, 8, 8)")
    of ``count`` values above ``maximum`` (:data:`MAX_GENERATED_ELEMENTS`), before it is allocated."""
    if count > maximum:
        raise ValueError(f"{name} asks for {what}, {count:,} values; the limit is {maximum:,}")


def as_image_shape(value: Sequence[int] | torch.Size, name: str) -> tuple[int, int, int]:
    """Return ``value`` as ``(C, H, W)`` (three positive ints), or raise naming ``name``."""
    shape = as_shape(value, name)
    if len(shape) != 3:
        raise ValueError(f"{name} must be (C, H, W), got {shape}")
    return shape


def check_batch_shape(x: Tensor, name: str = "x") -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is a batch of images ``(B, C, H, W)`` with
    ``B >= 1`` (the shape only: no value is read, so no device synchronises)."""
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one image, got batch size 0")


def check_tensor(
    value: object,
    name: str,
    shape: Shape | None = None,
    *,
    allow_complex: bool = True,
    device: torch.device | None = None,
    finite: bool = True,
) -> Tensor:
    """Validate a batched tensor ``(B, *shape)`` and return it unchanged.

    Checks, in order: it is a tensor, its dtype is floating point (or complex when allowed), it
    holds at least one value, its trailing shape, its device, and (``finite=True``, outside ``monitored_finiteness()``) that it
    holds no NaN or Inf.
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"{name} must have a floating-point dtype, got {value.dtype}")
    if value.dtype not in SUPPORTED_DTYPES:
        raise TypeError(
            f"{name} has dtype {value.dtype}; reddiff-imaging computes in float32 or float64 (and their complex "
            f"kinds) because FFTs and sparse products do not support half precision: convert with {name}.float()"
        )
    if value.ndim == 0 or value.shape[0] == 0:
        raise ValueError(f"{name} must be a batch (B, ...) of at least one item, got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if value.is_complex() and not allow_complex:
        raise TypeError(f"{name} must be real (this operator acts on real inputs), got {value.dtype}")
    if shape is not None and (value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != shape):
        expected = "(B, " + ", ".join(str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(value.shape)}")
    if device is not None and value.device != device:
        raise ValueError(
            f"{name} is on device {value.device}, but the operator lives on {device}; "
            "move one of them with .to(device)"
        )
    if value.device.type == "meta":
        raise ValueError(f"{name} is on the 'meta' device, which holds no data; use a cpu or cuda tensor")
    if finite and _FINITE_SCANS.get() and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {value.numel()} entries)")
    return value


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Raise a ValueError listing ``choices`` when ``value`` is not one of them."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {sorted(choices)}, got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_init(value: object, choices: Sequence[str], name: str = "init", *, tensor: bool = True) -> None:
    """Raise unless ``value`` is one of ``choices`` (a ValueError listing them) or, with ``tensor``, a
    tensor (a TypeError for anything else); the starting points a solver offers."""
    if tensor and isinstance(value, Tensor):
        return
    if isinstance(value, str) or not tensor:
        check_choice(value, name, choices)
        return
    raise TypeError(f"{name} must be one of {sorted(choices)} or a tensor, got {type(value).__name__}")


def check_generator(value: object, name: str = "generator") -> torch.Generator | None:
    """Return ``value`` when it is a :class:`torch.Generator` or None, or raise a TypeError naming ``name``
    (a seed is not a generator: make one with ``torch.Generator().manual_seed(seed)``)."""
    if value is not None and not isinstance(value, torch.Generator):
        hint = "; for a seed pass torch.Generator().manual_seed(seed)" if _is_int(value) else ""
        raise TypeError(f"{name} must be a torch.Generator or None, got {value!r} ({type(value).__name__}){hint}")
    return value


def check_instance(value: object, name: str, kind: type, described: str) -> None:
    """Raise a TypeError naming ``name`` unless ``value`` is a ``kind``; ``described`` names the
    type as users import it (``reddiff_imaging.operators.Operator``, with a hint if useful)."""
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {described}, got {type(value).__name__}")


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` when it is a bool, or raise a TypeError naming ``name``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def check_positive(value: object, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a float, or raise when it is not (strictly) positive and finite."""
    return check_real(value, name, low=0.0, open_low=not allow_zero)


def check_level(value: object, name: str, x: Tensor, *, allow_zero: bool = False) -> Level:
    """Validate a noise level / step for the batch ``x``: a finite number (> 0, or >= 0 with
    ``allow_zero``) or a real tensor of one or ``B`` values.

    Returns a float, or a tensor of shape ``(B,)`` in ``x``'s dtype and device.
    """
    if isinstance(value, Tensor):
        if value.is_complex() or not value.is_floating_point():
            raise TypeError(f"{name} must be a real floating-point tensor, got dtype {value.dtype}")
        batch = x.shape[0]
        if value.numel() == 1:
            level = value.reshape(1).expand(batch)
        elif value.ndim == 1 and value.shape[0] == batch:
            level = value
        else:
            raise ValueError(f"{name} must be a number or a tensor of shape ({batch},) (one per item), got shape {tuple(value.shape)}")
        level = level.to(device=x.device, dtype=x.dtype)
        ok = torch.isfinite(level) & ((level >= 0) if allow_zero else (level > 0))
        if not bool(ok.all()):
            bound = ">= 0" if allow_zero else "> 0"
            bad = level.detach()[~ok][:4].tolist()
            raise ValueError(f"{name} must be finite and {bound}, got values such as {bad}")
        return level
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number or a tensor, got {value!r}")
    return check_positive(value, name, allow_zero=allow_zero)


def match_dtype(buffer: Tensor, like: Tensor) -> Tensor:
    """Cast ``buffer`` to the precision of ``like``, keeping the buffer's real/complex kind.

    Operators keep their buffers in one precision and follow the input's precision on the fly, so
    that output dtype = input dtype (float32 in, float32 out; float64 in, float64 out).
    """
    real = like.real.dtype if like.is_complex() else like.dtype
    target = (torch.complex128 if real == torch.float64 else torch.complex64) if buffer.is_complex() else real
    return buffer.to(device=like.device, dtype=target)


def real_view(tensor: Tensor) -> Tensor:
    """A complex tensor as a real one with a trailing (real, imaginary) axis; real tensors unchanged.

    Complex buffers are stored this way because ``Module.to(float_dtype)`` would drop their
    imaginary part; :func:`complex_view` restores them.
    """
    return torch.view_as_real(tensor) if tensor.is_complex() else tensor


def complex_view(tensor: Tensor, is_complex: bool) -> Tensor:
    """Inverse of :func:`real_view`."""
    return torch.view_as_complex(tensor) if is_complex else tensor
