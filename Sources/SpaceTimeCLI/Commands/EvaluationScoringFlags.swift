import ArgumentParser
import Cluster

/// How a distributed job's evaluate tasks score the merged model; shared by `coordinator`
/// and `local`.
struct EvaluationScoringFlags: ParsableArguments {
    @Option(
        help:
            "How evaluate tasks score: auto (from the merged model's size and the workers' memory limit), whole (each loads the model) or sharded (each loads one tree slice; the coordinator adds the slices' sums). Same metrics either way."
    )
    var scoring: ScoringPlan.Choice = .auto
    @Option(parsing: .unconditional, help: "With --scoring sharded: slices of the forest, 2...4096 (default: as few as fit).") var slices:
        Int?

    func validate() throws {
        if let slices { try OptionRange.check(slices, 2...4096, "--slices") }
    }
}
