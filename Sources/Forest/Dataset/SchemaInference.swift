import Foundation
import SpaceTime

/// How the user asked the target to be learned.
public enum TaskChoice: String, Sendable, CaseIterable {
    case auto, classification, regression
}

/// The user's column choices for ``SchemaInference``.
public struct ColumnChoices: Sendable, Equatable {
    /// Target column name; nil = the last column.
    public var target: String?
    public var task: TaskChoice = .auto
    /// Columns to read as categorical even when every value is a number (zip codes, ids of groups).
    public var categorical: [String] = []
    /// Columns to drop (row ids, free text).
    public var ignore: [String] = []
    /// Records read to decide column types.
    public var sampleRows: Int = 20_000

    public init(target: String? = nil) { self.target = target }
}

/// Decides the ``DatasetSchema`` of a CSV file from a sample of its first records, as
/// H2O's parse setup does.
///
/// - A feature column is **categorical** when `--categorical` names it or when some
///   non-missing value in the sample is not a number; otherwise numeric. A numeric column
///   that holds a non-number after the sample is a located error that names the column
///   and the option to set (never a silent disagreement between partitions: the schema is
///   decided once and sent to every worker).
/// - `task = auto`: a target whose sampled values are all numbers is **regression** when
///   some value is not an integer or more than ``maxClassesForAuto`` distinct values
///   occur; otherwise **classification**. ``Inference/reason`` says which rule decided.
public enum SchemaInference {
    /// An integer-valued target with more distinct values than this is learned as regression under `auto`.
    public static let maxClassesForAuto = 20

    public struct Inference: Sendable {
        public var schema: DatasetSchema
        /// Why the task is what it is (printed by the commands).
        public var reason: String
        public var sampledRows: Int
    }

    /// Reads up to `choices.sampleRows` records of `path`.
    public static func infer(path: String, choices: ColumnChoices, options: CSVOptions = CSVOptions()) throws -> Inference {
        let reader: CSVReader
        do { reader = try CSVReader(path: path, options: options) } catch { throw ForestError(.io, error.description) }
        defer { reader.close() }
        let target = choices.target.flatMap { reader.header.firstIndex(of: $0) } ?? reader.header.count - 1
        var sample = ColumnSample(columns: reader.header.count, target: target)
        do {
            while sample.rows < choices.sampleRows, let record = try reader.next() {
                sample.add(record)
            }
        } catch {
            throw ForestError(.invalidData, error.description)
        }
        return try decide(header: reader.header, sample: sample, choices: choices, file: path)
    }

    /// What the sample showed per column.
    public struct ColumnSample: Sendable {
        public private(set) var rows = 0
        var numbers: [Int]
        var texts: [Int]
        var firstText: [String?]
        var nonInteger: [Bool]
        var distinct: [Set<Double>]
        /// The column whose integer-ness and distinct values are tracked (the target); -1 for none.
        let target: Int

        public init(columns: Int, target: Int = -1) {
            self.target = target
            numbers = Array(repeating: 0, count: columns)
            texts = Array(repeating: 0, count: columns)
            firstText = Array(repeating: nil, count: columns)
            nonInteger = Array(repeating: false, count: columns)
            distinct = Array(repeating: [], count: columns)
        }

        public mutating func add(_ record: CSVRecord) {
            rows += 1
            for c in 0..<min(record.count, numbers.count) {
                // A column that holds text is categorical already: no need to parse it again.
                if texts[c] > 0 && c != target { continue }
                if record.isMissing(at: c) { continue }
                if let v = try? record.double(at: c) {
                    numbers[c] += 1
                    if c == target {
                        if v.rounded() != v { nonInteger[c] = true }
                        if distinct[c].count <= SchemaInference.maxClassesForAuto { distinct[c].insert(v) }
                    }
                } else {
                    texts[c] += 1
                    if firstText[c] == nil { firstText[c] = String(record.string(at: c).prefix(40)) }
                }
            }
        }
    }

    public static func decide(header: [String], sample: ColumnSample, choices: ColumnChoices, file: String) throws -> Inference {
        try checkNames(header, file: file)
        let targetIndex: Int
        if let name = choices.target {
            guard let i = header.firstIndex(of: name) else {
                throw ForestError(
                    .invalidData,
                    "\(file): no label column named \(quoteForMessage(name)) (columns: \(header.prefix(8).map { quoteForMessage($0) }.joined(separator: ", "))\(header.count > 8 ? ", …" : ""))"
                )
            }
            targetIndex = i
        } else {
            guard header.count >= 2 else {
                throw ForestError(
                    .invalidData, "\(file): need at least one feature column and a label column, found \(header.count) column(s)")
            }
            targetIndex = header.count - 1
        }
        for name in choices.categorical + choices.ignore where !header.contains(name) {
            throw ForestError(.invalidParameter, "\(file): no column named \(quoteForMessage(name)) (given to --categorical or --ignore)")
        }
        if choices.ignore.contains(header[targetIndex]) {
            throw ForestError(.invalidParameter, "\(file): the label column '\(header[targetIndex])' cannot be ignored")
        }
        let t = targetIndex
        let targetName = header[t]
        let task: TaskKind
        let reason: String
        switch choices.task {
        case .classification:
            task = .classification
            reason = "--task classification"
        case .regression:
            guard sample.texts[t] == 0 else {
                throw ForestError(
                    .invalidData,
                    "\(file): --task regression needs a numeric label column, but '\(targetName)' holds '\(sample.firstText[t] ?? "")'")
            }
            task = .regression
            reason = "--task regression"
        case .auto:
            if sample.texts[t] > 0 || sample.numbers[t] == 0 {
                task = .classification
                reason = "label '\(targetName)' holds text (e.g. '\(sample.firstText[t] ?? "")')"
            } else if sample.nonInteger[t] {
                task = .regression
                reason = "label '\(targetName)' holds non-integer numbers"
            } else if sample.distinct[t].count > maxClassesForAuto {
                task = .regression
                reason = "label '\(targetName)' holds more than \(maxClassesForAuto) distinct integers"
            } else {
                task = .classification
                reason =
                    "label '\(targetName)' holds \(sample.distinct[t].count) distinct integers (≤ \(maxClassesForAuto)); use --task regression to predict it as a number"
            }
        }
        var indices: [Int] = []
        var kinds: [ColumnKind] = []
        for c in header.indices where c != t && !choices.ignore.contains(header[c]) {
            indices.append(c)
            kinds.append(choices.categorical.contains(header[c]) || sample.texts[c] > 0 ? .categorical : .numeric)
        }
        guard !indices.isEmpty else { throw ForestError(.invalidData, "\(file): no feature columns left (all ignored)") }
        let schema = DatasetSchema(header: header, targetIndex: t, task: task, featureIndices: indices, featureKinds: kinds)
        return Inference(schema: schema, reason: reason, sampledRows: sample.rows)
    }

    /// Column names must be unique and non-empty: a model reads columns by name.
    public static func checkNames(_ header: [String], file: String) throws {
        var seen: [String: Int] = [:]
        for (i, name) in header.enumerated() {
            if name.trimmingCharacters(in: .whitespaces).isEmpty {
                throw ForestError(.invalidData, "\(file): line 1, column \(i + 1): empty column name (every column needs a unique name)")
            }
            if let j = seen[name] {
                throw ForestError(
                    .invalidData,
                    "\(file): line 1: columns \(j + 1) and \(i + 1) are both named \(quoteForMessage(name)) (column names must be unique)")
            }
            seen[name] = i
        }
    }
}
