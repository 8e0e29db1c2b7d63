/// The mergeable summary of a partition's target, per learning task: the rows per class
/// label (classification) or the target's moments (regression).
public enum TargetSummary: Sendable, Equatable {
    case classCounts([String: UInt64])
    case moments(FeatureStatistics)

    public init(task: TaskKind) {
        self = task == .classification ? .classCounts([:]) : .moments(FeatureStatistics())
    }

    public var task: TaskKind {
        if case .classCounts = self { return .classification }
        return .regression
    }

    public var rowCount: UInt64 {
        switch self {
        case .classCounts(let c): c.values.reduce(0, +)
        case .moments(let m): m.count
        }
    }

    public mutating func add(label: String) {
        guard case .classCounts(var c) = self else { preconditionFailure("class label added to a regression summary") }
        self = .moments(FeatureStatistics())  // release the dictionary's storage before mutating it
        c[label, default: 0] += 1
        self = .classCounts(c)
    }

    public mutating func add(value: Double) {
        guard case .moments(var m) = self else { preconditionFailure("target value added to a classification summary") }
        m.add(value)
        self = .moments(m)
    }

    public mutating func merge(_ other: TargetSummary) throws {
        switch (self, other) {
        case (.classCounts(var a), .classCounts(let b)):
            for (k, v) in b { a[k, default: 0] += v }
            self = .classCounts(a)
        case (.moments(var a), .moments(let b)):
            a.merge(b)
            self = .moments(a)
        default:
            throw ForestError(.incompatible, "cannot merge a classification summary with a regression summary")
        }
    }

    func write(to w: inout ByteWriter) {
        switch self {
        case .classCounts(let c):
            w.write(UInt8(0))
            let labels = c.keys.sorted()
            w.write(strings: labels)
            for l in labels { w.write(c[l]!) }
        case .moments(let m):
            w.write(UInt8(1))
            m.write(to: &w)
        }
    }

    static func read(from r: inout ByteReader) throws -> TargetSummary {
        switch try r.readByte() {
        case 0:
            let labels = try r.readStrings()
            var c: [String: UInt64] = [:]
            for l in labels { c[l] = try r.read(UInt64.self) }
            return .classCounts(c)
        case 1:
            return .moments(try FeatureStatistics.read(from: &r))
        default:
            throw ForestError(.corrupted, "\(r.context): unknown target summary")
        }
    }
}

/// The fitted learning task a model predicts: its classes, or a number.
public enum LearningTask: Sendable, Equatable {
    /// Class labels in model order, with the training rows per class.
    case classification(classes: [String], counts: [UInt64])
    /// The training target's moments.
    case regression(FeatureStatistics)

    public var kind: TaskKind {
        if case .classification = self { return .classification }
        return .regression
    }

    /// Values per prediction: the class count, or 1.
    public var outputWidth: Int {
        if case .classification(let classes, _) = self { return classes.count }
        return 1
    }

    /// Class labels (empty for regression).
    public var classes: [String] {
        if case .classification(let classes, _) = self { return classes }
        return []
    }

    /// Fits the task from the merged target summary.
    static func fit(_ summary: TargetSummary) throws -> LearningTask {
        switch summary {
        case .classCounts(let counts):
            let classes = sortLabels(Array(counts.keys))
            guard classes.count >= 2 else {
                throw ForestError(
                    .invalidData, "training data has \(classes.count) class (\(classes.joined(separator: ", "))); need at least 2")
            }
            guard classes.count <= maxClasses else {
                throw ForestError(
                    .invalidData,
                    "training data has \(classes.count) distinct labels; at most \(maxClasses) classes are supported (use --task regression for a numeric target)"
                )
            }
            return .classification(classes: classes, counts: classes.map { counts[$0]! })
        case .moments(let m):
            guard m.count > 0 else { throw ForestError(.invalidData, "no training rows") }
            return .regression(m)
        }
    }

    /// The most classes a classification model may have.
    public static let maxClasses = 65_535

    /// Numeric order when every label parses as a number, otherwise lexicographic.
    public static func sortLabels(_ labels: [String]) -> [String] {
        let numbers = labels.map { Double($0) }
        if numbers.allSatisfy({ $0 != nil && !$0!.isNaN }) {
            return zip(labels, numbers).sorted { ($0.1!, $0.0) < ($1.1!, $1.0) }.map(\.0)
        }
        return labels.sorted()
    }

    func write(to w: inout ByteWriter) {
        switch self {
        case .classification(let classes, let counts):
            w.write(UInt8(0))
            w.write(strings: classes)
            w.write(array: counts)
        case .regression(let m):
            w.write(UInt8(1))
            m.write(to: &w)
        }
    }

    static func read(from r: inout ByteReader) throws -> LearningTask {
        switch try r.readByte() {
        case 0:
            let classes = try r.readStrings()
            let counts = try r.readArray(UInt64.self)
            guard counts.count == classes.count, classes.count >= 2 else {
                throw ForestError(.corrupted, "\(r.context): class table is inconsistent")
            }
            return .classification(classes: classes, counts: counts)
        case 1:
            return .regression(try FeatureStatistics.read(from: &r))
        default:
            throw ForestError(.corrupted, "\(r.context): unknown learning task")
        }
    }
}
