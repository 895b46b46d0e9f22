"""Settings: pydantic models loaded from a TOML file plus ``ACD_*`` overrides.

Environment variables override the file, ``__`` separating the levels:
``ACD_AMI__SECRET=...`` sets ``[ami] secret``. Errors name the key and reason.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from acd.addresses import HttpOrigin, OptionalHttpOrigin

ENV_PREFIX = "ACD_"
READABLE = {"extra_forbidden": "unknown key", "missing": "required but missing"}  # errors
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=3600)]
LongSeconds = Annotated[float, Field(gt=0, le=7 * 24 * 3600)]  # up to a week


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
    """The ``[ami]`` section: how to reach and log in to Asterisk's manager interface."""

    host: str = "127.0.0.1"
    port: Port = 5038
    username: str = "acd"
    secret: SecretStr = SecretStr("")
    secret_file: Path | None = None
    connect_timeout: Seconds = 5.0
    action_timeout: Seconds = 10.0
    ping_interval: Seconds = 2.0
    ping_timeout: Seconds = 2.0
    reconnect_min: Seconds = 0.5
    reconnect_max: Seconds = 10.0
    startup_timeout: Seconds = 15.0

    @model_validator(mode="after")
    def _need_secret(self) -> AmiSettings:
        if self.secret_file is not None and not self.secret.get_secret_value():
            try:
                text = self.secret_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"secret_file {self.secret_file}: {exc.strerror}") from None
            object.__setattr__(self, "secret", SecretStr(text))
        if not self.secret.get_secret_value():
            raise ValueError("no AMI secret: set ami.secret, ami.secret_file or ACD_AMI__SECRET")
        return self


class FastAgiSettings(_Section):
    """The ``[fastagi]`` section: where acd serves FastAGI, and its timeouts."""

    host: str = "127.0.0.1"
    port: Port = 4573
    command_timeout: Seconds = 60.0
    header_timeout: Seconds = 5.0


class HttpSettings(_Section):
    """The ``[http]`` section: where the HTTP API listens."""

    host: str = Field(default="127.0.0.1", max_length=180)
    port: Port = 8080


