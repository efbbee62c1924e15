"""PySide6's import hook checks module sources without keeping their lines in memory."""

from __future__ import annotations

import importlib
import linecache
import sys
from pathlib import Path
from typing import Any

import pytest

import segment_gui.ui  # noqa: F401 - installs the cheaper check
from segment_gui.ui import pyside_hook


@pytest.fixture
def feature() -> Any:
    module = sys.modules.get(pyside_hook.FEATURE_MODULE)
    if module is None or not hasattr(module, "pyside_feature_dict"):
        pytest.skip("this PySide6 has no __feature__ source check")
    return module


def test_install_replaces_check_once(feature: Any) -> None:
    check = getattr(feature, pyside_hook.CHECK_NAME)
    assert check.reads_bytes
    assert pyside_hook.install()
    assert getattr(feature, pyside_hook.CHECK_NAME) is check


@pytest.mark.parametrize(
    "name", ["segment_gui.ui.form", "segment_gui.model", "json", "sys", "_socket", "PySide6"]
)
def test_check_matches_pyside(feature: Any, name: str) -> None:
    check = getattr(feature, pyside_hook.CHECK_NAME)
    module = importlib.import_module(name)
    assert check(module) == check.original(module)


def test_import_records_module_without_linecache(
    feature: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hook_probe_qt.py").write_text("from PySide6.QtCore import QObject\n")
    (tmp_path / "hook_probe_plain.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("hook_probe_qt", "hook_probe_plain"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        monkeypatch.delitem(feature.pyside_feature_dict, name, raising=False)

    import hook_probe_plain  # noqa: F401
    import hook_probe_qt  # noqa: F401

    # 0 marks a module that uses PySide6 (it may select features), -1 one that PySide6 ignores.
    assert feature.pyside_feature_dict["hook_probe_qt"] == 0
    assert feature.pyside_feature_dict["hook_probe_plain"] == -1
    cached = {str(tmp_path / "hook_probe_qt.py"), str(tmp_path / "hook_probe_plain.py")}
    assert cached.isdisjoint(linecache.cache)
