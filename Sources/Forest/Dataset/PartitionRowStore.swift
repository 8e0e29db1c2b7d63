import SpaceTime

/// One partition's parsed rows, kept between extraction and the train and evaluate
/// steps (on a worker, or in `spacetime train`): values row-major as Float64, the target
/// per row (a class label's interned id, or the value), test rows with their file lines.
/// Filled on one thread, then read-only.
///
/// Rows are packed into chunks of about `chunkBytes` (targets, lines, values copied in
/// bulk, no per-value call). Full chunks stay in memory up to the memory share; beyond
/// it each becomes one record of a `SpillableRecordArray`, written to the spill
/// directory as LZ4-compressed blocks.
public final class PartitionRowStore: @unchecked Sendable {
    // @unchecked: appended to on one thread, then only read (the pipelines hand the
    // store from the parsing queue to the training thread after the last append).
    public let featureCount: Int
    public let task: TaskKind
    private let train: RowChunks
    private let test: RowChunks
    /// Class labels in order of first appearance (classification).
    public private(set) var labelTexts: [String] = []
    private var labelIDs: [String: Int32] = [:]
    /// Per label id: training and test rows.
    public private(set) var trainCounts: [UInt64] = []
    public private(set) var testCounts: [UInt64] = []
    /// Training targets' moments (regression).
    public private(set) var targetMoments = FeatureStatistics()
    public var trainCount: Int { train.count }
    public var testCount: Int { test.count }

    /// `memoryBytes`: in-memory bytes for the training and test rows together (the rest spills).
    public init(featureCount: Int, task: TaskKind, directory: SpillDirectory, memoryBytes: Int, chunkBytes: Int = 256 << 10) {
        self.featureCount = featureCount
        self.task = task
        let share = max(256 << 10, memoryBytes)
        train = RowChunks(
            featureCount: featureCount, withLines: false, directory: directory,
            memoryBytes: share / 4 * 3, chunkBytes: chunkBytes)
        test = RowChunks(
            featureCount: featureCount, withLines: true, directory: directory,
            memoryBytes: share / 4, chunkBytes: chunkBytes)
    }

    deinit { close() }

    public func close() {
        train.close()
        test.close()
    }

    /// Bytes spilled to disk (compressed), training and test rows.
    public var spilledBytes: Int { train.spilledBytes + test.spilledBytes }

    /// The training rows' target summary.
    public var targetSummary: TargetSummary {
        switch task {
        case .classification:
            var counts: [String: UInt64] = [:]
            for (i, l) in labelTexts.enumerated() where trainCounts[i] > 0 { counts[l] = trainCounts[i] }
            return .classCounts(counts)
        case .regression:
            return .moments(targetMoments)
        }
    }

    private func intern(_ label: String) throws(ForestError) -> Int32 {
        if let id = labelIDs[label] { return id }
        guard labelTexts.count < LearningTask.maxClasses else {
            throw ForestError(
                .invalidData,
                "more than \(LearningTask.maxClasses) distinct labels (a continuous target or an id column? use --task regression or --label)"
            )
        }
        let id = Int32(labelTexts.count)
        labelIDs[label] = id
        labelTexts.append(label)
        trainCounts.append(0)
        testCounts.append(0)
        return id
    }

    /// Appends a classification row.
    public func append(_ values: UnsafeBufferPointer<Double>, label: String, isTest: Bool, line: UInt64) throws {
        let id = try intern(label)
        try (isTest ? test : train).append(values, target: Double(id), line: line)
        if isTest { testCounts[Int(id)] += 1 } else { trainCounts[Int(id)] += 1 }
    }

    /// Appends a regression row.
    public func append(_ values: UnsafeBufferPointer<Double>, value: Double, isTest: Bool, line: UInt64) throws {
        try (isTest ? test : train).append(values, target: value, line: line)
        if !isTest { targetMoments.add(value) }
    }

    /// Calls `body(row, target, line)` for every training or test row in order; `row`
    /// (`featureCount` values) is valid only inside `body`; `target` is the label id
    /// (classification) or the value. Lines are 0 for training rows.
    public func forEachRow(test isTest: Bool, _ body: (UnsafeBufferPointer<Double>, Double, UInt64) throws -> Void) throws {
        try (isTest ? test : train).forEach(body)
    }

    /// Bins the training or test rows with `extractor` (``FeatureBinner``): class labels
    /// become the extractor's class indices; a test label the training rows lack is an
    /// error naming `source` and the line.
    public func bin(extractor: FeatureExtractor, test isTest: Bool, threads: Int, source: String) throws -> BinnedPartition {
        var classOf: [Double] = []
        if task == .classification {
            let lookup = extractor.classLookup()
            classOf = labelTexts.map { lookup[$0].map(Double.init) ?? -1 }
        }
        return try FeatureBinner.bin(extractor: extractor, rowCount: isTest ? testCount : trainCount, threads: threads) { append in
            try forEachRow(test: isTest) { values, target, line in
                if task == .classification {
                    let c = classOf[Int(target)]
                    guard c >= 0 else {
                        throw ForestError(
                            .invalidData, "\(source):\(line): label '\(labelTexts[Int(target)])' does not occur in the training rows")
                    }
                    append(values, c)
                } else {
                    append(values, target)
                }
            }
        }
    }
}

/// Rows of one kind (training or test) in chunks; see `PartitionRows`.
/// The first full chunks stay in memory as they are, up to the memory share;
/// once it is used, every later chunk becomes a record of the spill array:
/// row count (u32), padding (u32), targets (f64 × n), lines (u64 × n, when kept),
/// values (f64 × n × features).
final class RowChunks {
    struct Chunk {
        var targets: [Double] = []
        var lines: [UInt64] = []
        var values: [Double] = []
        var bytes: Int { targets.count * 8 + lines.count * 8 + values.count * 8 }
    }

