"""One exception type for every user-facing failure.

The CLI prints ``K8snetError`` as a single ``error: ...`` line and exits
non-zero; anything else is a bug and keeps its traceback.
"""


class K8snetError(Exception):
    """A problem with the user's input or the machine, said in one line."""


class MissingKernelFeature(K8snetError):
    """The kernel lacks something a requested feature needs (netem, IPVS...)."""
