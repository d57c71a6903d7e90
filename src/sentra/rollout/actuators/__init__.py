"""Traffic actuators: what moves a canary's share of traffic (HAProxy, nginx, Kubernetes, ...).

``build_actuator`` turns the ``actuator:`` settings of a rollout spec into an
:class:`~sentra.rollout.actuators.base.Actuator`; the composition root calls it and hands the
result to the controller.
"""

from __future__ import annotations

from sentra.rollout.actuators.base import Actuator, ActuatorError, ApplyResult, Weights
from sentra.rollout.actuators.config import (
    ActuatorConfig,
    CommandConfig,
    ExternalConfig,
    HaproxyConfig,
    KubernetesConfig,
    NginxConfig,
    PullConfig,
    WebhookConfig,
)

__all__ = [
    "Actuator",
    "ActuatorConfig",
    "ActuatorError",
    "ApplyResult",
    "Weights",
    "build_actuator",
]


def build_actuator(config: ActuatorConfig, *, name: str) -> Actuator:
    """The actuator for ``config``, for the rollout called ``name``.

    Imports the adapter modules here, not at the top, so that importing the package (for
    the types) pulls in no HTTP client.
    """
    if isinstance(config, HaproxyConfig):
        from sentra.rollout.actuators.haproxy import HaproxyActuator

        return HaproxyActuator(config, name=name)
    if isinstance(config, NginxConfig):
        from sentra.rollout.actuators.nginx import NginxActuator

        return NginxActuator(config, name=name)
    from sentra.rollout.actuators.pull import PullActuator

    if isinstance(config, PullConfig):
        return PullActuator(config, name=name)
    if isinstance(config, CommandConfig):
        from sentra.rollout.actuators.command import CommandActuator

        return CommandActuator(config, name=name)
    if isinstance(config, WebhookConfig):
        from sentra.rollout.actuators.webhook import WebhookActuator

        return WebhookActuator(config, name=name)
    if isinstance(config, KubernetesConfig):
        from sentra.rollout.actuators.kubernetes import KubernetesActuator

        return KubernetesActuator(config, name=name)
    if isinstance(config, ExternalConfig):  # judge-only: weights are someone else's
        return PullActuator(PullConfig(type="pull"), name=name)
    raise TypeError(f"no actuator for {type(config).__name__}")
