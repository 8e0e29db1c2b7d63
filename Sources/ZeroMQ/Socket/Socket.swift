import CZeroMQ

/// A ZeroMQ socket.
///
/// ## Threading
/// A socket belongs to one thread at a time. It is deliberately not
/// `Sendable`: create it on the thread that uses it (typically inside a
/// ``SocketThread`` body) and talk to other threads through a ``Mailbox``,
/// an `inproc://` PAIR socket, or an `AsyncStream`. Every operation checks
/// (with one atomic exchange) that no other thread is inside an operation
/// on the same socket and traps if one is: that is always a bug.
/// Moving a socket to another thread between operations is allowed
/// (libzmq requires a memory barrier, which the check provides).
///
/// ## Lifetime
/// ``close()`` closes the socket now (idempotent); `deinit` closes it if
/// you did not. The socket keeps its ``Context`` alive. New sockets get
/// `ZMQ_LINGER` = ``defaultLingerMilliseconds`` so closing never blocks
/// context termination for long.
public final class Socket {
    /// The linger applied to new sockets, in milliseconds: pending outgoing
    /// messages are kept this long after close, then dropped.
    public static let defaultLingerMilliseconds: Int32 = 1000

    /// The socket's pattern.
    public let type: SocketType
    /// The context this socket keeps alive.
    public let context: Context

    @usableFromInline var handle: UnsafeMutableRawPointer?
    /// 0 when idle, 1 while an operation runs (see the threading rule).
    @usableFromInline let busy: UnsafeMutablePointer<Int32>
    /// The zmq_msg_t used by receives; never moved between init and close.
    @usableFromInline let message: UnsafeMutablePointer<zmq_msg_t>

    init(context: Context, type: SocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.current("zmq_socket(\(type))")
        }
        self.handle = handle
        self.type = type
        self.context = context
        busy = .allocate(capacity: 1)
        busy.initialize(to: 0)
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
        var linger = Socket.defaultLingerMilliseconds
        _ = zmq_setsockopt(handle, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
    }

    deinit {
        if let handle { zmq_close(handle) }
        zmq_msg_close(message)
        message.deallocate()
        busy.deallocate()
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    /// Closes the socket: no further operation succeeds (they throw
    /// ``ZMQError/Code/notASocket``). Outgoing messages are kept for the
    /// socket's linger period. Idempotent.
    public func close() {
        enter()
        defer { leave() }
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    // MARK: Endpoints

    /// Binds to an endpoint, e.g. `tcp://127.0.0.1:*` (the OS picks the
    /// port; read it back with ``lastEndpoint()``) or `inproc://name`.
    public func bind(_ endpoint: String) throws(ZMQError) {
        try withHandle("zmq_bind", endpoint: endpoint) { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_bind", endpoint: endpoint) { zmq_bind(h, endpoint) }
        }
    }

    /// Connects to an endpoint. Returns at once; the connection is made (and
    /// remade after failures) in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        try withHandle("zmq_connect", endpoint: endpoint) { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_connect", endpoint: endpoint) { zmq_connect(h, endpoint) }
        }
    }

    /// Stops listening on an endpoint given to ``bind(_:)`` (use the
    /// resolved endpoint from ``lastEndpoint()`` for wildcard binds).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        try withHandle("zmq_unbind", endpoint: endpoint) { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_unbind", endpoint: endpoint) { zmq_unbind(h, endpoint) }
        }
    }

    /// Disconnects from an endpoint given to ``connect(_:)``.
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        try withHandle("zmq_disconnect", endpoint: endpoint) { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_disconnect", endpoint: endpoint) { zmq_disconnect(h, endpoint) }
        }
    }

    /// The endpoint of the last bind or connect, with wildcards resolved
    /// (e.g. `tcp://127.0.0.1:41233`).
    public func lastEndpoint() throws(ZMQError) -> String {
        let bytes = try getBytes(ZMQ_LAST_ENDPOINT, name: "ZMQ_LAST_ENDPOINT", capacity: 1024)
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Internals shared by the extensions

    /// Marks the start of an operation; traps if another thread is inside one.
    @inline(__always) @usableFromInline
    func enter() {
        let previous = czmq_atomic_exchange(busy, 1)
        precondition(previous == 0, "ZeroMQ.Socket(\(type)) used from two threads at once; a socket belongs to one thread")
    }

    @inline(__always) @usableFromInline
    func leave() {
        czmq_atomic_store(busy, 0)
    }

    /// Runs `body` with the live handle inside the concurrent-use check;
    /// throws `ENOTSOCK` after ``close()``.
    @inline(__always) @usableFromInline
    func withHandle<T>(
        _ operation: @autoclosure () -> String,
        endpoint: String? = nil,
        _ body: (UnsafeMutableRawPointer) throws(ZMQError) -> T
    ) throws(ZMQError) -> T {
        enter()
        defer { leave() }
        guard let handle else {
            throw ZMQError(code: .notASocket, operation: operation(), endpoint: endpoint, detail: "socket is closed")
        }
        return try body(handle)
    }
}
