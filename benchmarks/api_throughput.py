"""Requests per second of `rugpt-chitchat serve`, batched against unbatched: concurrent clients over HTTP on 127.0.0.1.

    python benchmarks/api_throughput.py                    # a random GPT-2 (4 layers, 256 wide) with a BPE trained here
    python benchmarks/api_throughput.py --checkpoint DIR   # a trained checkpoint

`--clients` clients each send `--requests` chat completions one after another (real histories, sampling,
`max_tokens` fixed). Unbatched is the same server with `max_batch_size=1`; the ratio printed is batched
requests/s over unbatched requests/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from generate import CORPUS, add_model_arguments, benchmark_chat, read_dialogues  # noqa: E402

from rugpt_chitchat.serving.api import ChatApi  # noqa: E402
from rugpt_chitchat.serving.generation import ChitChat  # noqa: E402


async def client(session: aiohttp.ClientSession, url: str, histories: list[list[str]], max_tokens: int) -> int:
    """Send one request per history, each after the previous answer; the number answered."""
    answered = 0
    for history in histories:
        roles = ["user", "assistant"] if len(history) % 2 else ["assistant", "user"]
        messages = [{"role": roles[i % 2], "content": text} for i, text in enumerate(history)]
        body = {"model": "bench", "messages": messages, "max_tokens": max_tokens, "temperature": 0.8}
        async with session.post(url, json=body) as response:
            answered += response.status == 200 and bool((await response.json())["choices"][0]["message"]["content"])
    return answered


async def requests_per_second(chat: ChitChat, histories: list[list[str]], clients: int, max_tokens: int,
                              max_batch_size: int, max_wait_ms: float) -> float:  # fmt: skip
    api = ChatApi({"bench": chat}, max_batch_size=max_batch_size, max_wait=max_wait_ms / 1000)
    runner = web.AppRunner(api.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1/chat/completions"
    per_client = [histories[i::clients] for i in range(clients)]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            start = time.perf_counter()
            answered = await asyncio.gather(*(client(session, url, mine, max_tokens) for mine in per_client))
            elapsed = time.perf_counter() - start
    finally:
        await runner.cleanup()
    if sum(answered) != len(histories):
        raise SystemExit(f"only {sum(answered)} of {len(histories)} requests were answered")
    return len(histories) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 50])
    parser.add_argument("--requests", type=int, default=3, help="requests per client")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    args = parser.parse_args()

    dialogues = read_dialogues(CORPUS, 3000)
    with benchmark_chat(args, dialogues) as (chat, model):
        print(f"model: {model}; {args.requests} requests per client, max_tokens={args.max_tokens}\n")
        print("| clients | unbatched req/s | batched req/s (max_batch_size=%d) | ratio |" % args.max_batch_size)
        print("| ---: | ---: | ---: | ---: |")
        for clients in args.clients:
            histories = [d[: 1 + i % min(len(d), 3)] for i, d in enumerate(dialogues[: clients * args.requests])]
            unbatched = await requests_per_second(chat, histories, clients, args.max_tokens, 1, 0.0)
            batched = await requests_per_second(chat, histories, clients, args.max_tokens, args.max_batch_size, args.max_wait_ms)
            print(f"| {clients} | {unbatched:.1f} | {batched:.1f} | {batched / unbatched:.2f}x |", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
