"""The MCP server: Paperfeed's tools, resources and prompts for AI agents,
over stdio (``paperfeed mcp``) and streamable HTTP (``/mcp`` on ``paperfeed
serve``). An interface like the CLI and the web app: it parses arguments,
calls the same services and readers functions as the JSON API, and formats
their answers compactly. See docs/mcp.md."""
