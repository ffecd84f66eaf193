"""OAuth 2.1 for the HTTP transports: who a bearer token stands for, the embedded authorization server, an
external identity provider."""
