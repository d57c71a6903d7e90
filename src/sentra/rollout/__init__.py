"""Guarded rollouts: policy as code, the state machine, the controller, sources and actuators."""
