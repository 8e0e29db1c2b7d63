import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An error from libzmq or from this wrapper, with the failed operation and,
/// where there is one, the endpoint it concerned.
///
/// Every throwing API in this module throws `ZMQError`. Match on ``code``:
///
///     do { try socket.bind("tcp://127.0.0.1:5555") }
///     catch let error as ZMQError where error.code == .addressInUse { … }
public struct ZMQError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong: an `errno` value as reported by `zmq_errno()`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The raw errno value (POSIX or libzmq's own, e.g. `ETERM`).
        public var rawValue: Int32

        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// Non-blocking operation would block, or a receive timed out (`EAGAIN`).
        public static let wouldBlock = Code(rawValue: EAGAIN)
        /// Interrupted by a signal (`EINTR`).
        public static let interrupted = Code(rawValue: EINTR)
        /// Invalid argument, option value or option size (`EINVAL`).
        public static let invalidArgument = Code(rawValue: EINVAL)
        /// The context was terminated or shut down (`ETERM`).
        public static let contextTerminated = Code(rawValue: czmq_eterm())
        /// The socket was closed, or is not a socket (`ENOTSOCK`).
        public static let notASocket = Code(rawValue: ENOTSOCK)
        /// The endpoint's address is in use (`EADDRINUSE`).
        public static let addressInUse = Code(rawValue: EADDRINUSE)
        /// The endpoint's address does not exist on this host (`EADDRNOTAVAIL`).
        public static let addressNotAvailable = Code(rawValue: EADDRNOTAVAIL)
        /// The transport in the endpoint is not supported (`EPROTONOSUPPORT`).
        public static let protocolNotSupported = Code(rawValue: EPROTONOSUPPORT)
        /// ROUTER_MANDATORY: the routing id names no connected peer (`EHOSTUNREACH`).
        public static let hostUnreachable = Code(rawValue: EHOSTUNREACH)
        /// The endpoint was not bound or connected (`ENOENT`).
        public static let noSuchEndpoint = Code(rawValue: ENOENT)
        /// The operation is not valid in the socket's current state (`EFSM`).
        public static let invalidState = Code(rawValue: czmq_efsm())
        /// The operation is not supported by this socket type (`ENOTSUP`).
        public static let notSupported = Code(rawValue: ENOTSUP)
        /// The requested transport is incompatible with the socket type (`ENOCOMPATPROTO`).
        public static let incompatibleProtocol = Code(rawValue: czmq_enocompatproto())
        /// No I/O thread is available (`EMTHREAD`).
        public static let noIOThread = Code(rawValue: czmq_emthread())
        /// Too many open sockets or files (`EMFILE`).
        public static let tooManyOpenFiles = Code(rawValue: EMFILE)
        /// Out of memory (`ENOMEM`).
        public static let outOfMemory = Code(rawValue: ENOMEM)
        /// Invalid message or buffer (`EFAULT`).
        public static let badAddress = Code(rawValue: EFAULT)

        /// The symbolic name, e.g. `EADDRINUSE`, or `errno N` when unknown.
        public var name: String {
            Code.names[rawValue] ?? "errno \(rawValue)"
        }

        /// libzmq's human-readable message (`zmq_strerror`).
        public var message: String {
            String(cString: zmq_strerror(rawValue))
        }

        public var description: String { "\(name) (\(message))" }

        private static let names: [Int32: String] = [
            EAGAIN: "EAGAIN", EINTR: "EINTR", EINVAL: "EINVAL", EFAULT: "EFAULT",
            ENOMEM: "ENOMEM", ENODEV: "ENODEV", EMFILE: "EMFILE", ENOENT: "ENOENT",
            EBADF: "EBADF", ENOTSOCK: "ENOTSOCK", ENOTSUP: "ENOTSUP",
            EPROTONOSUPPORT: "EPROTONOSUPPORT", ENOBUFS: "ENOBUFS", ENETDOWN: "ENETDOWN",
            EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL",
            ECONNREFUSED: "ECONNREFUSED", EINPROGRESS: "EINPROGRESS",
            EMSGSIZE: "EMSGSIZE", EAFNOSUPPORT: "EAFNOSUPPORT", ENETUNREACH: "ENETUNREACH",
            ECONNABORTED: "ECONNABORTED", ECONNRESET: "ECONNRESET", ENOTCONN: "ENOTCONN",
            ETIMEDOUT: "ETIMEDOUT", EHOSTUNREACH: "EHOSTUNREACH", ENETRESET: "ENETRESET",
            czmq_eterm(): "ETERM", czmq_efsm(): "EFSM",
            czmq_enocompatproto(): "ENOCOMPATPROTO", czmq_emthread(): "EMTHREAD"
        ]
    }

    /// The error code.
    public var code: Code
    /// The operation that failed, e.g. `zmq_bind` or `setsockopt(ZMQ_LINGER)`.
    public var operation: String
    /// The endpoint concerned, when the operation had one.
    public var endpoint: String?
    /// Extra detail from this wrapper (e.g. why a key was rejected), if any.
    public var detail: String?

    public init(code: Code, operation: String, endpoint: String? = nil, detail: String? = nil) {
        self.code = code
        self.operation = operation
        self.endpoint = endpoint
        self.detail = detail
    }

    /// The error `zmq_errno()` reports for the calling thread.
    static func current(_ operation: String, endpoint: String? = nil) -> ZMQError {
        ZMQError(code: Code(rawValue: zmq_errno()), operation: operation, endpoint: endpoint)
    }

    public var description: String {
        var text = operation
        if let endpoint { text += "(\(endpoint))" }
        text += " failed: \(code)"
        if let detail { text += ": \(detail)" }
        return text
    }
}
