import NIOCore

/// Reads Kafka wire types from a response body. Every read checks the remaining length and throws
/// `KafkaError.truncatedResponse` instead of trapping, so a malformed frame never crashes the client.
struct KafkaReader {
    var buffer: ByteBuffer
    let context: String

    init(_ buffer: ByteBuffer, context: String) {
        self.buffer = buffer
        self.context = context
    }

    var remaining: Int { buffer.readableBytes }

    private func truncated(_ field: String) -> KafkaError {
        .truncatedResponse(context: context, field: field)
    }

    mutating func int8(_ field: String = "int8") throws -> Int8 {
        guard let v = buffer.readInteger(as: Int8.self) else { throw truncated(field) }
        return v
    }

    mutating func int16(_ field: String = "int16") throws -> Int16 {
        guard let v = buffer.readInteger(as: Int16.self) else { throw truncated(field) }
        return v
    }

    mutating func int32(_ field: String = "int32") throws -> Int32 {
        guard let v = buffer.readInteger(as: Int32.self) else { throw truncated(field) }
        return v
    }

    mutating func uint32(_ field: String = "uint32") throws -> UInt32 {
        guard let v = buffer.readInteger(as: UInt32.self) else { throw truncated(field) }
        return v
    }

    mutating func int64(_ field: String = "int64") throws -> Int64 {
        guard let v = buffer.readInteger(as: Int64.self) else { throw truncated(field) }
        return v
    }

    mutating func bool(_ field: String = "bool") throws -> Bool {
        try int8(field) != 0
    }

    /// An unsigned LEB128 varint of at most 5 bytes.
    mutating func uvarint(_ field: String = "uvarint") throws -> UInt32 {
        var result: UInt32 = 0
        var shift: UInt32 = 0
        for _ in 0..<5 {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated(field) }
            result |= UInt32(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        throw KafkaError.malformedFrame("\(context): varint '\(field)' is longer than 5 bytes")
    }

    /// A ZigZag-encoded signed varint (record fields).
    mutating func varint(_ field: String = "varint") throws -> Int32 {
        let raw = try uvarint(field)
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A ZigZag-encoded signed varlong of at most 10 bytes.
    mutating func varlong(_ field: String = "varlong") throws -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        for _ in 0..<10 {
            guard let byte = buffer.readInteger(as: UInt8.self) else { throw truncated(field) }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                return Int64(bitPattern: (result >> 1) ^ (0 &- (result & 1)))
            }
            shift += 7
        }
        throw KafkaError.malformedFrame("\(context): varlong '\(field)' is longer than 10 bytes")
    }

    private mutating func checkedLength(_ length: Int, _ field: String) throws -> Int {
        guard length >= 0 else { throw KafkaError.malformedFrame("\(context): negative length for '\(field)'") }
        guard length <= buffer.readableBytes else { throw truncated(field) }
        return length
    }

    mutating func compactNullableString(_ field: String = "string") throws -> String? {
        let n = try uvarint(field)
        if n == 0 { return nil }
        let length = try checkedLength(Int(n) - 1, field)
        return buffer.readString(length: length)
    }

    mutating func compactString(_ field: String = "string") throws -> String {
        guard let s = try compactNullableString(field) else {
            throw KafkaError.malformedFrame("\(context): '\(field)' is null but must not be")
        }
        return s
    }

    mutating func compactNullableBytes(_ field: String = "bytes") throws -> ByteBuffer? {
        let n = try uvarint(field)
        if n == 0 { return nil }
        let length = try checkedLength(Int(n) - 1, field)
        return buffer.readSlice(length: length)
    }

    mutating func compactBytes(_ field: String = "bytes") throws -> ByteBuffer {
        try compactNullableBytes(field) ?? ByteBuffer()
    }

    /// A compact array; null reads as empty. Each element must take at least one byte, which bounds
    /// the count by the bytes left and stops a hostile length from allocating.
    mutating func compactArray<T>(_ field: String, _ element: (inout KafkaReader) throws -> T) throws -> [T] {
        let n = try uvarint(field)
        if n == 0 { return [] }
        let count = Int(n) - 1
        guard count <= buffer.readableBytes else { throw truncated(field) }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try element(&self)) }
        return result
    }

    /// A classic (non-compact) int16-length string.
    mutating func string(_ field: String = "string") throws -> String? {
        let n = Int(try int16(field))
        if n < 0 { return nil }
        let length = try checkedLength(n, field)
        return buffer.readString(length: length)
    }

    /// A classic int32-length byte string.
    mutating func bytes(_ field: String = "bytes") throws -> ByteBuffer? {
        let n = Int(try int32(field))
        if n < 0 { return nil }
        let length = try checkedLength(n, field)
        return buffer.readSlice(length: length)
    }

    /// A classic int32-count array.
    mutating func array<T>(_ field: String, _ element: (inout KafkaReader) throws -> T) throws -> [T] {
        let n = Int(try int32(field))
        if n <= 0 { return [] }
        guard n <= buffer.readableBytes else { throw truncated(field) }
        var result: [T] = []
        result.reserveCapacity(n)
        for _ in 0..<n { result.append(try element(&self)) }
        return result
    }

    /// Reads a tagged-field section, handing known tags to `handler` and skipping all others.
    mutating func taggedFields(_ handler: (UInt32, inout KafkaReader) throws -> Bool = { _, _ in false }) throws {
        let count = try uvarint("tagged field count")
        for _ in 0..<count {
            let tag = try uvarint("tag")
            let size = try checkedLength(Int(try uvarint("tag size")), "tag \(tag)")
            guard let slice = buffer.readSlice(length: size) else { throw truncated("tag \(tag)") }
            var sub = KafkaReader(slice, context: context)
            _ = try handler(tag, &sub)
        }
    }
}
