import CourierTestSupport
import Testing

/// Every test that needs a server lives in a suite nested in this one, so that one cluster serves
/// the whole run (or the server named by COURIER_PG_URL).
@Suite(.sharedCluster)
struct IntegrationTests {}
