"""The work cache: translations and judge answers kept in one SQLite file and shared between runs.

:mod:`.store` (the SQLite file, :class:`~.store.CacheKey`), :mod:`.leases` (claims kept alive by a
heartbeat) and :mod:`.scheduler` (the one claim → run → commit → wait loop, whatever runs the batches).
"""
