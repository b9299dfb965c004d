"""Frontend: torch spiking networks -> NIR graphs.

``trace(module, sample_input, dt=1.0, method="exact")`` returns a ``nir.NIRGraph``. Lowerings
are registered by type in :mod:`.registry`; importing this package registers the torch layer
and spikeforge neuron lowerings (snnTorch's are added when snnTorch is loaded).
"""

from . import neurons as _neurons  # noqa: F401  (registers lowerings)
from . import qat_layers as _qat_layers  # noqa: F401  (registers lowerings)
from . import torch_layers as _torch_layers  # noqa: F401  (registers lowerings)
from .errors import UnsupportedModuleError
from .registry import LOWERINGS, register, supported_types
from .trace import trace

__all__ = ["trace", "UnsupportedModuleError", "LOWERINGS", "register", "supported_types"]
