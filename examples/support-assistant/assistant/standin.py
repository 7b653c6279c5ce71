"""A deterministic stand-in for an OpenAI-compatible chat model, so the project runs offline.

``chat_completions(body)`` takes the request body of ``POST /chat/completions`` and returns the
reply body, like the real API. It plays two parts:

- the assistant: the first fact in the context answers. When the system prompt asks for "the exact
  value only" it replies with the value; otherwise with a sentence ("The refund window is 30 days.").
  So editing the prompt changes the answers, as it would with a real model.
- the judge (mlspec's `llm_judge` requests start "You are an evaluator"): score 1 when the expected
  answer appears in the output (case-insensitive), else 0.
"""

from __future__ import annotations

import json
import re
from typing import Any


def _words(text: str) -> int:
    return len(text.split())


def _reply(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt_tokens = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
    return {
        "id": "standin", "object": "chat.completion", "model": body.get("model", "standin"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": _words(content),
                  "total_tokens": prompt_tokens + _words(content)},
    }


def _judge(user: str) -> str:
    expected = re.search(r"Expected answer:\n(.*?)\n\nOutput to evaluate:\n", user, re.S)
    output = user.split("Output to evaluate:\n", 1)[-1]
    if not expected:
        return json.dumps({"score": 0, "reason": "no expected answer to compare with"})
    hit = expected.group(1).strip().lower() in output.lower()
    return json.dumps({"score": 1 if hit else 0,
                       "reason": "gives the expected answer" if hit else "does not give the expected answer"})


def _answer(system: str) -> str:
    facts = re.findall(r"^- (.+?): (.+)$", system.split("Context:", 1)[-1], re.M)
    if not facts:
        return "I don't know"
    key, value = facts[0]
    if "exact value only" in system.lower():
        return value
    return f"The {key} is {value}."


def chat_completions(body: dict[str, Any]) -> dict[str, Any]:
    messages = body.get("messages", [])
    system = next((str(m.get("content", "")) for m in messages if m.get("role") == "system"), "")
    user = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
    if system.startswith("You are an evaluator"):
        return _reply(body, _judge(user))
    return _reply(body, _answer(system))
