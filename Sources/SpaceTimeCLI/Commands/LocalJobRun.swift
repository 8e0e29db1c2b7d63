import ArgumentParser
import Cluster
import Foundation
import Logging
import SpaceTime
import ZeroMQ

/// One coordinator job on this host with `workers` local worker processes, each under
/// `memoryLimit`: the run shared by `local` and `cv --workers`; with `workers` 0 it only
/// coordinates, and workers join at the job's endpoint (`cv --bind`). Ctrl-C, SIGTERM and SIGHUP end
/// the workers with this process (their cgroups are removed), the job stays resumable and the
/// command exits 128 + the signal. A temporary job directory goes when the job ends, done or
/// failed; it is kept only when a signal interrupts the run, which names it for `--resume`.
struct LocalJobRun {
    /// The command's name for the lifecycle and messages ("local", "cv").
    var command: String
    var options: CoordinatorJob.Options
    var workers: Int
    var threads: Int
    var spillDir: String?
    var memoryLimit: MemorySize
    /// The job directory was made for this run (no `--job-dir`).
    var temporary: Bool
    var terminal: ProgressTerminal
    var logger: Logger

    /// Runs the job to its end and calls `report` with the job, the cluster and the outcome
    /// (not when a signal stopped it). A failed job throws `jobFailed` after `report`.
    func run(
        report: @escaping @Sendable (CoordinatorJob, LocalCluster, JobOutcome) throws -> Void
    ) async throws {
        let (prepared, workers, threads, spillDir, limit, temporary) = (
            options, self.workers, self.threads, self.spillDir, memoryLimit, self.temporary
        )
        let (terminal, logger) = (self.terminal, self.logger)
        let dir = options.jobDirectory
        let interrupted = try await Lifecycle.run(command, signals: [.sigterm, .sigint, .sighup]) { shutdown -> Int32? in
            var interrupted: Int32?
            defer {
                if temporary && interrupted == nil && FileManager.default.fileExists(atPath: dir) {
                    do { try FileManager.default.removeItem(atPath: dir) } catch {
                        logger.warning("could not remove the temporary job directory \(dir): \(error.localizedDescription)")
                    }
                }
            }
            let job = try CoordinatorJob(options: prepared, context: try Context(), logger: logger)
            logger.info("job directory \(dir); coordinator on \(job.endpoint)")
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let cluster = LocalCluster(executable: executable, memoryLimit: limit)
            shutdown.onShutdown { signal in
                logger.warning("\(Lifecycle.name(signal)): stopping the job and its workers; continue later with --resume --job-dir \(dir)")
                cluster.stopAll(grace: 3)  // first: workers ending now must not fail the job
                try? job.stop()
            }
            let outcome: JobOutcome
            do {
                for i in stride(from: 1, through: workers, by: 1) where shutdown.signal == nil {
                    // Behind a bar, the workers' log lines go through it (else they would land in the middle of it).
                    let output: (@Sendable (String) -> Void)? = terminal.mode == .bar ? { @Sendable line in terminal.log(line) } : nil
                    let note = try cluster.startWorker(
                        id: "w\(i)", endpoint: job.endpoint, threads: threads, spillDir: spillDir,
                        output: output
                    ) { id, signal, status in
                        let peak = cluster.workers.first { $0.id == id }?.cgroupPeak.map { UInt64(max(0, $0)) }
                        job.workerProcessEnded(workerID: id, signal: signal, status: status, peakMemory: peak)
                        // No worker left to run the rest: fail the job rather than wait forever.
                        cluster.failJobIfEveryWorkerExited(expected: workers, store: job.store, logger: logger)
                    }
                    let pid = cluster.workers.last?.pid ?? 0
                    logger.info("started worker w\(i) (pid \(pid)) \(note)")
                }
                outcome = try job.wait()
            } catch {
                // A failed launch or a fatal coordinator error: no worker may outlive this process.
                logger.error("stopping the workers: \(error)")
                cluster.stopAll(grace: 3)
                terminal.end()
                throw error
            }
            if case .stopped = outcome {
                terminal.end()
                interrupted = shutdown.signal ?? SIGTERM
                return interrupted
            }
            cluster.finish()
            if case .done = outcome { terminal.end(jobDone: true) } else { terminal.end() }
            try report(job, cluster, outcome)
            if case .failed(let message) = outcome {
                throw PipelineError(
                    .jobFailed,
                    "job failed: \(message)\(temporary ? " (its temporary job directory is removed: give --job-dir to keep a failed job for --resume)" : "")"
                )
            }
            return nil
        }
        if let interrupted { throw ExitCode(128 + interrupted) }
    }
}
