"""Orcheo's own Python tracing (the `orcheo` package's `orcheo.tracing.workflow`), called the way
Orcheo's backend calls it, exporting to the Orcheo Trace server's embedded receivers over gRPC
and over HTTP; then the server's API must count and show every span of each run.

Orcheo names the execution on the root span only, and its batch exporter sends the node spans
before the root: the server must place every span of the trace in its run all the same.

Run by `cargo xtask orcheo-interop` with ORCHEO_API, OTLP_GRPC and OTLP_HTTP set. Every check is
reported by name; the script fails if any fails.
"""

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request

import websockets

# Orcheo's settings, which its tracing reads for two thresholds, insist on a database and a vault
# key; nothing here opens either (the address is loopback's discard port).
os.environ.setdefault("ORCHEO_POSTGRES_DSN", "postgresql://unused@127.0.0.1:9/unused")
os.environ.setdefault("ORCHEO_VAULT_ENCRYPTION_KEY", "unused-by-the-tracing-module")
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from orcheo.tracing.model_metadata import TRACE_METADATA_KEY, build_ai_trace_metadata
from orcheo.tracing.workflow import record_workflow_completion, record_workflow_failure, record_workflow_step, workflow_span

API = os.environ["ORCHEO_API"]
WORKFLOW = "wf_orcheo_interop"

# The node payloads of a run's steps, shaped as Orcheo's graph nodes report them.
DRAFT = {
    "id": "draft_email",
    "display_name": "Draft Email",
    "kind": "llm",
    "status": "success",
    "latency_ms": 250,
    "token_usage": {"input_tokens": 1200, "output_tokens": 340},
    "prompts": ["Write a follow-up to the customer"],
    "responses": ["Dear customer, thank you for waiting."],
    "messages": [{"role": "user", "content": "Follow up"}, {"role": "assistant", "content": "Done"}],
    "artifacts": [{"id": "artifact-draft-1"}, {"id": "artifact-draft-2"}],
    TRACE_METADATA_KEY: {
        "ai": build_ai_trace_metadata(
            kind="chat", requested_model="openai:gpt-4o-mini", actual_model="gpt-4o-mini-2024-07-18"
        )
    },
}
CLASSIFY = {
    "id": "classify",
    "display_name": "Classify",
    "kind": "llm",
    "status": "success",
    "latency_ms": 60,
    "usage": {"prompt_tokens": 90, "completion_tokens": 5},
    TRACE_METADATA_KEY: {"ai": build_ai_trace_metadata(kind="chat", requested_model="anthropic:claude-haiku")},
}
SEND = {"id": "send", "display_name": "Send", "kind": "tool", "status": "success", "duration_ms": 42}
TOKENS = {"input": 1200 + 90, "output": 340 + 5}

results = []


def run_node(payload):
    """Lets the time a node reports pass, as it would while the node runs."""
    time.sleep(payload["latency_ms"] / 1000)


def check(name, ok, detail=""):
    results.append((name, bool(ok)))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))


