"""The chat model: the local stand-in by default, an OpenAI-compatible API one variable away.

Set ``ASSISTANT_BASE_URL`` (e.g. ``https://api.openai.com/v1``), ``ASSISTANT_API_KEY`` and
optionally ``ASSISTANT_MODEL`` to use a real model; unset, :mod:`assistant.standin` answers.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

from assistant import standin

# Price per 1000 tokens (USD) used to report cost; set ASSISTANT_PRICE_PER_1K_TOKENS for a real model.
DEFAULT_PRICE_PER_1K = 0.0005


def chat(messages: list[dict[str, str]]) -> dict[str, Any]:
    """One completion: ``{output, input_tokens, output_tokens, latency_ms, cost_usd}``."""
    base = os.environ.get("ASSISTANT_BASE_URL")
    model = os.environ.get("ASSISTANT_MODEL", "standin")
    body = {"model": model, "messages": messages, "temperature": 0}
    started = time.monotonic()
    if base:
        req = urllib.request.Request(
            base.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {os.environ.get('ASSISTANT_API_KEY', '')}"})
        with urllib.request.urlopen(req, timeout=float(os.environ.get("ASSISTANT_TIMEOUT", "60"))) as resp:
            reply = json.loads(resp.read())
    else:
        reply = standin.chat_completions(body)
    latency_ms = (time.monotonic() - started) * 1000
    usage = reply.get("usage") or {}
    tin, tout = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    price = float(os.environ.get("ASSISTANT_PRICE_PER_1K_TOKENS", DEFAULT_PRICE_PER_1K))
    return {"output": reply["choices"][0]["message"]["content"].strip(), "input_tokens": tin,
            "output_tokens": tout, "latency_ms": round(latency_ms, 3), "cost_usd": round((tin + tout) / 1000 * price, 8)}
