import ContractRuntime
public import Generated

/// The generated enum of `courier/events/v1/events.proto` is a closed event set for typed handlers.
extension Courier_Events_V1_Events_Event: CourierEventSet {}
