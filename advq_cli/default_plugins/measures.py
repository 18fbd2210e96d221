"""Built-in quality measures. Each is `compute(record: RunRecord) -> np.ndarray` of shape (N,).

Registry names use dashes (``first-learned-epoch``); the profile stores each under
``/runs/<id>/measures/<name>`` and ``/quality/<name>`` with underscores.
"""

from ..hookspecs import hookimpl
from ..profiling.measures import BUILT_IN


@hookimpl
def advq_register_measures(register):
    for name, (compute, description) in BUILT_IN.items():
        register(name, compute, description=description)
