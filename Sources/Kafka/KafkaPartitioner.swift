/// Chooses a partition for a record the way Kafka's Java client does: murmur2 of the key bytes,
/// made positive, modulo the partition count. Records without a key are spread round-robin.
public enum KafkaPartitioner {
    /// Kafka's murmur2 (seed 0x9747b28c), as `org.apache.kafka.common.utils.Utils.murmur2`.
    public static func murmur2(_ data: [UInt8]) -> Int32 {
        let length = data.count
        let seed: UInt32 = 0x9747_B28C
        let m: UInt32 = 0x5BD1_E995
        let r: UInt32 = 24
        var h: UInt32 = seed ^ UInt32(truncatingIfNeeded: length)
        let length4 = length / 4
        for i in 0..<length4 {
            let i4 = i * 4
            var k = UInt32(data[i4]) | UInt32(data[i4 + 1]) << 8 | UInt32(data[i4 + 2]) << 16 | UInt32(data[i4 + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = length & ~3
        let rest = length % 4
        if rest == 3 { h ^= UInt32(data[tail + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(data[tail + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(data[tail])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    /// The partition for `key` among `partitionCount` partitions.
    public static func partition(forKey key: [UInt8], partitionCount: Int) -> Int32 {
        precondition(partitionCount > 0, "partitionCount must be positive")
        let positive = murmur2(key) & 0x7FFF_FFFF
        return positive % Int32(partitionCount)
    }
}
