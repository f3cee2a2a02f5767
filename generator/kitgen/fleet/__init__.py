"""``kitgen fleet``: see where every service stands and roll a template release into them.

* :func:`load_inventory` reads ``fleet.yaml`` (:class:`Inventory` of :class:`ServiceEntry`);
  :func:`discover_services` / :func:`write_inventory` make one from directories.
* :func:`fleet_status` reads each service's version, drift and branches from git.
* :func:`update_fleet` updates each service on a branch of its own, in parallel processes,
  through the same Copier update as ``kitgen update``.
"""

from kitgen.fleet.discover import discover_services, write_inventory
from kitgen.fleet.inventory import (
    DEFAULT_INVENTORY,
    Inventory,
    InventoryError,
    ServiceEntry,
    load_inventory,
    parse_selectors,
)
from kitgen.fleet.model import (
    FleetUpdate,
    Outcome,
    ServiceReport,
    UpdateOptions,
    VerifyResult,
)
from kitgen.fleet.status import ServiceStatus, fleet_status
from kitgen.fleet.update import update_fleet

__all__ = [
    "DEFAULT_INVENTORY",
    "FleetUpdate",
    "Inventory",
    "InventoryError",
    "Outcome",
    "ServiceEntry",
    "ServiceReport",
    "ServiceStatus",
    "UpdateOptions",
    "VerifyResult",
    "discover_services",
    "fleet_status",
    "load_inventory",
    "parse_selectors",
    "update_fleet",
    "write_inventory",
]
