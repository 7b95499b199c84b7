"""Vendor plugins share LiveKit's per-job aiohttp session; outside a worker, a test opens it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from livekit.agents.utils import http_context


@pytest.fixture(autouse=True)
async def _http_session() -> AsyncIterator[None]:
    async with http_context.open():
        yield
