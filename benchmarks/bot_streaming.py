"""Time to the first visible words (a streamed draft) against time to the whole reply, in the real bot.

    python benchmarks/bot_streaming.py                    # a random GPT-2 (4 layers, 256 wide) with a BPE trained here
    python benchmarks/bot_streaming.py --checkpoint DIR   # a trained checkpoint

The bot long-polls a fake Bot API server on 127.0.0.1 with `--stream` on; N private chats talk at once, each
sending its next message when the previous one is answered. Per message: from pushing the update to the
server receiving the first `sendMessageDraft`, and to it receiving the final `sendMessage`. The ratio printed
is whole reply p50 / first words p50: how much sooner a user sees the reply start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_telegram import FakeTelegram  # noqa: E402
from bot_latency import p50_p95, polling_bot  # noqa: E402
from generate import CORPUS, add_model_arguments, benchmark_chat, read_dialogues  # noqa: E402

from rugpt_chitchat.serving.generation import ChitChat  # noqa: E402

async def chat_timings(fake: FakeTelegram, chat_id: int, texts: list[str]) -> list[tuple[float | None, float]]:
    """(first draft, final message) seconds after the push, for each of `texts` sent in turn."""
    timings = []
    for turn, text in enumerate(texts):
        drafts_before = len(fake.sent("sendMessageDraft", chat_id))
        pushed = time.monotonic()
        fake.push_message(chat_id, text)
        await fake.wait_for_texts(chat_id, turn + 1, timeout=600)
        drafts = fake.sent("sendMessageDraft", chat_id)[drafts_before:]
        final = fake.sent("sendMessage", chat_id)[turn].at - pushed
        timings.append((drafts[0].at - pushed if drafts else None, final))
    return timings


async def measure(chat: ChitChat, chats: int, texts: list[str], max_batch_size: int) -> list[tuple[float | None, float]]:
    async with polling_bot(chat, max_batch_size=max_batch_size, max_wait_ms=20, stream=True) as fake:
        per_chat = await asyncio.gather(*(chat_timings(fake, 2000 + i, texts[i::chats]) for i in range(chats)))
    return [timing for timings in per_chat for timing in timings]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_arguments(parser)
    parser.add_argument("--chats", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--turns", type=int, default=4, help="messages per chat")
    parser.add_argument("--max-batch-size", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    dialogues = read_dialogues(CORPUS, 3000)
    with benchmark_chat(args, dialogues) as (chat, model):
        print(f"model: {model}, "
              f"max_new_tokens={chat.generation_config.max_new_tokens}; {args.turns} messages per chat\n")  # fmt: skip
        print("| chats | first words p50 / p95, ms | whole reply p50 / p95, ms | replies with a draft | p50 ratio |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for chats in args.chats:
            texts = [dialogue[0] for dialogue in dialogues[: chats * args.turns]]
            timings = await measure(chat, chats, texts, args.max_batch_size)
            first = [draft for draft, _ in timings if draft is not None]
            whole = p50_p95([final for _, final in timings])
            words = p50_p95(first) if len(first) > 1 else (float("nan"),) * 2
            print(f"| {chats} | {words[0] * 1000:.0f} / {words[1] * 1000:.0f} | {whole[0] * 1000:.0f} / {whole[1] * 1000:.0f}"
                  f" | {len(first)} of {len(timings)} | {whole[0] / words[0]:.2f}x |", flush=True)  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
