import ArgumentParser
import Cluster
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job's stage, tasks, workers, checkpoints and stage timings from its job directory.",
        discussion: """
            Reads JOBDIR/job.sqlite without writing anything: it works while the coordinator runs, after it \
            ended, on a read-only mount and on a job directory owned by another user (read access is enough).
            """
    )

    @Argument(help: "The job directory (--job-dir of the coordinator).") var jobDir: String
    @Flag(help: "Machine-readable JSON.") var json = false

    func run() throws {
        let path = (jobDir as NSString).appendingPathComponent("job.sqlite")
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(jobDir): no job store (job.sqlite) in this directory")
        }
        let store = try JobStore(readOnlyPath: path)
        let status = try JobStatus.load(from: store)
        try Output.print(json ? try status.json() : status.render(now: Date().timeIntervalSince1970))
    }
}
