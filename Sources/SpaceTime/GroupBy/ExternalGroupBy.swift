/// Groups (key, input) pairs by key under a memory limit and aggregates each group.
///
/// Groups live in a hash map until its estimated size passes the limit; then every group is
/// written, by `XXHash64(key)` modulo `partitions`, to a spilled bucket (LZ4 blocks) and the map
/// is emptied. `finish` processes one bucket at a time, merging the partial states of each key,
/// so memory holds at most one bucket's distinct groups (a bucket still too large is split again
/// with a different hash seed). Output order: by bucket, unspecified within a bucket.
public final class ExternalGroupBy<Aggregate: MergeableAggregator> {
    public let memoryLimit: Int
    public let partitions: Int
    /// How many times the in-memory map was spilled.
    public private(set) var spills = 0

    private let directory: SpillDirectory
    private var groups: [[UInt8]: Aggregate] = [:]
    private var estimatedBytes = 0
    private var buckets: [BucketWriter] = []
    private let perGroupOverhead = 64
    private let blockBytes: Int

    public init(memoryLimit: Int, directory: SpillDirectory, partitions: Int = 32) {
        self.memoryLimit = memoryLimit
        self.directory = directory
        self.partitions = max(2, partitions)
        self.blockBytes = max(4096, min(64 << 10, memoryLimit / (4 * max(2, partitions))))
    }

    /// Adds one input to the group `key`.
    public func add(key: [UInt8], _ input: Aggregate.Input) throws(SpillError) {
        if groups[key]?.add(input) == nil {
            var a = Aggregate()
            a.add(input)
            groups[key] = a
            estimatedBytes += key.count + Aggregate.estimatedBytes + perGroupOverhead
            if estimatedBytes > memoryLimit / 2 { try spill() }
        }
    }

    /// Adds one input to the group named by a string key.
    public func add(key: String, _ input: Aggregate.Input) throws(SpillError) {
        try add(key: Array(key.utf8), input)
    }

    private func spill() throws(SpillError) {
        if buckets.isEmpty {
            for _ in 0..<partitions { buckets.append(try BucketWriter(path: directory.newFilePath("bucket"), blockBytes: blockBytes)) }
        }
        var state: [UInt8] = []
        for (key, agg) in groups {
            state.removeAll(keepingCapacity: true)
            agg.encode(into: &state)
            let b = Int(XXHash64.hash(key, seed: 0) % UInt64(partitions))
            try buckets[b].write(key: key, state: state)
        }
        groups = [:]
        estimatedBytes = 0
        spills += 1
    }

    /// Calls `body` once per group with its key and merged aggregate; then releases everything.
    public func finish(_ body: ([UInt8], Aggregate) throws -> Void) throws {
        if buckets.isEmpty {
            for (k, a) in groups { try body(k, a) }
            groups = [:]
            return
        }
        try spill()
        for bucket in buckets { try bucket.finishWriting() }
        let files = buckets.map(\.file)
        buckets = []
        for f in files { try process(f, level: 1, body) }
    }

    private func process(_ file: BlockFile, level: UInt64, _ body: ([UInt8], Aggregate) throws -> Void) throws {
        defer { file.close() }
        if file.rawSize > memoryLimit / 2 && level < 4 {
            // Too big for one pass: split by a differently seeded hash.
            var subs: [BucketWriter] = []
            for _ in 0..<partitions { subs.append(try BucketWriter(path: directory.newFilePath("bucket"), blockBytes: blockBytes)) }
            try BucketWriter.read(file) { (key, state) throws in
                let b = Int(XXHash64.hash(UnsafeRawBufferPointer(key), seed: level) % UInt64(partitions))
                try subs[b].write(key: key, state: state)
            }
            for s in subs { try s.finishWriting() }
            for s in subs { try process(s.file, level: level + 1, body) }
            return
        }
        var map: [[UInt8]: Aggregate] = [:]
        try BucketWriter.read(file) { (key, state) throws in
            let a = try Aggregate(decoding: state)
            let k = Array(key)
            if map[k]?.merge(a) == nil { map[k] = a }
        }
        for (k, a) in map { try body(k, a) }
    }
}

/// One spilled bucket: records `u32 keyLength, u32 stateLength, key, state` packed into blocks.
final class BucketWriter {
    let file: BlockFile
    private var buffer: [UInt8] = []
    private let blockBytes: Int

    init(path: String, blockBytes: Int) throws(SpillError) {
        file = try BlockFile(path: path)
        self.blockBytes = blockBytes
    }

    func write(key: [UInt8], state: [UInt8]) throws(SpillError) {
        try write(key: UnsafeRawBufferPointer?.none, keyArray: key, state: state)
    }

    func write(key: UnsafeRawBufferPointer, state: UnsafeRawBufferPointer) throws(SpillError) {
        try write(key: key, keyArray: nil, state: Array(state))
    }

    private func write(key: UnsafeRawBufferPointer?, keyArray: [UInt8]?, state: [UInt8]) throws(SpillError) {
        let kCount = key?.count ?? keyArray!.count
        withUnsafeBytes(of: UInt32(kCount).littleEndian) { buffer.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(state.count).littleEndian) { buffer.append(contentsOf: $0) }
        if let key { buffer.append(contentsOf: key) } else { buffer.append(contentsOf: keyArray!) }
        buffer.append(contentsOf: state)
        if buffer.count >= blockBytes { try flush() }
    }

    private func flush() throws(SpillError) {
        guard !buffer.isEmpty else { return }
        var failure: SpillError?
        buffer.withUnsafeBytes { b in do throws(SpillError) { try file.append(b) } catch { failure = error } }
        if let failure { throw failure }
        buffer.removeAll(keepingCapacity: true)
    }

    func finishWriting() throws(SpillError) {
        try flush()
        buffer = []
        file.shrinkBuffers()
    }

    static func read(_ file: BlockFile, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
        defer { buffer.deallocate() }
        for b in 0..<file.blockCount {
            let n = try file.read(block: b, into: &buffer)
            let raw = UnsafeRawBufferPointer(buffer)
            var o = 0
            while o + 8 <= n {
                let k = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                let s = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self)))
                guard o + 8 + k + s <= n else {
                    throw SpillError(code: .corrupt, message: "\(file.path): bucket record overruns its block")
                }
                try body(
                    UnsafeRawBufferPointer(rebasing: raw[o + 8..<o + 8 + k]),
                    UnsafeRawBufferPointer(rebasing: raw[o + 8 + k..<o + 8 + k + s]))
                o += 8 + k + s
            }
        }
    }
}
