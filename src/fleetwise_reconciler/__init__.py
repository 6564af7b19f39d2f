"""fleetwise-reconciler: the Lambda package of the IoT FleetWise registration reconciler."""
