"""Settings: defaults < sentra.toml < SENTRA_* environment < CLI flags.

One typed object, grouped. Every field has a one-line description (used by ``sentra config``
and checked against docs/configuration.md by a test). Unknown or mistyped keys fail at start
with a message that names the source and suggests the closest known key.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

ENV_PREFIX = "SENTRA_"
# Environment variables that belong to the CLI client, not to the node's settings.
CLIENT_ENV = frozenset({"SENTRA_TOKEN", "SENTRA_URL", "SENTRA_CONFIG"})


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ServerSettings(_Group):
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(5099, ge=0, le=65535, description="TCP port of the API and dashboard.")
    public_url: str = Field(
        "", description="URL printed for the dashboard link (default: http://host:port)."
    )
    tls_cert: Path | None = Field(
        None, description="TLS certificate chain (PEM); with tls_key the node serves HTTPS."
    )
    tls_key: Path | None = Field(
        None, description="Private key of tls_cert (PEM, unencrypted, mode 0600)."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body, except ingest/OTLP ([ingest])."
    )
    cors_origins: tuple[str, ...] = Field(
        (), description="Origins allowed to call the API from a browser (comma-separated)."
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Event loop: uvloop (auto: when installed) or the standard asyncio."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("tls_key")
    @classmethod
    def _cert_and_key_together(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        cert = info.data.get("tls_cert")
        if (cert is None) != (key is None):
            raise ValueError(
                "tls_cert and tls_key go together: give both (the PEM certificate chain "
                "and its private key) or neither"
            )
        return key


class CollectSettings(_Group):
    sample_interval: float = Field(
        1.0, ge=0.01, le=3600, description="Seconds between two samples of every collector."
    )
    host_sys: Path = Field(
        Path("/sys"), description="Root of the /sys tree to read (mount the host's in containers)."
    )
    host_proc: Path = Field(
        Path("/proc"), description="Root of the /proc tree psutil reads (host's in containers)."
    )
    docker_stats: bool = Field(False, description="Collect per-container stats from Docker.")
    docker_socket: Path = Field(
        Path("/var/run/docker.sock"), description="Docker Engine API socket (read-only use)."
    )
    gpu: bool = Field(True, description="Sample NVIDIA GPUs through NVML when a driver is found.")
    budget_fraction: float = Field(
        0.8,
        gt=0,
        le=10,
        description="Time budget of one collector call, as a fraction of the sample interval.",
    )


class HistorySettings(_Group):
    db_path: Path | None = Field(
        None, description="SQLite database file (default: <data dir>/db/sentra.db)."
    )
    backend: Literal["sqlite", "postgres"] = Field(
        "sqlite", description="Where the store lives: sqlite (db_path) or postgres (postgres_dsn)."
    )
    postgres_dsn: SecretStr | None = Field(
        None,
        description="PostgreSQL conninfo or postgresql:// URL (backend postgres); never logged.",
    )
    postgres_dsn_file: Path | None = Field(
        None, description="File (mode 0600) holding postgres_dsn, to keep the password out."
    )
    retention_days: float = Field(30, gt=0, description="Days raw samples are kept.")
    tier1_spacing_s: int = Field(60, ge=1, description="Spacing of the first rollup tier (s).")
    tier1_retention_days: float = Field(180, gt=0, description="Days the first tier is kept.")
    tier2_spacing_s: int = Field(3600, ge=1, description="Spacing of the second rollup tier (s).")
    tier2_retention_days: float = Field(1825, gt=0, description="Days the second tier is kept.")
    seal_interval_s: int = Field(
        600, ge=10, description="Seconds of recent samples kept uncompressed before sealing."
    )
    max_head_rows: int = Field(
        500_000, ge=1000, description="Seal early when this many uncompressed rows are pending."
    )


class IngestSettings(_Group):
    max_pending_events: int = Field(
        200_000, ge=1000, description="Events waiting to be written before ingest answers 429."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest ingest/OTLP body, after gunzip."
    )
    dedupe_window_s: float = Field(
        600, ge=0, description="Seconds an event id is remembered (duplicates are not stored)."
    )
    dedupe_max_ids: int = Field(
        1_000_000,
        ge=1000,
        description="Most event ids remembered (~60 bytes each); the oldest go first.",
    )
    records_retention_days: float = Field(7, gt=0, description="Days logs and spans are kept.")
    deadletter_retention_days: float = Field(
        7, gt=0, description="Days rejected items are kept in the dead-letter record."
    )


class LiveSettings(_Group):
    frame_interval_ms: float = Field(
        25, ge=5, le=1000, description="Live stream frames are coalesced over this many ms."
    )
    client_queue_frames: int = Field(
        64, ge=2, le=10_000, description="Frames queued per live client before drops begin."
    )
    slow_client_timeout_s: float = Field(
        10, gt=0, description="A client that keeps dropping this long is disconnected."
    )
    max_clients: int = Field(2000, ge=1, description="Most live clients at once.")


class LogSettings(_Group):
    level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")
    max_bytes: int = Field(2 * 1024 * 1024, ge=4096, description="Size of one log file.")
    backups: int = Field(5, ge=0, le=100, description="Rotated log files kept.")


class StateSettings(_Group):
    checkpoint_interval_s: float = Field(
        30, gt=0, description="Seconds between two runtime checkpoints (state/runtime.json)."
    )


class AuditSettings(_Group):
    retention_days: float = Field(
        365, gt=0, description="Days the audit log of state-changing requests is kept."
    )


class AuthSettings(_Group):
    access_ttl_s: float = Field(
        900, ge=10, le=86400, description="Seconds a sign-in access token (JWT) is valid."
    )
    refresh_ttl_s: float = Field(
        7 * 86400, ge=60, description="Seconds a sign-in lasts before the password is asked again."
    )
    signin_link_ttl_s: float = Field(
        86400, ge=60, description="Seconds the one-time sign-in link of the first start is valid."
    )
    lockout_user_failures: int = Field(
        5, ge=1, description="Failed sign-ins in a row for one user name before lock-outs begin."
    )
    lockout_ip_failures: int = Field(
        20, ge=1, description="Failed sign-ins in a row from one address before lock-outs begin."
    )
    lockout_base_s: float = Field(
        1.0, gt=0, description="First lock-out (s); it doubles with every further failure."
    )
    lockout_max_s: float = Field(900, gt=0, description="Longest lock-out (s).")
    lockout_forget_s: float = Field(
        3600, gt=0, description="Failures are forgotten this many seconds after the last one."
    )
    cookie_secure: str = Field(
        "auto",
        pattern="^(auto|on|off)$",
        description="Secure flag of the refresh cookie: auto (when served over TLS), on, off.",
    )


class WireguardSettings(_Group):
    enabled: str = Field(
        "auto",
        pattern="^(auto|on|off)$",
        description="WireGuard manager: auto (poll when wg is installed), on, off (API: 503).",
    )
    poll_interval_s: float = Field(
        10, ge=0.1, le=3600, description="Seconds between two reads of every interface's status."
    )
    online_after_s: float = Field(
        180, gt=0, description="A peer is online while its latest handshake is newer than this."
    )
    command_timeout_s: float = Field(
        10, gt=0, le=300, description="Timeout of one wg/ip command: a hung call fails, not blocks."
    )
    wg: str = Field("wg", description="The wg(8) program (name on PATH or absolute path).")
    ip: str = Field("ip", description="The ip(8) program of iproute2.")
    userspace: str = Field(
        "wireguard-go",
        description="Userspace implementation started where the kernel has no WireGuard.",
    )


class BusSettings(_Group):
    backend: str = Field(
        "memory",
        pattern="^(memory|nats)$",
        description="Event bus: memory (in process) or nats (NATS JetStream, shared by nodes).",
    )
    nats_url: str = Field(
        "nats://127.0.0.1:4222", description="NATS server(s), comma-separated (nats backend)."
    )
    stream_prefix: str = Field(
        "sentra",
        pattern="^[A-Za-z0-9_-]{1,32}$",
        description="Prefix of the JetStream stream names and subjects (one per deployment).",
    )
    max_age_s: float = Field(86400, gt=0, description="Seconds a JetStream stream keeps an event.")
    max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024 * 1024, description="Bytes each JetStream stream keeps at most."
    )
    outbox_size: int = Field(
        100_000, ge=10, description="Events waiting to be sent to NATS before the oldest drop."
    )
    ack_wait_s: float = Field(
        30, gt=0, description="Seconds before an unconfirmed event of a group is delivered again."
    )


class AlertSettings(_Group):
    rules_file: Path | None = Field(
        None, description="Alert rules (YAML); default <data dir>/config/alerts.yaml."
    )
    eval_interval_s: float = Field(
        1.0, ge=0.05, le=60, description="Seconds between two evaluations of for/clear_for/absence."
    )
    recent_max: int = Field(
        200, ge=1, le=100_000, description="Recent alerts kept (and in the runtime checkpoint)."
    )
    notify_queue_max: int = Field(
        100, ge=1, le=100_000, description="Alerts one notifier queues; beyond, the oldest drop."
    )


class InsightSettings(_Group):
    enabled: bool = Field(True, description="Baselines, anomaly scores, stress and stability.")
    ingested: bool = Field(
        True, description="Analyse ingested (API, OTLP) metrics too, not only collected ones."
    )
    max_series: int = Field(
        5000, ge=1, le=1_000_000, description="Most series with a baseline (~3 KiB each)."
    )
    max_samples_per_s: int = Field(
        20_000, ge=1, description="Samples analysed per second at most; the rest are skipped."
    )
    emit_interval_s: float = Field(
        10, ge=0.5, le=3600, description="Seconds between two writes of the insight series."
    )
    persist_interval_s: float = Field(
        60, ge=1, description="Seconds between two saves of state/baselines.msgpack."
    )
    stability_window_s: float = Field(
        300, ge=10, description="Seconds of recent scores the stability score looks at."
    )
    exclude: tuple[str, ...] = Field(
        ("system.uptime", "*.limit", "gpu.memory.total", "sentra.*"),
        description="Series names (glob patterns) that get no baseline (comma-separated).",
    )
    warmup_samples: int = Field(
        30, ge=1, le=100_000, description="Samples a new series learns from before it is judged."
    )
    warmup_s: float = Field(
        900, ge=0, description="Seconds of a new series' history before it may be anomalous."
    )
    z_point: float = Field(5.0, gt=0, description="Sigmas from the baseline a spike must reach.")
    shift_sigmas: float = Field(
        5.0, gt=0, description="Own sigmas a short-term mean must move to count as a shift."
    )

    @field_validator("exclude", mode="before")
    @classmethod
    def _split_exclude(cls, value: Any) -> Any:
        return ServerSettings._split_origins(value)


class Settings(BaseModel):
    """Everything the node reads at start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(description="Root of everything Sentra writes.")
    server: ServerSettings = ServerSettings()
    collect: CollectSettings = CollectSettings()
    history: HistorySettings = HistorySettings()
    ingest: IngestSettings = IngestSettings()
    live: LiveSettings = LiveSettings()
    log: LogSettings = LogSettings()
    state: StateSettings = StateSettings()
    audit: AuditSettings = AuditSettings()
    auth: AuthSettings = AuthSettings()
    wireguard: WireguardSettings = WireguardSettings()
    alerts: AlertSettings = AlertSettings()
    bus: BusSettings = BusSettings()
    insight: InsightSettings = InsightSettings()

    @property
    def db_path(self) -> Path:
        return self.history.db_path or self.data_dir / "db" / "sentra.db"

    @property
    def dashboard_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        scheme = "https" if self.server.tls_cert else "http"
        return f"{scheme}://{shown}:{self.server.port}"


