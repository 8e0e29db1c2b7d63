@testable import Forest

/// Small in-memory data sets and helpers shared by the Forest tests.
enum TestData {
    /// Rows from the synthetic generator: row-major values and class indices.
    static func synthetic(rows: Int, features: Int = 10, informative: Int = 3, redundant: Int = 1,
                          classes: Int = 2, seed: UInt64 = 7, flipY: Double = 0.01) throws -> (values: [Double], labels: [Int32]) {
        var c = SyntheticClassification.Configuration()
        c.features = features; c.informative = informative; c.redundant = redundant
        c.classes = classes; c.seed = seed; c.flipY = flipY
        let problem = try SyntheticClassification(c)
        var stream = problem.rows()
        var values: [Double] = [], labels: [Int32] = []
        var row = [Double]()
        for _ in 0..<rows {
            labels.append(Int32(stream.next(into: &row)))
            values += row
        }
        return (values, labels)
    }

    static func names(_ d: Int) -> [String] { (0..<d).map { "f\($0)" } }

    /// Fits an extractor on all rows and bins them.
    static func binned(values: [Double], labels: [Int32], features d: Int, maxBins: Int = 255) throws -> (FeatureExtractor, BinnedPartition) {
        var state = PartialExtractorState(featureNames: names(d))
        for r in 0..<labels.count {
            state.add(Array(values[r * d..<(r + 1) * d]), label: String(labels[r]))
        }
        let extractor = try FeatureExtractor.fit(from: state, maxBins: maxBins)
        let lookup = extractor.classLookup()
        return (extractor, extractor.transform(rowMajor: values, labels: labels.map { lookup[String($0)]! }))
    }

    static func forestModel(_ extractor: FeatureExtractor, _ forest: RandomForest, _ p: ForestParameters) throws -> ForestModel {
        try ForestModel(labelColumn: "label", extractor: extractor, parameters: p, forest: forest)
    }
}
