"""mcpauth-fast's verifiers behind other frameworks' own auth: the MCP SDK's ``TokenVerifier``
(``mcp_sdk``) and fastmcp's ``auth=`` (``fastmcp``). Each imports its framework only when used:
the package works without either installed."""
