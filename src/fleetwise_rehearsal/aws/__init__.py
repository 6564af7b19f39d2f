"""What emulates AWS in the rehearsal, on top of moto.

moto's services with the rehearsal's patches (``moto_patches`` applies them: Lambda in-process,
Step Functions and the SDK on the virtual clock, DynamoDB Streams), AWS's limits and names that
moto does not enforce (``strict``, ``timeouts``), accounts and AssumeRole (``members``,
``trust``), the template deployed from itself (``template``, ``stack``, ``stack_update``), the
stream's event source mapping (``streams``), CloudWatch alarms evaluated as CloudWatch documents
them (``alarms``) and watched minute by minute (``alarm_monitor``), DynamoDB capacity units
(``dynamo_units``), DescribeStacks on loopback (``stack_endpoint``), checking payloads against
botocore's models (``model_check``) and the virtual clock (``vclock``).

May import: ``fleetwise_reconciler`` (its clock and caches, which the patches point at the
virtual clock and the emulated services). Nothing else of the rehearsal.
"""
