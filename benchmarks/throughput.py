"""Throughput of the app's run path against a raw requests loop and Segment's analytics-python.

Run as a child: `python -m benchmarks.throughput CONFIG`. The collector runs in a process of
its own (see benchmarks.collectors), so the clients here do not share a GIL with it. Runs
alternate between the app and each baseline, and every run is checked: the collector must
have received every message, or the benchmark fails.

- App, batch: `runs.run_items` with delivery "batch" over empty input items, so each item
  builds the same track call from fixed form values (benchmarks.workload.TRACK_VALUES).
- Raw batch loop: a `requests.Session` posting the app's own messages, packed before the
  clock starts by `runs.pack_batches` into bodies just under 500 KB.
- analytics-python: `Client.track()` for each event, then a wait for its queue to drain,
  as `flush()` does but bounded in time.
- App, single: `runs.run_items` with delivery "single": one request per item.
- Raw single loop: a `requests.Session` posting the app's own message bodies one by one.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

from benchmarks.collectors import CollectorProcess
from benchmarks.common import BenchmarkError, Deadline, child_main
from benchmarks.workload import EVENT, PROPERTIES, TRACK_VALUES, USER_ID, WRITE_KEY, plain_items

# analytics-python settings: batches limited only by its own 475,000-byte cap, and a short
# wait for a batch to fill, so the tail of a run does not wait its default 0.5 s.
ANALYTICS_UPLOAD_SIZE = 10_000
ANALYTICS_UPLOAD_INTERVAL_SECONDS = 0.02
RUN_TIMEOUT_SECONDS = 300.0


def analytics_unavailable_reason() -> str:
    """Return why analytics-python cannot run here, or "" when it can."""
    try:
        import segment.analytics  # noqa: F401
    except ImportError as error:
        return (
            f"segment-analytics-python is not installed ({error}); "
            "install it with `pip install segment-analytics-python`"
        )
    return ""


# -- the app's messages ---------------------------------------------------------------------


def app_messages(count: int) -> list[Any]:
    """Build `count` messages from TRACK_VALUES the way a run does."""
    from segment_gui.expressions import ExpressionEngine
    from segment_gui.runs import build_messages
    from segment_gui.spec import load_spec

    engine = ExpressionEngine()
    try:
        built = build_messages(load_spec(), TRACK_VALUES, plain_items(count), engine=engine)
    finally:
        engine.close()
    messages = [message for _index, message, error in built if message is not None and not error]
    if len(messages) != count:
        raise BenchmarkError(f"the app built {len(messages)} of {count} messages")
    return messages


def prepared_bodies(count: int, batched: bool) -> list[bytes]:
    """Return request bodies for `count` events: one per message, or packed into batches."""
    from segment_gui.payload import serialize
    from segment_gui.runs import pack_batches

    messages = app_messages(count)
    if not batched:
        return [message.to_bytes() for message in messages]
    batches, errors = pack_batches(list(enumerate(messages)))
    if errors:
        raise BenchmarkError(f"{len(errors)} messages did not fit in a batch")
    return [serialize({"batch": [item for _index, item in batch]}) for batch in batches]


# -- clients --------------------------------------------------------------------------------


def run_app(base_url: str, count: int, delivery: str) -> float:
    """Run `count` items through `runs.run_items`; return the seconds it took."""
    from segment_gui.expressions import ExpressionEngine
    from segment_gui.runs import RunSettings, run_items
    from segment_gui.spec import load_spec

    spec = load_spec()
    items = plain_items(count)
    engine = ExpressionEngine()
    try:
        started = time.perf_counter()
        report = run_items(
            spec,
            TRACK_VALUES,
            items,
            RunSettings(),
            base_url=base_url,
            write_key=WRITE_KEY,
            delivery=delivery,
            engine=engine,
        )
        elapsed = time.perf_counter() - started
    finally:
        engine.close()
    sent = len(report.sent())
    if sent != count:
        raise BenchmarkError(f"app ({delivery}) sent {sent} of {count} items: {report.error}")
    return elapsed


def run_raw(base_url: str, path: str, bodies: list[bytes]) -> float:
    """Post each body in turn over one requests.Session; return the seconds it took."""
    import requests

    from segment_gui.transport import basic_auth

    headers = {"Content-Type": "application/json", "Authorization": basic_auth(WRITE_KEY)}
    url = f"{base_url}/{path}"
    started = time.perf_counter()
    with requests.Session() as session:
        for body in bodies:
            response = session.post(url, data=body, headers=headers, timeout=30)
            if response.status_code != 200:
                raise BenchmarkError(
                    f"raw loop received status {response.status_code}: {response.text[:200]}"
                )
    return time.perf_counter() - started


def _require_loopback(base_url: str) -> str:
    """Return the scheme and host part of a loopback URL, or raise BenchmarkError."""
    parts = urlsplit(base_url)
    if not ipaddress.ip_address(parts.hostname or "").is_loopback:
        raise BenchmarkError(f"analytics-python may only send to loopback, not {base_url}")
    return f"{parts.scheme}://{parts.netloc}"


def run_analytics(base_url: str, count: int) -> float:
    """Send `count` track calls with analytics-python; return the seconds until all were sent.

    The client gets the loopback host in its constructor, before any event is queued, so it
    never falls back to its default host, and sending is switched on only after the check.
    """
    from segment.analytics.client import Client

    host = _require_loopback(base_url)
    errors: list[BaseException] = []
    client = Client(
        write_key=WRITE_KEY,
        host=host,
        send=True,
        sync_mode=False,
        upload_size=ANALYTICS_UPLOAD_SIZE,
        upload_interval=ANALYTICS_UPLOAD_INTERVAL_SECONDS,
        max_queue_size=count + 1,
        max_retries=0,
        on_error=lambda error, _batch: errors.append(error),
    )
    try:
        started = time.perf_counter()
        for _ in range(count):
            client.track(user_id=USER_ID, event=EVENT, properties=dict(PROPERTIES))
        drained = _wait_until_sent(client, RUN_TIMEOUT_SECONDS)
        elapsed = time.perf_counter() - started
    finally:
        client.join()
    if not drained:
        raise BenchmarkError(f"analytics-python did not send {count} events within the timeout")
    if errors:
        raise BenchmarkError(f"analytics-python failed to upload: {errors[0]}")
    return elapsed


def _wait_until_sent(client: Any, timeout: float) -> bool:
    """Wait like `Client.flush()` (its queue's join), but at most `timeout` seconds."""
    deadline = Deadline(timeout)
    events = client.queue
    with events.all_tasks_done:
        while events.unfinished_tasks:
            if deadline.expired():
                return False
            events.all_tasks_done.wait(deadline.remaining())
    return True


# -- child ----------------------------------------------------------------------------------


def measure(config: dict[str, Any]) -> dict[str, Any]:
    """Run the batch and single-request comparisons against one collector kind."""
    batch_count = int(config["batch_count"])
    single_count = int(config["single_count"])
    runs = int(config["runs"])
    deadline = Deadline(float(config["budget_seconds"]))
    skip_analytics = analytics_unavailable_reason()

    batch_bodies = prepared_bodies(batch_count, batched=True)
    single_bodies = prepared_bodies(single_count, batched=False)
    seconds: dict[str, list[float]] = {
        "app_batch": [],
        "raw_batch": [],
        "analytics_batch": [],
        "app_single": [],
        "raw_single": [],
    }

    with CollectorProcess(config["collector"]) as collector:
        url = collector.base_url
        for run in range(runs):
            if run > 0 and deadline.expired():
                break
            seconds["app_batch"].append(run_app(url, batch_count, "batch"))
            collector.expect(batch_count, "app, batch")
            seconds["raw_batch"].append(run_raw(url, "batch", batch_bodies))
            collector.expect(batch_count, "raw loop, batch")
            if not skip_analytics:
                seconds["analytics_batch"].append(run_analytics(url, batch_count))
                collector.expect(batch_count, "analytics-python")
            seconds["app_single"].append(run_app(url, single_count, "single"))
            collector.expect(single_count, "app, single")
            seconds["raw_single"].append(run_raw(url, "track", single_bodies))
            collector.expect(single_count, "raw loop, single")

    return {
        "collector": config["collector"],
        "batch_count": batch_count,
        "batch_requests": len(batch_bodies),
        "batch_body_bytes": max(len(body) for body in batch_bodies),
        "single_count": single_count,
        "analytics_skipped": skip_analytics,
        "seconds": seconds,
    }


if __name__ == "__main__":
    child_main(measure)
