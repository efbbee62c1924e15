"""Qt widgets. Only this package imports Qt.

Importing the package makes PySide6's import hook cheaper first; see `pyside_hook`.
"""

from segment_gui.ui import pyside_hook

pyside_hook.install()
