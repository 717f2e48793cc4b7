"""Redis client options shared by settings, tests and benchmarks (no Django imports here)."""

from __future__ import annotations

# channels_redis waits for messages with a blocking BZPOPMIN of 5 s. redis-py 8 defaults the
# client read timeout to 5 s as well, which cuts every idle wait short and tears each idle
# WebSocket consumer down every few seconds. Keep the read timeout well above the blocking
# wait, so idle sockets live and a dead Redis is still noticed.
CHANNEL_LAYER_SOCKET_TIMEOUT = 15
CHANNEL_LAYER_CONNECT_TIMEOUT = 5


def channel_layer_config(urls: list[str], *, prefix: str = "asgi") -> dict:
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {"address": url, "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT, "socket_connect_timeout": CHANNEL_LAYER_CONNECT_TIMEOUT}
                for url in urls
            ],
            "prefix": prefix,
            "capacity": 1500,
            "expiry": 30,
        },
    }
