"""servicekit: the runtime library vendored into every kitgen service.

Each concern lives in its own subpackage (``servicekit.database``,
``servicekit.testgres``, ``servicekit.cache``, ...); import from those. This top level
only carries the version and the shared error base; every exception servicekit raises is
in the tree documented in :mod:`servicekit.errors`.
"""

from servicekit._version import __version__
from servicekit.errors import ConfigurationError, ServiceKitError

__all__ = ["ConfigurationError", "ServiceKitError", "__version__"]
