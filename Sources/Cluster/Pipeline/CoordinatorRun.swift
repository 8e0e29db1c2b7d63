import Foundation
import Locking
import Logging
import ZeroMQ

/// The shell a coordinator command runs one job in (training's `CoordinatorJob`,
/// prediction's `PredictionJob`): a `CoordinatorServer` serving workers with one
/// driver, the job's outcome, waiting for it, and stopping.
final class CoordinatorRun: Sendable {
    private let server: CoordinatorServer
    private let outcome = Locked<JobOutcome?>(nil)
    /// Whether ``stop(workersReconnect:)`` was called: the loop's end is then no failure.
    private let stopped = Locked(false)
    /// Signalled when the outcome is recorded and when the ROUTER loop ends (`wait` wakes on either).
    private let finishedSignal = DispatchSemaphore(value: 0)
    /// Records the job's outcome (once) and wakes `wait`.
    private let finish: @Sendable (JobOutcome) -> Void

    /// The bound endpoint (wildcard port resolved).
    var endpoint: String { server.endpoint }

    /// Binds `bind` (throws a ``CoordinatorBindError`` when it cannot) and
    /// returns; nothing is served until ``start(store:schema:makeDriver:)``,
    /// so a bad endpoint is refused before a job store exists.
    init(
        context: Context, bind: String, options: CoordinatorServer.Options,
        logger: Logger
    ) throws {
        let outcome = self.outcome
        let signal = finishedSignal
        let finish: @Sendable (JobOutcome) -> Void = { result in
            outcome.withLock { $0 = result }
            signal.signal()
        }
        self.finish = finish
        server = try CoordinatorServer(
            context: context, bind: bind, options: options, logger: logger,
            onOutput: { output in
                if case .jobFailed(let message) = output { finish(.failed(message)) }
            })
        server.whenFinished { signal.signal() }
    }

    /// Starts serving the job in `store`. `makeDriver` gets the callback its
    /// driver calls once with the job's outcome.
    func start(
        store: JobStore, schema: WireCsvSchema,
        makeDriver: @escaping @Sendable (_ onFinished: @escaping @Sendable (JobOutcome) -> Void) -> any CoordinatorDriver
    ) {
        let finish = self.finish
        server.start(store: store, schema: schema, makeDriver: { makeDriver(finish) })
    }

    /// Stops a run that was bound but never started (the job could not be prepared).
    func abandon() {
        try? server.stop()
    }

    /// Tells the coordinator a local worker process ended (from the launcher);
    /// `peakMemory`: its memory cgroup's peak charge in bytes, when it had one.
    func workerProcessEnded(workerID: String, signal: Int32?, status: Int32?, peakMemory: UInt64?) {
        server.send(.workerProcessEnded(workerID: workerID, signal: signal, status: status, peakMemory: peakMemory))
    }

    /// Blocks until the job is done or failed (or the ROUTER loop ends: a failure, or
    /// ``stop(workersReconnect:)``, which makes it return ``JobOutcome/stopped``), then
    /// lets the shutdown messages reach the workers and stops the socket.
    func wait() throws -> JobOutcome {
        finishedSignal.wait()
        if let result = outcome.withLock({ $0 }) {
            // The shutdown messages were queued before the outcome was signalled (same
            // loop iteration); the ROUTER's linger delivers them after it closes.
            try server.stop()
            return result
        }
        try server.wait()
        if stopped.withLock({ $0 }) { return .stopped }
        return outcome.withLock { $0 } ?? .failed("the coordinator loop ended")
    }

    /// Stops serving without finishing the job (SIGTERM): ``wait()`` returns
    /// ``JobOutcome/stopped``. With `workersReconnect` the workers are told the
    /// coordinator will be resumed and keep reconnecting; else they exit. The
    /// server carries out that shutdown before its loop ends.
    func stop(workersReconnect: Bool) throws {
        stopped.withLock { $0 = true }
        server.send(
            workersReconnect
                ? .shutdownForResume(reason: "the coordinator is stopping to be resumed")
                : .shutdown(reason: "coordinator stopping"))
        // Give the loop time to send the shutdown before the socket closes: without this pause,
        // workers of a resumed job sometimes failed to rejoin it (ShutdownSignalEndToEndTests,
        // ProcessLifecycleEndToEndTests under the whole end-to-end run).
        Thread.sleep(forTimeInterval: 0.2)
        try server.stop()
    }
}
