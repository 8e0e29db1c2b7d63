import Foundation
import SpaceTime

/// `manifest.json` of a ``DatasetTransform`` output directory: what each column of the
/// feature shards holds, the label encoding, and the shard files in input order.
public struct TransformManifest: Codable, Sendable, Equatable {
    public struct Feature: Codable, Sendable, Equatable {
        public var name: String
        /// `numeric` or `categorical`.
        public var kind: String
        /// Numeric: the bin edges; bin = the number of edges strictly below the value.
        public var edges: [Double]?
        /// Categorical: the kept levels; a level's code is its index here.
        public var levels: [String]?
        /// Categorical: the code of levels seen in fitting but not kept ("other"); nil when none.
        public var otherCode: Int?
    }

    public struct Label: Codable, Sendable, Equatable {
        public var name: String
        /// `int64` class indices into `classes`, or `float64` target values.
        public var dtype: String
        public var classes: [String]?
    }

    public struct Shard: Codable, Sendable, Equatable {
        public var features: String
        public var labels: String?
        public var rows: Int
        /// The 1-based line of the shard's first row in the source file.
        public var firstLine: Int
    }

    public var format = "spacetime-npy"
    public var version = 1
    public var source: String
    /// `classification` or `regression`.
    public var task: String
    /// `float32` (values, row-major; missing = NaN) or `uint8` (bins, column-major; missing = 255).
    public var dtype: String
    public var missingBin: Int
    public var features: [Feature]
    public var label: Label?
    public var rows: Int
    public var shards: [Shard]
    /// The feature derivation the features come from (absent for none): `features` are its outputs.
    public var derivation: String?

    init(source: String, transform: DatasetTransform, options: DatasetTransform.Options, labels: Bool, shards: [Shard]) {
        let e = transform.extractor
        self.source = source
        task = e.task.kind.rawValue
        dtype = options.binned ? "uint8" : "float32"
        missingBin = Int(FeatureExtractor.missingBin)
        features = (0..<e.featureCount).map { f in
            e.kinds[f] == .categorical
                ? Feature(
                    name: e.featureNames[f], kind: "categorical", edges: nil, levels: e.levels[f],
                    otherCode: e.otherLevels[f].isEmpty ? nil : e.levels[f].count)
                : Feature(name: e.featureNames[f], kind: "numeric", edges: e.edges[f], levels: nil, otherCode: nil)
        }
        label =
            labels
            ? Label(
                name: transform.schema.targetName ?? "", dtype: e.task.kind == .regression ? "float64" : "int64",
                classes: e.task.kind == .regression ? nil : e.classes) : nil
        rows = shards.reduce(0) { $0 + $1.rows }
        self.shards = shards
        derivation = e.derivationIdentifier.isEmpty ? nil : e.derivationIdentifier
    }

    /// The manifest as pretty-printed JSON with snake_case keys.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Array(try encoder.encode(self)) + [0x0A]
    }

    func write(to path: String) throws {
        do {
            let writer = try AtomicFileWriter(path: path)
            try writer.append(try encoded())
            try writer.commit()
        } catch {
            throw ForestError(.io, "\(path): \(error)")
        }
    }
}