def run(exporter, execution_id, fail):
    """One workflow run as Orcheo's backend traces it: the root span around the run, one step
    recorded after another, the failure recorded on the root."""
    provider = TracerProvider(resource=Resource.create({"service.name": "orcheo-backend"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("orcheo.tracing")
    try:
        with workflow_span(tracer, workflow_id=WORKFLOW, execution_id=execution_id, inputs={"ticket": 7}) as ctx:
            try:
                # Orcheo records a step once its node has run, for as long as it reports.
                run_node(CLASSIFY)
                record_workflow_step(tracer, {"classify": CLASSIFY})
                run_node(DRAFT)
                record_workflow_step(tracer, {"draft_email": DRAFT})
                if fail:
                    raise RuntimeError("mail relay down")
                record_workflow_step(tracer, {"send": SEND})
                record_workflow_completion(ctx.span)
            except RuntimeError as exc:
                record_workflow_failure(ctx.span, exc)
                raise
    except RuntimeError:
        pass
    if not provider.force_flush(10_000):
        sys.exit(f"{execution_id}: the exporter did not flush")
    provider.shutdown()


def get(path):
    with urllib.request.urlopen(f"{API}{path}", timeout=10) as answer:
        return json.load(answer)


def listed(execution_id):
    """The run's entry in GET /api/executions, once it has ended."""
    deadline = time.time() + 15
    while True:
        try:
            for entry in get(f"/api/executions?workflow_id={WORKFLOW}&limit=100")["executions"]:
                if entry["id"] == execution_id and entry["status"] != "running":
                    return entry
        except urllib.error.HTTPError:
            pass
        if time.time() > deadline:
            sys.exit(f"{execution_id} never ended in GET /api/executions")
        time.sleep(0.1)


def nodes_of(tree):
    found = {}

    def walk(node):
        found[node["name"]] = node
        for child in node.get("children") or []:
            walk(child)

    walk(tree["root"])
    return found


async def live_spans(execution_id):
    """Every span the live feed sends for the run, until it says the run is complete."""
    url = API.replace("http://", "ws://") + f"/api/executions/{execution_id}/trace/live"
    spans = {}
    async with websockets.connect(url) as socket:
        while True:
            update = json.loads(await asyncio.wait_for(socket.recv(), 10))
            for span in update["spans"]:
                spans[span["span_id"]] = span
            if update["complete"]:
                return list(spans.values())


def verify(execution_id, fail):
    spans = 1 + (2 if fail else 3)
    # The failure comes after the two model calls: both runs used the same tokens.
    tokens = TOKENS
    entry = listed(execution_id)
    tag = f"{execution_id}:"
    check(f"{tag} status", entry["status"] == ("error" if fail else "completed"), entry)
    check(f"{tag} list span count", entry.get("span_count") == spans, entry)
    check(
        f"{tag} list tokens",
        entry.get("token_usage") == {**tokens, "total": tokens["input"] + tokens["output"]},
        entry,
    )
    tree = get(f"/api/executions/{execution_id}/trace?view=tree")
    nodes = nodes_of(tree)
    draft, classify = nodes.get("Draft Email"), nodes.get("Classify")
    check(f"{tag} tree has the nodes", draft is not None and classify is not None, list(nodes))
    if draft is None or classify is None:
        return
    check(f"{tag} node tokens", draft["token_usage"]["input"] == 1200 and draft["token_usage"]["output"] == 340, draft["token_usage"])
    check(f"{tag} node kind", draft["kind"] == "llm" and nodes.get("Send", {"kind": "tool"})["kind"] == "tool", draft["kind"])
    check(f"{tag} artifact ids", sorted(a["id"] for a in draft["artifacts"]) == ["artifact-draft-1", "artifact-draft-2"], draft["artifacts"])
    # Orcheo's AI metadata (`orcheo.ai.*`) read as the node's model.
    model = draft.get("model") or {}
    check(
        f"{tag} model from orcheo.ai.*",
        model.get("request") in ("gpt-4o-mini", "openai:gpt-4o-mini")
        and model.get("response") == "gpt-4o-mini-2024-07-18"
        and model.get("provider") == "openai",
        model,
    )
    # Orcheo's spans are made after the node ran: the node's duration is its reported latency.
    check(
        f"{tag} node duration from latency_ms",
        draft.get("duration_ms") == DRAFT["latency_ms"] and draft.get("duration_source") == "reported",
        (draft.get("duration_ms"), draft.get("duration_source")),
    )
    if fail:
        error = tree["root"].get("error") or {}
        check(f"{tag} failed run's error", tree["execution"].get("error") == "mail relay down", tree["execution"].get("error"))
        check(
            f"{tag} failed run's stack trace",
            error.get("type") == "RuntimeError" and "Traceback" in (error.get("stack_trace") or ""),
            error,
        )
    live = asyncio.run(live_spans(execution_id))
    names = sorted(s["name"] for s in live)
    check(f"{tag} live feed has the nodes, not the root alone", "Draft Email" in names and "Classify" in names and len(live) == spans, names)
    live_draft = next((s for s in live if s["name"] == "Draft Email"), {"attributes": {}})
    check(
        f"{tag} live node tokens",
        live_draft["attributes"].get("orcheo.token.input") == 1200 and live_draft["attributes"].get("orcheo.token.output") == 340,
        live_draft["attributes"],
    )


stamp = int(time.time() * 1000)
grpc_endpoint, http_endpoint = os.environ["OTLP_GRPC"], os.environ["OTLP_HTTP"] + "/v1/traces"
runs = [
    (GrpcExporter(endpoint=grpc_endpoint, insecure=True), f"orcheo-grpc-{stamp}", False),
    (HttpExporter(endpoint=http_endpoint), f"orcheo-http-{stamp}", False),
    (GrpcExporter(endpoint=grpc_endpoint, insecure=True), f"orcheo-grpc-failed-{stamp}", True),
    (HttpExporter(endpoint=http_endpoint), f"orcheo-http-failed-{stamp}", True),
]
for exporter, execution_id, fail in runs:
    run(exporter, execution_id, fail)
for _, execution_id, fail in runs:
    verify(execution_id, fail)
failed = [name for name, ok in results if not ok]
print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
if failed:
    sys.exit(1)
