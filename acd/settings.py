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

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "ACD_"
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AmiSettings(_Section):
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
    host: str = "127.0.0.1"
    port: Port = 4573
    command_timeout: Seconds = 60.0
    header_timeout: Seconds = 5.0


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///acd.db"

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
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class IvrSettings(_Section):
    # Stock Asterisk prompts until the prompt catalogue lands.
    welcome_prompt: str = "hello-world"
    thanks_prompt: str = "auth-thankyou"
    digit_timeout: Seconds = 5.0


class SystemdSettings(_Section):
    # READY is sent only after AMI login and the first resync.
    notify: bool = True


class Settings(_Section):
    ami: AmiSettings
    fastagi: FastAgiSettings = FastAgiSettings()
    http: HttpSettings = HttpSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    ivr: IvrSettings = IvrSettings()
    systemd: SystemdSettings = SystemdSettings()


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
        reason = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            reason = "unknown key"
        elif item["type"] == "missing":
            reason = "required but missing"
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
