"""The fleet bench: N targets over many accounts and Regions rehearsed, counted and priced.

``driver`` rehearses a fleet's rollout and steady state and counts what the stack caused
(``call_meter``: the product's AWS calls); ``cost`` prices the counts with ``prices`` (AWS's
prices, with the day they were read); ``day`` rehearses a day in the life of two stacks and
scores their alarms minute by minute; ``quotas`` measures the stack against every AWS quota
it touches at the largest supported fleet (docs/limits.md). ``make bench`` prints the tables.

May import: ``fleetwise_rehearsal.rehearsal``, ``fleetwise_rehearsal.fleetwise`` (the
simulator's values), ``fleetwise_rehearsal.aws``, ``fleetwise_reconciler``.
"""
