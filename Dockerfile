# polar-orders-mcp over streamable HTTP, as an unprivileged user.
#   docker build -t polar-orders-mcp .
#   docker run --rm -p 127.0.0.1:8000:8000 -e POLAR_MCP_HTTP_TOKEN -e POLAR_ACCESS_TOKEN -e POLAR_SERVER=sandbox \
#       polar-orders-mcp
# Published on the host's loopback only; put a TLS proxy in front to serve it further.
# Clients connect to http://127.0.0.1:8000/mcp with "Authorization: Bearer $POLAR_MCP_HTTP_TOKEN".
# The server binds 0.0.0.0 inside the container, so it refuses to start without POLAR_MCP_HTTP_TOKEN.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml README.md /tmp/build/
COPY src /tmp/build/src
RUN pip install "/tmp/build[postgres]" && rm -rf /tmp/build \
    && groupadd --system --gid 10001 mcp \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mcp

USER 10001:10001
ENV POLAR_MCP_TRANSPORT=http \
    POLAR_MCP_HOST=0.0.0.0 \
    POLAR_MCP_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["polar-orders-mcp"]
CMD ["serve"]
