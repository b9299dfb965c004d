"""``python -m spikeforge``."""

import sys

from spikeforge.cli import main

sys.exit(main())
