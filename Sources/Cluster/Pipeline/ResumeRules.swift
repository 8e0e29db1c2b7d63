import Forest
import Foundation
import SpaceTime

/// What `--resume` does with the command line (pure; `CoordinatorJob` applies it).
///
/// * **Model flags** — the data, the held-out rows and everything that decides the
///   trees: `--trees`, `--seed`, `--max-depth`, `--min-samples-split`,
///   `--min-samples-leaf`, `--max-features`, `--criterion`, `--class-weight`,
///   `--no-bootstrap`, `--min-category-rows`, `--max-bins`, `--partitions`,
///   `--test-fraction`, `--test-file`, `--label`, `--task`, `--categorical`,
///   `--ignore`. A resumed job keeps the values it was created with (its
///   checkpointed trees were grown with them). One given on the command line
///   with another value is refused, each one named with both values; one left
///   out is not compared.
/// * **Operational flags** are taken: memory limits, `--max-attempts`, the number
///   of workers, threads, liveness and checkpoint intervals, `--model-out`,
///   `--report-json`, `--progress`, keys.
public enum ResumeRules {
    /// A model flag given with another value than the job's.
    public struct Conflict: Sendable, Hashable, CustomStringConvertible {
        /// The flag, e.g. `--trees`.
        public var flag: String
        public var given: String
        public var job: String

        public var description: String { "\(flag) \(given) (the job's: \(job))" }
    }

    /// The flags whose value `--resume` cannot change (without the `--`).
    public static let modelFlags: Set<String> = [
        "trees", "seed", "max-depth", "min-samples-split", "min-samples-leaf", "max-features", "criterion",
        "class-weight", "no-bootstrap", "min-category-rows", "max-bins", "partitions", "test-fraction", "test-file",
        "label", "task", "categorical", "ignore"
    ]

    /// The long option names present in `arguments` (a command line without the
    /// tool and subcommand names is fine too): `--trees 6` and `--trees=6` both give
    /// `trees`. Scanning stops at `--`.
    public static func givenFlags(_ arguments: [String]) -> Set<String> {
        var given: Set<String> = []
        for argument in arguments {
            if argument == "--" { break }
            guard argument.hasPrefix("--"), argument.count > 2 else { continue }
            given.insert(String(argument.dropFirst(2).prefix { $0 != "=" }))
        }
        return given
    }

    /// The model flags of the command line that differ from the job's.
    /// `given` is nil when every flag counts as given (a library caller).
    ///
    /// - Parameters:
    ///   - stored: the job's parameters; `spec` its spec (trees, partitions, test fraction).
    ///   - hasTestFile: whether the job holds out a test file (then the test fraction is not compared).
    ///   - grid: the `cv --grid` text ("" for none), compared with the job's.
    static func conflicts(
        stored: ForestJobParameters, spec: JobSpec, hasTestFile: Bool,
        forest: ForestParameters, maxBins: Int, partitions: Int?, testFraction: Double,
        columns: ColumnChoices, grid: String = "", given: Set<String>?
    ) -> [Conflict] {
        func isGiven(_ flag: String) -> Bool { given?.contains(flag) ?? true }
        var out: [Conflict] = []
        func compare(_ flag: String, _ mine: String, _ job: String) {
            if isGiven(flag) && mine != job { out.append(Conflict(flag: "--\(flag)", given: mine, job: job)) }
        }
        let f = stored.forest
        compare("trees", "\(forest.trees)", "\(spec.trees)")
        compare("seed", "\(forest.seed)", "\(f.seed)")
        compare("max-depth", forest.maxDepth.map(String.init) ?? "unlimited", f.maxDepth.map(String.init) ?? "unlimited")
        compare("min-samples-split", "\(forest.minSamplesSplit)", "\(f.minSamplesSplit)")
        compare("min-samples-leaf", "\(forest.minSamplesLeaf)", "\(f.minSamplesLeaf)")
        compare("max-features", forest.maxFeatures.description, f.maxFeatures.description)
        compare("criterion", forest.criterion.rawValue, f.criterion.rawValue)
        compare("class-weight", forest.classWeighting.rawValue, f.classWeighting.rawValue)
        if isGiven("no-bootstrap") && forest.bootstrap != f.bootstrap {
            out.append(
                Conflict(
                    flag: forest.bootstrap ? "(no --no-bootstrap)" : "--no-bootstrap",
                    given: forest.bootstrap ? "bootstrap" : "no bootstrap", job: f.bootstrap ? "bootstrap" : "no bootstrap"))
        }
        compare("min-category-rows", "\(forest.minCategoryRows)", "\(f.minCategoryRows)")
        compare("max-bins", "\(maxBins)", "\(stored.maxBins)")
        compare("grid", grid.isEmpty ? "none" : grid, stored.grid.isEmpty ? "none" : stored.grid)
        if let partitions { compare("partitions", "\(partitions)", "\(spec.partitions)") }
        if !hasTestFile { compare("test-fraction", "\(testFraction)", "\(spec.testFraction)") }
        // Column choices are compared with what the job decided from them (its schema).
        let schema = stored.schema
        if let label = columns.target, isGiven("label"), label != schema.targetName {
            out.append(
                Conflict(flag: "--label", given: quoteForMessage(label), job: schema.targetName.map { quoteForMessage($0) } ?? "none"))
        }
        if isGiven("task"), columns.task != .auto, columns.task.rawValue != schema.task.rawValue {
            out.append(Conflict(flag: "--task", given: columns.task.rawValue, job: schema.task.rawValue))
        }
        if isGiven("categorical") {
            let categorical = Set(zip(schema.featureNames, schema.featureKinds).filter { $0.1 == .categorical }.map(\.0))
            let other = columns.categorical.filter { !categorical.contains($0) }
            if !other.isEmpty {
                out.append(
                    Conflict(
                        flag: "--categorical", given: other.map { quoteForMessage($0) }.joined(separator: ","),
                        job: "not categorical in the job"))
            }
        }
        if isGiven("ignore") {
            let ignored = Set(schema.ignoredNames)
            let other = columns.ignore.filter { !ignored.contains($0) }
            if !other.isEmpty {
                out.append(
                    Conflict(
                        flag: "--ignore", given: other.map { quoteForMessage($0) }.joined(separator: ","),
                        job: "read by the job"))
            }
        }
        return out
    }

    /// The refusal for `conflicts` on job `jobID`.
    static func refusal(jobID: String, conflicts: [Conflict]) -> String {
        "--resume: job \(jobID) was created with other model parameters, and its checkpointed trees were grown with them; refused: \(conflicts.map(\.description).joined(separator: ", ")). Resume without these flags (the job keeps its own values) or start a new job in another --job-dir"
    }
}
