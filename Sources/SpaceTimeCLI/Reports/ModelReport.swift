import Forest

/// `inspect --json`: a saved model's schema, classes, trees and their storage in bytes,
/// impurity importances, parameters, provenance and stored metrics.
struct ModelReport: Encodable {
    /// A feature column: its name, `numeric` or `categorical`, and the levels kept.
    struct ColumnKind: Encodable {
        var name: String
        var kind: String
        var levels: [String]
    }

    var fingerprint: String
    var formatVersion: Int
    var labelColumn: String
    var task: String
    var columnKinds: [ColumnKind]
    var ignoredColumns: [String]
    var classes: [String]
    var classCounts: [UInt64]
    var features: [String]
    var constantFeatures: [String]
    var binsPerFeature: [Int]
    var trees: Int
    var nodes: Int
    var leaves: Int
    var maxDepth: Int
    var meanDepth: Double
    var treeBytes: Int
    var bytesPerNode: Double
    var bytesPerTree: Double
    var featureImportances: [FeatureImportanceReport]
    var parameters: ForestParametersReport
    var provenance: [String: String]
    var testMetrics: MetricsReport?
    var oobMetrics: MetricsReport?

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case formatVersion = "format_version"
        case labelColumn = "label_column"
        case task
        case columnKinds = "column_kinds"
        case ignoredColumns = "ignored_columns"
        case classes
        case classCounts = "class_counts"
        case features
        case constantFeatures = "constant_features"
        case binsPerFeature = "bins_per_feature"
        case trees, nodes, leaves
        case maxDepth = "max_depth"
        case meanDepth = "mean_depth"
        case treeBytes = "tree_bytes"
        case bytesPerNode = "bytes_per_node"
        case bytesPerTree = "bytes_per_tree"
        case featureImportances = "feature_importances"
        case parameters, provenance
        case testMetrics = "test_metrics"
        case oobMetrics = "oob_metrics"
    }
}
