// The Node floor: a minimal MCP server with one trivial tool over stdio, on the TypeScript SDK
// that Polar's server is built on (what Node and that SDK cost per call at all).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "floor", version: "1" });
server.tool("echo", "Return the text unchanged.", { text: z.string() }, async ({ text }) => ({
  content: [{ type: "text", text }],
}));
await server.connect(new StdioServerTransport());
