/// `export --json`: the file written, its size in bytes, the tree operator and opset, the
/// model's fingerprint, the graph's inputs and outputs, and per categorical column how many
/// "other" level texts were mapped.
struct ExportReport: Encodable {
    /// A graph input or output: its name, element type and shape (e.g. `[N, 1]`).
    struct Tensor: Encodable {
        var name: String
        var type: String
        var shape: String
    }

    struct OtherLevels: Encodable {
        var feature: String
        var mapped: Int
        var unmapped: Int
    }

    var out: String
    var bytes: Int
    var treeOperator: String
    var mlOpset: Int
    var fingerprint: String
    var inputs: [Tensor]
    var outputs: [Tensor]
    var otherLevels: [OtherLevels]

    enum CodingKeys: String, CodingKey {
        case out, bytes
        case treeOperator = "operator"
        case mlOpset = "ml_opset"
        case fingerprint, inputs, outputs
        case otherLevels = "other_levels"
    }
}
