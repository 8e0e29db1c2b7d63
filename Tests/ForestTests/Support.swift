import Foundation

@testable import Forest

/// Small in-memory data sets and helpers shared by the Forest tests.
enum TestData {
    /// Rows from the synthetic generator: row-major values and class indices.
    static func synthetic(
        rows: Int, features: Int = 10, informative: Int = 3, redundant: Int = 1,
        classes: Int = 2, seed: UInt64 = 7, flipY: Double = 0.01
    ) throws -> (values: [Double], labels: [Int32]) {
        var c = SyntheticClassification.Configuration()
        c.features = features
        c.informative = informative
        c.redundant = redundant
        c.classes = classes
        c.seed = seed
        c.flipY = flipY
        let problem = try SyntheticClassification(c)
        var stream = problem.rows()
        var values: [Double] = []
        var labels: [Int32] = []
        var row = [Double]()
        for _ in 0..<rows {
            labels.append(Int32(stream.next(into: &row)))
            values += row
        }
        return (values, labels)
    }

    static func names(_ d: Int) -> [String] { (0..<d).map { "f\($0)" } }

    /// The schema of `d` numeric features `f0…` followed by a `label` column.
    static func schema(
        features d: Int, task: TaskKind = .classification,
        kinds: [ColumnKind]? = nil
    ) -> DatasetSchema {
        DatasetSchema(
            header: names(d) + ["label"], targetIndex: d, task: task, featureIndices: Array(0..<d),
            featureKinds: kinds ?? Array(repeating: .numeric, count: d))
    }

    /// Fits an extractor on all rows and bins them.
    static func binned(values: [Double], labels: [Int32], features d: Int, maxBins: Int = 255) throws -> (FeatureExtractor, BinnedPartition)
    {
        var state = PartialExtractorState(featureNames: names(d))
        for r in 0..<labels.count {
            state.add(Array(values[r * d..<(r + 1) * d]), label: String(labels[r]))
        }
        let extractor = try FeatureExtractor.fit(from: state, maxBins: maxBins)
        let lookup = extractor.classLookup()
        return (extractor, extractor.transform(rowMajor: values, labels: labels.map { lookup[String($0)]! }))
    }

    /// Fits a regression extractor on all (numeric) rows and bins them.
    static func binnedRegression(
        values: [Double], targets: [Double], features d: Int,
        maxBins: Int = 255
    ) throws -> (FeatureExtractor, BinnedPartition) {
        var state = PartialExtractorState(featureNames: names(d), task: .regression)
        for r in 0..<targets.count {
            state.add(Array(values[r * d..<(r + 1) * d]), target: targets[r])
        }
        let extractor = try FeatureExtractor.fit(from: state, maxBins: maxBins)
        return (extractor, extractor.transform(rowMajor: values, target: .values(targets)))
    }

    /// A classification forest of equally weighted trees.
    static func forest(_ trees: [Tree]) throws -> RandomForest {
        try RandomForest(task: .classification, trees: trees)
    }

    static func forestModel(
        _ extractor: FeatureExtractor, _ forest: RandomForest, _ p: ForestParameters,
        testMetrics: EvaluationMetrics? = nil, provenance: [String: String] = [:]
    ) throws -> ForestModel {
        try ForestModel(
            schema: schema(features: extractor.featureCount, task: extractor.task.kind, kinds: extractor.kinds),
            extractor: extractor, parameters: p, forest: forest, testMetrics: testMetrics, provenance: provenance)
    }

    /// A classification tree grower over `p` (tests reach the grower's internals).
    static func grower(_ p: BinnedPartition, _ params: ForestParameters) -> TreeGrower<ClassificationObjective> {
        TreeGrower(partition: p, parameters: params, objective: ClassificationObjective(partition: p, parameters: params))
    }

    static func regressionGrower(_ p: BinnedPartition, _ params: ForestParameters) -> TreeGrower<RegressionObjective> {
        TreeGrower(partition: p, parameters: params, objective: RegressionObjective(partition: p, parameters: params))
    }

    /// A fresh directory under the temporary directory, removed by `body`'s caller via the returned path.
    static func temporaryDirectory(_ name: String) throws -> String {
        let dir = NSTemporaryDirectory() + "forest-\(getpid())-\(UInt64.random(in: 0...UInt64.max))-\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// `|a - b| <= tolerance * max(1, |a|, |b|)`.
    static func close(_ a: Double, _ b: Double, relative tolerance: Double = 1e-9) -> Bool {
        abs(a - b) <= tolerance * max(1, abs(a), abs(b))
    }
}
