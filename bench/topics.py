"""Measure the topic suggester: its accuracy, its latency per request, the memory it adds.

    .venv/bin/python bench/topics.py [--repeat 5]

Runs in one fresh process, in steps, reading the process's resident memory (RSS) after each:
the bot's own imports; the shipped model (the shipped examples, the default topics' keywords
and navec's word vectors) trained as the bot has it trained, by a process of its own, and
loaded here; a programme's model retrained the same way with 10 corrections for each of a new
programme's six topics. So the memory is what the model adds to the bot's process (numpy,
the word vectors, the model's arrays: never scikit-learn). Latency is the time one request's
suggestion takes
(``choose_topic``: hashtags, keywords, then the model), per request over the held-out sets
(each text's first try, as a new request's),
against the keywords alone in the same run as the baseline. Nothing is downloaded; no timing
is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELD_OUT = ("requests_ru_heldout.tsv", "requests_ru_heldout3.tsv")


def say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def per_request_ms(texts: list[str], suggest: Callable[[str], object], repeat: int) -> list[float]:
    """Each text's suggestion time in ms: its first try, as a new request's (its words' stems
    are kept once seen, and the training has seen the shipped examples' words), unless a later
    one of ``repeat`` tries was slower, which is the machine's noise rather than the text."""
    times = []
    for text in texts:
        tries = []
        for _ in range(repeat):
            started = time.perf_counter()
            suggest(text)
            tries.append(time.perf_counter() - started)
        times.append(min(tries[0], max(tries[1:], default=tries[0])) * 1000)
    return times


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    start = rss_mib()
    # Imported step by step, as memory is measured after each.
    from bot.domain.topic_learning import train_in_a_process  # noqa: PLC0415
    from bot.domain.topic_suggest import choose_topic  # noqa: PLC0415
    from bot.domain.topic_text import TrainingSet, shipped_examples, terms_of  # noqa: PLC0415
    from bot.domain.topics import default_topics  # noqa: PLC0415
    from tests.labelled import rows, six_group_corrections, six_groups  # noqa: PLC0415

    imported = rss_mib()
    topics = default_topics()
    started = time.perf_counter()
    model = asyncio.run(train_in_a_process(TrainingSet(terms_of(topics), shipped_examples())))
    trained_in = time.perf_counter() - started
    trained = rss_mib()

    six = six_groups()
    corrections = six_group_corrections()
    started = time.perf_counter()
    learnt = asyncio.run(
        train_in_a_process(TrainingSet(terms_of(six), (*shipped_examples(), *corrections)))
    )
    retrained_in = time.perf_counter() - started
    second = rss_mib()

    say("== topic suggester ==")
    say(
        f"memory: {start:.0f} MiB at start · {imported:.0f} MiB with the bot's imports · "
        f"{trained:.0f} MiB with the shipped model (+{trained - imported:.0f} MiB) · "
        f"{second:.0f} MiB with a second programme's model (+{second - trained:.0f} MiB)"
    )
    say(
        f"training, each in a process of its own: the shipped model {trained_in:.1f} s (the "
        f"first, word vectors loaded here too) · a programme's model with 60 corrections "
        f"{retrained_in:.1f} s"
    )
    for name in HELD_OUT:
        labelled = rows(name)
        texts = [row["text"] for row in labelled]
        right = sum(
            1
            for row in labelled
            if (topic := choose_topic(topics, row["text"], model)[0]) is not None
            and topic.code == row["topic"]
        )
        by_keywords = sum(
            1
            for row in labelled
            if (topic := choose_topic(topics, row["text"], None)[0]) is not None
            and topic.code == row["topic"]
        )
        with_model = per_request_ms(texts, lambda t: choose_topic(topics, t, model), args.repeat)
        keywords = per_request_ms(texts, lambda t: choose_topic(topics, t, None), args.repeat)
        say(
            f"{name}: {len(texts)} requests · accuracy {right / len(texts):.1%} "
            f"(keywords alone {by_keywords / len(texts):.1%}) · latency per request p50 "
            f"{statistics.median(with_model):.2f} ms, p95 {quantile(with_model, 0.95):.2f} ms, "
            f"max {max(with_model):.2f} ms · keywords alone p50 "
            f"{statistics.median(keywords):.3f} ms · ratio of medians "
            f"{statistics.median(with_model) / statistics.median(keywords):.0f}×"
        )
    test = [row for row in rows("six_groups_ru.tsv") if row["set"] == "test"]
    right = sum(
        1 for row in test if (t := learnt.suggest(six, row["text"])) and t.code == row["topic"]
    )
    say(f"six project groups after 10 corrections each: {right / len(test):.1%} of {len(test)}")


if __name__ == "__main__":
    main()
