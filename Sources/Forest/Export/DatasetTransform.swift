import Foundation
import SpaceTime

/// Streams a CSV through a fitted extractor into NumPy shards for other tools (PyTorch
/// `Dataset`s, `tf.data`): per shard of ``Options/shardRows`` rows a features file and,
/// when the file has the label column, a labels file, plus `manifest.json` describing
/// them. Memory is one shard's buffers, whatever the file's size.
///
/// Features are `float32` values, `rows × features`, row-major: numbers as parsed
/// (rounded to `float32`), categorical columns as level codes (the extractor's bins:
/// kept levels `0..<k` by frequency, `k` for "other"), missing values as NaN; or with
/// ``Options/binned`` the `uint8` bins the forest splits on (255: missing), column-major
/// (`fortran_order`), exactly as ``FeatureBinner`` bins training rows. Labels are the
/// class index (`int64`, into the manifest's `classes`) or the target (`float64`).
public struct DatasetTransform: Sendable {
    public struct Options: Sendable {
        /// Rows per shard (the last shard may hold fewer).
        public var shardRows = 65_536
        /// Write the forest's `uint8` bins instead of `float32` values.
        public var binned = false
        /// Records parsed per batch.
        public var batchRows = 8192
        /// How the input is written (delimiter, header or column names).
        public var csv = CSVOptions()

        public init() {}
    }

    /// Bytes of the buffers a run holds for `features` feature columns: one parse batch
    /// (`Double`s), one shard of parsed rows (`Double`s) and its output (`float32` or bins),
    /// plus the shard's labels.
    public static func bufferBytes(features d: Int, options: Options) -> Int {
        let perRow = d * 8 + (options.binned ? d : d * 4) + 8
        return options.batchRows * d * 8 + options.shardRows * perRow
    }

    /// The columns the extractor was fitted on (its training file's header).
    public let schema: DatasetSchema
    public let extractor: FeatureExtractor

    public init(schema: DatasetSchema, extractor: FeatureExtractor) {
        self.schema = schema
        self.extractor = extractor
    }

    /// The derivation the extractor's features come from (the model's), if any.
    public private(set) var derivation: (any FeatureDerivation)?

    /// The transform of a trained model (its schema and extractor); a model with a feature
    /// derivation needs the one it was trained with.
    public init(model: ForestModel, derivation: (any FeatureDerivation)? = nil) throws {
        try StreamingPrediction.checkDerivation(model: model, derivation)
        self.init(schema: model.schema, extractor: model.extractor)
        self.derivation = derivation
    }