GROUPS: dict[str, type[_Group]] = {
    "server": ServerSettings,
    "collect": CollectSettings,
    "history": HistorySettings,
    "ingest": IngestSettings,
    "live": LiveSettings,
    "log": LogSettings,
    "state": StateSettings,
    "audit": AuditSettings,
    "auth": AuthSettings,
    "wireguard": WireguardSettings,
    "alerts": AlertSettings,
    "bus": BusSettings,
    "insight": InsightSettings,
}

# Names from the seeds (000 and 004) that keep working, mapped to their place.
ENV_ALIASES: dict[str, tuple[str, str]] = {
    "SENTRA_DB_PATH": ("history", "db_path"),
    "SENTRA_SAMPLE_INTERVAL": ("collect", "sample_interval"),
    "SENTRA_HOST_SYS": ("collect", "host_sys"),
    "SENTRA_DOCKER_STATS": ("collect", "docker_stats"),
    "SENTRA_HOST": ("server", "host"),
    "SENTRA_PORT": ("server", "port"),
    "SENTRA_HISTORY_SAMPLE_INTERVAL_SEC": ("history", "tier1_spacing_s"),
    "SENTRA_LOG_BACKUP_COUNT": ("log", "backups"),
    "SENTRA_RUNTIME_CHECKPOINT_INTERVAL_SEC": ("state", "checkpoint_interval_s"),
}


