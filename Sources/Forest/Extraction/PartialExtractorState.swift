/// The mergeable feature-extraction state of one partition: per numeric feature its
/// statistics and quantile sketch, per categorical feature its ``LevelCounts``, and the
/// ``TargetSummary``. A worker builds one per partition and reports it (``serialize()``)
/// as the extraction task's checkpoint; the coordinator merges all of them in partition
/// order and fits a ``FeatureExtractor``.
///
/// Counts, sketches, min and max merge exactly (associative and commutative), so the
/// fitted bin edges do not depend on how partial states are grouped.
public struct PartialExtractorState: Sendable, Equatable {
    static let magic: UInt32 = 0x5354_5845  // "STXE"
    static let version: UInt32 = 3

    /// Feature names after any ``FeatureDerivation``.
    public let featureNames: [String]
    public let kinds: [ColumnKind]
    /// Numeric features' statistics (default values for categorical features).
    public private(set) var statistics: [FeatureStatistics]
    public private(set) var sketches: [QuantileSketch]
    /// Categorical features' level counts (empty for numeric features).
    public private(set) var levels: [LevelCounts]
    public private(set) var target: TargetSummary
    public private(set) var rowCount: UInt64 = 0

    public init(featureNames: [String], kinds: [ColumnKind]? = nil, task: TaskKind = .classification) {
        self.featureNames = featureNames
        self.kinds = kinds ?? Array(repeating: .numeric, count: featureNames.count)
        precondition(self.kinds.count == featureNames.count, "one kind per feature")
        statistics = Array(repeating: FeatureStatistics(), count: featureNames.count)
        sketches = Array(repeating: QuantileSketch(), count: featureNames.count)
        levels = Array(repeating: LevelCounts(), count: featureNames.count)
        target = TargetSummary(task: task)
    }

    public init(schema: DatasetSchema) {
        self.init(featureNames: schema.featureNames, kinds: schema.featureKinds, task: schema.task)
    }

    public var featureCount: Int { featureNames.count }

    /// Adds the numeric features of one parsed row (NaN = missing); categorical features
    /// are counted by ``addLevel(feature:hash:bytes:)`` as they are parsed, since the
    /// parsed row holds only their hashes.
    @inline(__always)
    public mutating func addNumeric(_ values: UnsafeBufferPointer<Double>) {
        for f in 0..<values.count where kinds[f] == .numeric {
            let v = values[f]
            statistics[f].add(v)
            sketches[f].add(v)
        }
        rowCount += 1
    }

    @inline(__always)
    public mutating func addLevel(feature f: Int, hash: Double, bytes: UnsafeRawBufferPointer) {
        if hash.isNaN { levels[f].addMissing() } else { levels[f].add(hash: hash, bytes: bytes) }
    }

    /// Adds a whole row of an all-numeric data set with its class label (tests, derivations).
    public mutating func add(_ values: [Double], label: String) {
        values.withUnsafeBufferPointer { addNumeric($0) }
        target.add(label: label)
    }

    /// Adds a whole row of an all-numeric data set with its numeric target.
    public mutating func add(_ values: [Double], target value: Double) {
        values.withUnsafeBufferPointer { addNumeric($0) }
        target.add(value: value)
    }

    /// Adds a categorical level by its text (tests).
    public mutating func addLevel(feature f: Int, _ text: String?) {
        guard var t = text else {
            levels[f].addMissing()
            return
        }
        t.withUTF8 { addLevel(feature: f, hash: LevelHash.of(UnsafeRawBufferPointer($0)), bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Takes the categorical features' level counts from `other` (same features), whose
    /// numeric statistics are not used: the partition loader counts levels while parsing
    /// and numeric statistics on another thread.
    mutating func setLevels(from other: PartialExtractorState) {
        precondition(other.featureNames == featureNames, "the same features")
        levels = other.levels
    }

    /// Sets the target summary (the row store counts labels by interned id).
    public mutating func setTarget(_ summary: TargetSummary) { target = summary }

    /// Adds `other` into this state. Throws `.incompatible` when the features differ.
    public mutating func merge(_ other: PartialExtractorState) throws {
        guard other.featureNames == featureNames, other.kinds == kinds else {
            throw ForestError(
                .incompatible,
                "cannot merge extractor states with different features (\(featureNames.count) vs \(other.featureNames.count) columns)")
        }
        for f in 0..<featureNames.count {
            if kinds[f] == .numeric {
                statistics[f].merge(other.statistics[f])
                sketches[f].merge(other.sketches[f])
            } else {
                levels[f].merge(other.levels[f])
            }
        }
        try target.merge(other.target)
        rowCount += other.rowCount
    }

    /// Merges states in the order given (the coordinator passes partition order).
    public static func merged(_ states: [PartialExtractorState]) throws -> PartialExtractorState {
        guard var result = states.first else {
            throw ForestError(.invalidData, "no extractor states to merge")
        }
        for s in states.dropFirst() { try result.merge(s) }
        return result
    }

    /// Canonical bytes, suitable for checkpoints and the wire.
    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.write(Self.magic)
        w.write(Self.version)
        w.write(strings: featureNames)
        w.write(array: kinds.map(\.rawValue))
        w.write(rowCount)
        for f in 0..<featureNames.count {
            if kinds[f] == .numeric {
                statistics[f].write(to: &w)
                sketches[f].write(to: &w)
            } else {
                levels[f].write(to: &w)
            }
        }
        target.write(to: &w)
        return w.bytes
    }

    public init(deserializing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, context: "extractor state")
        guard try r.read(UInt32.self) == Self.magic else {
            throw ForestError(.corrupted, "extractor state: bad magic number")
        }
        let version = try r.read(UInt32.self)
        guard version == Self.version else {
            throw ForestError(.unsupportedVersion, "extractor state: format version \(version), this build reads \(Self.version)")
        }
        featureNames = try r.readStrings()
        let kinds = try r.readArray(UInt8.self).map(ColumnKind.init(rawValue:))
        guard kinds.count == featureNames.count, kinds.allSatisfy({ $0 != nil }) else {
            throw ForestError(.corrupted, "extractor state: column kinds")
        }
        self.kinds = kinds.map { $0! }
        rowCount = try r.read()
        statistics = []
        sketches = []
        levels = []
        for f in featureNames.indices {
            if self.kinds[f] == .numeric {
                statistics.append(try FeatureStatistics.read(from: &r))
                sketches.append(try QuantileSketch.read(from: &r))
                levels.append(LevelCounts())
            } else {
                statistics.append(FeatureStatistics())
                sketches.append(QuantileSketch())
                levels.append(try LevelCounts.read(from: &r))
            }
        }
        target = try TargetSummary.read(from: &r)
        try r.expectEnd()
    }
}
