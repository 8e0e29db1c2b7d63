import ArgumentParser
import Cluster
import Foundation
import Logging
import SpaceTime
import ZeroMQ

/// The flags of a command that can cut its input into blocks and hand them to workers
/// (`predict`, `transform`): local `--workers N`, remote workers on `--bind`, the job
/// directory, CURVE and liveness; and the coordinator run that serves such a job.
struct BlockJobFlags: ParsableArguments {
    @Option(parsing: .unconditional, help: "Start this many local worker processes (0...256; 0 needs --bind) and shard the work over them.")
    var workers: Int?
    @Option(
        name: [.customLong("bind"), .customLong("connect")],
        help: "Serve this endpoint (e.g. tcp://0.0.0.0:5555) for workers started with 'spacetime worker --connect'; --connect is an alias.")
    var bind: String?
    @Option(
        name: .customLong("block-rows"), parsing: .unconditional,
        help: "With --workers/--bind: rows per block, at least 1 (default: planned from the data and --memory-limit).") var blockRows: Int?
    @Option(
        name: .customLong("job-dir"),
        help: "With --workers/--bind: job directory (store and parts; default: a temporary directory removed at the end).") var jobDir:
        String?
    @Option(name: .customLong("spill-dir"), help: "Parent directory for the local workers' spill files.") var spillDir: String?
    @Option(
        name: .customLong("wait-workers"), parsing: .unconditional,
        help: "With --bind: wait for this many workers, 0...256 (at most 10 s), before the first assignments.") var waitWorkers = 1
    @OptionGroup var security: CurveServerFlags
    @OptionGroup var liveness: LivenessFlags

    /// Whether the work runs over workers (`--workers` or `--bind`) rather than in this process.
    var overWorkers: Bool { workers != nil || bind != nil }

    /// Checks the flags; `memoryLimit` is the workers' limit (`--memory-limit`).
    func check(memoryLimit: String) throws {
        if let workers {
            try OptionRange.check(workers, 0...OptionRange.maxWorkers, "--workers")
            if workers == 0 && bind == nil { throw ValidationError("--workers 0 needs --bind for remote workers") }
        }
        if let blockRows { try OptionRange.atLeast(blockRows, 1, "--block-rows") }
        try OptionRange.check(waitWorkers, 0...OptionRange.maxWorkers, "--wait-workers")
        if overWorkers { try OptionRange.workerMemory(memoryLimit, "--memory-limit") }
    }

    /// The job directory: `--job-dir`, or a new temporary one (`temporary`: removed at the end).
    func jobDirectory(_ kind: String) -> (path: String, temporary: Bool) {
        if let jobDir { return (jobDir, false) }
        let name = "spacetime-\(kind)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
        return ((NSTemporaryDirectory() as NSString).appendingPathComponent(name), true)
    }

    /// Fills the options these flags decide (endpoint, blocks, liveness, CURVE, workers to wait for).
    func configure(
        _ options: inout PredictionJob.Options, limit: MemorySize, logger: Logger
    ) throws {
        let localWorkers = workers ?? 0
        options.bind = bind ?? "tcp://127.0.0.1:*"
        options.workerMemoryLimit = UInt64(limit.bytes)
        options.blockRows = blockRows
        options.engine.startupWorkers = max(1, localWorkers + (bind != nil ? max(0, waitWorkers - localWorkers) : 0))
        try liveness.apply(to: &options.engine)
        options.maxAttempts = liveness.maxAttempts
        options.curve = try security.curve(bind: options.bind, logger: logger)
        if localWorkers >= 1 && options.curve != nil {
            throw ValidationError(
                "--workers starts local workers without keys: use them with a loopback --bind, or start CURVE workers yourself")
        }
    }

    /// Serves `options`' job until it is done: starts the `--workers` local workers (each
    /// with `threads` threads, in a memory cgroup of `limit` where cgroups are writable),
    /// stops them on SIGINT/SIGTERM (the command then exits 128 + the signal, through
    /// `ExitCode`, so the caller's cleanup runs), and returns the finished job and its
    /// local workers, or throws the job's failure.
    func serve(
        _ options: PredictionJob.Options, limit: MemorySize, threads: Int, what: String,
        logger: Logger
    ) async throws -> (job: PredictionJob, workers: [LocalCluster.WorkerSlot]) {
        let localWorkers = workers ?? 0
        let remote = bind != nil
        let spillDir = self.spillDir
        let served = try await Lifecycle.run(what, signals: [.sigterm, .sigint]) { shutdown -> Served in
            let job = try PredictionJob(options: options, context: try Context(), logger: logger)
            logger.info("job directory \(options.jobDirectory); coordinator on \(job.endpoint)")
            let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
            let cluster = LocalCluster(executable: executable, memoryLimit: limit)
            shutdown.onShutdown { signal in
                logger.warning("\(Lifecycle.name(signal)): stopping the \(what)")
                cluster.stopAll(grace: 2)  // first: workers ending now must not fail the job
                try? job.stop()
            }
            if localWorkers >= 1 {
                for i in 1...localWorkers where shutdown.signal == nil {
                    let note = try cluster.startWorker(id: "w\(i)", endpoint: job.endpoint, threads: threads, spillDir: spillDir) {
                        id, signal, status in
                        let peak = cluster.workers.first { $0.id == id }?.cgroupPeak.map { UInt64(max(0, $0)) }
                        job.workerProcessEnded(workerID: id, signal: signal, status: status, peakMemory: peak)
                        if !remote { cluster.failJobIfEveryWorkerExited(expected: localWorkers, store: job.store, logger: logger) }
                    }
                    logger.info("started worker w\(i) (pid \(cluster.workers.last?.pid ?? 0)) \(note)")
                }
            }
            let outcome = try job.wait()
            if case .stopped = outcome { return .stopped(shutdown.signal ?? SIGTERM) }
            cluster.finish()
            if case .failed(let message) = outcome { throw PipelineError(.jobFailed, "\(what) failed: \(message)") }
            return .done(job, cluster.workers)
        }
        switch served {
        case .done(let job, let workers): return (job, workers)
        case .stopped(let signal): throw ExitCode(128 + signal)
        }
    }

    /// How ``serve(_:limit:threads:what:log:)``'s job ended.
    private enum Served: Sendable {
        case done(PredictionJob, [LocalCluster.WorkerSlot])
        case stopped(Int32)
    }
}

extension LocalCluster.WorkerSlot {
    /// "  worker w1 pid 123: exit 0, cgroup peak 4.5 MiB" for a command's summary.
    var summaryLine: String {
        "  worker \(id) pid \(pid): \(exit ?? "running")" + (cgroupPeak.map { ", cgroup peak \(ByteCount(UInt64($0)))" } ?? "") + "\n"
    }
}
