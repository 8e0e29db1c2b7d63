import Forest
import Foundation
import Locking
import Logging
import SpaceTime
import ZeroMQ

/// A whole worker process (`spacetime worker`): the DEALER client, the
/// Forest executor, a memory sampler feeding heartbeats (RSS and peak), and
/// a stop request (SIGTERM, from the command's service group) → goodbye and a
/// clean exit.
public enum WorkerProcess {
    /// Asks a running (or starting) ``run(_:stop:logger:)`` to leave: the worker says
    /// goodbye to the coordinator and `run` returns with the reason as its message.
    public final class StopRequest: Sendable {
        private struct State {
            var client: WorkerClient?
            var reason: String?
        }
        private let state = Locked(State())

        public init() {}

        /// Makes the worker leave with `reason` (its exit message); the first reason counts.
        /// Before the worker is connected, it leaves as soon as it is.
        public func stop(reason: String) {
            let client = state.withLock { s -> WorkerClient? in
                guard s.reason == nil else { return nil }
                s.reason = reason
                return s.client
            }
            client?.post(.finish(reason: reason))
        }

        fileprivate func attach(_ client: WorkerClient) {
            let reason = state.withLock { s -> String? in
                s.client = client
                return s.reason
            }
            if let reason { client.post(.finish(reason: reason)) }
        }
    }

    public struct Configuration: Sendable {
        public var endpoint: String
        public var workerID: String
        public var memoryLimit: UInt64
        public var threads: Int
        public var spillBase: String
        public var curve: (keyPair: CurveKeyPair, coordinatorKey: CurvePublicKey)?
        /// Seconds between memory samples.
        public var sampleInterval: Double = 0.2
        /// A task waiting for its model or extractor fails (retryable) when no chunk arrives for this long.
        public var blobFetchTimeout: Duration = .seconds(30)
        /// Over its memory limit with no task running for this long, the worker leaves.
        public var idleOverLimitGrace: Duration = .seconds(3)
        /// See `WorkerEngine.Configuration.minimumCoordinatorSilence`.
        public var coordinatorTimeout: Double?
        /// The feature derivations this worker applies (a job naming another one is refused).
        public var derivations = FeatureDerivationRegistry()

        public init(endpoint: String, workerID: String, memoryLimit: UInt64, threads: Int, spillBase: String) {
            self.endpoint = endpoint
            self.workerID = workerID
            self.memoryLimit = memoryLimit
            self.threads = threads
            self.spillBase = spillBase
        }
    }

    /// Runs until the coordinator shuts the job down, rejects this worker, or
    /// `stop` is asked to (SIGTERM). Returns the exit message and whether it is a failure.
    public static func run(
        _ configuration: Configuration, stop: StopRequest = StopRequest(),
        logger: Logger
    ) throws -> (message: String, failure: Bool) {
        let logger = logger.with(.about(worker: configuration.workerID))
        var executorOptions = ForestTaskExecutor.Options(
            threads: configuration.threads, spillBase: configuration.spillBase,
            rowMemoryBytes: rowMemory(limit: configuration.memoryLimit), logger: logger)
        executorOptions.derivations = configuration.derivations
        let environment = ProcessInfo.processInfo.environment
        executorOptions.batchDelay = environment["SPACETIME_TEST_BATCH_DELAY_MS"].flatMap(Double.init).map { $0 / 1000 } ?? 0
        executorOptions.treeDelay = environment["SPACETIME_TEST_TREE_DELAY_MS"].flatMap(Double.init).map { $0 / 1000 } ?? 0
        executorOptions.evaluateDelay = environment["SPACETIME_TEST_EVALUATE_DELAY_MS"].flatMap(Double.init).map { $0 / 1000 } ?? 0
        executorOptions.trainBallastBytes = environment["SPACETIME_TEST_TRAIN_BALLAST_MB"].flatMap(Int.init).map { $0 << 20 } ?? 0
        let executor = try ForestTaskExecutor(options: executorOptions)
        let context = try Context()
        let identity = WorkerEngine.Identity(
            workerID: configuration.workerID, host: ProcessInfo.processInfo.hostName,
            pid: UInt32(ProcessInfo.processInfo.processIdentifier),
            cores: UInt32(configuration.threads), memoryLimit: configuration.memoryLimit,
            softwareVersion: "spacetime")
        var options = WorkerClient.Options()
        options.curve = configuration.curve
        options.engine.minimumCoordinatorSilence = configuration.coordinatorTimeout
        let client = try WorkerClient(
            context: context, connect: configuration.endpoint, identity: identity, options: options,
            handler: { executor.handle($0) })
        executor.attach(client)
        logger.info(
            "worker \(configuration.workerID) (pid \(identity.pid)) connecting to \(configuration.endpoint), limit \(ByteCount(configuration.memoryLimit)), \(configuration.threads) thread(s), spill \(executor.spillPath)"
        )

        // The connection loop's end (shutdown, reject, a stop) wakes the sampling loop at once.
        let ended = DispatchSemaphore(value: 0)
        client.whenFinished { ended.signal() }
        stop.attach(client)

        var overWhileIdle: ContinuousClock.Instant?
        repeat {
            let event = executor.sampleMemory()
            client.post(event)
            for failure in executor.expireStalledFetches(after: configuration.blobFetchTimeout) { client.post(failure) }
            // Self-limiting (where no cgroup enforces the limit): over it, fail the running
            // tasks with the reason (retryable: the coordinator's retry bound applies) and give
            // the memory back; leave only when still over it with nothing running for
            // `idleOverLimitGrace` (this worker cannot run anything within its limit).
            if case .memory(let rss, _) = event, rss > configuration.memoryLimit {
                let message =
                    "worker \(configuration.workerID) exceeded its \(ByteCount(configuration.memoryLimit)) memory limit (RSS \(ByteCount(rss)))"
                let failures = executor.abandonAll(message)
                if !failures.isEmpty {
                    logger.error("\(message): failing its \(failures.count) running task(s)")
                    for failure in failures { client.post(failure) }
                    overWhileIdle = nil
                } else if let since = overWhileIdle {
                    if since.duration(to: .now) >= configuration.idleOverLimitGrace {
                        let idle = "\(message) with no task running: the limit is below what the worker itself needs; raise --memory-limit"
                        logger.error("\(idle)")
                        try? client.stop(reason: idle)
                        return (idle, true)
                    }
                } else {
                    overWhileIdle = .now
                }
                MemoryMonitor.returnFreeMemoryToOS()
            } else {
                overWhileIdle = nil
            }
            // Wait for the next sample, or for the end of the connection loop (shutdown,
            // reject, a stop), which ends the wait at once.
        } while ended.wait(timeout: .now() + configuration.sampleInterval) == .timedOut
        return executor.exitMessage ?? ("connection loop ended", true)
    }

    /// The exit message of a worker that left on `signal` (SIGTERM or SIGINT): the reason to
    /// give ``StopRequest/stop(reason:)`` for it.
    public static func signalName(_ signal: Int32) -> String { signal == SIGTERM ? "SIGTERM" : "SIGINT" }

    /// Whether `message` (from ``run(_:stop:logger:)``) says the worker left on SIGTERM or SIGINT.
    public static func endedBySignal(_ message: String) -> Bool {
        message == signalName(SIGTERM) || message == signalName(SIGINT)
    }

    /// Bytes a partition's parsed rows keep in memory before spilling: a
    /// sixteenth of the limit, between 1 and 64 MiB.
    static func rowMemory(limit: UInt64) -> Int {
        Int(min(64 << 20, max(1 << 20, limit / 16)))
    }
}