    let featureCount: Int
    let withLines: Bool
    let rowsPerChunk: Int
    let memoryBytes: Int
    private(set) var count = 0
    /// Full chunks kept in memory (the first ones), then spilled ones, then `open`.
    private var kept: [Chunk] = []
    private var keptBytes = 0
    private var spilling = false
    private var open = Chunk()
    private let records: SpillableRecordArray
    private var record: [UInt8] = []

    init(featureCount: Int, withLines: Bool, directory: SpillDirectory, memoryBytes: Int, chunkBytes: Int) {
        self.featureCount = featureCount
        self.withLines = withLines
        let rowBytes = featureCount * 8 + 8 + (withLines ? 8 : 0)
        rowsPerChunk = max(1, chunkBytes / max(1, rowBytes))
        let chunkSize = rowsPerChunk * rowBytes
        // The open chunk and the spill array's buffer come out of the share too.
        self.memoryBytes = max(0, memoryBytes - 3 * chunkSize)
        records = SpillableRecordArray(memoryLimit: 2 * chunkSize, directory: directory, blockBytes: max(chunkSize, 64 << 10))
    }

    func close() {
        records.close()
        kept = []
        keptBytes = 0
        open = Chunk()
        count = 0
    }

    var spilledBytes: Int { records.spilledBytes }

    func append(_ row: UnsafeBufferPointer<Double>, target: Double, line: UInt64) throws(SpillError) {
        precondition(row.count == featureCount, "row of \(row.count) values, expected \(featureCount)")
        if open.targets.isEmpty {
            open.targets.reserveCapacity(rowsPerChunk)
            open.values.reserveCapacity(rowsPerChunk * featureCount)
            if withLines { open.lines.reserveCapacity(rowsPerChunk) }
        }
        open.targets.append(target)
        if withLines { open.lines.append(line) }
        open.values.append(contentsOf: row)
        count += 1
        if open.targets.count >= rowsPerChunk { try flush() }
    }

    /// Keeps the open chunk in memory while the share allows, else spills it as a record.
    private func flush() throws(SpillError) {
        let n = open.targets.count
        guard n > 0 else { return }
        if !spilling && keptBytes + open.bytes <= memoryBytes {
            keptBytes += open.bytes
            kept.append(open)
            open = Chunk()
            return
        }
        spilling = true
        let targetBytes = n * 8
        let lineBytes = withLines ? n * 8 : 0
        let size = 8 + targetBytes + lineBytes + open.values.count * 8
        if record.count != size { record = [UInt8](repeating: 0, count: size) }
        record.withUnsafeMutableBytes { out in
            out.storeBytes(of: UInt32(n), as: UInt32.self)
            out.storeBytes(of: UInt32(0), toByteOffset: 4, as: UInt32.self)
            open.targets.withUnsafeBytes { (out.baseAddress! + 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            if withLines {
                open.lines.withUnsafeBytes { (out.baseAddress! + 8 + targetBytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            open.values.withUnsafeBytes {
                (out.baseAddress! + 8 + targetBytes + lineBytes).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
            }
        }
        try records.append(record)
        open.targets.removeAll(keepingCapacity: true)
        open.lines.removeAll(keepingCapacity: true)
        open.values.removeAll(keepingCapacity: true)
    }

    private func each(_ chunk: Chunk, _ body: (UnsafeBufferPointer<Double>, Double, UInt64) throws -> Void) throws {
        let F = featureCount
        try chunk.values.withUnsafeBufferPointer { v in
            for r in 0..<chunk.targets.count {
                try body(UnsafeBufferPointer(rebasing: v[r * F..<(r + 1) * F]), chunk.targets[r], withLines ? chunk.lines[r] : 0)
            }
        }
    }

    /// Calls `body` with every row in order.
    func forEach(_ body: (UnsafeBufferPointer<Double>, Double, UInt64) throws -> Void) throws {
        for chunk in kept { try each(chunk, body) }
        let F = featureCount
        var failure: (any Error)?
        var aligned = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 16)
        defer { aligned.deallocate() }
        try records.forEach { bytes in
            guard failure == nil, bytes.count >= 8 else { return }
            // Records sit at arbitrary offsets in their block: copy to an aligned buffer.
            if aligned.count < bytes.count {
                aligned.deallocate()
                aligned = .allocate(byteCount: bytes.count, alignment: 16)
            }
            aligned.copyMemory(from: bytes)
            let n = Int(aligned.load(as: UInt32.self))
            let targetBytes = n * 8
            let lineBytes = withLines ? n * 8 : 0
            guard bytes.count == 8 + targetBytes + lineBytes + n * F * 8 else {
                failure = SpillError(code: .corrupt, message: "a row chunk of \(bytes.count) bytes does not hold its \(n) rows")
                return
            }
            let base = aligned.baseAddress!
            let targetPointer = (base + 8).assumingMemoryBound(to: Double.self)
            let linePointer = (base + 8 + targetBytes).assumingMemoryBound(to: UInt64.self)
            let valuePointer = (base + 8 + targetBytes + lineBytes).assumingMemoryBound(to: Double.self)
            do {
                for r in 0..<n {
                    try body(
                        UnsafeBufferPointer(start: valuePointer + r * F, count: F), targetPointer[r],
                        withLines ? linePointer[r] : 0)
                }
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        try each(open, body)
    }
}
