"""The correctness properties at length: generated interleavings checked against the invariants.

``interleavings`` is a Hypothesis state machine that draws edits, service faults, stops and
time, applies them as scenario steps and asks the invariant monitor after each; ``soak`` runs it
for thousands of examples on several processes (``make soak``).

May import: ``fleetwise_rehearsal.scenarios``, ``fleetwise_rehearsal.invariants``,
``fleetwise_rehearsal.rehearsal``.
"""
