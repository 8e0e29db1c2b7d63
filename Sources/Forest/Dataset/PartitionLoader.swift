import SpaceTime

/// One partition's extraction step, the same in `spacetime train` and on a worker:
/// parses each record (``RecordParser``), adds training rows to the partition's
/// ``PartialExtractorState`` and keeps every row in its ``PartitionRowStore``.
/// Used from one thread at a time.
public final class PartitionLoader: @unchecked Sendable {
    // @unchecked: confined to one thread at a time (the caller's parse loop or queue).
    public let parser: RecordParser
    public let rows: PartitionRowStore
    private let preparer: RowPreparer?
    private var state: PartialExtractorState
    private var input: [Double]
    private var features: [Double]

    /// With a `derivation` every input column must be numeric; the rows kept and counted are the derived ones.
    public init(parser: RecordParser, derivation: (any FeatureDerivation)? = nil, directory: SpillDirectory, memoryBytes: Int) {
        self.parser = parser
        let schema = parser.schema
        preparer = derivation.map { RowPreparer(derivation: $0, inputNames: schema.featureNames) }
        let names = derivation?.outputNames(inputNames: schema.featureNames) ?? schema.featureNames
        rows = PartitionRowStore(featureCount: names.count, task: schema.task, directory: directory, memoryBytes: memoryBytes)
        state = derivation == nil ? PartialExtractorState(schema: schema)
                                  : PartialExtractorState(featureNames: names, task: schema.task)
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
            if !isTest { features.withUnsafeBufferPointer { state.addNumeric($0) } }
        }
        try features.withUnsafeMutableBufferPointer { out in
            if preparer != nil {
            } else if isTest {
                try parser.parseFeatures(record, into: out)
            } else {
                try withUnsafeMutablePointer(to: &state) { try parser.parseFeatures(record, into: out, counting: $0) }
                state.addNumeric(UnsafeBufferPointer(out))
            }
            let values = UnsafeBufferPointer(out)
            switch parser.schema.task {
            case .classification: try rows.append(values, label: label, isTest: isTest, line: line)
            case .regression: try rows.append(values, value: value, isTest: isTest, line: line)
            }
        }
    }

    /// The partition's mergeable extraction state (training rows).
    public var extractorState: PartialExtractorState {
        var s = state
        s.setTarget(rows.targetSummary)
        return s
    }
}
