/// Which part of a (kind, partition) a task covers: the third part of a task's
/// key. A job's tasks are unique on (kind, partition, variant).
///
/// `whole` is the partition's entire work, as every task was before variants
/// existed (stored as the empty key, so older stores read as `whole`).
/// `trees(r)` is the tree indices `r` (half-open, global within the
/// partition) of a train task whose partition's trees were split over several
/// workers. Later kinds of variant (cross-validation folds, grid points,
/// tree slices for scoring) are added as cases with their own key prefix.
public enum TaskVariant: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    case whole
    case trees(Range<Int>)

    /// The tree range of a `trees` variant.
    public var treeRange: Range<Int>? {
        if case .trees(let r) = self { return r }
        return nil
    }

    /// The variant's text in the job store and in task names: "" for `whole`,
    /// "t50-100" for trees 50..<100.
    public var key: String {
        switch self {
        case .whole: ""
        case .trees(let r): "t\(r.lowerBound)-\(r.upperBound)"
        }
    }

    /// Parses `key`; nil when it is not a variant this version knows.
    public init?(key: String) {
        if key.isEmpty {
            self = .whole
            return
        }
        guard key.first == "t" else { return nil }
        let bounds = key.dropFirst().split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let lower = Int(bounds[0]), let upper = Int(bounds[1]), lower >= 0, lower < upper,
            String(lower) == bounds[0], String(upper) == bounds[1]
        else { return nil }
        self = .trees(lower..<upper)
    }

    public var description: String { self == .whole ? "whole" : key }

    /// `whole` first, then tree ranges by their first tree.
    public static func < (a: TaskVariant, b: TaskVariant) -> Bool {
        switch (a, b) {
        case (.whole, .whole): false
        case (.whole, _): true
        case (_, .whole): false
        case (.trees(let x), .trees(let y)): (x.lowerBound, x.upperBound) < (y.lowerBound, y.upperBound)
        }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let variant = TaskVariant(key: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown task variant \"\(text)\""))
        }
        self = variant
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(key)
    }
}

extension TaskVariant {
    /// The variant an assignment carries: `whole` when unset (a coordinator from
    /// before variants), nil when the wire value is not a valid variant.
    public init?(wire: WireTaskVariant?) {
        guard let wire, let value = wire.value else {
            self = .whole
            return
        }
        switch value {
        case .whole: self = .whole
        case .trees(let r):
            guard r.first < r.end else { return nil }
            self = .trees(Int(r.first)..<Int(r.end))
        }
    }

    /// The wire form; nil for `whole`, which is sent as an unset field (what older workers expect).
    public var wire: WireTaskVariant? {
        switch self {
        case .whole: return nil
        case .trees(let r):
            var range = WireTreeRange()
            range.first = UInt32(clamping: r.lowerBound)
            range.end = UInt32(clamping: r.upperBound)
            var v = WireTaskVariant()
            v.trees = range
            return v
        }
    }
}
