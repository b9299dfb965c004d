"""Brian2 backend tests: numpy code generation unless a test asks otherwise (nothing to compile)."""

import os

os.environ.setdefault("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")
