import SpaceTime

/// Scores a CSV file with a model in fixed-size batches (bounded memory, input order kept).
public enum StreamingPrediction {
    /// One scored batch: row-major predictions (`rows * outputWidth`), the target of each
    /// row when the file has the model's label column and it was asked for, and the rows'
    /// 1-based lines.
    public struct Batch {
        public var predictions: [Double]
        /// Class labels (classification) when targets were read.
        public var labels: [String]?
        /// Target values (regression) when targets were read.
        public var values: [Double]?
        public var lines: [Int]
        /// The parsed feature values, row-major, when asked for (`withFeatures`).
        public var features: [Double]? = nil
        public var rows: Int { lines.count }
        /// The predictions' class probabilities (classification).
        public var probabilities: [Double] { predictions }
    }

    /// The parser of `header` (another file's columns) for `model`: its features by name,
    /// the label column when present. A model with a feature derivation needs `derivation`,
    /// the one it was trained with (``FeatureDerivationRegistry/derivation(for:)``).
    public static func parser(
        model: ForestModel, header: [String], file: String,
        derivation: (any FeatureDerivation)? = nil
    ) throws -> RecordParser {
        try checkDerivation(model: model, derivation)
        return RecordParser(schema: try model.schema.relocated(header: header, file: file))
    }

    /// Throws unless `derivation` is the one `model` records (none for a model without one).
    public static func checkDerivation(model: ForestModel, _ derivation: (any FeatureDerivation)?) throws {
        let recorded = model.extractor.derivationIdentifier
        guard recorded != (derivation?.identifier ?? "") else { return }
        if recorded.isEmpty {
            throw ForestError(.invalidParameter, "the model has no feature derivation, but '\(derivation!.identifier)' was given")
        }
        throw ForestError(
            .invalidParameter,
            "the model derives its features with '\(recorded)'\(derivation.map { ", not '\($0.identifier)'" } ?? ""); use the spacetime executable that registers it (docs/extending.md)"
        )
    }

    /// Streams `path` through `model`. Feature columns are matched by name (any order, extra
    /// columns ignored); with `readTargets`, the model's label column must be present and
    /// every row's target is read (a missing one is an error); without it the label
    /// column, if any, is not read.
    public static func run(
        model: ForestModel, path: String, readTargets: Bool,
        batchRows: Int = 8192, threads: Int = 1, options: CSVOptions = CSVOptions(),
        withFeatures: Bool = false, derivation: (any FeatureDerivation)? = nil,
        onBatch: (Batch) throws -> Void
    ) throws {
        try checkDerivation(model: model, derivation)
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        let parser = try parser(model: model, header: reader.header, file: path, derivation: derivation)
        if readTargets && parser.schema.targetIndex == nil {
            throw ForestError(.invalidData, "\(path): no label column '\(model.labelColumn)' (needed to evaluate)")
        }
        let regression = model.forest.task == .regression
        try parseBatches(
            reader: reader, parser: parser, derivation: derivation, readTargets: readTargets, regression: regression,
            batchRows: batchRows
        ) { parsed in
            let predictions = BatchScorer.predict(model, values: parsed.values, rows: parsed.rows, threads: threads)
            try onBatch(
                Batch(
                    predictions: predictions, labels: parsed.labels, values: parsed.targets, lines: parsed.lines,
                    features: withFeatures ? Array(parsed.values) : nil))
        }
    }

    /// One batch of parsed rows: `rows × featureCount` values (derived features with a derivation), row-major (valid during the
    /// callback only), the targets when they were read, the rows' 1-based lines.
    public struct ParsedBatch {
        public var values: UnsafeBufferPointer<Double>
        /// Class labels (classification) when targets were read.
        public var labels: [String]?
        /// Target values (regression) when targets were read.
        public var targets: [Double]?
        public var lines: [Int]
        public var rows: Int { lines.count }
    }

