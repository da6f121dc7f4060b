import NIOCore

extension ByteBuffer {
    @inline(__always)
    mutating func writeKafkaUVarint(_ value: UInt32) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(v))
    }

    @inline(__always)
    mutating func writeKafkaUVarlong(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(v))
    }

    /// ZigZag signed varint, as used inside records.
    @inline(__always)
    mutating func writeKafkaVarint(_ value: Int32) {
        writeKafkaUVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
    }

    @inline(__always)
    mutating func writeKafkaVarlong(_ value: Int64) {
        writeKafkaUVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(UInt8(value ? 1 : 0))
    }

    mutating func writeCompactString(_ value: String) {
        writeKafkaUVarint(UInt32(value.utf8.count + 1))
        writeString(value)
    }

    mutating func writeCompactNullableString(_ value: String?) {
        guard let value else { writeKafkaUVarint(0); return }
        writeCompactString(value)
    }

    mutating func writeCompactBytes(_ value: ByteBuffer) {
        writeKafkaUVarint(UInt32(value.readableBytes + 1))
        writeImmutableBuffer(value)
    }

    mutating func writeCompactNullableBytes(_ value: ByteBuffer?) {
        guard let value else { writeKafkaUVarint(0); return }
        writeCompactBytes(value)
    }

    mutating func writeCompactArrayCount(_ count: Int) {
        writeKafkaUVarint(UInt32(count + 1))
    }

    mutating func writeCompactArray<T>(_ elements: [T], _ body: (inout ByteBuffer, T) -> Void) {
        writeCompactArrayCount(elements.count)
        for element in elements { body(&self, element) }
    }

    mutating func writeCompactInt32Array(_ values: [Int32]) {
        writeCompactArrayCount(values.count)
        for v in values { writeInteger(v) }
    }

    /// An empty tagged-field section.
    mutating func writeEmptyTaggedFields() {
        writeInteger(UInt8(0))
    }

    /// Classic int16-length nullable string (request header client id, consumer protocol).
    mutating func writeKafkaString(_ value: String?) {
        guard let value else { writeInteger(Int16(-1)); return }
        writeInteger(Int16(value.utf8.count))
        writeString(value)
    }

    /// Classic int32-length nullable bytes (consumer protocol user data).
    mutating func writeKafkaBytes(_ value: ByteBuffer?) {
        guard let value else { writeInteger(Int32(-1)); return }
        writeInteger(Int32(value.readableBytes))
        writeImmutableBuffer(value)
    }
}

enum VarintSize {
    @inline(__always)
    static func unsigned(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    @inline(__always)
    static func zigzag(_ value: Int64) -> Int {
        unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}
