"""The pure numeric core of hazwatch: no I/O, no asyncio, no wall clock.

Every function here takes time as an argument so that a replay is exact.

Where things are: ``core`` (the ``DetectionCore`` facade) runs ``quality`` (per-reading flags, capture
ratios), ``thresholds``, ``anomaly`` (spike/shift/drift), ``gamma`` (Poisson rise test and its
natural/suspicious classification), ``gas`` (GB/T 50493 levels, AEGL/STEL/TWA rolling means), ``sources``
and ``geofence`` (sealed-source monitors) and ``liveness`` (offline, heartbeat) over one batch, all
configured by ``config.CoreConfig``. ``hysteresis`` and ``streams`` are the shared array kernels,
``plume`` the Gaussian plume screening model, ``backtest`` the one-series replay helper.
"""
