"""The fleet bench: N targets over many accounts and Regions rehearsed, counted and priced.

``driver`` rehearses a fleet's rollout and steady state and counts what the stack caused
(``call_meter``: the product's AWS calls); ``cost`` prices the counts with ``prices`` (AWS's
prices, with the day they were read). ``make bench`` prints the table. ``quotas`` measures
the stack against every AWS quota it touches at the largest supported fleet (docs/limits.md).

May import: ``fleetwise_rehearsal.rehearsal``, ``fleetwise_rehearsal.aws``,
``fleetwise_reconciler``.
"""
