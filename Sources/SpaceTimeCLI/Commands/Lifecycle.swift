import Foundation
import Locking
import Logging
import ServiceLifecycle
import UnixSignals

/// The process lifecycle of the long-running commands (`coordinator`, `worker`, `local`,
/// `predict`/`transform --workers`): their work runs as the one service of a `ServiceGroup`
/// whose graceful-shutdown signals are the one signal path of the process. The work itself
/// is synchronous (ZeroMQ socket threads, a blocking wait for the job), so it runs on a
/// thread of its own, off the cooperative pool; the group's graceful shutdown calls the
/// stop actions the work registered on its ``ShutdownRequest`` (stop the job, end the
/// workers), after which the work returns and the command exits with `128 + signal`.
enum Lifecycle {
    /// Runs `body` on a thread of its own as a service of a `ServiceGroup` with graceful
    /// shutdown on `signals`. The first of them calls the actions `body` registered on its
    /// ``ShutdownRequest`` (on a thread of their own, so the group is not blocked), with
    /// the signal; a later one changes nothing (the stop is under way). Returns what `body`
    /// returns, or rethrows what it throws.
    static func run<T: Sendable>(
        _ name: String, signals: [UnixSignal], _ body: @escaping @Sendable (ShutdownRequest) throws -> T
    ) async throws -> T {
        let request = ShutdownRequest()
        let noted = Locked<Int32?>(nil)
        let service = BlockingService(name: name, request: request, noted: noted, body: body)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                ],
                logger: Logger(label: "spacetime.lifecycle") { _ in SwiftLogNoOpLogHandler() }))
        // The signals are the group's graceful-shutdown trigger; watched here rather than given to
        // the group so that the signal is known (for the message and the exit status) before the
        // shutdown handler runs.
        let signalStream = await UnixSignalsSequence(trapping: signals)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                for await signal in signalStream {
                    noted.withLock { $0 = $0 ?? signal.rawValue }
                    await group.triggerGracefulShutdown()
                }
            }
            try await group.run()
            tasks.cancelAll()
        }
        // No result: the group was cancelled before the work returned.
        guard let result = service.result.withLock({ $0 }) else { throw CancellationError() }
        return try result.get()
    }

    /// The name of `signal` for messages ("SIGTERM").
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}

/// A graceful-shutdown request as the synchronous work sees it: the signal that asked for
/// it, and the actions that stop what runs. The work registers an action once there is
/// something to stop (a job, workers); one registered after the request runs at once.
final class ShutdownRequest: Sendable {
    private struct State {
        var signal: Int32?
        var actions: [@Sendable (Int32) -> Void] = []
    }
    private let state = Locked(State())

    /// The signal that asked for the shutdown; nil while none has.
    var signal: Int32? { state.withLock { $0.signal } }

    /// Calls `action` with the signal when a shutdown is requested; at once (on this
    /// thread) when one already was.
    func onShutdown(_ action: @escaping @Sendable (Int32) -> Void) {
        let requested = state.withLock { s -> Int32? in
            if s.signal == nil { s.actions.append(action) }
            return s.signal
        }
        if let requested { action(requested) }
    }

    /// Records `signal` and runs the registered actions in order on a thread of their own
    /// (they block: stopping workers waits for them); only the first request counts.
    fileprivate func request(_ signal: Int32) {
        let actions = state.withLock { s -> [@Sendable (Int32) -> Void] in
            guard s.signal == nil else { return [] }
            s.signal = signal
            defer { s.actions = [] }
            return s.actions
        }
        guard !actions.isEmpty else { return }
        let thread = Thread { for action in actions { action(signal) } }
        thread.name = "shutdown"
        thread.start()
    }
}

/// The blocking work as a `Service`: run on a dedicated thread; the group's graceful
/// shutdown becomes a ``ShutdownRequest``.
private struct BlockingService<T: Sendable>: Service, CustomStringConvertible {
    let name: String
    let request: ShutdownRequest
    let noted: Locked<Int32?>
    let body: @Sendable (ShutdownRequest) throws -> T
    let result = Locked<Result<T, any Error>?>(nil)

    var description: String { name }

    func run() async throws {
        let request = self.request
        let noted = self.noted
        let body = self.body
        let name = self.name
        let outcome = await withGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>, Never>) in
                // A thread with the process's default stack, off the cooperative pool: the work blocks.
                let thread = Thread { continuation.resume(returning: Result { try body(request) }) }
                thread.name = name
                thread.start()
            }
        } onGracefulShutdown: {
            // A shutdown not started by a signal of ours (none is expected) stops as SIGTERM does.
            request.request(noted.withLock { $0 } ?? SIGTERM)
        }
        result.withLock { $0 = outcome }
    }
}
