"""The operator's command line: ``fleetwise-reconciler status | plan | apply | set | reconcile |
pause | resume | history | delete`` against a deployed stack (real AWS, found by its stack
name), plus ``demo`` and ``rehearse``, which run the offline rehearsal (``fleetwise_rehearsal``).

It decides nothing of its own: validation and planning are the workflow's code
(``fleetwise_reconciler.logic``), so a dry run says what a reconcile would do. It is not part
of the Lambda artifact.
"""
