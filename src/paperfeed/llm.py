"""One call to an OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).

Local servers (llama.cpp, vLLM, Ollama) and hosted ones speak this shape:
a request ``{"model", "messages": [{"role", "content"}], ...}`` and an answer
``{"model", "choices": [{"message": {"role": "assistant", "content"}}]}``, or
an error ``{"error": {"message"}}`` with a 4xx/5xx status. Used by the
optional abstractive summaries (services/summaries.py); nothing else here
talks to a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class ChatError(RuntimeError):
    """The endpoint could not be reached or gave no usable answer; the message
    says which endpoint and what went wrong."""


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str  # the model the server says answered (else the one asked for)


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"][:300]
        if isinstance(error, str):
            return error[:300]
    return str(body)[:300]


def chat(
    url: str,
    model: str,
    messages: list[dict[str, str]],
    *,
    api_key: str = "",
    timeout: float = 60.0,
    max_tokens: int = 200,
    temperature: float = 0.2,
    transport: httpx.BaseTransport | None = None,
) -> Completion:
    """The assistant's answer to ``messages`` from ``model`` at ``url`` (the
    base URL, e.g. ``http://127.0.0.1:8080/v1``). Raises ``ChatError``."""
    endpoint = url.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    payload: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
        "stream": False,
    }
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(endpoint, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise ChatError(f"{endpoint}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 400:
        raise ChatError(f"{endpoint} answered {response.status_code}: {_error_message(response)}")
    try:
        body = response.json()
        choice = body["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ChatError(
            f"{endpoint}: not a chat.completions answer (no choices[0].message.content)"
        ) from exc
    if not isinstance(text, str) or not text.strip():
        raise ChatError(f"{endpoint}: the answer's content is empty")
    answered_by = body.get("model") if isinstance(body.get("model"), str) else None
    return Completion(text=text, model=(answered_by or model)[:200])
