"""The Python OpenTelemetry SDK, as the existing Orcheo backend uses it, exporting to the Orcheo
Trace server's embedded receivers over gRPC and over HTTP; then the server's API must give back
each run as a tree, with its tokens, events and outcome.

Each transport is tried plain and gzip-compressed (the compression an OpenTelemetry Collector's
OTLP exporters use by default).

Run by `cargo xtask otlp-interop` with ORCHEO_API, OTLP_GRPC and OTLP_HTTP set.
"""

import json
import os
import sys
import time
import urllib.request

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

API = os.environ["ORCHEO_API"]


def run_workflow(exporter, execution_id, fail):
    provider = TracerProvider(resource=Resource.create({"service.name": "orcheo-python-backend"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("orcheo.tracing")
    with tracer.start_as_current_span("workflow.execution") as root:
        root.set_attribute("orcheo.execution.id", execution_id)
        root.set_attribute("orcheo.workflow.id", "wf_python")
        root.set_attribute("orcheo.execution.tenant", "acme")
        with tracer.start_as_current_span("Summarize") as node:
            node.set_attribute("orcheo.execution.id", execution_id)
            node.set_attribute("orcheo.node.kind", "llm")
            node.set_attribute("gen_ai.usage.input_tokens", 300)
            node.set_attribute("gen_ai.usage.output_tokens", 40)
            node.add_event("prompt", {"preview": "Summarize the ticket"})
            node.add_event("response", {"preview": "The customer wants a refund."})
        with tracer.start_as_current_span("Notify") as node:
            node.set_attribute("orcheo.execution.id", execution_id)
            node.set_attribute("orcheo.node.kind", "tool")
            if fail:
                node.record_exception(RuntimeError("mail relay down"))
                node.set_status(Status(StatusCode.ERROR, "mail relay down"))
        if fail:
            root.add_event("workflow.failed", {"exception.type": "RuntimeError", "exception.message": "mail relay down"})
            root.set_status(Status(StatusCode.ERROR, "mail relay down"))
        else:
            root.add_event("workflow.completed")
    if not provider.force_flush(10_000):
        sys.exit(f"{execution_id}: the exporter did not flush")
    provider.shutdown()


def trace(execution_id):
    with urllib.request.urlopen(f"{API}/api/executions/{execution_id}/trace?view=tree", timeout=10) as answer:
        return json.load(answer)


def check(execution_id, fail):
    deadline = time.time() + 10
    while True:
        try:
            body = trace(execution_id)
            if body["execution"]["status"] != "running":
                break
        except urllib.error.HTTPError:
            pass
        if time.time() > deadline:
            sys.exit(f"{execution_id} never finished in the API")
        time.sleep(0.1)
    execution = body["execution"]
    expected = "error" if fail else "completed"
    assert execution["status"] == expected, execution
    assert execution["workflow_id"] == "wf_python", execution
    assert execution["tenant"] == "acme", execution
    assert execution["span_count"] == 3, execution
    assert execution["token_usage"] == {"input": 300, "output": 40, "total": 340}, execution
    root = body["root"]
    assert root["name"] == "workflow.execution", root["name"]
    assert [c["name"] for c in root["children"]] == ["Summarize", "Notify"], root["children"]
    summarize, notify = root["children"]
    assert summarize["kind"] == "llm" and summarize["prompts"][0]["content"] == "Summarize the ticket", summarize
    if fail:
        assert notify["status"]["code"] == "ERROR", notify["status"]
        assert notify["error"]["type"] == "RuntimeError", notify["error"]
        assert execution["error"] == "mail relay down", execution
    print(f"ok: {execution_id} ({expected}, {execution['span_count']} spans)")


stamp = int(time.time())
grpc_endpoint, http_endpoint = os.environ["OTLP_GRPC"], os.environ["OTLP_HTTP"] + "/v1/traces"
runs = [
    (GrpcExporter(endpoint=grpc_endpoint, insecure=True), f"py-grpc-{stamp}", False),
    (HttpExporter(endpoint=http_endpoint), f"py-http-{stamp}", True),
    (
        GrpcExporter(endpoint=grpc_endpoint, insecure=True, compression=grpc.Compression.Gzip),
        f"py-grpc-gzip-{stamp}",
        True,
    ),
    (HttpExporter(endpoint=http_endpoint, compression=HttpCompression.Gzip), f"py-http-gzip-{stamp}", False),
]
for exporter, execution_id, fail in runs:
    run_workflow(exporter, execution_id, fail)
for _, execution_id, fail in runs:
    check(execution_id, fail)
