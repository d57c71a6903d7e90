"""Alerts: rules as code, a pure state machine per rule and series, notifiers."""
