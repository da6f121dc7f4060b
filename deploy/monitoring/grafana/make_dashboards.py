"""Writes the Grafana dashboards of Courier, one per service, into dashboards/.

Every service gets the same rows (requests, errors, latency percentiles, CPU and memory), and the
services that use the event source (Asgardian and Hermes) a row of event throughput and lag; Iris
adds its delivery attempts. All queries filter on `job`, the service's scrape job in
prometheus/prometheus.yml. Tests/Python/ops checks that the files are what this script writes and
runs every query against a live Prometheus.

    python3 deploy/monitoring/grafana/make_dashboards.py          # write
    python3 deploy/monitoring/grafana/make_dashboards.py --check  # exit 1 if a file is stale
"""

import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "courier-prometheus"}
SERVICES = {
    "asgardian": {"title": "Asgardian (users, auth)", "events": True, "topics": "courier.user-.+"},
    "iris": {"title": "Iris (mail, web push, live streams)", "events": False},
    "hermes": {"title": "Hermes (deliveries, positions)", "events": True, "topics": "courier.delivery-payload-.+"},
}


def panel(title, unit, targets, width=12, description=""):
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit, "min": 0}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
                    for i, (expr, legend) in enumerate(targets)],
    }


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "gridPos": {"w": 24, "h": 1}, "panels": []}


def quantiles(metric, job, by=""):
    group = f"{by}, le" if by else "le"
    prefix = "{{" + by + "}} " if by else ""
    return [(f'histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{job="{job}"}}[5m])))', f"{prefix}p{int(q * 100)}")
            for q in (0.5, 0.9, 0.99)]


def dashboard(job, spec):
    j = f'job="{job}"'
    panels = [
        row("Requests"),
        panel("REST requests per second by route", "reqps",
              [(f'sum by (route, method) (rate(http_requests_total{{{j}}}[5m]))', "{{method}} {{route}}")]),
        panel("gRPC calls per second by method", "reqps",
              [(f'sum by (grpc_service, grpc_method) (rate(grpc_server_handled_total{{{j}}}[5m]))',
                "{{grpc_service}}/{{grpc_method}}")]),
        row("Errors"),
        panel("REST answers by status class", "reqps",
              [(f'sum by (status) (rate(http_requests_total{{{j}}}[5m]))', "{{status}}")]),
        panel("Error ratios (REST 5xx, gRPC server faults)", "percentunit",
              [(f'job:courier_http_error_ratio:rate5m{{{j}}}', "REST 5xx"),
               (f'job:courier_grpc_error_ratio:rate5m{{{j}}}', "gRPC faults"),
               ],
              description="Ratios from the recording rules in prometheus/alerts.yml; the alerts fire above 5%."),
        panel("gRPC calls per second by status code", "reqps",
              [(f'sum by (grpc_code) (rate(grpc_server_handled_total{{{j}}}[5m]))', "{{grpc_code}}")], width=24),
        row("Latency"),
        panel("REST latency percentiles", "s", quantiles("http_request_duration_seconds", job)),
        panel("gRPC latency percentiles", "s", quantiles("grpc_server_handling_seconds", job)),
        panel("gRPC p99 by method", "s",
              [(f'job_method:courier_grpc_latency_seconds:p99_5m{{{j}}}', "{{grpc_service}}/{{grpc_method}}")], width=24),
        row("Process"),
        panel("CPU (cores)", "short", [(f'rate(process_cpu_seconds_total{{{j}}}[5m])', "{{instance}}")]),
        panel("Resident memory", "bytes", [(f'process_resident_memory_bytes{{{j}}}', "{{instance}}")]),
    ]
    if spec["events"]:
        panels += [
            row("Events"),
            panel("Events appended per second by type", "ops",
                  [(f'sum by (type) (rate(courier_events_appended_total{{{j}}}[5m]))', "{{type}}")]),
            panel("Events published to Kafka per second by topic", "ops",
                  [(f'sum by (topic) (rate(courier_events_published_total{{topic=~"{spec["topics"]}"}}[5m]))', "{{topic}}")],
                  description="This service's topics, whichever relay published them: the relays of all "
                              "services share one outbox and one lock, so any of them may publish any event."),
            panel("Events handled per second by group and outcome", "ops",
                  [(f'sum by (group, outcome) (rate(courier_events_handled_total{{{j}}}[5m]))', "{{group}} {{outcome}}")]),
            panel("Outbox backlog (stored, not yet published)", "short",
                  [(f'job:courier_outbox_backlog:max{{{j}}}', "backlog")]),
            panel("Relay publishing (1) or standing by (0)", "short",
                  [(f'courier_relay_publishing{{{j}}}', "{{instance}}")],
                  description="One relay of the event store publishes at a time (an advisory lock); the "
                              "others stand by and take over within a sweep (1 s) when it stops."),
            panel("Relay lock misses per second", "ops",
                  [(f'sum by (instance) (rate(courier_relay_lock_misses_total{{{j}}}[5m]))', "{{instance}}")],
                  description="Relay transactions that found another relay publishing; a standing-by "
                              "relay tries once a sweep."),
            panel("Consumer lag (records behind)", "short",
                  [(f'job_group_topic:courier_consumer_lag:sum{{{j}}}', "{{group}} {{topic}}")]),
            panel("Dead-lettered events (15 min)", "short",
                  [(f'job_group:courier_events_dead_lettered:increase15m{{{j}}}', "{{group}}")]),
            panel("Event handling time", "s", quantiles("courier_event_handling_seconds", job, by="group")),
            panel("Event age when handled (occurred to handled)", "s", quantiles("courier_event_age_seconds", job, by="group")),
        ]
    if job == "iris":
        panels += [
            row("Deliveries"),
            panel("Delivery attempts per second", "ops",
                  [('sum without (instance, tier) (rate(iris_delivery_attempts_total{job="iris"}[5m]))', "{{channel}} {{outcome}}")],
                  width=24),
        ]
    y = 0
    x = 0
    for i, p in enumerate(panels):
        p["id"] = i + 1
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y = 0, y + 8
        p["gridPos"].update({"x": x, "y": y})
        x += w
        if p["type"] == "row" or x >= 24:
            x, y = 0, y + h
    return {
        "uid": f"courier-{job}", "title": f"Courier / {spec['title']}", "tags": ["courier", job],
        "timezone": "utc", "editable": False, "schemaVersion": 39, "version": 1, "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"}, "panels": panels,
        "annotations": {"list": []}, "templating": {"list": []},
    }


def render():
    return {f"{job}.json": json.dumps(dashboard(job, spec), indent=2) + "\n" for job, spec in SERVICES.items()}


def main(argv):
    out = HERE / "dashboards"
    stale = []
    for name, text in render().items():
        path = out / name
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            out.mkdir(exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale dashboards (run deploy/monitoring/grafana/make_dashboards.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
