"""``voxplug serve``: a page to talk to the agent from a browser, and its token endpoint.

The page is built from ``web/`` (livekit-client, bundled by esbuild) into ``static/`` here,
so it ships inside the package and needs no network at run time.
"""

from .dev import DEV_AGENT_NAME, dev_stack
from .security import Authenticator, RateLimit, RateLimiter, is_loopback, load_auth_hook
from .server import STATIC_DIR, ServeOptions, check_assets, create_app, run_server, serve_forever
from .settings import SETTINGS, PageSetting, page_settings, parse_settings

__all__ = [
    "DEV_AGENT_NAME",
    "SETTINGS",
    "STATIC_DIR",
    "Authenticator",
    "PageSetting",
    "RateLimit",
    "RateLimiter",
    "ServeOptions",
    "check_assets",
    "create_app",
    "dev_stack",
    "is_loopback",
    "load_auth_hook",
    "page_settings",
    "parse_settings",
    "run_server",
    "serve_forever",
]
