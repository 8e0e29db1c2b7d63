import CZeroMQ
import Locking

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A libzmq context: the I/O threads and the `inproc://` namespace shared by
/// the sockets created from it.
///
/// A context is thread-safe (`Sendable`): create one per process, share it
/// with every thread, and create each thread's sockets from it.
///
/// Lifetime: every ``Socket`` keeps its context alive, so the context is
/// terminated only after its last socket is closed and released. Call
/// ``terminate()`` to end it explicitly (it blocks until every socket is
/// closed) or ``shutdown()`` to make blocking operations on its sockets fail
/// with ``ZMQError/Code/contextTerminated`` so their threads can close them.
public final class Context: @unchecked Sendable {  // `handle` (a raw pointer) is immutable and libzmq contexts are thread-safe
    let handle: UnsafeMutableRawPointer
    private let terminated = Locked(false)

    /// Creates a context.
    ///
    /// - Parameter ioThreads: libzmq I/O threads (1 is enough below ~1 GB/s).
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else {
            throw ZMQError.current("zmq_ctx_new")
        }
        self.handle = handle
        if ioThreads != 1 {
            do {
                _ = try ZMQCall.retryingInterrupts("zmq_ctx_set(ZMQ_IO_THREADS)") {
                    zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
                }
            } catch {
                zmq_ctx_term(handle)
                throw error
            }
        }
    }

    deinit {
        terminateHandle()
    }

    /// Creates a socket of the given type in this context. The socket belongs
    /// to the calling thread (see ``Socket``).
    public func socket(_ type: SocketType) throws(ZMQError) -> Socket {
        try Socket(context: self, type: type)
    }

    /// Makes blocking operations on this context's sockets fail with
    /// ``ZMQError/Code/contextTerminated``; returns at once. Sockets must
    /// still be closed. Idempotent.
    public func shutdown() {
        terminated.withLock { terminated in
            if !terminated { _ = zmq_ctx_shutdown(handle) }
        }
    }

    /// Terminates the context: blocks until every socket created from it is
    /// closed, then frees it. Idempotent; `EINTR` is retried. Call from a
    /// thread that owns none of the still-open sockets, or close them first.
    public func terminate() {
        terminateHandle()
    }

    private func terminateHandle() {
        let shouldTerminate = terminated.withLock { terminated -> Bool in
            if terminated { return false }
            terminated = true
            return true
        }
        guard shouldTerminate else { return }
        while zmq_ctx_term(handle) == -1 && zmq_errno() == EINTR {}
    }
}
