import sys

from segment_gui.cli import main

sys.exit(main())
