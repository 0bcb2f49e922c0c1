"""Simulation methods for :func:`ionjax.simulate` (``ij.simulate(link, ij.method.DenseSchrodinger())``, or by
class, or by name): see :mod:`ionjax.link.simulate`."""

from .link.simulate import METHODS, Auto, Compiled, DenseHeisenberg, DenseSchrodinger, Method

__all__ = ["Method", "Auto", "Compiled", "DenseHeisenberg", "DenseSchrodinger", "METHODS"]