    /// Fits a transform on `path` itself: its schema (``SchemaInference``) and one
    /// statistics pass (no rows kept), then ``FeatureExtractor/fit(from:inputNames:derivationIdentifier:maxBins:minLevelRows:)``.
    /// With `derivationFactory` the derivation it builds for the file's feature columns (all
    /// numeric, as in training) is applied to every row and the extractor is fitted on the
    /// derived features, as `spacetime train --derivation` fits it.
    public static func fit(
        path: String, columns: ColumnChoices, maxBins: Int = FeatureExtractor.maxValueBins,
        csv: CSVOptions = CSVOptions(),
        derivationFactory: FeatureDerivationRegistry.Factory? = nil
    ) throws -> DatasetTransform {
        let inference = try SchemaInference.infer(path: path, choices: columns, options: csv)
        let schema = inference.schema
        var derivation: (any FeatureDerivation)?
        if let derivationFactory {
            guard schema.categoricalCount == 0 else {
                throw ForestError(
                    .invalidParameter, "a feature derivation needs numeric input columns; \(schema.categoricalCount) column(s) hold text")
            }
            do { derivation = try derivationFactory(schema.featureNames) } catch let e as ForestError { throw e } catch {
                throw ForestError(.invalidParameter, "the feature derivation refuses the input columns: \(error)")
            }
        }
        let parser = RecordParser(schema: schema, sampledRows: inference.sampledRows)
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: csv) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        let names = derivation?.outputNames(inputNames: schema.featureNames) ?? schema.featureNames
        var state =
            derivation == nil ? PartialExtractorState(schema: schema) : PartialExtractorState(featureNames: names, task: schema.task)
        var target = TargetSummary(task: schema.task)
        var row = [Double](repeating: 0, count: schema.featureCount)
        var derived = [Double](repeating: 0, count: derivation == nil ? 0 : names.count)
        while let record = try reader.next() {
            try row.withUnsafeMutableBufferPointer { buffer in
                if let derivation {
                    try parser.parseFeatures(record, into: buffer)
                    derived.withUnsafeMutableBufferPointer { derivation.derive(UnsafeBufferPointer(buffer), into: $0) }
                    derived.withUnsafeBufferPointer { state.addNumeric($0) }
                } else {
                    try withUnsafeMutablePointer(to: &state) { try parser.parseFeatures(record, into: buffer, counting: $0) }
                    state.addNumeric(UnsafeBufferPointer(buffer))
                }
            }
            if schema.task == .regression {
                target.add(value: try parser.value(record))
            } else {
                target.add(label: try parser.label(record))
            }
        }
        state.setTarget(target)
        let extractor = try FeatureExtractor.fit(
            from: state, inputNames: schema.featureNames,
            derivationIdentifier: derivation?.identifier ?? "", maxBins: maxBins)
        var transform = DatasetTransform(schema: schema, extractor: extractor)
        transform.derivation = derivation
        return transform
    }

    /// Transforms `path` into `directory` (created if needed); returns the manifest it wrote.
    /// Feature columns are matched by name; the label column is read when present.
    public func run(path: String, directory: String, options: Options = Options()) throws -> TransformManifest {
        guard options.shardRows >= 1, options.batchRows >= 1 else {
            throw ForestError(.invalidParameter, "shard rows and batch rows must be at least 1")
        }
        try Self.prepare(directory: directory)
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options.csv) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        let parser = RecordParser(schema: try schema.relocated(header: reader.header, file: path))
        let withLabels = parser.schema.targetIndex != nil
        let regression = extractor.task.kind == .regression
        let lookup = extractor.classLookup()
        var sink = TransformShardWriter(extractor: extractor, directory: directory, options: options, labels: withLabels)
        try StreamingPrediction.parseBatches(
            reader: reader, parser: parser, derivation: derivation,
            readTargets: withLabels, regression: regression,
            batchRows: options.batchRows
        ) { batch in
            var classes: [Int64] = []
            if let labels = batch.labels {
                classes.reserveCapacity(labels.count)
                for (r, text) in labels.enumerated() {
                    classes.append(try classIndex(text, lookup: lookup, path: path, line: batch.lines[r]))
                }
            }
            try sink.add(values: batch.values, lines: batch.lines, classes: classes, targets: batch.targets)
        }
        try sink.finish()
        return try writeManifest(source: path, directory: directory, options: options, labels: withLabels, shards: sink.shards)
    }

    /// The class index of label `text` (``FeatureExtractor/classLookup()``), or an error
    /// naming the file and line when the extractor was not fitted with that class.
    public func classIndex(_ text: String, lookup: [String: Int32], path: String, line: Int) throws -> Int64 {
        guard let c = lookup[text] else {
            throw ForestError(
                .invalidData,
                "\(path):\(line): label '\(text)' is not one of the fitted classes (\(extractor.classes.prefix(10).joined(separator: ", ")))"
            )
        }
        return Int64(c)
    }

    /// Creates `directory` if needed and removes the shards and manifest an earlier run left there.
    public static func prepare(directory: String) throws {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw ForestError(.io, "cannot create \(directory): \(error.localizedDescription)")
        }
        try removeStaleShards(in: directory)
    }

    /// Writes `directory/manifest.json` for `shards` of `source`; returns it.
    public func writeManifest(
        source: String, directory: String, options: Options, labels: Bool,
        shards: [TransformManifest.Shard]
    ) throws -> TransformManifest {
        let manifest = TransformManifest(source: source, transform: self, options: options, labels: labels, shards: shards)
        try manifest.write(to: (directory as NSString).appendingPathComponent("manifest.json"))
        return manifest
    }
}

extension DatasetTransform {
    /// Whether `name` is a file a run writes: `features-NNNNN.npy`, `labels-NNNNN.npy` or `manifest.json`.
    static func isRunOutput(_ name: String) -> Bool {
        if name == "manifest.json" { return true }
        for prefix in ["features-", "labels-"] where name.hasPrefix(prefix) && name.hasSuffix(".npy") {
            let digits = name.dropFirst(prefix.count).dropLast(4)
            return !digits.isEmpty && digits.allSatisfy(\.isASCII) && digits.allSatisfy(\.isNumber)
        }
        return false
    }

    /// Removes the shards and manifest an earlier run left in `directory` (other files stay), so
    /// that a run with fewer shards leaves no stale ones beside its manifest.
    static func removeStaleShards(in directory: String) throws {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw ForestError(.io, "cannot list \(directory): \(error.localizedDescription)")
        }
        for name in names where isRunOutput(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            do { try FileManager.default.removeItem(atPath: path) } catch {
                throw ForestError(.io, "cannot remove the earlier run's \(path): \(error.localizedDescription)")
            }
        }
    }
}
