import SpaceTime

/// What each column of a data set is for, decided once for the whole data set
/// (``SchemaInference``) so that every partition, worker and prediction agrees.
///
/// Feature values are read per ``ColumnKind``: a numeric column as a number (missing as
/// NaN), a categorical column as its level text, kept as the ``LevelHash`` of its bytes
/// until the fitted extractor maps it to a bin. The target is a class label or a number,
/// as ``task`` says.
public struct DatasetSchema: Sendable, Equatable {
    static let version: UInt32 = 1

    /// Column names of the file, in file order.
    public let header: [String]
    /// The target column (file index), or nil for prediction input without one.
    public let targetIndex: Int?
    public let task: TaskKind
    /// File indices of the feature columns, in file order.
    public let featureIndices: [Int]
    /// Kind of each feature, aligned with ``featureIndices``.
    public let featureKinds: [ColumnKind]

    public init(header: [String], targetIndex: Int?, task: TaskKind, featureIndices: [Int], featureKinds: [ColumnKind]) {
        precondition(featureIndices.count == featureKinds.count, "one kind per feature")
        self.header = header
        self.targetIndex = targetIndex
        self.task = task
        self.featureIndices = featureIndices
        self.featureKinds = featureKinds
    }

    public var featureNames: [String] { featureIndices.map { header[$0] } }
    public var featureCount: Int { featureIndices.count }
    public var targetName: String? { targetIndex.map { header[$0] } }
    /// Columns neither feature nor target.
    public var ignoredNames: [String] {
        let used = Set(featureIndices + (targetIndex.map { [$0] } ?? []))
        return header.indices.filter { !used.contains($0) }.map { header[$0] }
    }
    public var categoricalCount: Int { featureKinds.filter { $0 == .categorical }.count }

    /// The same features and task located in another file's header (prediction input):
    /// features by name in any order, the target only if present.
    public func relocated(header other: [String], file: String) throws -> DatasetSchema {
        var position: [String: Int] = [:]
        var repeated: [String: Int] = [:]
        for (i, name) in other.enumerated() {
            if let first = position[name] { repeated[name] = repeated[name] ?? first } else { position[name] = i }
        }
        var indices: [Int] = []
        for name in featureNames + (targetName.map { [$0] } ?? []) {
            if let first = repeated[name], let second = other.indices.dropFirst(first + 1).first(where: { other[$0] == name }) {
                throw ForestError(
                    .invalidData,
                    "\(file): line 1: columns \(first + 1) and \(second + 1) are both named \(quoteForMessage(name)), a column the model reads (column names must be unique)"
                )
            }
        }
        for name in featureNames {
            guard let i = position[name] else {
                throw ForestError(
                    .invalidData,
                    "\(file): missing feature column \(quoteForMessage(name)) (the model was trained on \(featureCount) features)")
            }
            indices.append(i)
        }
        return DatasetSchema(
            header: other, targetIndex: targetName.flatMap { position[$0] }, task: task,
            featureIndices: indices, featureKinds: featureKinds)
    }

    public func write(to w: inout ByteWriter) {
        w.write(Self.version)
        w.write(strings: header)
        w.write(Int64(targetIndex ?? -1))
        w.write(task.rawValue)
        w.write(array: featureIndices.map { UInt32($0) })
        w.write(array: featureKinds.map(\.rawValue))
    }

    public static func read(from r: inout ByteReader) throws -> DatasetSchema {
        let version = try r.read(UInt32.self)
        guard version == Self.version else {
            throw ForestError(.unsupportedVersion, "\(r.context): data set schema version \(version), this build reads \(Self.version)")
        }
        let header = try r.readStrings()
        let target = try r.read(Int64.self)
        guard let task = TaskKind(rawValue: try r.readString()) else { throw ForestError(.corrupted, "\(r.context): unknown task") }
        let indices = try r.readArray(UInt32.self).map { Int($0) }
        let kinds = try r.readArray(UInt8.self).map(ColumnKind.init(rawValue:))
        guard indices.count == kinds.count, kinds.allSatisfy({ $0 != nil }), indices.allSatisfy({ $0 < header.count }),
            target < Int64(header.count), target >= -1
        else {
            throw ForestError(.corrupted, "\(r.context): inconsistent data set schema")
        }
        return DatasetSchema(
            header: header, targetIndex: target < 0 ? nil : Int(target), task: task,
            featureIndices: indices, featureKinds: kinds.map { $0! })
    }

}

/// How a feature column is read and split on.
public enum ColumnKind: UInt8, Sendable, Equatable, CustomStringConvertible {
    /// Numbers; splits are thresholds on the column's quantile bins.
    case numeric = 0
    /// Text levels; splits are level sets (the kept levels plus "other").
    case categorical = 1

    public var description: String { self == .numeric ? "numeric" : "categorical" }
}

/// What the forest predicts.
public enum TaskKind: String, Sendable, Equatable, CaseIterable {
    /// A class label (text); probability leaves.
    case classification
    /// A number; mean leaves, squared-error splits.
    case regression
}

/// The 52-bit hash a categorical level is kept as between parsing and binning: exact in
/// a `Double`, so parsed rows stay one `Double` per value (missing = NaN).
public enum LevelHash {
    @inline(__always)
    public static func of(_ bytes: UnsafeRawBufferPointer) -> Double {
        Double(XXHash64.hash(bytes, seed: 0x5354_4C56) >> 12)
    }

    public static func of(_ text: String) -> Double {
        var t = text
        return t.withUTF8 { of(UnsafeRawBufferPointer($0)) }
    }
}

extension DatasetSchema: ByteCodable {
    public static var byteContext: String { "data set schema" }
}
