import Forest

/// `evaluate --json`: the metrics at the top level, the model's fingerprint, and the
/// permutation importance when computed.
struct EvaluationReport: Encodable {
    var metrics: MetricsReport
    var fingerprint: String
    var permutationImportance: PermutationImportanceReport?

    enum CodingKeys: String, CodingKey {
        case fingerprint
        case permutationImportance = "permutation_importance"
    }

    func encode(to encoder: any Encoder) throws {
        try metrics.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(fingerprint, forKey: .fingerprint)
        try c.encodeIfPresent(permutationImportance, forKey: .permutationImportance)
    }
}
