import Foundation

/// A parameter search space: every combination of a few values for a few forest
/// parameters, parsed from `name=v1,v2;name=v1,…` (the names of `spacetime train`'s flags
/// without the dashes: trees, max-depth, min-samples-split, min-samples-leaf,
/// max-features, criterion, class-weight, bootstrap, min-category-rows).
///
/// Points are in odometer order: the last parameter varies fastest, as scikit-learn's
/// `ParameterGrid` orders them.
public struct ParameterGrid: Sendable, Equatable {
    /// One grid axis: a parameter and the values it takes, in the order given.
    public struct Axis: Sendable, Equatable {
        public var name: String
        public var values: [String]
    }

    public let axes: [Axis]

    /// The parameters a grid can vary.
    public static let names = [
        "trees", "max-depth", "min-samples-split", "min-samples-leaf", "max-features",
        "criterion", "class-weight", "bootstrap", "min-category-rows"
    ]
    /// Points above this are refused (each is a full cross-validation).
    public static let maxPoints = 1000

    /// A grid with no axes: one point, the base parameters.
    public init() { axes = [] }

    /// Parses `spec`; every error names the part of the text at fault.
    public init(parsing spec: String) throws {
        var axes: [Axis] = []
        for part in spec.split(separator: ";", omittingEmptySubsequences: true) {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            guard let eq = text.firstIndex(of: "=") else {
                throw ForestError(.invalidParameter, "grid: '\(text)' is not name=value,value,…")
            }
            let name = text[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            guard Self.names.contains(name) else {
                throw ForestError(.invalidParameter, "grid: unknown parameter '\(name)' (one of \(Self.names.joined(separator: ", ")))")
            }
            guard !axes.contains(where: { $0.name == name }) else {
                throw ForestError(.invalidParameter, "grid: parameter '\(name)' given twice")
            }
            let values = text[text.index(after: eq)...].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !values.isEmpty, !values.contains(where: \.isEmpty) else {
                throw ForestError(.invalidParameter, "grid: '\(name)' needs values separated by commas")
            }
            var probe = ForestParameters()
            for v in values { try Self.apply(name, v, to: &probe) }
            axes.append(Axis(name: name, values: values))
        }
        guard !axes.isEmpty else { throw ForestError(.invalidParameter, "grid: no parameters in '\(spec)'") }
        let points = axes.reduce(1) { $0 * $1.values.count }
        guard points <= Self.maxPoints else {
            throw ForestError(.invalidParameter, "grid: \(points) combinations, more than \(Self.maxPoints)")
        }
        self.axes = axes
    }

    /// The number of combinations.
    public var count: Int { axes.reduce(1) { $0 * $1.values.count } }

    /// Combination `i` (odometer order) as (name, value) pairs.
    public func point(_ i: Int) -> [(name: String, value: String)] {
        var rest = i
        var out: [(name: String, value: String)] = []
        for axis in axes.reversed() {
            out.append((axis.name, axis.values[rest % axis.values.count]))
            rest /= axis.values.count
        }
        return out.reversed()
    }

    /// `base` with combination `i` applied.
    public func parameters(_ i: Int, base: ForestParameters) throws -> ForestParameters {
        var p = base
        for (name, value) in point(i) { try Self.apply(name, value, to: &p) }
        try p.validate()
        return p
    }

    /// A combination as text, e.g. "max-features=sqrt min-samples-leaf=5".
    public func label(_ i: Int) -> String {
        point(i).map { "\($0.name)=\($0.value)" }.joined(separator: " ")
    }

    /// Sets parameter `name` of `p` from its flag text.
    public static func apply(_ name: String, _ value: String, to p: inout ForestParameters) throws {
        func int(_ range: ClosedRange<Int>) throws -> Int {
            guard let v = Int(value), range.contains(v) else {
                throw ForestError(
                    .invalidParameter, "grid: \(name)=\(value) is not an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        switch name {
        case "trees": p.trees = try int(1...ForestParameters.maxTrees)
        case "max-depth": p.maxDepth = value.lowercased() == "none" ? nil : try int(1...10_000)
        case "min-samples-split": p.minSamplesSplit = try int(2...Int(UInt32.max))
        case "min-samples-leaf": p.minSamplesLeaf = try int(1...Int(UInt32.max))
        case "min-category-rows": p.minCategoryRows = try int(1...Int(UInt32.max))
        case "max-features":
            guard let m = MaxFeatures(parsing: value) else {
                throw ForestError(
                    .invalidParameter, "grid: max-features=\(value) is not auto, sqrt, log2, all, a fraction in (0, 1] or a count")
            }
            p.maxFeatures = m
        case "criterion":
            guard let c = SplitCriterion(rawValue: value.lowercased()) else {
                throw ForestError(.invalidParameter, "grid: criterion=\(value) is not gini or entropy")
            }
            p.criterion = c
        case "class-weight":
            guard let c = ClassWeighting(rawValue: value.lowercased()) else {
                throw ForestError(.invalidParameter, "grid: class-weight=\(value) is not none or balanced")
            }
            p.classWeighting = c
        case "bootstrap":
            switch value.lowercased() {
            case "true", "yes", "1": p.bootstrap = true
            case "false", "no", "0": p.bootstrap = false
            default: throw ForestError(.invalidParameter, "grid: bootstrap=\(value) is not true or false")
            }
        default:
            throw ForestError(.invalidParameter, "grid: unknown parameter '\(name)'")
        }
    }
}
