import ArgumentParser
import Forest

/// The `spacetime` command-line tool: one executable for every role
/// (single-process training, coordinator, worker, local harness, utilities).
struct SpaceTimeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spacetime",
        abstract: "Train random forests on tabular data larger than memory, on one machine or many.",
        version: SpaceTimeVersion.string,
        subcommands: [
            // Data utilities (SpaceTime core).
            StatsCommand.self,
            SortCommand.self,
            SampleCommand.self,
            // Single-process forest (Forest).
            GenerateCommand.self,
            TrainCommand.self,
            CVCommand.self,
            PredictCommand.self,
            EvaluateCommand.self,
            InspectCommand.self,
            TransformCommand.self,
            ExportCommand.self,
            KeygenCommand.self,
            // Distributed training (Cluster).
            CoordinatorCommand.self,
            WorkerCommand.self,
            LocalCommand.self,
            StatusCommand.self,
            ReportCommand.self
                // Diagnostics.
        ]
    )
}

/// Entry point of a `spacetime` executable: parses `CommandLine.arguments` and runs the command.
///
/// Another package builds its own `spacetime` with its feature derivations registered
/// (Examples/DerivedFeatures, docs/extending.md): `train`, `local` and `coordinator` take
/// `--derivation NAME`, its workers (the same executable) apply it, and `predict`,
/// `evaluate` and `transform` apply the one a model records.
public enum SpaceTimeTool {
    /// Runs the tool with `derivations` registered and exits the process with the command's status.
    public static func main(derivations: FeatureDerivationRegistry = FeatureDerivationRegistry()) async {
        RegisteredDerivations.registry = derivations
        await SpaceTimeCommand.main()
    }
}

/// The tool's version, printed by `spacetime --version`.
enum SpaceTimeVersion {
    static let string = "0.1.0"
}
