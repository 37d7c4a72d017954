"""The loopback Range server of the tests: :class:`mlrsir.bench.range_server.RangeServer`
(``mlrsir bench remote`` serves its COGs with the same one)."""

from mlrsir.bench.range_server import RangeServer

__all__ = ["RangeServer"]
