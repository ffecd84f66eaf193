"""The server's durable state: approvals, money-moving acts and spend totals, the audit chain, console sessions."""
