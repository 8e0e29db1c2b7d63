import SpaceTime

/// A trained model: the data set schema (column kinds, label column, task), the fitted
/// extractor (bins, levels, class labels), the forest, the training parameters,
/// evaluation metrics and provenance. Saved as one self-describing file.
///
/// File layout: a SpaceTime checkpoint file (magic `SPTMCKPT`, header checksum, kind
/// `MODL`, payload version ``formatVersion``, payload, XXH64 payload checksum), written
/// atomically (temporary file, fsync, rename). The payload is:
/// `"STMODEL\0"`, schema, extractor, parameters, forest (per tree its stored arrays,
/// see ``Tree``), optional test metrics, optional out-of-bag metrics, provenance
/// key/value pairs. Version 2 files (logical node arrays) are read; version 1 files
/// (numeric classification only, before categorical splits and regression) are refused
/// with a message naming the versions.
public struct ForestModel: Sendable, Equatable {
    /// The payload format version this build writes (and reads).
    public static let formatVersion: UInt32 = 3
    /// The oldest payload format version this build reads: format 2 differs only in
    /// its trees' encoding (``Tree/read(from:)`` converts them).
    public static let oldestReadableVersion: UInt32 = 2
    public static let checkpointKind = CheckpointFile.kind("MODL")
    static let payloadMagic: [UInt8] = Array("STMODEL\0".utf8)

    /// The training data's columns: what is a feature (and of which kind), the label, the task.
    public var schema: DatasetSchema
    public var extractor: FeatureExtractor
    public var parameters: ForestParameters
    public var forest: RandomForest
    /// Metrics on the held-out test rows, if any.
    public var testMetrics: EvaluationMetrics?
    /// Out-of-bag metrics, if computed.
    public var outOfBagMetrics: EvaluationMetrics?
    /// Provenance (timestamps, host, source file, row counts): not part of the fingerprint.
    public var provenance: [String: String]

    public init(
        schema: DatasetSchema, extractor: FeatureExtractor, parameters: ForestParameters, forest: RandomForest,
        testMetrics: EvaluationMetrics? = nil, outOfBagMetrics: EvaluationMetrics? = nil,
        provenance: [String: String] = [:]
    ) throws {
        guard forest.outputWidth == extractor.task.outputWidth, forest.featureCount == extractor.featureCount,
            forest.task == extractor.task.kind, schema.task == forest.task
        else {
            throw ForestError(
                .incompatible,
                "forest (\(forest.task.rawValue), \(forest.outputWidth) outputs, \(forest.featureCount) features) does not match the extractor (\(extractor.task.kind.rawValue), \(extractor.task.outputWidth), \(extractor.featureCount))"
            )
        }
        self.schema = schema
        self.extractor = extractor
        self.parameters = parameters
        self.forest = forest
        self.testMetrics = testMetrics
        self.outOfBagMetrics = outOfBagMetrics
        self.provenance = provenance
    }

    /// Name of the label column in the training data.
    public var labelColumn: String { schema.targetName ?? "label" }

    /// XXH64 over the canonical bytes of everything learned: schema, extractor (edges,
    /// levels, statistics, task), parameters and forest (trees and weights). Independent of thread count,
    /// of which process trained which partition, of metrics and of provenance.
    public var fingerprint: UInt64 {
        // The hash of the concatenated canonical bytes, streamed: the trees are
        // hashed in place rather than copied into one buffer first.
        var h = XXHash64(seed: 0)
        var w = ByteWriter()
        schema.write(to: &w)
        extractor.write(to: &w)
        parameters.write(to: &w)
        forest.writeHeader(to: &w)
        h.update(w.bytes)
        for tree in forest.trees { tree.hash(into: &h) }
        return h.finalize()
    }

