"""The Service Connect incident's FastAPI backend, from the write-up (shared seed
"Why AWS Service Connect May Not Be Your Friend for SSE"), unchanged but for one thing: every
sleep is multiplied by TIME_SCALE (0.01 in the tests: 45 s -> 450 ms), so the same endpoints run
against the time-scaled Cloudflare -> ALB -> Service Connect chain.

Endpoints, as in the write-up:
- POST /ocr: the first try, a long plain request (about 45 s) returning JSON;
- GET /ocr/stream: the SSE replacement, OCR pages streamed with a periodic (5 s) heartbeat;
- GET /public/test-sse: the toy endpoint, "data: heartbeat" every 2 s, 30 times;
- WS /public/ws/test: the toy WebSocket, "heartbeat" every 2 s.
"""

import asyncio
import json
import os

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

TIME_SCALE = float(os.environ.get("TIME_SCALE", "1"))


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds * TIME_SCALE)


router = APIRouter()


@router.post("/ocr")
async def ocr(document: dict):
    # "I just made a simple HTTP request and waited for the response (about 45 seconds)."
    await sleep(45)
    return {"document": document.get("document"), "pages": 9, "text": "lorem ipsum " * 9}


@router.get("/ocr/stream")
async def ocr_stream(document: str = "scan.pdf"):
    # "I replaced my long-running API request with an SSE request which sent a periodic
    # (5 second) heartbeat."
    async def pages():
        for page in range(1, 10):
            yield "event: heartbeat\ndata: {}\n\n"
            await sleep(5)
            body = json.dumps({"document": document, "page": page, "of": 9})
            yield f"id: page-{page}\nevent: page\ndata: {body}\n\n"
        yield "event: done\ndata: {\"pages\": 9}\n\n"

    return StreamingResponse(pages(), media_type="text/event-stream")


@router.get("/public/test-sse")
async def test_sse(
):
    async def heartbeat_generator():
        for i in range(30):
            yield "data: heartbeat\n\n"
            await sleep(2)

    return StreamingResponse(heartbeat_generator(), media_type="text/event-stream")


@router.websocket("/public/ws/test")
async def websocket_test(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            # Send a heartbeat message every 2 seconds.
            await websocket.send_text("heartbeat")
            await sleep(2)
    except WebSocketDisconnect:
        print("Client disconnected")


app = FastAPI()
app.include_router(router)
