"""The older import path of :mod:`ionjax.link.result`."""

from ..link.result import LinkResult, LinkStatus

__all__ = ["LinkResult", "LinkStatus"]