    /// The fingerprint as 16 lowercase hex digits.
    public var fingerprintHex: String {
        let s = String(fingerprint, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }

    public func serialize() -> [UInt8] {
        var w = ByteWriter(capacity: forest.serializedSize + (1 << 20))
        for b in Self.payloadMagic { w.write(b) }
        schema.write(to: &w)
        extractor.write(to: &w)
        parameters.write(to: &w)
        forest.write(to: &w)
        for m in [testMetrics, outOfBagMetrics] {
            w.write(m != nil)
            m?.write(to: &w)
        }
        let keys = provenance.keys.sorted()
        w.write(strings: keys)
        w.write(strings: keys.map { provenance[$0]! })
        return w.bytes
    }

    public init(deserializing bytes: [UInt8], context: String = "model") throws {
        var r = ByteReader(bytes, context: context)
        try self.init(reading: &r)
    }

    /// Decodes a payload in memory the caller owns (a received `Data`, a mapped file)
    /// without copying it first; `onProgress` is told after each tree that the bytes
    /// before an offset are no longer needed.
    public init(deserializing bytes: UnsafeRawBufferPointer, context: String = "model", onProgress: ((Int) -> Void)? = nil) throws {
        var r = ByteReader(unsafeBytes: bytes, context: context, onProgress: onProgress)
        try self.init(reading: &r)
    }

    private init(reading r: inout ByteReader) throws {
        let context = r.context
        for b in Self.payloadMagic {
            guard try r.readByte() == b else { throw ForestError(.corrupted, "\(context): not a SpaceTime model payload") }
        }
        let schema = try DatasetSchema.read(from: &r)
        let extractor = try FeatureExtractor.read(from: &r)
        let parameters = try ForestParameters.read(from: &r)
        let forest = try RandomForest.read(from: &r)
        var metrics: [EvaluationMetrics?] = []
        for _ in 0..<2 { metrics.append(try r.readBool() ? try EvaluationMetrics.read(from: &r) : nil) }
        let keys = try r.readStrings()
        let values = try r.readStrings()
        guard keys.count == values.count else { throw ForestError(.corrupted, "\(context): provenance table") }
        try r.expectEnd()
        for tree in forest.trees where tree.featureCount != extractor.featureCount {
            throw ForestError(.corrupted, "\(context): tree feature count \(tree.featureCount) ≠ \(extractor.featureCount)")
        }
        guard schema.featureCount == extractor.inputNames.count else {
            throw ForestError(.corrupted, "\(context): schema and extractor disagree on the input columns")
        }
        try self.init(
            schema: schema, extractor: extractor, parameters: parameters, forest: forest,
            testMetrics: metrics[0], outOfBagMetrics: metrics[1],
            provenance: Dictionary(zip(keys, values), uniquingKeysWith: { first, _ in first }))
    }

    /// Writes the model atomically to `path`.
    public func save(to path: String) throws {
        do {
            try CheckpointFile.write(serialize(), to: path, kind: Self.checkpointKind, version: Self.formatVersion)
        } catch {
            throw ForestError(.io, "cannot save model to \(path): \(error)")
        }
    }

    /// Loads and verifies a model file of format ``formatVersion`` or ``oldestReadableVersion``;
    /// a corrupted file, another kind of file or another format version is a clear
    /// ``ForestError``. The file is mapped and decoded in place (no copy of the whole file).
    public static func load(from path: String) throws -> ForestModel {
        let mapped: MappedCheckpoint
        do {
            mapped = try MappedCheckpoint(path: path, kind: checkpointKind)
        } catch {
            let code: ForestError.Code = error.code == .io ? .io : .corrupted
            throw ForestError(code, "cannot load model \(path): \(error.description)")
        }
        guard (oldestReadableVersion...formatVersion).contains(mapped.version) else {
            throw ForestError(
                .unsupportedVersion,
                "model \(path) has format version \(mapped.version); this build of spacetime reads version \(oldestReadableVersion) or \(formatVersion)\(mapped.version < oldestReadableVersion ? " (retrain the model: version 2 adds categorical features, regression and learned missing-value directions)" : "")"
            )
        }
        return try ForestModel(deserializing: mapped.payload, context: "model \(path)", onProgress: { mapped.release(before: $0) })
    }
}
