"""A link as a composition: its description (:mod:`.program`), the dense reference interpreter in both
pictures (:mod:`.dense`), the fast path compiled from the elements' amplitude rules (:mod:`.compiled`),
detector weights (:mod:`.weights`) and ``simulate`` with its methods (:mod:`.simulate`)."""

from .compiled import RULES, NoRule, compiled_patterns, supports
from .dense import dense_patterns, dense_structure, node_state
from .program import analyzer, node_program, path_transmission, station_numbers
from .result import LinkResult, LinkStatus
from .simulate import (
           METHODS,
           Auto,
           Compiled,
           DenseHeisenberg,
           DenseSchrodinger,
           Method,
           evaluate,
           resolve_method,
           simulate,
)

__all__ = ["simulate", "evaluate", "LinkResult", "LinkStatus", "Method", "Auto", "Compiled", "DenseHeisenberg",
           "DenseSchrodinger", "METHODS",
           "resolve_method", "node_program", "station_numbers", "path_transmission", "analyzer", "node_state",
           "dense_patterns", "dense_structure", "compiled_patterns", "supports", "RULES", "NoRule"]
