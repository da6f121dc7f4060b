import Metrics
public import Prometheus

/// Process-wide metrics setup for a service: swift-metrics backed by a Prometheus registry.
public enum ServiceMetrics {
  /// The one registry of the process, bootstrapped into swift-metrics the first time it is asked for.
  private static let registry: PrometheusCollectorRegistry = {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return registry
  }()

  /// Bootstraps `MetricsSystem` with a `PrometheusMetricsFactory` on the first call and returns its
  /// registry; later calls return the same registry. `CourierServer` calls it itself, so a service
  /// needs it only to register metrics before the server starts. Do not bootstrap `MetricsSystem`
  /// anywhere else: it may be bootstrapped once per process.
  public static func bootstrap() -> PrometheusCollectorRegistry {
    registry
  }

  /// The Prometheus text exposition (version 0.0.4) of the registry, followed by the process
  /// metrics read from `/proc/self` at this moment.
  static func exposition(_ registry: PrometheusCollectorRegistry) -> [UInt8] {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(16 * 1024)
    registry.emit(into: &buffer)
    buffer.append(contentsOf: ProcessMetrics.read().exposition.utf8)
    return buffer
  }
}
