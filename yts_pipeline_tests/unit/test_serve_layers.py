"""The serve layer's boundaries: the cores never import a web framework, serve never imports Dagster,
templates and static files ship inside the package, and its settings are checked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yts_pipeline.settings import ServeSettings, SettingsError

WEB = ("fastapi", "starlette", "uvicorn", "jinja2")


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(name.split('.')[0] for name in sys.modules)))"
    return set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        ).stdout.split()
    )


def test_the_cores_import_no_web_framework() -> None:
    modules = imported_after(
        "import yts_pipeline.search, yts_pipeline.db.manager, yts_pipeline.mirror, "
        "yts_pipeline.settings, yts_pipeline.yts.client"
    )
    assert not modules & set(WEB)


def test_serve_imports_no_dagster() -> None:
    assert "dagster" not in imported_after("import yts_pipeline.serve.app")


def test_templates_and_static_files_are_package_data() -> None:
    import tomllib

    from yts_pipeline.serve.templating import PACKAGE

    declared = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = declared["tool"]["setuptools"]["package-data"]["yts_pipeline.serve"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern)}
    on_disk = {path for folder in ("templates", "static") for path in (PACKAGE / folder).iterdir() if path.is_file()}
    assert on_disk and on_disk <= shipped


def test_cors_origins_are_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ServeSettings.from_env().cors_origins == ()
    monkeypatch.setenv("SERVE_CORS_ORIGINS", " https://a.example , http://b.example:8080,")
    assert ServeSettings.from_env().cors_origins == ("https://a.example", "http://b.example:8080")
    monkeypatch.setenv("SERVE_CORS_ORIGINS", "https://a.example/")
    with pytest.raises(SettingsError, match="SERVE_CORS_ORIGINS entry 'https://a.example/'"):
        ServeSettings.from_env()
    monkeypatch.setenv("SERVE_CORS_ORIGINS", "*")
    monkeypatch.setenv("SERVE_STATEMENT_TIMEOUT", "0")
    with pytest.raises(SettingsError, match="SERVE_STATEMENT_TIMEOUT"):
        ServeSettings.from_env()
