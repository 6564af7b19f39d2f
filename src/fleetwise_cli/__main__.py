"""``python -m fleetwise_cli``: the same as the ``fleetwise-reconciler`` command."""

from fleetwise_cli.main import main

raise SystemExit(main())
