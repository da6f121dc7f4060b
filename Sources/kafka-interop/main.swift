// kafka-interop: a small driver of the Kafka module for the Python interop tests and the benchmark.
// Every command prints JSON lines on stdout. Bytes (keys, values, header values) travel as hex.
//
//   create-topic  --bootstrap H:P --topic T --partitions N
//   produce       --bootstrap H:P            (stdin: one JSON record a line:
//                                             {"topic","key_hex"?,"value_hex"?,"headers":[[k,hex|null]],"partition"?})
//                 prints {"index","partition","offset"} or {"index","error"} per record
//   consume       --bootstrap H:P --topic T --count C [--max-polls N]   (assign all partitions, from earliest)
//                 prints one JSON object per record
//   group         --bootstrap H:P --topic T --group G [--assignor range|roundrobin|sticky] [--max-polls N]
//                 consumes as a group member, commits after each poll, prints "assigned",
//                 "record" and "committed" events; a line "leave" on stdin makes it leave and exit
//   bench-produce --bootstrap H:P --topic T --count N --size B
//   bench-consume --bootstrap H:P --topic T --count N
import Foundation
import Kafka
import Synchronization

struct Arguments {
    var command: String
    var options: [String: String] = [:]

    init() throws {
        var args = CommandLine.arguments.dropFirst()
        guard let command = args.popFirst() else { throw KafkaError.invalidArgument("missing command") }
        self.command = command
        while let name = args.popFirst() {
            guard name.hasPrefix("--"), let value = args.popFirst() else {
                throw KafkaError.invalidArgument("expected --name value, got \(name)")
            }
            options[String(name.dropFirst(2))] = value
        }
    }

    func string(_ name: String) throws -> String {
        guard let v = options[name] else { throw KafkaError.invalidArgument("missing --\(name)") }
        return v
    }

    func int(_ name: String, default value: Int? = nil) throws -> Int {
        guard let raw = options[name] else {
            if let value { return value }
            throw KafkaError.invalidArgument("missing --\(name)")
        }
        guard let v = Int(raw) else { throw KafkaError.invalidArgument("--\(name) must be a number, got \(raw)") }
        return v
    }
}

let outputLock = Mutex(())

func emit(_ object: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    outputLock.withLock { _ in
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data([0x0A]))
    }
}

func hex(_ bytes: [UInt8]?) -> Any {
    guard let bytes else { return NSNull() }
    return bytes.map { String(format: "%02x", $0) }.joined()
}

func unhex(_ value: Any?) throws -> [UInt8]? {
    guard let string = value as? String else { return nil }
    var out: [UInt8] = []
    var index = string.startIndex
    while index < string.endIndex {
        let next = string.index(index, offsetBy: 2, limitedBy: string.endIndex) ?? string.endIndex
        guard let byte = UInt8(string[index..<next], radix: 16) else { throw KafkaError.invalidArgument("bad hex \(string)") }
        out.append(byte)
        index = next
    }
    return out
}

func recordJSON(_ r: ConsumerRecord) -> [String: Any] {
    [
        "topic": r.topic, "partition": Int(r.partition), "offset": Int(r.offset), "timestamp": Int(r.timestamp),
        "key_hex": hex(r.key), "value_hex": hex(r.value),
        "headers": r.headers.map { [$0.key, hex($0.value)] },
    ]
}

func allPartitions(_ config: KafkaConfiguration, _ topic: String) async throws -> [TopicPartition] {
    let admin = KafkaAdmin(configuration: config)
    defer { Task { await admin.close() } }
    let count = try await admin.partitionCount(topic)
    return (0..<count).map { TopicPartition(topic, Int32($0)) }
}

func consumerConfiguration(_ args: Arguments) throws -> KafkaConsumerConfiguration {
    var c = KafkaConsumerConfiguration.testing
    if let session = args.options["session-ms"], let ms = Int(session) { c.sessionTimeout = .milliseconds(ms) }
    if let name = args.options["assignor"] {
        guard let assignor = KafkaConsumerConfiguration.Assignor(rawValue: name) else {
            throw KafkaError.invalidArgument("unknown assignor \(name): use range, roundrobin or sticky")
        }
        c.assignor = assignor
    }
    return c
}

