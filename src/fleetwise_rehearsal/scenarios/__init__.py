"""Scenario files: "what happens if…" written as YAML and rehearsed.

``format`` parses and checks a file (steps, simulator lines in ``simulator_lines``, values in
``values``, expectations in ``expect``), ``runner`` applies it to a ``Rehearsal`` step by step,
``narrate`` tells the timeline and ``report`` gives it as JSON (``rehearse --scenario``).

May import: ``fleetwise_rehearsal.invariants``, ``fleetwise_rehearsal.rehearsal``,
``fleetwise_rehearsal.fleetwise``, ``fleetwise_rehearsal.aws``, ``fleetwise_reconciler``.
"""
