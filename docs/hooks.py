"""MkDocs hook (mkdocs.yml `hooks:`): writes where the shipped files live into the pages, from the code.

A page names a shipped file through a placeholder, `{{ scenarios_dir }}/news-gap.yaml` or `{{ configs_dir }}/demo.yaml`,
and this hook replaces it with the folder the code itself reads (`scenarios.library.shipped_scenarios_dir()`, the
folder of `market.config.default_instruments_path()`), relative to the repository. Where the files move, the pages
follow; nothing else in the pages spells those folders.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

ROOT = Path(__file__).resolve().parents[1]


@cache
def placeholders() -> dict[str, str]:
    if str(ROOT) not in sys.path:  # document the tree this file lives in, whatever is installed
        sys.path.insert(0, str(ROOT))
    from imperium_desk.market.config import default_instruments_path
    from imperium_desk.scenarios.library import shipped_scenarios_dir

    def shown(path: Path) -> str:
        try:
            return path.resolve().relative_to(ROOT).as_posix()
        except ValueError:
            return path.as_posix()

    return {
        "{{ scenarios_dir }}": shown(shipped_scenarios_dir()),
        "{{ configs_dir }}": shown(default_instruments_path().parent),
    }


def on_page_markdown(markdown: str, *, page: Any, **_: Any) -> str:
    for placeholder, value in placeholders().items():
        markdown = markdown.replace(placeholder, value)
    unknown = sorted(set(re.findall(r"\{\{ *\w+ *\}\}", markdown)))
    if unknown:  # a misspelt placeholder would otherwise reach the page as is
        raise PluginError(f"{page.file.src_path}: unknown placeholder(s) {', '.join(unknown)}; known: "
                          f"{', '.join(placeholders())}")
    return markdown
