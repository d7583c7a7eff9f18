"""Webhook triggers: a small ASGI receiver stores authenticated events; a sensor per trigger runs them."""
