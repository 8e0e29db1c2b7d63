/// Which part of a (kind, partition) a task covers: the third part of a task's
/// key. A job's tasks are unique on (kind, partition, variant).
///
/// `whole` is the partition's entire work, as every task was before variants
/// existed (stored as the empty key, so older stores read as `whole`).
/// `trees(r)` is the tree indices `r` (half-open, global within the
/// partition) of a train task whose partition's trees were split over several
/// workers. `fold(k, trees: r, point: g)` is a cross-validation task of the forest of
/// parameter point `g` (0-based; 0 without a grid) that holds out fold `k` (0-based): a
/// train task grows the partition's trees `r` of that forest (each (point, fold) forest has
/// its own block of the partition's tree indices, ``FoldTreeLayout``), an evaluate task
/// scores fold `k`'s rows with it.
public enum TaskVariant: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    case whole
    case trees(Range<Int>)
    case fold(Int, trees: Range<Int>, point: Int = 0)

    /// The tree range of a `trees` or `fold` variant.
    public var treeRange: Range<Int>? {
        switch self {
        case .whole: nil
        case .trees(let r), .fold(_, let r, _): r
        }
    }

    /// The held-out fold (0-based) of a `fold` variant.
    public var fold: Int? {
        if case .fold(let k, _, _) = self { return k }
        return nil
    }

    /// The parameter point (0-based) of a `fold` variant.
    public var point: Int? {
        if case .fold(_, _, let g) = self { return g }
        return nil
    }

    /// Whether a task of `kind` with this variant is offered at once to a worker that does not
    /// hold its partition's rows when the holder is busy (its rows streamed again), rather than
    /// after the locality wait: train tasks over tree ranges, which exist to spread a
    /// partition's trees over workers, and tree-sliced evaluation.
    public func spreadsOverWorkers(_ kind: TaskKind) -> Bool {
        switch self {
        case .whole: false
        case .trees: true
        case .fold: kind == .train
        }
    }

    /// The variant's text in the job store and in task names: "" for `whole`,
    /// "t50-100" for trees 50..<100, "f2.t50-100" for fold 2 (1-based, as `cv` numbers
    /// folds) and trees 50..<100, "g3.f2.t50-100" for that of grid point 3 (1-based; the
    /// first point's variants carry no "g" part, as a job without a grid).
    public var key: String {
        switch self {
        case .whole: ""
        case .trees(let r): Self.rangeKey(r)
        case .fold(let k, let r, let g): (g == 0 ? "" : "g\(g + 1).") + "f\(k + 1).\(Self.rangeKey(r))"
        }
    }

    private static func rangeKey(_ r: Range<Int>) -> String { "t\(r.lowerBound)-\(r.upperBound)" }

    private static func range(key: Substring) -> Range<Int>? {
        guard key.first == "t" else { return nil }
        let bounds = key.dropFirst().split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let lower = Int(bounds[0]), let upper = Int(bounds[1]), lower >= 0, lower < upper,
            String(lower) == bounds[0], String(upper) == bounds[1]
        else { return nil }
        return lower..<upper
    }

    /// Parses `key`; nil when it is not a variant this version knows.
    public init?(key: String) {
        if key.isEmpty {
            self = .whole
            return
        }
        if key.first == "f" || key.first == "g" {
            var rest = key[...]
            var point = 0
            if rest.first == "g" {
                let parts = rest.dropFirst().split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, let g = Self.ordinal(parts[0]), g >= 2 else { return nil }
                point = g - 1
                rest = parts[1]
            }
            guard rest.first == "f" else { return nil }
            let parts = rest.dropFirst().split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let k = Self.ordinal(parts[0]), let r = Self.range(key: parts[1]) else { return nil }
            self = .fold(k - 1, trees: r, point: point)
            return
        }
        guard let r = Self.range(key: key[...]) else { return nil }
        self = .trees(r)
    }

    /// A 1-based number written without leading zeros.
    private static func ordinal(_ text: Substring) -> Int? {
        guard let n = Int(text), n >= 1, String(n) == text else { return nil }
        return n
    }

    public var description: String { self == .whole ? "whole" : key }

    /// `whole` first, then tree ranges by their first tree, then folds by point, fold and range.
    public static func < (a: TaskVariant, b: TaskVariant) -> Bool {
        switch (a, b) {
        case (.whole, .whole): false
        case (.whole, _): true
        case (_, .whole): false
        case (.trees(let x), .trees(let y)): (x.lowerBound, x.upperBound) < (y.lowerBound, y.upperBound)
        case (.trees, .fold): true
        case (.fold, .trees): false
        case (.fold(let i, let x, let g), .fold(let j, let y, let h)):
            (g, i, x.lowerBound, x.upperBound) < (h, j, y.lowerBound, y.upperBound)
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
        case .fold(let f):
            guard f.hasTrees, f.trees.first < f.trees.end else { return nil }
            self = .fold(Int(f.fold), trees: Int(f.trees.first)..<Int(f.trees.end), point: Int(f.point))
        }
    }

    /// The wire form; nil for `whole`, which is sent as an unset field (what older workers expect).
    public var wire: WireTaskVariant? {
        switch self {
        case .whole: return nil
        case .trees(let r):
            var v = WireTaskVariant()
            v.trees = Self.wireRange(r)
            return v
        case .fold(let k, let r, let g):
            var f = WireFoldTrees()
            f.fold = UInt32(clamping: k)
            f.point = UInt32(clamping: g)
            f.trees = Self.wireRange(r)
            var v = WireTaskVariant()
            v.fold = f
            return v
        }
    }

    private static func wireRange(_ r: Range<Int>) -> WireTreeRange {
        var range = WireTreeRange()
        range.first = UInt32(clamping: r.lowerBound)
        range.end = UInt32(clamping: r.upperBound)
        return range
    }
}

extension TaskVariant {
    /// Whether `variants`, one partition's train tasks, are as the job created them and so
    /// may be split: the one whole task, or one task per (point, fold) block of the
    /// partition's fold `layout` (nil in a training job).
    public static func areUnsplitTrainTasks(_ variants: [TaskVariant], layout: FoldTreeLayout?) -> Bool {
        if variants == [.whole] { return true }
        guard let layout else { return false }
        return !variants.isEmpty && variants == layout.variants
    }
}
