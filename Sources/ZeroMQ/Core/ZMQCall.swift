import CZeroMQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The one place that calls libzmq functions returning `-1` on error: it
/// retries `EINTR` where retrying is correct and turns `zmq_errno()` into a
/// ``ZMQError`` naming the operation and endpoint (after swift-nio's
/// `System.swift`).
@usableFromInline
enum ZMQCall {
    /// Calls `body` until it does not fail with `EINTR`; throws any other failure.
    ///
    /// Use for calls that are safe to repeat and do not block forever
    /// (bind, connect, setsockopt, non-blocking send/receive, send to a
    /// blocking socket). Blocking receives that must stay stoppable go
    /// through ``Socket/receive(into:timeout:)`` which polls instead.
    @inline(__always) @usableFromInline
    static func retryingInterrupts(
        _ operation: @autoclosure () -> String,
        endpoint: @autoclosure () -> String? = nil,
        _ body: () -> Int32
    ) throws(ZMQError) -> Int32 {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = zmq_errno()
            if code == EINTR { continue }
            throw ZMQError(code: .init(rawValue: code), operation: operation(), endpoint: endpoint())
        }
    }

    /// Like ``retryingInterrupts(_:endpoint:_:)`` but returns `nil` for
    /// `EAGAIN` (would block / timed out) instead of throwing.
    @inline(__always) @usableFromInline
    static func retryingInterruptsUnlessWouldBlock(
        _ operation: @autoclosure () -> String,
        endpoint: @autoclosure () -> String? = nil,
        _ body: () -> Int32
    ) throws(ZMQError) -> Int32? {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return nil }
            throw ZMQError(code: .init(rawValue: code), operation: operation(), endpoint: endpoint())
        }
    }
}

/// libzmq's version as (major, minor, patch).
public var zmqVersion: (major: Int, minor: Int, patch: Int) {
    var major: Int32 = 0
    var minor: Int32 = 0
    var patch: Int32 = 0
    zmq_version(&major, &minor, &patch)
    return (Int(major), Int(minor), Int(patch))
}

/// Whether libzmq was built with a capability, e.g. `"curve"` or `"ipc"`.
public func zmqHas(_ capability: String) -> Bool {
    zmq_has(capability) == 1
}
