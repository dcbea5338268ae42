"""How the browser tests and the offerwall benchmark start Debian's chromium headless: the
package's own binary (Playwright's browser download cannot run here), no sandbox as root,
and nothing that phones home, since a closed network refuses those connections."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("SURVEYROUTER_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
