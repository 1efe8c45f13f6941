"""Safe access to the members of HDF5 files we read or write (results files and data sets).

HDF5 lets a file point outside itself: an *external link* resolves to an object in another file,
a *soft link* to another path of the same file, a dataset with *external storage* keeps its
bytes in raw files elsewhere, and a *virtual dataset* maps other files' datasets. Reading through
them reads someone else's data; writing through them writes into another file (a results file
whose run is an external link would receive its units in another folder). Our layouts use none
of these, so every member is opened through :func:`member`, which refuses them all.
"""

from __future__ import annotations

from typing import Any

import h5py


class LayoutError(ValueError):
    """An HDF5 file does not follow the documented layout (a link, a missing or misplaced member)."""


def member(group: h5py.Group, key: str, where: str) -> Any:
    """The member ``key`` of ``group`` (a group or dataset stored in this file), never following a
    link; ``where`` names the file in the message of the :class:`LayoutError` raised otherwise."""
    link = group.get(key, getlink=True)
    if link is None:
        raise LayoutError(f"{where}: {_path(group, key)} is missing")
    if isinstance(link, h5py.ExternalLink):
        raise LayoutError(
            f"{where}: {_path(group, key)} is an external link to {link.filename!r}:{link.path}; "
            "links are refused (they would read or write another file)"
        )
    if isinstance(link, h5py.SoftLink):
        raise LayoutError(f"{where}: {_path(group, key)} is a soft link to {link.path}; links are refused")
    obj = group[key]
    if isinstance(obj, h5py.Dataset):
        if obj.external:
            raise LayoutError(f"{where}: dataset {_path(group, key)} keeps its data in external files; refused")
        if obj.is_virtual:
            raise LayoutError(f"{where}: dataset {_path(group, key)} is a virtual dataset (maps other files); refused")
    return obj


def group_member(group: h5py.Group, key: str, where: str) -> h5py.Group:
    """:func:`member`, which must be a group."""
    obj = member(group, key, where)
    if not isinstance(obj, h5py.Group):
        raise LayoutError(f"{where}: {_path(group, key)} must be a group, found a dataset")
    return obj


def dataset_member(group: h5py.Group, key: str, where: str) -> h5py.Dataset:
    """:func:`member`, which must be a dataset."""
    obj = member(group, key, where)
    if not isinstance(obj, h5py.Dataset):
        raise LayoutError(f"{where}: {_path(group, key)} must be a dataset, found a group")
    return obj


def _path(group: h5py.Group, key: str) -> str:
    return f"{group.name.rstrip('/')}/{key}"
