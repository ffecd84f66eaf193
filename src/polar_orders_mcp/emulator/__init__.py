"""A local, stateful emulator of Polar's API as an ASGI app: `app.create_app()`."""
