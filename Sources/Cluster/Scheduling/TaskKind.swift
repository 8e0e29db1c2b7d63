/// The kinds of work a job is made of, in stage order.
public enum TaskKind: String, Sendable, Hashable, CaseIterable, Comparable, Codable {
    case extract
    case train
    case evaluate
    case predict

    public init?(wire: WireTaskKind) {
        switch wire {
        case .extract: self = .extract
        case .train: self = .train
        case .evaluate: self = .evaluate
        case .predict: self = .predict
        default: return nil
        }
    }

    public var wire: WireTaskKind {
        switch self {
        case .extract: .extract
        case .train: .train
        case .evaluate: .evaluate
        case .predict: .predict
        }
    }

    private var order: Int {
        switch self {
        case .extract: 0
        case .train: 1
        case .evaluate: 2
        case .predict: 3
        }
    }

    public static func < (a: TaskKind, b: TaskKind) -> Bool { a.order < b.order }
}

/// A task's key and its name in logs and error messages: "train/p3" for a
/// whole partition's task, "train/p0.t50-100" for trees 50..<100 of partition 0
/// (half-open, as `TaskVariant.key` writes them).
public struct TaskName: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public var kind: TaskKind
    public var partition: Int
    public var variant: TaskVariant

    public init(_ kind: TaskKind, _ partition: Int, _ variant: TaskVariant = .whole) {
        self.kind = kind
        self.partition = partition
        self.variant = variant
    }

    public var description: String {
        variant == .whole ? "\(kind.rawValue)/p\(partition)" : "\(kind.rawValue)/p\(partition).\(variant.key)"
    }

    /// Stage order, then partition, then variant.
    public static func < (a: TaskName, b: TaskName) -> Bool {
        if a.kind != b.kind { return a.kind < b.kind }
        if a.partition != b.partition { return a.partition < b.partition }
        return a.variant < b.variant
    }

    private enum CodingKeys: String, CodingKey { case kind, partition, variant }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(TaskKind.self, forKey: .kind)
        partition = try c.decode(Int.self, forKey: .partition)
        variant = try c.decodeIfPresent(TaskVariant.self, forKey: .variant) ?? .whole
    }

    /// `variant` is written only when it is not `whole`, so whole-partition names encode as before.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(partition, forKey: .partition)
        if variant != .whole { try c.encode(variant, forKey: .variant) }
    }
}
