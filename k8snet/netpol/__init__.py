"""NetworkPolicy: the oracle, the nftables compiler, the probe matrix and its cases.

Layers, lowest first: ``snapshot`` (the objects a verdict depends on),
``oracle`` (the pure evaluator), ``compile`` and ``nft`` (a node's sets and
their transaction), ``matrix`` (truth tables), ``prober`` (real connections
from a pod's namespace), ``cases`` and ``generator`` (truth tables as data).
"""
