/// The `parameters` block of every report on a model or a grid point (train, coordinator
/// and local `--report-json`, `inspect --json`, cv), and the HTML report's parameter list.
public struct ForestParametersReport: Encodable, Sendable, Equatable {
    public var trees: Int
    public var criterion: String
    /// null: unlimited.
    @NullWhenAbsent public var maxDepth: Int?
    public var minSamplesSplit: Int
    public var minSamplesLeaf: Int
    public var maxFeatures: String
    public var bootstrap: Bool
    public var classWeight: String
    public var seed: UInt64
    public var minCategoryRows: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case trees, criterion
        case maxDepth = "max_depth"
        case minSamplesSplit = "min_samples_split"
        case minSamplesLeaf = "min_samples_leaf"
        case maxFeatures = "max_features"
        case bootstrap
        case classWeight = "class_weight"
        case seed
        case minCategoryRows = "min_category_rows"
    }

    /// The report of `parameters` of a model for `task` (the criterion is named for the task).
    public init(_ parameters: ForestParameters, task: TaskKind) {
        trees = parameters.trees
        criterion = parameters.criterionName(for: task)
        maxDepth = parameters.maxDepth
        minSamplesSplit = parameters.minSamplesSplit
        minSamplesLeaf = parameters.minSamplesLeaf
        maxFeatures = parameters.maxFeatures.description
        bootstrap = parameters.bootstrap
        classWeight = parameters.classWeighting.rawValue
        seed = parameters.seed
        minCategoryRows = parameters.minCategoryRows
    }

    /// Every key with its value as text ("none" for no maximum depth), in key order.
    public var fields: [(key: String, value: String)] {
        CodingKeys.allCases.map { key in
            let value: String
            switch key {
            case .trees: value = String(trees)
            case .criterion: value = criterion
            case .maxDepth: value = maxDepth.map(String.init) ?? "none"
            case .minSamplesSplit: value = String(minSamplesSplit)
            case .minSamplesLeaf: value = String(minSamplesLeaf)
            case .maxFeatures: value = maxFeatures
            case .bootstrap: value = String(bootstrap)
            case .classWeight: value = classWeight
            case .seed: value = String(seed)
            case .minCategoryRows: value = String(minCategoryRows)
            }
            return (key.stringValue, value)
        }.sorted { $0.key < $1.key }
    }
}
