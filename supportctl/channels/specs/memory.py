"""The in-memory channel the tests use; it carries every medium that sends."""

from __future__ import annotations

from supportctl.channels.spec import ChannelSpec

MEDIA = ()

CHANNEL = ChannelSpec(type="memory", rank=1000, impl="supportctl.channels.memory:MemoryChannel",
                      media=("*",), public=False)
