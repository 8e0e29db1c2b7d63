import ArgumentParser
import Cluster
import Foundation
import Logging
import SpaceTime
import ZeroMQ

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Join a coordinator and run its extraction, training and evaluation tasks under a memory limit.",
        discussion: """
            Registers with the coordinator, heartbeats, runs tasks, sends statistics and every finished \
            tree as checkpoints, keeps the partitions it extracted in its spill directory, refuses tasks \
            that cannot fit its memory limit, reconnects with backoff when the coordinator goes away, \
            and exits cleanly on shutdown or SIGTERM.
            """
    )

    @Option(help: "Coordinator endpoint, e.g. tcp://10.0.0.1:5555.") var connect: String
    @Option(
        name: .customLong("memory-limit"),
        help: "This worker's memory limit, at least 16MiB (e.g. 512MiB); tasks are sized and refused against it.") var memoryLimit: String
    @Option(name: .customLong("spill-dir"), help: "Parent directory for spill files (default: $TMPDIR or /tmp).") var spillDir: String?
    @Option(parsing: .unconditional, help: "Threads for training and scoring, 1...1024.") var threads = min(
        ProcessInfo.processInfo.activeProcessorCount, OptionRange.maxThreads)
    @Option(name: .customLong("worker-id"), help: "Worker id (default: host-pid).") var workerID: String?
    @Option(name: .customLong("curve-secret"), help: "This worker's CURVE secret key file.") var curveSecret: String?
    @Option(name: .customLong("coordinator-key"), help: "The coordinator's CURVE public key file.") var coordinatorKey: String?
    @Option(
        name: .customLong("coordinator-timeout"),
        help:
            "Seconds of coordinator silence before abandoning running tasks and reconnecting (default: the coordinator's heartbeat × liveness; never shorter)."
    )
    var coordinatorTimeout: Double?
    @Option(name: .customLong("launcher-pid"), help: .hidden) var launcherPID: Int32?
    @Option(name: .customLong("launcher-cgroup"), help: .hidden) var launcherCgroup: String?

    func validate() throws {
        try OptionRange.workerMemory(memoryLimit, "--memory-limit")
        try OptionRange.check(threads, 1...OptionRange.maxThreads, "--threads")
    }

    func run() async throws {
        let limit = try parseMemory(memoryLimit, "--memory-limit")
        let id = workerID ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let logger = Logger.standardError(id)
        // Started by `local` or `predict --workers`: end with the launcher, and when it is gone (or
        // going), remove the memory cgroup it made for this worker (no one else would). The kernel's
        // SIGTERM for a killed launcher (PR_SET_PDEATHSIG) comes when the thread that started this
        // worker dies, possibly before the launcher's last thread: its pid may still be the parent's
        // here. So a worker ended by SIGTERM leaves too; a launcher that is alive and stopping its
        // workers then finds the group gone.
        var endedBySignal = false
        defer {
            if let launcherCgroup, let launcherPID, ParentProcess.current != launcherPID || endedBySignal,
                !MemoryCgroup.leave(launcherCgroup)
            {
                logger.warning("the launcher is gone and its memory cgroup \(launcherCgroup) could not be removed (errno \(errno))")
            }
        }
        if let launcherPID {
            let alive: Bool
            do { alive = try ParentProcess.endWithParent(launcherPID) } catch {
                throw ValidationError("--launcher-pid \(launcherPID): \(error)")
            }
            guard alive else {
                logger.error("exiting: the launcher (pid \(launcherPID)) is gone")
                throw ExitCode(1)
            }
        }
        var configuration = WorkerProcess.Configuration(
            endpoint: connect, workerID: id, memoryLimit: UInt64(limit.bytes),
            threads: threads, spillBase: spillDir ?? SpillDirectory.defaultBase)
        configuration.derivations = RegisteredDerivations.registry
        if let coordinatorTimeout {
            guard coordinatorTimeout > 0 && coordinatorTimeout <= 86_400 else {
                throw ValidationError("--coordinator-timeout must be in (0, 86400] seconds, got \(coordinatorTimeout)")
            }
            configuration.coordinatorTimeout = coordinatorTimeout
        }
        switch (curveSecret, coordinatorKey) {
        case (let secret?, let key?):
            do {
                configuration.curve = (try CurveKeyFiles.loadKeyPair(secretKeyAt: secret), try CurveKeyFiles.loadPublicKey(at: key))
            } catch {
                throw ValidationError("\(error)")
            }
        case (nil, nil):
            if !isLocalEndpoint(connect) {
                logger.warning("WARNING: no CURVE keys: talking to \(connect) in clear text")
            }
        default:
            throw ValidationError("--curve-secret and --coordinator-key go together")
        }
        // SIGTERM and SIGINT: goodbye to the coordinator, spill directory removed, exit 0.
        let prepared = configuration
        let (message, failure) = try await Lifecycle.run("worker", signals: [.sigterm, .sigint]) { shutdown in
            let stop = WorkerProcess.StopRequest()
            shutdown.onShutdown { signal in stop.stop(reason: WorkerProcess.signalName(signal)) }
            return try WorkerProcess.run(prepared, stop: stop, logger: logger)
        }
        endedBySignal = WorkerProcess.endedBySignal(message)
        logger.log(level: failure ? .error : .info, "exiting: \(message)")
        if failure { throw ExitCode(1) }
    }
}
