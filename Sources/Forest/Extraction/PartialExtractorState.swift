/// The mergeable feature-extraction state of one partition: per-feature statistics and
/// quantile sketches, plus class counts. A worker builds one per partition and reports
/// it (``serialize()``) as the extraction task's checkpoint; the coordinator merges all
/// of them in partition order and fits a ``FeatureExtractor``.
///
/// Counts, sketches, min and max merge exactly (associative and commutative), so the
/// fitted bin edges do not depend on how partial states are grouped.
public struct PartialExtractorState: Sendable, Equatable {
    static let magic: UInt32 = 0x5354_5845 // "STXE"
    static let version: UInt32 = 1

    /// Feature names after any ``FeatureDerivation``.
    public let featureNames: [String]
    public private(set) var statistics: [FeatureStatistics]
    public private(set) var sketches: [QuantileSketch]
    /// Rows per label value as it appears in the data.
    public private(set) var classCounts: [String: UInt64]
    public private(set) var rowCount: UInt64 = 0

    public init(featureNames: [String]) {
        self.featureNames = featureNames
        statistics = Array(repeating: FeatureStatistics(), count: featureNames.count)
        sketches = Array(repeating: QuantileSketch(), count: featureNames.count)
        classCounts = [:]
    }

    public var featureCount: Int { featureNames.count }

    /// Adds one (prepared) row; NaN marks a missing value. `values.count` must be `featureCount`.
    public mutating func add(_ values: UnsafeBufferPointer<Double>, label: String) {
        precondition(values.count == featureNames.count, "row width checked by the caller")
        for f in 0..<values.count {
            let v = values[f]
            statistics[f].add(v)
            sketches[f].add(v)
        }
        classCounts[label, default: 0] += 1
        rowCount += 1
    }

    public mutating func add(_ values: [Double], label: String) {
        values.withUnsafeBufferPointer { add($0, label: label) }
    }

    /// Adds `other` into this state. Throws `.incompatible` when the feature names differ.
    public mutating func merge(_ other: PartialExtractorState) throws {
        guard other.featureNames == featureNames else {
            throw ForestError(.incompatible,
                "cannot merge extractor states with different features (\(featureNames.count) vs \(other.featureNames.count) columns)")
        }
        for f in 0..<featureNames.count {
            statistics[f].merge(other.statistics[f])
            sketches[f].merge(other.sketches[f])
        }
        for (label, count) in other.classCounts { classCounts[label, default: 0] += count }
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

    /// Canonical bytes (labels sorted), suitable for checkpoints and the wire.
    public func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.write(Self.magic); w.write(Self.version)
        w.write(strings: featureNames)
        w.write(rowCount)
        for f in 0..<featureNames.count {
            statistics[f].write(to: &w)
            sketches[f].write(to: &w)
        }
        let labels = classCounts.keys.sorted()
        w.write(strings: labels)
        for l in labels { w.write(classCounts[l]!) }
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
        rowCount = try r.read()
        statistics = []; sketches = []
        for _ in featureNames {
            statistics.append(try FeatureStatistics.read(from: &r))
            sketches.append(try QuantileSketch.read(from: &r))
        }
        let labels = try r.readStrings()
        classCounts = [:]
        for l in labels { classCounts[l] = try r.read(UInt64.self) }
        try r.expectEnd()
    }
}
