import Foundation
import Locking

/// A dedicated thread that runs a socket loop.
///
/// Blocking socket loops must not run on Swift concurrency's cooperative
/// pool (it has one thread per core). Create the loop's sockets inside
/// `body`, so they belong to this thread, and end the loop when
/// ``isStopRequested`` becomes true (poll with a timeout, or add a
/// ``Mailbox`` to the poller and ``Mailbox/close()`` it to wake the loop):
///
///     let thread = SocketThread(name: "coordinator-router") { thread in
///         let router = try context.socket(.router)
///         try router.bind(endpoint)
///         var poller = Poller()
///         poller.add(router); poller.add(outbox)
///         while !thread.isStopRequested { … }
///     }
///     …
///     thread.requestStop()
///     try await thread.finished()
public final class SocketThread: Sendable {
    private struct State {
        var stopRequested = false
        var finished = false
        var error: (any Error)?
        var waiters: [@Sendable () -> Void] = []
    }

    /// The thread's name (visible in debuggers and `top -H`).
    public let name: String
    private let state = Locked(State())
    private let done = DispatchSemaphore(value: 0)

    /// Starts a thread running `body`. An error thrown by `body` is
    /// rethrown by ``join()`` and ``finished()``.
    public init(name: String, body: @escaping @Sendable (SocketThread) throws -> Void) {
        self.name = name
        let thread = Thread { [self] in
            var failure: (any Error)?
            do { try body(self) } catch { failure = error }
            let waiters = state.withLock { s -> [@Sendable () -> Void] in
                s.finished = true
                s.error = failure
                defer { s.waiters = [] }
                return s.waiters
            }
            done.signal()
            for waiter in waiters { waiter() }
        }
        thread.name = name
        thread.start()
    }

    /// Asks the loop to stop; it sees ``isStopRequested`` on its next check.
    public func requestStop() {
        state.withLock { $0.stopRequested = true }
    }

    /// Whether ``requestStop()`` was called.
    public var isStopRequested: Bool { state.withLock { $0.stopRequested } }

    /// Whether the body has returned.
    public var isFinished: Bool { state.withLock { $0.finished } }

    /// Blocks the calling thread until the body returns; rethrows its error.
    /// Do not call from a Swift concurrency task (use ``finished()``).
    public func join() throws {
        done.wait()
        done.signal()  // let other joiners through
        if let error = state.withLock({ $0.error }) { throw error }
    }

    /// Suspends until the body returns; rethrows its error.
    public func finished() async throws {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            whenFinished { continuation.resume() }
        }
        if let error = state.withLock({ $0.error }) { throw error }
    }

    /// Calls `action` once the body has returned: on the thread that ran it, or at once on
    /// the calling thread when it already has. For a condition a waiter blocks on (a
    /// semaphore), so that nobody polls ``isFinished``.
    public func whenFinished(_ action: @escaping @Sendable () -> Void) {
        let alreadyFinished = state.withLock { s -> Bool in
            if s.finished { return true }
            s.waiters.append(action)
            return false
        }
        if alreadyFinished { action() }
    }
}