class SettingsError(Exception):
    """Settings that cannot be used; the message lists every problem and how to fix it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


def env_name(group: str, field: str) -> str:
    return f"{ENV_PREFIX}{group.upper()}_{field.upper()}"


def all_env_names() -> dict[str, tuple[str, str]]:
    """Every SENTRA_* variable the node understands, mapped to (group, field)."""
    names = {env_name(g, f): (g, f) for g, model in GROUPS.items() for f in model.model_fields}
    names.update(ENV_ALIASES)
    names["SENTRA_DATA_DIR"] = ("", "data_dir")
    return names


def iter_fields() -> Iterator[tuple[str, str, Any, str]]:
    """(group, field, default, description) for every setting, for docs and `sentra config`."""
    for group, model in GROUPS.items():
        for name, info in model.model_fields.items():
            yield group, name, info.default, info.description or ""


def default_data_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("SENTRA_DATA_DIR"):
        return Path(environ["SENTRA_DATA_DIR"]).expanduser()
    xdg = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "sentra"


def _hint(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(choices))}"


def _from_toml(path: Path, problems: list[str]) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: cannot be read as TOML: {exc}")
        return {}
    out: dict[str, dict[str, Any]] = {}
    for group, values in raw.items():
        if group not in GROUPS:
            problems.append(f"{path}: unknown section [{group}]{_hint(group, list(GROUPS))}")
            continue
        if not isinstance(values, dict):
            problems.append(f"{path}: [{group}] must be a table of settings")
            continue
        fields = list(GROUPS[group].model_fields)
        for key, value in values.items():
            if key not in fields:
                problems.append(f"{path}: [{group}] unknown key {key!r}{_hint(key, fields)}")
                continue
            out.setdefault(group, {})[key] = value
    return out


def _from_env(environ: Mapping[str, str], problems: list[str]) -> dict[str, dict[str, Any]]:
    known = all_env_names()
    out: dict[str, dict[str, Any]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in CLIENT_ENV:
            continue
        if name not in known:
            problems.append(
                f"environment: unknown variable {name}{_hint(name, [*known, *CLIENT_ENV])}"
            )
            continue
        group, field = known[name]
        if group:
            out.setdefault(group, {})[field] = value
    return out


def _merge(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for group, values in layer.items():
            merged.setdefault(group, {}).update(values)
    return merged


def load_settings(
    *,
    data_dir: Path | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from every layer; raise SettingsError listing every problem."""
    env = os.environ if environ is None else environ
    root = (data_dir or default_data_dir(env)).expanduser().resolve()
    problems: list[str] = []
    if config_file is None and env.get("SENTRA_CONFIG"):
        config_file = Path(env["SENTRA_CONFIG"])
    toml_path = config_file or root / "config" / "sentra.toml"
    if config_file is not None and not config_file.is_file():
        problems.append(f"--config {config_file}: no such file")
    layers = [_from_toml(toml_path, problems), _from_env(env, problems), overrides or {}]
    merged = _merge(*layers)
    if problems:
        raise SettingsError(problems)
    try:
        return Settings.model_validate({"data_dir": root, **merged})
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            got = err.get("input")
            group, _, field = loc.partition(".")
            where = env_name(group, field) if field else loc
            problems.append(f"{loc} (env {where}) = {got!r}: {err['msg']}")
        raise SettingsError(problems) from None
