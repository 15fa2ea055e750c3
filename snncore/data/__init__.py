"""Data readers (official on-disk formats, never downloading) and encoders."""
from .paths import CorruptDataError, MissingDataError, cache_dir, data_root, require_file, sha256sum  # noqa: F401
