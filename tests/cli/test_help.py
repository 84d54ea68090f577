"""What the README promises about help and settings is what the commands print and read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from ispops.cli import app
from ispops.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_dev_help_lists_its_own_commands_and_the_ispops_commands() -> None:
    env = os.environ | {"COLUMNS": "200"}
    result = subprocess.run(
        ["bash", str(ROOT / "dev"), "--help"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "./dev up" in result.stdout and "./dev test" in result.stdout
    assert "Usage: ispops" in result.stdout
    for command in ("seed", "worker", "db", "radius", "tenant", "user", "operator", "devices", "ipam"):
        assert f"│ {command} " in result.stdout, command


def test_up_help_says_how_to_change_the_address_and_names_real_settings() -> None:
    result = CliRunner().invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "ISPOPS_API_PORT" in text and "ISPOPS_API_HOST" in text and "ISPOPS_TRUSTED_PROXIES" in text
    readme = (ROOT / "README.md").read_text()
    for name in ("ISPOPS_API_PORT", "ISPOPS_API_HOST", "ISPOPS_TRUSTED_PROXIES"):
        assert name in readme
        # A setting the documentation names is one Settings reads (env prefix ISPOPS_).
        assert name.removeprefix("ISPOPS_").lower() in Settings.model_fields, name
