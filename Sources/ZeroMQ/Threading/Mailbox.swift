import CZeroMQ
import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A thread-safe queue into a socket thread that the thread can wait on
/// together with its sockets in a ``Poller``.
///
/// Any thread (or task) calls ``send(_:)``; the socket thread adds the
/// mailbox to its poller and calls ``drain(_:)`` when it is readable. The
/// wake-up is a non-blocking pipe written only when the queue goes from
/// empty to non-empty, so a burst of sends costs one system call.
///
/// The other direction (socket thread → rest of the program) is usually an
/// `AsyncStream` continuation, which is already thread-safe.
public final class Mailbox<Element: Sendable>: Sendable {
    private struct State {
        var pending: [Element] = []
        var spare: [Element] = []
        var signalled = false
        var closed = false
    }

    private let state = Locked(State())
    private let readFD: Int32
    private let writeFD: Int32

    /// Creates a mailbox (a pipe pair).
    public init() throws(ZMQError) {
        var fds: [Int32] = [-1, -1]
        guard czmq_nonblocking_pipe(&fds) == 0 else {
            throw ZMQError(code: .init(rawValue: errno), operation: "pipe", detail: "cannot create the mailbox wake-up pipe")
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        closeDescriptor(readFD)
        closeDescriptor(writeFD)
    }

    /// The descriptor that is readable while elements are pending (or after
    /// ``close()``). Add it to a ``Poller``.
    public var fileDescriptor: Int32 { readFD }

    /// Enqueues an element and wakes the socket thread.
    /// - Returns: `false` (element dropped) after ``close()``.
    @discardableResult
    public func send(_ element: Element) -> Bool {
        let wake = state.withLock { s -> Bool? in
            if s.closed { return nil }
            s.pending.append(element)
            if s.signalled { return false }
            s.signalled = true
            return true
        }
        guard let wake else { return false }
        if wake { signal() }
        return true
    }

    /// Removes every pending element and calls `body` with each, in order,
    /// on the calling thread (the socket thread). Returns how many there were.
    @discardableResult
    public func drain(_ body: (Element) throws -> Void) rethrows -> Int {
        var batch = state.withLock { s -> [Element] in
            s.signalled = false
            clearSignal()
            let batch = s.pending
            s.pending = s.spare
            s.spare = []
            return batch
        }
        defer {
            batch.removeAll(keepingCapacity: true)
            let spare = batch
            state.withLock { s in if s.spare.isEmpty { s.spare = spare } }
        }
        for element in batch { try body(element) }
        return batch.count
    }

    /// Stops accepting elements and wakes the socket thread. Elements
    /// already queued can still be drained. Idempotent.
    public func close() {
        let wasOpen = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        if wasOpen { signal() }
    }

    /// Whether ``close()`` was called.
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// The number of elements waiting.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    private func signal() {
        var byte: UInt8 = 1
        // EAGAIN means the pipe already holds a wake-up: nothing to do.
        while write(writeFD, &byte, 1) == -1 && errno == EINTR {}
    }

    private func clearSignal() {
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while true {
            let n = withUnsafeMutableBytes(of: &buffer) { read(readFD, $0.baseAddress, $0.count) }
            if n > 0 { continue }
            if n == -1 && errno == EINTR { continue }
            return
        }
    }
}

private func closeDescriptor(_ fd: Int32) {
    #if canImport(Glibc)
        _ = Glibc.close(fd)
    #elseif canImport(Musl)
        _ = Musl.close(fd)
    #elseif canImport(Darwin)
        _ = Darwin.close(fd)
    #endif
}
