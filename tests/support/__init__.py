"""What the tests share: keys and tokens, local servers, apps, MCP clients.

Test modules import from here, never from each other or from ``conftest``."""
