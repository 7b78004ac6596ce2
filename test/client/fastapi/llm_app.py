"""An LLM-style streaming API on FastAPI, the way such APIs are commonly served:
StreamingResponse over SSE, answering a POST.

- POST /v1/chat/completions: with "stream": true, chat.completion.chunk events, then
  "data: [DONE]"; the response ends there.
- POST /v1/cut: two chunks, then the connection is dropped mid-body (no chunked terminator).
- POST /v1/resumable: events with ids; resumes after the Last-Event-ID header; the first
  answer is dropped after two events.
Every request is counted: GET /count.
"""

import asyncio
import json

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI()
count = {"posts": 0}


def chunk(content: str) -> str:
    body = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]}
    return f"data: {json.dumps(body)}\n\n"


@app.get("/count")
async def get_count():
    return count


@app.post("/v1/chat/completions")
async def completions(request: Request):
    count["posts"] += 1
    payload = await request.json()
    words = ["Hello", " from", " " + payload["messages"][-1]["content"]]

    async def stream():
        for w in words:
            yield chunk(w)
            await asyncio.sleep(0.01)
        yield "data: [DONE]\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


@app.post("/v1/cut")
async def cut(request: Request):
    count["posts"] += 1
    await request.body()

    async def stream():
        yield chunk("one")
        await asyncio.sleep(0.05)
        yield chunk("two")
        await asyncio.sleep(0.05)
        raise RuntimeError("the worker died mid-answer")

    return StreamingResponse(stream(), media_type="text/event-stream")


@app.post("/v1/resumable")
async def resumable(request: Request):
    count["posts"] += 1
    await request.body()
    last = request.headers.get("last-event-id")
    start = 1 if last is None else int(last) + 1
    first = last is None

    async def stream():
        for i in range(start, 5):
            yield f"id: {i}\ndata: {i}\n\n"
            await asyncio.sleep(0.02)
            if first and i == 2:
                raise RuntimeError("cut after two events")

    return StreamingResponse(stream(), media_type="text/event-stream")
