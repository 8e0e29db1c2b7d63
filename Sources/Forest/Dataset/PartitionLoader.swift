import Dispatch
import SpaceTime

/// One partition's extraction step, the same in `spacetime train` and on a worker:
/// parses each record (``RecordParser``), adds training rows to the partition's
/// ``PartialExtractorState`` and keeps every row in its ``PartitionRowStore``.
///
/// The numeric statistics (moments and quantile sketches, the costly part) are updated
/// on a serial queue of their own, block by block in row order, while the caller parses
/// the next rows: the result is the one a single thread would compute. `add` is called
/// from one thread at a time.
public final class PartitionLoader: @unchecked Sendable {
    // @unchecked: `add` is confined to one thread at a time (the caller's parse loop or
    // queue); `numeric` is touched only on `statisticsQueue`, `levels` only by `add`.
    public let parser: RecordParser
    public let rows: PartitionRowStore
    private let preparer: RowPreparer?
    /// Categorical level counts, counted while parsing.
    private var levels: PartialExtractorState
    /// Numeric statistics, updated on `statisticsQueue`.
    private var numeric: PartialExtractorState
    private let statisticsQueue = DispatchQueue(label: "spacetime.partition-statistics")
    /// Bounds the blocks waiting for the statistics queue.
    private let statisticsSlots = DispatchSemaphore(value: 4)
    private var block: [Double] = []
    private static let blockRows = 4096
    private var input: [Double]
    private var features: [Double]

    /// With a `derivation` every input column must be numeric; the rows kept and counted are the derived ones.
    public init(parser: RecordParser, derivation: (any FeatureDerivation)? = nil, directory: SpillDirectory, memoryBytes: Int) {
        self.parser = parser
        let schema = parser.schema
        preparer = derivation.map { RowPreparer(derivation: $0, inputNames: schema.featureNames) }
        let names = derivation?.outputNames(inputNames: schema.featureNames) ?? schema.featureNames
        rows = PartitionRowStore(featureCount: names.count, task: schema.task, directory: directory, memoryBytes: memoryBytes)
        levels =
            derivation == nil
            ? PartialExtractorState(schema: schema)
            : PartialExtractorState(featureNames: names, task: schema.task)
        numeric = levels
        input = Array(repeating: 0, count: schema.featureCount)
        features = Array(repeating: 0, count: names.count)
    }

    /// Parses `record` (physical line `line`) and keeps it as a training or test row;
    /// `parser` overrides this loader's for records of another file (a separate test file).
    public func add(_ record: CSVRecord, isTest: Bool, line: UInt64, parser other: RecordParser? = nil) throws {
        let parser = other ?? self.parser
        // The target first: a row with a bad target adds nothing to the statistics.
        let label = parser.schema.task == .classification ? try parser.label(record) : ""
        let value = parser.schema.task == .regression ? try parser.value(record) : 0
        if let preparer {
            try input.withUnsafeMutableBufferPointer { try parser.parseFeatures(record, into: $0) }
            features = preparer.prepare(input)
        } else if isTest {
            try features.withUnsafeMutableBufferPointer { try parser.parseFeatures(record, into: $0) }
        } else {
            try features.withUnsafeMutableBufferPointer { out in
                try withUnsafeMutablePointer(to: &levels) { try parser.parseFeatures(record, into: out, counting: $0) }
            }
        }
        try features.withUnsafeBufferPointer { values in
            switch parser.schema.task {
            case .classification: try rows.append(values, label: label, isTest: isTest, line: line)
            case .regression: try rows.append(values, value: value, isTest: isTest, line: line)
            }
        }
        if !isTest {
            if block.isEmpty { block.reserveCapacity(Self.blockRows * features.count) }
            block.append(contentsOf: features)
            if block.count >= Self.blockRows * features.count { flushBlock() }
        }
    }

    private func flushBlock() {
        guard !block.isEmpty else { return }
        let values = block
        let width = features.count
        block = []
        statisticsSlots.wait()
        statisticsQueue.async { [self] in
            values.withUnsafeBufferPointer { v in
                for r in 0..<(v.count / max(width, 1)) {
                    numeric.addNumeric(UnsafeBufferPointer(rebasing: v[r * width..<(r + 1) * width]))
                }
            }
            statisticsSlots.signal()
        }
    }

    /// The partition's mergeable extraction state (training rows); waits for the
    /// statistics of the rows added so far.
    public var extractorState: PartialExtractorState {
        flushBlock()
        var s = statisticsQueue.sync { numeric }
        s.setLevels(from: levels)
        s.setTarget(rows.targetSummary)
        return s
    }
}
