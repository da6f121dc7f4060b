/// Where a produced record landed.
public struct RecordMetadata: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}
