"""The documentation's reference pages (docs/reference/) are what `scripts/docs_reference.py` writes from the code now:
a change to the config or scenario schema, the telemetry record, the REST API or the CLI fails here until
`./scripts/docs` is run and its pages committed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "scripts" / "docs_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pages(generator: ModuleType) -> dict[str, str]:
    rendered: dict[str, str] = generator.render_all()
    return rendered


def test_every_committed_reference_page_matches_the_code(generator: ModuleType, pages: dict[str, str]) -> None:
    assert generator.stale_pages(pages) == []


def test_a_changed_page_is_reported_stale(generator: ModuleType, pages: dict[str, str], tmp_path: Path) -> None:
    for name, text in pages.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "cli.md").write_text(pages["cli.md"] + "edited\n", encoding="utf-8")
    assert generator.stale_pages(pages, tmp_path) == ["cli.md"]


def test_rendering_twice_gives_the_same_pages(generator: ModuleType, pages: dict[str, str]) -> None:
    assert generator.render_all() == pages


def test_no_page_holds_an_absolute_path_of_this_machine(pages: dict[str, str]) -> None:
    leaks = [name for name, text in pages.items() if str(ROOT) in text or str(Path.home()) + "/" in text]
    assert leaks == []


def test_every_telemetry_event_has_a_section(pages: dict[str, str]) -> None:
    from imperium_desk.telemetry.schema import EVENTS

    missing = [event for event in EVENTS if f"### `{event}`" not in pages["telemetry.md"]]
    assert missing == []


def test_every_cli_command_has_a_section(pages: dict[str, str]) -> None:
    from imperium_desk.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    missing = [name for name in commands if name != "config" and f"## `imperium-desk {name}`" not in pages["cli.md"]]
    assert missing == []


def test_the_openapi_document_lists_every_route_of_the_app(pages: dict[str, str]) -> None:
    document = json.loads(pages["openapi.json"])
    missing = [path for path in document["paths"] if f" {path}`" not in pages["rest-api.md"]]
    assert "/feedback/metrics" in document["paths"] and missing == []
