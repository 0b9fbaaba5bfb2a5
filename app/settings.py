"""Workstation settings: one JSON file in the user's config folder, written atomically."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

CONFIG_DIR_ENV = "COURIER_CONFIG_DIR"
SETTINGS_FILE = "settings.json"


def config_dir() -> Path:
    """The folder for settings and nodes; `COURIER_CONFIG_DIR` overrides it (tests, portable installs)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    return Path(override) if override else platformdirs.user_config_path("courier")


def default_storage_folder() -> Path:
    return platformdirs.user_data_path("courier") / "archive"


@dataclass
class Settings:
    ae_title: str = "COURIER"
    listener_port: int = 11112
    listener_enabled: bool = True
    storage_folder: Path = field(default_factory=default_storage_folder)
    connect_timeout_s: float = 10.0
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    retrieve_timeout_s: float = 3600.0
    network_idle_timeout_s: float = 60.0
    max_pdu: int = 262144
    accept_only_known_calling_aes: bool = False
    demo_mode: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["storage_folder"] = str(self.storage_folder)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        """Known keys only; an unknown key (a newer version's setting) is ignored, a missing one defaults."""
        defaults = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            default = getattr(defaults, f.name)
            raw = data[f.name]
            if isinstance(default, Path):
                values[f.name] = Path(str(raw))
            elif isinstance(default, bool):
                if not isinstance(raw, bool):
                    raise ValueError(f"setting {f.name!r} must be true or false, not {raw!r}")
                values[f.name] = raw
            elif isinstance(default, int | float):
                if isinstance(raw, bool) or not isinstance(raw, int | float):
                    raise ValueError(f"setting {f.name!r} must be a number, not {raw!r}")
                values[f.name] = type(default)(raw)
            else:
                values[f.name] = str(raw)
        return cls(**values)


@dataclass(frozen=True, slots=True)
class LoadedSettings:
    settings: Settings
    problem: str | None = None  # set when the file was unreadable and defaults were used


def settings_path(path: Path | None = None) -> Path:
    return path if path is not None else config_dir() / SETTINGS_FILE


def atomic_write_text(path: Path, text: str) -> None:
    """Write via tmp + fsync + os.replace so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def keep_bad_copy(path: Path) -> Path:
    bad = path.with_name(path.name + ".bad")
    shutil.copyfile(path, bad)
    return bad


def load_settings_report(path: Path | None = None) -> LoadedSettings:
    """Settings plus, when the file was corrupt, a sentence saying so (the bad file is kept as `.bad`)."""
    target = settings_path(path)
    if not target.exists():
        return LoadedSettings(Settings())
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("top level is not a JSON object")
        return LoadedSettings(Settings.from_json(data))
    except (OSError, ValueError, TypeError) as exc:
        bad = keep_bad_copy(target)
        return LoadedSettings(
            Settings(), f"Settings file {target} was unreadable ({exc}); defaults used, copy kept at {bad}"
        )


def load_settings(path: Path | None = None) -> Settings:
    return load_settings_report(path).settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    atomic_write_text(settings_path(path), json.dumps(settings.to_json(), indent=2) + "\n")
