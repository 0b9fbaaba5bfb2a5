"""Settings: defaults, JSON round trip, atomic write, corrupt-file recovery, config-dir override."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import (
    CONFIG_DIR_ENV,
    Settings,
    config_dir,
    load_settings,
    load_settings_report,
    save_settings,
)


def test_defaults_match_the_specification() -> None:
    s = Settings()
    assert (s.ae_title, s.listener_port, s.listener_enabled) == ("COURIER", 11112, True)
    assert (s.connect_timeout_s, s.acse_timeout_s, s.dimse_timeout_s) == (10, 30, 60)
    assert (s.retrieve_timeout_s, s.network_idle_timeout_s) == (3600, 60)
    assert not s.accept_only_known_calling_aes and not s.demo_mode
    assert s.storage_folder.name == "archive"


def test_config_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert config_dir() == tmp_path
    save_settings(Settings(ae_title="WS1"))
    assert (tmp_path / "settings.json").exists()
    assert load_settings().ae_title == "WS1"


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    original = Settings(
        ae_title="READING1", listener_port=4242, storage_folder=tmp_path / "a", demo_mode=True
    )
    save_settings(original, path)
    assert load_settings(path) == original
    assert not (tmp_path / "s.json.tmp").exists()


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    report = load_settings_report(tmp_path / "absent.json")
    assert report.settings == Settings() and report.problem is None


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"listener_port": "eleven"}'])
def test_corrupt_file_is_kept_as_bad_and_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "settings.json"
    path.write_text(content)
    report = load_settings_report(path)
    assert report.settings == Settings()
    assert report.problem is not None and "unreadable" in report.problem
    assert (tmp_path / "settings.json.bad").read_text() == content


def test_unknown_keys_from_a_newer_version_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text('{"ae_title": "X", "future_option": 1}')
    assert load_settings(path).ae_title == "X"
