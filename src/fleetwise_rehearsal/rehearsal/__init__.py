"""TODO"""

from fleetwise_rehearsal.rehearsal.stage import *  # noqa: F403
from fleetwise_rehearsal.rehearsal.stage import (  # noqa: F401  # noqa: F401
    ENDPOINT_VARIABLE,
    START,
    _aware,
    _item,
    _stamp,
)
