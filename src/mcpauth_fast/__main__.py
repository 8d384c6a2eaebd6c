"""``python -m mcpauth_fast``: the ``mcpauth-fast`` command."""

from __future__ import annotations

from .dev.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
