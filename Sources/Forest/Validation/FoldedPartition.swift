import SpaceTime

/// One partition's rows dealt into cross-validation folds, the same in `spacetime cv` and
/// on a worker: a ``PartitionLoader`` per fold, holding that fold's statistics and rows, so
/// that fold k's extractor is fitted on the other folds' statistics only and its forest
/// grows on the other folds' rows. `add` is called from one thread at a time.
public final class FoldedPartition: Sendable {
    /// One loader per fold, in fold order.
    public let loaders: [PartitionLoader]
    /// Each fold's physical lines in row order, when kept (out-of-fold predictions).
    private let lines: [LineList]?

    public var folds: Int { loaders.count }

    /// `memoryBytes` is shared by the folds' row stores before they spill. With `keepLines`
    /// each row's line is kept too (8 bytes a row, in memory), for ``heldOutLines(_:)``.
    public init(
        folds: Int, parser: RecordParser, derivation: (any FeatureDerivation)? = nil, directory: SpillDirectory,
        memoryBytes: Int, keepLines: Bool = false
    ) {
        let share = memoryBytes / max(1, folds)
        loaders = (0..<max(1, folds)).map { _ in
            PartitionLoader(parser: parser, derivation: derivation, directory: directory, memoryBytes: share)
        }
        lines = keepLines ? (0..<max(1, folds)).map { _ in LineList() } : nil
    }

    /// Parses `record` (physical line `line`) into fold `fold`.
    public func add(_ record: CSVRecord, fold: Int, line: UInt64) throws {
        guard loaders.indices.contains(fold) else {
            throw ForestError(.invalidData, "line \(line): fold \(fold) of a partition dealt into \(folds) folds")
        }
        try loaders[fold].add(record, isTest: false, line: line)
        lines?[fold].values.append(line)
    }

    /// Fold `k`'s lines in the order of ``heldOutRows(_:extractor:threads:source:)``; nil
    /// unless the partition was made with `keepLines`.
    public func heldOutLines(_ k: Int) -> [UInt64]? {
        guard let lines, lines.indices.contains(k) else { return nil }
        return lines[k].values
    }

    /// Rows per fold.
    public var rowCounts: [Int] { loaders.map(\.rows.trainCount) }

    /// The folds' mergeable statistics (waits for the rows added so far).
    public var statistics: FoldStatistics { FoldStatistics(folds: loaders.map(\.extractorState)) }

    /// The rows fold `k`'s forest grows on: every other fold's, binned with `extractor`, in fold order.
    public func trainingRows(heldOut k: Int, extractor: FeatureExtractor, threads: Int, source: String) throws -> BinnedPartition {
        try BinnedPartition.concatenated(
            loaders.indices.filter { $0 != k }.map {
                try loaders[$0].rows.bin(extractor: extractor, test: false, threads: threads, source: source)
            }
        )
    }

    /// Fold `k`'s rows, binned with `extractor`.
    public func heldOutRows(_ k: Int, extractor: FeatureExtractor, threads: Int, source: String) throws -> BinnedPartition {
        guard loaders.indices.contains(k) else { throw ForestError(.invalidParameter, "fold \(k) of \(folds)") }
        return try loaders[k].rows.bin(extractor: extractor, test: false, threads: threads, source: source)
    }

    /// Removes the folds' spill files.
    public func close() { for l in loaders { l.rows.close() } }
}

/// A fold's lines: appended by `FoldedPartition.add` (one thread at a time, as the loaders
/// are), read once the rows are in.
private final class LineList: @unchecked Sendable {
    var values: [UInt64] = []
}

/// One partition's statistics per cross-validation fold: the checkpoint of a
/// cross-validation extract task, merged by ``extractor(heldOut:partitions:inputNames:derivationIdentifier:maxBins:)``.
public struct FoldStatistics: Sendable {
    /// Fold k's statistics at index k.
    public var folds: [PartialExtractorState]

    public init(folds: [PartialExtractorState]) { self.folds = folds }

    static let magic = Array("STFS".utf8)
    static let version: UInt8 = 1

    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(folds.count))
        for f in folds { w.write(bytes: f.serialize()) }
        return Self.magic + [Self.version] + w.bytes
    }

    public init(deserializing bytes: [UInt8]) throws {
        guard bytes.count > 5, Array(bytes[0..<4]) == Self.magic else {
            throw ForestError(.corrupted, "fold statistics: bad magic number")
        }
        guard bytes[4] == Self.version else {
            throw ForestError(.unsupportedVersion, "fold statistics: format version \(bytes[4]), this build reads \(Self.version)")
        }
        var r = ByteReader(bytes, offset: 5, context: "fold statistics")
        let count = Int(try r.read(UInt32.self))
        guard (1...CrossValidation.maxFolds).contains(count) else { throw ForestError(.corrupted, "fold statistics: \(count) folds") }
        folds = try (0..<count).map { _ in try PartialExtractorState(deserializing: try r.readBytes()) }
        try r.expectEnd()
    }

    /// Fold `k`'s extractor from every partition's fold statistics (in partition order): fitted
    /// on the merge of the other folds' statistics only, so the held-out fold never shapes its
    /// bins or levels. A classification keeps the whole data set's class list, so every fold's
    /// forest has the same outputs.
    public static func extractor(
        heldOut k: Int, partitions: [FoldStatistics], inputNames: [String], derivationIdentifier: String = "",
        maxBins: Int
    ) throws -> FeatureExtractor {
        guard let K = partitions.first?.folds.count, partitions.allSatisfy({ $0.folds.count == K }), (0..<K).contains(k) else {
            throw ForestError(.invalidData, "fold statistics of \(partitions.count) partitions do not share fold \(k)")
        }
        var others = try PartialExtractorState.merged(partitions.flatMap { p in p.folds.indices.filter { $0 != k }.map { p.folds[$0] } })
        if others.target.task == .classification {
            let all = try PartialExtractorState.merged(partitions.flatMap(\.folds))
            others.setTarget(all.target)
        }
        return try FeatureExtractor.fit(from: others, inputNames: inputNames, derivationIdentifier: derivationIdentifier, maxBins: maxBins)
    }

    /// Rows per fold.
    public var rowCounts: [Int] { folds.map { Int($0.rowCount) } }
}
