"""Telemetry from applications: native JSON/msgpack batches and OTLP/HTTP, made durable."""
