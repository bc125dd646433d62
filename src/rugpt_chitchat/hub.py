"""Small policies every stage shares about names, the Hugging Face Hub and caches, each written once:
is a name a local path or a Hub name, is the Hub offline, what does a Hub miss say, what key does a cache
built by our code get. Light on purpose (datasets is imported only to load from the Hub)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset

PATH_PREFIXES = (".", "/", "~")


def looks_local(name: str, suffixes: Collection[str] | None = ()) -> bool:
    """A name that can only mean a path (so a missing one is a missing file, not a Hub lookup): it starts with
    `.`, `/` or `~`, ends with one of `suffixes` (None: any suffix), or sits in an existing directory."""
    path = Path(name)
    suffix = path.suffix.lower()
    has_suffix = bool(suffix) if suffixes is None else suffix in suffixes
    return name.startswith(PATH_PREFIXES) or has_suffix or (path.parent != Path(".") and path.parent.exists())


def is_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (1, true, yes or on), read now rather than at import."""
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "TRUE", "YES", "ON"}


def offline_note() -> str:
    """' (HF_HUB_OFFLINE is set)' when it is: the usual reason a Hub name cannot be loaded."""
    return " (HF_HUB_OFFLINE is set)" if is_offline() else ""


def load_hub_dataset(name: str, split: str = "train") -> Dataset:
    """`load_dataset(name, split=split)`; a name the Hub cannot serve is a missing local path as much as a Hub
    miss, so the DataError says both."""
    from datasets import load_dataset

    try:
        return load_dataset(name, split=split)
    except (OSError, ValueError) as error:  # ConnectionError, offline mode, DatasetNotFoundError, no data files
        reason = "HF_HUB_OFFLINE is set" if is_offline() else str(error)
        raise DataError(name, f"no such file or directory, and it could not be loaded from the Hugging Face Hub either "
                        f"({reason}); check the path, or the dataset name and the network") from None


def code_hash(*files: str | Path) -> str:
    """A hash of source files, for the key of a cache our code builds: `datasets` fingerprints a function by
    its name, so without the code in the key a changed rule would be served what its older self cached."""
    digest = hashlib.blake2b(digest_size=16)
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()
