"""A cheaper source check for PySide6's import hook.

When QtCore loads, PySide6 6.11 replaces `builtins.__import__`. For every module imported
after that, its `__feature__` support records whether the module's source mentions "PySide6",
because such modules may opt into PySide6's `snake_case` and `true_property` features. It
reads the source with `inspect.getsource`, which decodes the whole file and keeps its lines in
`linecache` for the life of the process. For the 100 or so modules the window imports at
start-up, that cost about 5 MiB of resident memory and a few milliseconds.

`install()` swaps in a check that reads the same file as bytes and keeps nothing. Its result
is the same for every module with a `.py` file. Every other module (built-in, extension,
frozen or zip-imported) goes to PySide6's own check. Where PySide6 has no such check,
as in other versions, `install()` does nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

FEATURE_MODULE = "PySide6.support.feature"
CHECK_NAME = "_mod_uses_pyside"
MARKER = b"PySide6"


def install() -> bool:
    """Replace PySide6's source check and return True, or return False where it has none."""
    import PySide6.QtCore  # noqa: F401 - loads the feature module and its import hook

    feature = sys.modules.get(FEATURE_MODULE)
    original = getattr(feature, CHECK_NAME, None)
    if feature is None or not callable(original):
        return False
    if getattr(original, "reads_bytes", False):
        return True
    setattr(feature, CHECK_NAME, _reading_bytes(original))
    return True


def _reading_bytes(original: Callable[[ModuleType], bool]) -> Callable[[ModuleType], bool]:
    def uses_pyside(module: ModuleType) -> bool:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path.endswith(".py"):
            try:
                with open(path, "rb") as source:
                    return MARKER in source.read()
            except OSError:
                pass
        return bool(original(module))

    uses_pyside.reads_bytes = True  # type: ignore[attr-defined]
    uses_pyside.original = original  # type: ignore[attr-defined]
    return uses_pyside