class DatabaseSettings(_Section):
    """The ``[database]`` section: the database URL (SQLite or PostgreSQL)."""

    url: str = "sqlite+aiosqlite:///acd.db"
    # Where facts wait while the database is down (default: by a SQLite file, or cwd).
    spill_file: Path | None = None
    # PostgreSQL only (README, "PostgreSQL"): each engine process's connection pool...
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)  # extra connections at a burst
    pool_timeout: Seconds = 10.0  # waiting for a free connection, then an error
    connect_timeout: Seconds = 5.0
    # ...and how long a statement may run, or wait for a lock, before it fails (retried).
    statement_timeout: Seconds = 30.0
    lock_timeout: Seconds = 5.0

    @field_validator("url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        scheme = url.split("://", 1)[0]
        if "://" not in url or scheme not in {"sqlite+aiosqlite", "postgresql+asyncpg"}:
            raise ValueError(
                f"unsupported database URL scheme '{scheme}': use sqlite+aiosqlite:///path.db "
                "or postgresql+asyncpg://user@host/db"
            )
        return url


class LogSettings(_Section):
    """The ``[log]`` section: log level and format."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class IvrSettings(_Section):
    """The ``[ivr]`` section: the IVR tree, the callers' language and the centre's time zone."""

    tree: Path | None = None  # the IVR tree (TOML); None: the bundled default
    language: Literal["en", "zh"] = "en"  # callers' language unless the channel says otherwise
    timezone: str = "Asia/Shanghai"  # for working hours and the duty schedule

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{zone}'") from None
        return zone


class PromptSettings(_Section):
    """The ``[prompts]`` section: where the prompt audio is rendered and how Asterisk finds it."""

    dir: Path = Path("prompts")  # where acd renders the prompt audio
    asterisk_dir: str | None = None  # the same folder as Asterisk sees it (chroot)
    render: bool = True  # render missing or changed prompts at start


class PeakSettings(_Section):
    """The ``[acd.peak]`` section: when the peak plan steps up and back down."""

    level1_waiting: int = Field(default=8, ge=1)
    level1_sustain: Seconds = 30 * 60
    level1_release: int = Field(default=4, ge=0)
    level2_waiting: int = Field(default=16, ge=1)
    level2_sustain: Seconds = 30 * 60
    level2_release: int = Field(default=8, ge=0)
    release_sustain: Seconds = 5 * 60
    max_callback_agents: int = Field(default=2, ge=0)


class AcdSettings(_Section):
    """The ``[acd]`` section: ringing, wrap-up, queue announcements and the service level."""

    ring_timeout: Seconds = 15.0
    wrap_up: Seconds = 30.0
    max_wrap_up: Seconds = 300.0
    announce_every: float = Field(default=30.0, ge=0, le=3600)  # 0: no announcements
    tick_interval: Seconds = 0.5
    service_level_seconds: Seconds = 20.0  # "answered within X s" for the service level
    peak: PeakSettings = PeakSettings()

    @field_validator("announce_every")
    @classmethod
    def _long_enough(cls, every: float) -> float:
        # An announcement takes about 5 s; a shorter interval would cut it off.
        if 0 < every < 10:
            raise ValueError("must be 0 (off) or at least 10 seconds")
        return every


class AgentSettings(_Section):
    """One ``[[agents]]`` entry: an agent's job number, name, phone, skills, role and team."""

    job_number: Annotated[str, Field(pattern=r"^[0-9]{2,10}$")]
    name: str = Field(max_length=100)  # as the users' table and the API take it
    # The agent's phone, e.g. PJSIP/1001 (a dial string Asterisk takes: it is stored
    # with every state change, so it has the API's limit).
    endpoint: Annotated[str, Field(pattern=r"^PJSIP/[A-Za-z0-9_.-]{1,40}$")]
    skills: dict[str, Annotated[int, Field(ge=1, le=10)]] = {}
    role: Literal["agent", "supervisor"] = "agent"
    team: str = ""  # a supervisor leads the agents of their team


RecordingPolicy = Literal["all", "none", "on_demand"]


class RecordingSettings(_Section):
    """The ``[recording]`` section: what is recorded, where, for how long, and the disk alarm."""

    @field_validator("dir")
    @classmethod
    def _room_for_the_files(cls, folder: Path) -> Path:
        if len(str(folder)) > 320:  # <dir>/<date>/<call id>.wav: 400 at most
            raise ValueError("at most 320 characters: recordings' paths are stored")
        return folder

    dir: Path = Path("recordings")  # where recordings are found by acd
    asterisk_dir: str | None = None  # the same folder as Asterisk sees it (chroot)
    policy: RecordingPolicy = "all"  # every connected call is recorded
    lines: dict[str, RecordingPolicy] = {}  # per-line exceptions
    keep_days: int = Field(default=180, ge=0)  # older ones are purged; 0 keeps them for ever
    min_free_mb: int = Field(default=500, ge=0)  # below this: alarm, no new recordings
    check_every: Seconds = 30.0  # disk space check (the purge runs hourly)
    agents_hear_own: bool = False  # agents may play back their own calls

    def policy_for(self, line: str) -> RecordingPolicy:
        return self.lines.get(line, self.policy)


class FollowUpSettings(_Section):
    """The ``[follow_up]`` section: which ratings open a ticket and when tickets are due."""

    low_score_max: int = Field(default=3, ge=1, le=4)  # a rating up to this opens a ticket
    low_score_within: LongSeconds = 2 * 3600
    normal_within: LongSeconds = 24 * 3600
    urgent_within: LongSeconds = 2 * 3600
    take_within: LongSeconds = 30 * 60  # a ticket nobody took by then is chased
    sweep_every: Seconds = 15.0


class ReportSettings(_Section):
    """The ``[reports]`` section: how reports count abandoned calls."""

    # A caller who hangs up within this many seconds is a short abandon: counted, but not
    # held against the service level.
    short_abandon_seconds: float = Field(default=5.0, ge=0, le=120)


class ApiSettings(_Section):
    """The ``[api]`` section: how long a bearer token stays valid."""

    token_ttl: float = Field(default=8 * 3600, gt=0, le=24 * 3600)  # one shift at most


class PhoneSettings(_Section):
    """The ``[phones]`` section: the agents' SIP phones acd keeps for Asterisk (PJSIP realtime)."""

    # The phone directory Asterisk reads (res_config_sqlite3, see asterisk-conf/): each
    # agent's and supervisor's endpoint, auth (a digest of their own secret) and AOR.
    # Unset: acd keeps no phones (a site that writes pjsip.conf itself).
    directory: Path | None = None
    # Asterisk's group when it runs as another user than acd: the file is then 0640
    # and of that group (acd must be a member); unset: 0600, acd's alone.
    group: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    realm: str = Field(default="acd", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    context: str = Field(default="agents", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    transport: str = Field(default="transport-udp", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    codecs: str = Field(default="ulaw,alaw", pattern=r"^[a-z0-9]+(,[a-z0-9]+)*$")
    # Where browsers reach Asterisk's SIP over WebSocket (http.conf, pjsip.conf's
    # transport-ws): the agent desktop's phone registers there. wss:// when the desktop
    # is served over HTTPS (browsers allow nothing else then). Unset: no browser phones.
    websocket: str | None = Field(default=None, pattern=r"^wss?://[A-Za-z0-9.:\[\]-]+(/[^\s]*)?$")


class MetricsSettings(_Section):
    """The ``[metrics]`` section: Prometheus metrics at ``/metrics`` on the API's address."""

    enabled: bool = True
    # Empty: no token (the API binds to loopback by default). Set: scrapers send
    # "Authorization: Bearer <token>" (Prometheus: authorization.credentials).
    token: str = Field(default="", max_length=200)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: str) -> str:
        if value and len(value) < 16:
            raise ValueError("a metrics token has at least 16 characters")
        return value


class SystemdSettings(_Section):
    """The ``[systemd]`` section: whether acd tells systemd it is ready and stopping."""

    # READY is sent only after AMI login and the first resync.
    notify: bool = True


class StandbySettings(_Section):
    """The ``[standby]`` section: two engines, one leading, one warm (PostgreSQL only)."""

    enabled: bool = False
    # Its name (default: the host's) and clients' address (default: from [http]).
    node: str = Field(default="", max_length=64)
    address: OptionalHttpOrigin = ""
    peers: list[HttpOrigin] = Field(default=[], max_length=8)  # the others: pages look there
    # Asterisk's way to its FastAGI (default: [fastagi]): the leader sets ACD_AGI to it.
    fastagi_address: str = Field(default="", max_length=200, pattern=r"^(agi://\S+)?$")
    # A leader whose lock is unconfirmed this long stops; the standby then takes over.
    lease: float = Field(default=3.0, ge=1.0, le=60.0)
    poll: float = Field(default=0.5, gt=0, le=10.0)  # the standby's try for the lock

    @model_validator(mode="after")
    def _poll_within_lease(self) -> StandbySettings:
        if self.poll >= self.lease:
            raise ValueError(f"poll ({self.poll:g} s) must be below lease ({self.lease:g} s)")
        return self


class Settings(_Section):
    """The whole configuration file: one field per section."""

    ami: AmiSettings
    fastagi: FastAgiSettings = FastAgiSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    ivr: IvrSettings = IvrSettings()
    prompts: PromptSettings = PromptSettings()
    acd: AcdSettings = AcdSettings()
    agents: list[AgentSettings] = []
    api: ApiSettings = ApiSettings()
    recording: RecordingSettings = RecordingSettings()
    follow_up: FollowUpSettings = FollowUpSettings()
    reports: ReportSettings = ReportSettings()
    phones: PhoneSettings = PhoneSettings()
    metrics: MetricsSettings = MetricsSettings()
    systemd: SystemdSettings = SystemdSettings()
    standby: StandbySettings = StandbySettings()

    @model_validator(mode="after")
    def _standby_needs_postgresql(self) -> Settings:
        if self.standby.enabled and not self.database.url.startswith("postgresql"):
            raise ValueError(
                "standby.enabled needs a database both engines share: "
                "database.url must be postgresql+asyncpg://..."
            )
        return self

    @model_validator(mode="after")
    def _unique_agents(self) -> Settings:
        seen: set[str] = set()
        for i, agent in enumerate(self.agents):
            if agent.job_number in seen:
                raise ValueError(f"agents.{i}: job number {agent.job_number} is used twice")
            seen.add(agent.job_number)
        return self


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another ACD_ variable")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = READABLE.get(item["type"]) or item["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {key}: {reason}")
    return "\n".join(lines)


def load_settings(path: Path | str, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the configuration; raise ``ConfigError`` naming each problem."""
    path = Path(path)
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    data = _merge(data, _env_overrides(env))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
