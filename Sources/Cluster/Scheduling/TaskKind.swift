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

/// A task's name in logs and error messages, e.g. "train/p3".
public struct TaskName: Sendable, Hashable, CustomStringConvertible, Codable {
    public var kind: TaskKind
    public var partition: Int

    public init(_ kind: TaskKind, _ partition: Int) {
        self.kind = kind
        self.partition = partition
    }

    public var description: String { "\(kind.rawValue)/p\(partition)" }
}
