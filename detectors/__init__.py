"""The pure numeric core of hazwatch: no I/O, no asyncio, no wall clock.

Every function here takes time as an argument so that a replay is exact.
"""
