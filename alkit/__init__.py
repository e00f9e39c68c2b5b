"""alkit: a Jupyter-centric teaching and analysis kit for deep active learning."""

from alkit.errors import AlkitError, DatasetUnavailableError

__version__ = "0.1.0"
__all__ = ["AlkitError", "DatasetUnavailableError", "__version__"]
