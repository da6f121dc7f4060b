import CoreMetrics
import Foundation
import Kafka

/// The event source's metrics (swift-metrics; a service's exporter publishes them on `/metrics`).
/// Names and labels are what the shipped dashboards and alert rules query:
///
/// - `courier_events_appended_total{type}`: events written by append statements (a rolled-back
///   transaction's are counted too; `courier_events_published_total` counts only committed ones);
/// - `courier_events_published_total{topic}`: events the relay published;
/// - `courier_outbox_backlog`: unpublished events, sampled by the relay after each pass;
/// - `courier_relay_publishing`: 1 while this process's relay held the publishing lock at its last
///   try, 0 while it stands by because another relay holds it (one relay of a store publishes);
/// - `courier_relay_lock_misses_total`: the relay's transactions that found the lock taken;
/// - `courier_events_handled_total{group,outcome}`: `processed`, `skipped` (already handled),
///   `failed` (an attempt that threw), `dead_lettered`;
/// - `courier_event_handling_seconds{group}`: the handler's time per event;
/// - `courier_event_age_seconds{group}`: from the event's `occurred_at` to its handling;
/// - `courier_consumer_lag{group,topic,partition}`: records behind the partition's high watermark.
enum EventMetrics {
  static func appended(type: String, count: Int) {
    Counter(label: "courier_events_appended_total", dimensions: [("type", type)]).increment(by: count)
  }

  static func published(topic: String, count: Int) {
    Counter(label: "courier_events_published_total", dimensions: [("topic", topic)]).increment(by: count)
  }

  static func backlog(_ unpublished: Int) {
    Gauge(label: "courier_outbox_backlog").record(unpublished)
  }

  /// Makes the relay's series exist before its first pass: standing by, no misses yet.
  static func startRelaying() {
    Gauge(label: "courier_relay_publishing").record(0)
    Counter(label: "courier_relay_lock_misses_total").increment(by: 0)
  }

  /// The outcome of a relay's try for the publishing lock.
  static func relayLock(got: Bool) {
    Gauge(label: "courier_relay_publishing").record(got ? 1 : 0)
    if !got { Counter(label: "courier_relay_lock_misses_total").increment() }
  }

  /// Makes every outcome's series exist at 0, so that rates and ratios over it have data before the
  /// first failure.
  static func startHandling(group: String) {
    for outcome in ["processed", "skipped", "failed", "dead_lettered"] {
      handled(group: group, outcome: outcome, count: 0)
    }
    partitions(group: group, 0)
  }

  /// How many partitions this process's member of the group owns (0 until it has joined): a
  /// release waits for it before draining the old instance.
  static func partitions(group: String, _ count: Int) {
    Gauge(label: "courier_consumer_partitions", dimensions: [("group", group)]).record(count)
  }

  static func handled(group: String, outcome: String, count: Int = 1) {
    Counter(label: "courier_events_handled_total", dimensions: [("group", group), ("outcome", outcome)]).increment(by: count)
  }

  static func handling(group: String, seconds: Double) {
    Timer(label: "courier_event_handling_seconds", dimensions: [("group", group)]).recordNanoseconds(nanoseconds(seconds))
  }

  static func age(group: String, occurredAt: Date, now: Date = Date()) {
    Timer(label: "courier_event_age_seconds", dimensions: [("group", group)])
      .recordNanoseconds(nanoseconds(max(0, now.timeIntervalSince(occurredAt))))
  }

  static func lag(group: String, _ lag: [TopicPartition: Int64]) {
    for (partition, behind) in lag {
      Gauge(label: "courier_consumer_lag", dimensions: [
        ("group", group), ("topic", partition.topic), ("partition", String(partition.partition)),
      ]).record(behind)
    }
  }

  private static func nanoseconds(_ seconds: Double) -> Int64 {
    Int64(min(seconds, 1e9) * 1e9)
  }
}
