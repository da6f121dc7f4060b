/// Gateway: the HTTP/1.1 + JSON front of a Courier service. It mounts the REST routes that
/// protoc-gen-courier generates from the HTTP rules in `proto/` (`<Service>_REST.routes(for:)`),
/// authenticates bearer tokens against each route's access rule, maps errors to one JSON shape with
/// the standard gRPC -> HTTP status table, turns server streams into Server-Sent Events, and serves
/// `/healthz`, `/readyz`, `/openapi.json` and any extra GET endpoints its owner adds (ServiceKit adds
/// `/metrics`). Every request is counted and timed per route through swift-metrics.
///
/// Built on Hummingbird 2 (`hummingbird-project/hummingbird` 2.28.1): a small SwiftNIO HTTP/1.1
/// server with graceful shutdown through swift-service-lifecycle and a streaming response body, which
/// is all the gateway needs from a framework. The gateway does its own routing (`RouteTable`) because
/// the templates come from the contracts (`{a.b}` variables, conflict checks, 400 for a missing
/// variable), and all request handling lives in `GatewayCore`, which has no Hummingbird types and is
/// tested without a socket.
public enum GatewayModule {}