func run() async throws {
    let args = try Arguments()
    let config = try KafkaConfiguration(bootstrap: try args.string("bootstrap"))
    switch args.command {
    case "create-topic":
        let admin = KafkaAdmin(configuration: config)
        try await admin.createTopic(try args.string("topic"), partitions: Int32(try args.int("partitions")))
        await admin.close()
        emit(["created": try args.string("topic")])

    case "produce":
        var records: [ProducerRecord] = []
        while let line = readLine() {
            guard !line.isEmpty else { continue }
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let topic = object["topic"] as? String
            else { throw KafkaError.invalidArgument("bad record line: \(line)") }
            let headers = try (object["headers"] as? [[Any]] ?? []).map { pair -> KafkaHeader in
                guard let key = pair.first as? String else { throw KafkaError.invalidArgument("bad header in \(line)") }
                return KafkaHeader(key: key, value: try unhex(pair.count > 1 ? pair[1] : nil))
            }
            records.append(
                ProducerRecord(
                    topic: topic,
                    partition: (object["partition"] as? Int).map { Int32($0) },
                    key: try unhex(object["key_hex"]),
                    value: try unhex(object["value_hex"]),
                    headers: headers
                )
            )
        }
        let producer = KafkaProducer(configuration: config)
        let results = try await producer.send(records)
        await producer.close()
        for (i, result) in results.enumerated() {
            switch result {
            case .success(let m): emit(["index": i, "partition": Int(m.partition), "offset": Int(m.offset)])
            case .failure(let e): emit(["index": i, "error": "\(e)"])
            }
        }

    case "consume":
        let topic = try args.string("topic")
        let count = try args.int("count")
        let consumer = KafkaConsumer(configuration: config, consumerConfiguration: try consumerConfiguration(args))
        try consumer.assign(Dictionary(uniqueKeysWithValues: try await allPartitions(config, topic).map { ($0, .earliest) }))
        var seen = 0
        for _ in 0..<(try args.int("max-polls", default: 2000)) where seen < count {
            for record in try await consumer.poll() {
                emit(recordJSON(record))
                seen += 1
            }
        }
        await consumer.close()
        emit(["done": seen])

    case "group":
        let topic = try args.string("topic")
        let consumer = KafkaConsumer(configuration: config, consumerConfiguration: try consumerConfiguration(args), groupId: try args.string("group"))
        try consumer.subscribe(topics: [topic])
        let leave = Mutex(false)
        let reader = Thread {
            while let line = readLine() {
                if line.trimmingCharacters(in: .whitespaces) == "leave" { break }
            }
            leave.withLock { $0 = true }
        }
        reader.start()
        emit(["event": "started", "pid": Int(ProcessInfo.processInfo.processIdentifier)])
        var lastAssignment: [TopicPartition] = []
        for _ in 0..<(try args.int("max-polls", default: 20000)) {
            if leave.withLock({ $0 }) { break }
            let records = try await consumer.poll()
            let assignment = consumer.assignment
            if assignment != lastAssignment {
                lastAssignment = assignment
                emit(["event": "assigned", "generation": Int(consumer.generation), "partitions": assignment.map { Int($0.partition) }])
            }
            if records.isEmpty { continue }
            for record in records {
                var json = recordJSON(record)
                json["event"] = "record"
                emit(json)
            }
            do {
                try await consumer.commit(records: records)
            } catch {
                // e.g. the group rebalanced meanwhile: these records may be delivered again elsewhere
                emit(["event": "commit_failed", "error": "\(error)"])
                continue
            }
            var committed: [String: Int] = [:]
            for r in records { committed["\(r.partition)"] = max(committed["\(r.partition)"] ?? 0, Int(r.offset) + 1) }
            emit(["event": "committed", "offsets": committed])
        }
        await consumer.close()
        emit(["event": "left"])

    case "bench-produce":
        let topic = try args.string("topic")
        let count = try args.int("count")
        let size = try args.int("size", default: 200)
        let value = [UInt8](repeating: 0x61, count: size)
        let records = (0..<count).map { _ in ProducerRecord(topic: topic, partition: 0, value: value) }
        let producer = KafkaProducer(configuration: config)
        _ = try await producer.send([ProducerRecord(topic: topic, partition: 0, value: value)])  // connect and warm up
        let start = ContinuousClock.now
        var failures = 0
        // as an application would: several concurrent senders, each awaiting its delivery reports
        try await withThrowingTaskGroup(of: Int.self) { group in
            let chunk = 10_000
            for first in stride(from: 0, to: count, by: chunk) {
                let slice = Array(records[first..<min(first + chunk, count)])
                group.addTask { try await producer.send(slice).filter { if case .failure = $0 { true } else { false } }.count }
            }
            for try await f in group { failures += f }
        }
        let seconds = (ContinuousClock.now - start).seconds
        await producer.close()
        emit(["records": count, "failures": failures, "seconds": seconds, "rate": Double(count) / seconds])

    case "bench-consume":
        let topic = try args.string("topic")
        let count = try args.int("count")
        var c = KafkaConsumerConfiguration.testing
        c.partitionMaxBytes = 1024 * 1024  // as librdkafka's max.partition.fetch.bytes
        let consumer = KafkaConsumer(configuration: config, consumerConfiguration: c)
        try consumer.assign([TopicPartition(topic, 0): .offset(0)])
        let start = ContinuousClock.now
        var seen = 0
        var bytes = 0
        for _ in 0..<100_000 where seen < count {
            let records = try await consumer.poll()
            seen += records.count
            for r in records { bytes += r.value?.count ?? 0 }
        }
        let seconds = (ContinuousClock.now - start).seconds
        await consumer.close()
        emit(["records": seen, "bytes": bytes, "seconds": seconds, "rate": Double(seen) / seconds])

    default:
        throw KafkaError.invalidArgument("unknown command \(args.command)")
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}

do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("kafka-interop: \(error)\n".utf8))
    exit(1)
}
