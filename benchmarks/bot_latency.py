"""Bot reply latency, batched vs unbatched: the real bot long-polling a fake Bot API server on 127.0.0.1.

    python benchmarks/bot_latency.py                     # SYNTHETIC replier: fixed cost per call + small cost per chat
    python benchmarks/bot_latency.py --checkpoint DIR    # a real ChitChat checkpoint

N chats talk at once, each sending its next message as soon as the previous one is answered.
Latency is from pushing the update to the server receiving the bot's sendMessage. Unbatched is the
same bot with `max_batch_size=1`; the ratio printed is unbatched p50 / batched p50.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_telegram import FakeTelegram  # noqa: E402

from rugpt_chitchat.serving.bot import BotSettings, build_bot, build_dispatcher, serve  # noqa: E402

TOKEN = "123456:AAHbenchmarkTokenNotSecret_0123456789"


class SyntheticChitChat:
    """Stands in for batched generation: one call costs `per_call` seconds plus `per_item` per history."""

    max_history = 2

    def __init__(self, per_call: float, per_item: float):
        self.per_call = per_call
        self.per_item = per_item

    def reply_batch(self, histories: list[list[str]], **generation_kwargs) -> list[str]:
        time.sleep(self.per_call + self.per_item * len(histories))
        return [f"ответ на «{history[-1]}»" for history in histories]

    def truncate_utterance(self, text: str) -> str:
        return text[:500]


async def chat_latencies(fake: FakeTelegram, chat_id: int, turns: int) -> list[float]:
    """Latencies of `turns` messages from one chat, each sent once the previous one is answered."""
    latencies = []
    for turn in range(turns):
        pushed = time.monotonic()
        fake.push_message(chat_id, f"сообщение {turn}")
        await fake.wait_for_texts(chat_id, turn + 1, timeout=600)
        latencies.append(fake.sent("sendMessage", chat_id)[turn].at - pushed)
    return latencies


@asynccontextmanager
async def polling_bot(chitchat, **settings) -> AsyncIterator[FakeTelegram]:
    """A bot serving `chitchat` against a fake Bot API server, polling until the block ends."""
    fake = FakeTelegram(TOKEN)
    bot_settings = BotSettings(api_server=await fake.start(), rate_limit="off", polling_timeout=1, **settings)
    dispatcher = build_dispatcher(chitchat, bot_settings)
    polling = asyncio.create_task(serve(build_bot(TOKEN, bot_settings), dispatcher, bot_settings, handle_signals=False))
    while not fake.sent("getUpdates"):
        await asyncio.sleep(0.01)
    try:
        yield fake
    finally:
        await dispatcher.stop_gracefully(bot_settings.shutdown_timeout)
        await polling
        await fake.stop()


async def measure(chitchat, chats: int, turns: int, max_batch_size: int, max_wait_ms: float) -> list[float]:
    async with polling_bot(chitchat, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms) as fake:
        per_chat = await asyncio.gather(*(chat_latencies(fake, 1000 + chat, turns) for chat in range(chats)))
    return [latency for latencies in per_chat for latency in latencies]


def p50_p95(latencies: list[float]) -> tuple[float, float]:
    return statistics.median(latencies), statistics.quantiles(latencies, n=20, method="inclusive")[18]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="ChitChat checkpoint; default: the synthetic replier")
    parser.add_argument("--device", default=None)
    parser.add_argument("--per-call-ms", type=float, default=100.0, help="synthetic cost of one generate call")
    parser.add_argument("--per-item-ms", type=float, default=5.0, help="synthetic extra cost per history in a batch")
    parser.add_argument("--chats", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--turns", type=int, default=8, help="messages per chat")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=20.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    if args.checkpoint:
        from rugpt_chitchat.serving.generation import ChitChat

        chitchat = ChitChat.from_pretrained(args.checkpoint, device=args.device)
        print(f"replier: ChitChat from {args.checkpoint}")
    else:
        chitchat = SyntheticChitChat(args.per_call_ms / 1000, args.per_item_ms / 1000)
        print(f"replier: SYNTHETIC (sleep {args.per_call_ms:g} ms per call + {args.per_item_ms:g} ms per chat), no model")
    print(f"{args.turns} messages per chat; batched: max_batch_size={args.max_batch_size}, max_wait_ms={args.max_wait_ms:g}\n")
    print("| chats | unbatched p50 / p95, ms | batched p50 / p95, ms | p50 ratio | p95 ratio |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for chats in args.chats:
        unbatched = p50_p95(await measure(chitchat, chats, args.turns, 1, 0.0))
        batched = p50_p95(await measure(chitchat, chats, args.turns, args.max_batch_size, args.max_wait_ms))
        print(
            f"| {chats} | {unbatched[0] * 1000:.0f} / {unbatched[1] * 1000:.0f} | {batched[0] * 1000:.0f} / {batched[1] * 1000:.0f}"
            f" | {unbatched[0] / batched[0]:.2f}x | {unbatched[1] / batched[1]:.2f}x |",
            flush=True,
        )


if __name__ == "__main__":
    asyncio.run(main())
