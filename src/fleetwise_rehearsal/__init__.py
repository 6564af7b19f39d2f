"""The offline rehearsal: the real template, workflow and handlers, on emulated AWS.

Not deployed and not part of the base install (the ``rehearsal`` extra). Rooms, from the
bottom up; each imports only from the rooms below it (docs/architecture.md draws them, and a
test holds the drawing to the imports):

- ``aws``: what emulates AWS: moto and the rehearsal's patches to it, AWS's limits and names,
  the template deployer, the alarm evaluator, the virtual clock.
- ``fleetwise``: the IoT FleetWise simulator.
- ``rehearsal``: ``Rehearsal``, the deployed stack driven and observed on the virtual clock.
- ``invariants``: the architecture's invariants, checked on a running rehearsal.
- ``scenarios``: scenario files: their format, the runner, expectations and narration.
- ``properties``: generated interleavings of edits, faults and time (``make soak``).
- ``fleet``: fleets of N targets rehearsed, counted and priced (``make bench``).
- ``cli``: ``fleetwise-reconciler demo`` and ``rehearse``.
"""