    /// Reads `reader` to its end with `parser`, `batchRows` records at a time (the one
    /// parse loop of `predict`, `evaluate` and `transform`); with `readTargets` every
    /// row's target is read (a missing one is an error). With a `derivation` each parsed row
    /// is derived, and the batch holds the derived features.
    public static func parseBatches(
        reader: CSVReader, parser: RecordParser, derivation: (any FeatureDerivation)? = nil,
        readTargets: Bool, regression: Bool,
        batchRows: Int, onBatch: (ParsedBatch) throws -> Void
    ) throws {
        let inputs = parser.schema.featureCount
        let d = derivation?.outputNames(inputNames: parser.schema.featureNames).count ?? inputs
        var values = [Double](repeating: 0, count: batchRows * d)
        var input = [Double](repeating: 0, count: derivation == nil ? 0 : inputs)
        var labels: [String] = []
        var targets: [Double] = []
        var lines: [Int] = []
        func flush() throws {
            guard !lines.isEmpty else { return }
            try values.withUnsafeBufferPointer {
                try onBatch(
                    ParsedBatch(
                        values: UnsafeBufferPointer(rebasing: $0[0..<(lines.count * d)]),
                        labels: readTargets && !regression ? labels : nil,
                        targets: readTargets && regression ? targets : nil, lines: lines))
            }
            labels.removeAll(keepingCapacity: true)
            targets.removeAll(keepingCapacity: true)
            lines.removeAll(keepingCapacity: true)
        }
        while let record = try reader.next() {
            let r = lines.count
            try values.withUnsafeMutableBufferPointer { out in
                let row = UnsafeMutableBufferPointer(rebasing: out[r * d..<(r + 1) * d])
                guard let derivation else { return try parser.parseFeatures(record, into: row) }
                try input.withUnsafeMutableBufferPointer { raw in
                    try parser.parseFeatures(record, into: raw)
                    derivation.derive(UnsafeBufferPointer(raw), into: row)
                }
            }
            if readTargets {
                if regression { targets.append(try parser.value(record)) } else { labels.append(try parser.label(record)) }
            }
            lines.append(record.line)
            if lines.count >= batchRows { try flush() }
        }
        try flush()
    }

    /// Evaluates `model` on a labelled CSV file: the task's mergeable metrics.
    /// A class label the model does not know is an error naming its line.
    public static func evaluate(
        model: ForestModel, path: String, threads: Int = 1,
        derivation: (any FeatureDerivation)? = nil
    ) throws -> EvaluationMetrics {
        try evaluate(model: model, path: path, threads: threads, permutationRepeats: 0, derivation: derivation).metrics
    }

    /// ``evaluate(model:path:threads:)`` and, with `permutationRepeats` > 0, the permutation
    /// importance of each feature, shuffled within each batch of `batchRows` rows (seeded
    /// by the model's seed and the batch's index) and merged in file order.
    public static func evaluate(
        model: ForestModel, path: String, threads: Int, permutationRepeats: Int,
        batchRows: Int = 8192, options: CSVOptions = CSVOptions(),
        derivation: (any FeatureDerivation)? = nil
    ) throws -> (metrics: EvaluationMetrics, permutation: PermutationImportance?) {
        let lookup = model.extractor.classLookup()
        var metrics = EvaluationMetrics(task: model.extractor.task)
        var permutation: PermutationImportance?
        var batchIndex = 0
        func permute(_ batch: Batch, _ target: TargetColumn) throws {
            guard permutationRepeats > 0, let features = batch.features else { return }
            let d = model.extractor.featureCount
            let targets: [Double] =
                switch target {
                case .classes(let c): c.map(Double.init)
                case .values(let v): v
                }
            let binned = FeatureBinner.bin(extractor: model.extractor, rowCount: batch.rows, threads: threads) { append in
                features.withUnsafeBufferPointer { f in
                    for r in 0..<batch.rows { append(UnsafeBufferPointer(rebasing: f[r * d..<(r + 1) * d]), targets[r]) }
                }
            }
            let share = PermutationImportance.compute(
                forest: model.forest, partition: binned, seed: model.parameters.seed,
                partitionIndex: batchIndex, repeats: permutationRepeats, threads: threads)
            batchIndex += 1
            if permutation == nil { permutation = share } else { try permutation!.merge(share) }
        }
        try run(
            model: model, path: path, readTargets: true, batchRows: batchRows, threads: threads, options: options,
            withFeatures: permutationRepeats > 0, derivation: derivation
        ) { batch in
            if let values = batch.values {
                metrics.add(predictions: batch.predictions, target: .values(values))
                try permute(batch, .values(values))
                return
            }
            var classes: [Int32] = []
            for (r, text) in (batch.labels ?? []).enumerated() {
                guard let c = lookup[text] else {
                    throw ForestError(
                        .invalidData,
                        "\(path):\(batch.lines[r]): label '\(text)' is not one of the model's classes (\(model.extractor.classes.prefix(10).joined(separator: ", ")))"
                    )
                }
                classes.append(c)
            }
            metrics.add(predictions: batch.predictions, target: .classes(classes))
            try permute(batch, .classes(classes))
        }
        return (metrics, permutation)
    }
}
