"""A page in Debian's headless Chromium, driven by Playwright: what a script finds on it, its screenshot, and every
console error, page error and failed request; run as a module, a page's text and problems as JSON."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def open_page(page_file: Path, screenshot: Path, script: str) -> dict[str, Any]:
    """`script` (a JavaScript function) evaluated on the loaded page, with "problems": what went wrong loading it."""
    assert Path(CHROMIUM).is_file(), "Chromium is missing: scripts/bootstrap installs Debian's chromium package"
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        page.goto(page_file.as_uri(), wait_until="load")
        found: dict[str, Any] = page.evaluate(script)
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return found | {"problems": problems}


def main() -> int:
    """python -m tests.support.browser PAGE SCREENSHOT: the page's text as JSON {text, problems}; exit 1 on a problem
    (Molecule's stories check the rollout page with it)."""
    page, screenshot = (Path(arg) for arg in sys.argv[1:3])
    found = open_page(page, screenshot, "() => ({text: document.body.innerText})")
    print(json.dumps(found))
    return 1 if found["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
