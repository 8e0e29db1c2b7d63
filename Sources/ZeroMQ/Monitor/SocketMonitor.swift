import CZeroMQ
import Foundation
import Locking

/// A socket event reported by libzmq's monitor (`zmq_socket_monitor`).
public struct MonitorEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public enum Kind: Sendable, Hashable {
        case connected, connectDelayed, connectRetried
        case listening, bindFailed
        case accepted, acceptFailed
        case closed, closeFailed, disconnected
        case monitorStopped
        /// The security handshake failed for a reason libzmq does not detail
        /// (typically a CURVE client using the wrong server key).
        case handshakeFailedNoDetail
        case handshakeSucceeded
        /// The peer violated the ZMTP or security protocol.
        case handshakeFailedProtocol
        /// Authentication was refused (ZAP said no).
        case handshakeFailedAuth
        case other(UInt16)

        init(rawValue: UInt16) {
            switch Int32(rawValue) {
            case ZMQ_EVENT_CONNECTED: self = .connected
            case ZMQ_EVENT_CONNECT_DELAYED: self = .connectDelayed
            case ZMQ_EVENT_CONNECT_RETRIED: self = .connectRetried
            case ZMQ_EVENT_LISTENING: self = .listening
            case ZMQ_EVENT_BIND_FAILED: self = .bindFailed
            case ZMQ_EVENT_ACCEPTED: self = .accepted
            case ZMQ_EVENT_ACCEPT_FAILED: self = .acceptFailed
            case ZMQ_EVENT_CLOSED: self = .closed
            case ZMQ_EVENT_CLOSE_FAILED: self = .closeFailed
            case ZMQ_EVENT_DISCONNECTED: self = .disconnected
            case ZMQ_EVENT_MONITOR_STOPPED: self = .monitorStopped
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self = .handshakeFailedNoDetail
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .handshakeSucceeded
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: self = .handshakeFailedProtocol
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self = .handshakeFailedAuth
            default: self = .other(rawValue)
            }
        }

        /// Whether this is one of the handshake failures.
        public var isHandshakeFailure: Bool {
            switch self {
            case .handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth: return true
            default: return false
            }
        }
    }

    /// What happened.
    public var kind: Kind
    /// The event's value: a file descriptor, an errno, a retry interval or
    /// a ZAP/protocol status code, depending on ``kind``.
    public var value: UInt32
    /// The endpoint concerned (for accepted connections, the listening endpoint).
    public var endpoint: String

    public var description: String { "\(kind) \(endpoint) (\(value))" }
}

/// Which events to monitor.
public struct MonitorEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let connected = MonitorEvents(rawValue: ZMQ_EVENT_CONNECTED)
    public static let connectRetried = MonitorEvents(rawValue: ZMQ_EVENT_CONNECT_RETRIED)
    public static let listening = MonitorEvents(rawValue: ZMQ_EVENT_LISTENING)
    public static let accepted = MonitorEvents(rawValue: ZMQ_EVENT_ACCEPTED)
    public static let closed = MonitorEvents(rawValue: ZMQ_EVENT_CLOSED)
    public static let disconnected = MonitorEvents(rawValue: ZMQ_EVENT_DISCONNECTED)
    public static let handshakeSucceeded = MonitorEvents(rawValue: ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
    /// All three handshake failure events.
    public static let handshakeFailed = MonitorEvents(
        rawValue:
            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    /// Every event.
    public static let all = MonitorEvents(rawValue: ZMQ_EVENT_ALL)
}

/// Receives a socket's monitor events, on the thread that created it (a
/// polling iterator). Create with ``Socket/monitor(_:)``.
///
///     let monitor = try router.monitor([.accepted, .disconnected])
///     while let event = try monitor.next(timeout: .seconds(1)) { … }
///
/// The sequence ends (`nil` without timeout) once the monitored socket is
/// closed. For an `AsyncStream` on a thread of its own, use
/// ``Socket/monitorEvents(_:)``.
public final class SocketMonitor: Sequence, IteratorProtocol {
    /// The `inproc://` endpoint libzmq publishes the events on.
    public let endpoint: String
    private let socket: Socket
    private var message = Message()
    private var stopped = false

    init(context: Context, endpoint: String) throws(ZMQError) {
        self.endpoint = endpoint
        socket = try context.socket(.pair)
        try socket.set(.linger, 0)
        try socket.connect(endpoint)
    }

    /// The next event, waiting at most `timeout` (`nil` forever); `nil` on
    /// timeout or once the monitored socket has closed.
    public func next(timeout: Duration?) throws(ZMQError) -> MonitorEvent? {
        guard !stopped else { return nil }
        while true {
            guard try socket.receive(into: &message, timeout: timeout) else { return nil }
            guard message.count >= 2, message[0].count >= 6 else { continue }  // not an event: skip
            let (id, value) = message.withFrame(0) { raw in
                (raw.loadUnaligned(as: UInt16.self), raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            }
            let event = MonitorEvent(kind: .init(rawValue: id), value: value, endpoint: message.string(at: 1))
            if event.kind == .monitorStopped {
                stopped = true
                socket.close()
                return nil
            }
            return event
        }
    }

    /// The next event, blocking until there is one; `nil` once the monitored
    /// socket has closed. (Errors end the sequence.)
    public func next() -> MonitorEvent? {
        (try? next(timeout: nil)) ?? nil
    }

    /// Stops reading events (the monitored socket keeps working).
    public func close() {
        stopped = true
        socket.close()
    }
}

private let monitorCounter = Locked(0)

extension Socket {
    /// Starts monitoring this socket; events are read from the returned
    /// ``SocketMonitor`` on this thread. One monitor per socket.
    public func monitor(_ events: MonitorEvents = .all) throws(ZMQError) -> SocketMonitor {
        let endpoint = try startMonitor(events)
        return try SocketMonitor(context: context, endpoint: endpoint)
    }

    /// Starts monitoring this socket; events arrive on the returned stream,
    /// read on a dedicated thread. The stream finishes when this socket is
    /// closed or the consumer stops iterating. One monitor per socket.
    public func monitorEvents(_ events: MonitorEvents = .all) throws(ZMQError) -> AsyncStream<MonitorEvent> {
        let endpoint = try startMonitor(events)
        let context = self.context
        let (stream, continuation) = AsyncStream.makeStream(of: MonitorEvent.self)
        let connected = Locked<Result<Void, ZMQError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        let thread = SocketThread(name: "zmq-monitor") { thread in
            let monitor: SocketMonitor
            do {
                monitor = try SocketMonitor(context: context, endpoint: endpoint)
                connected.withLock { $0 = .success(()) }
                ready.signal()
            } catch let error as ZMQError {
                connected.withLock { $0 = .failure(error) }
                ready.signal()
                continuation.finish()
                return
            }
            defer {
                monitor.close()
                continuation.finish()
            }
            while !thread.isStopRequested {
                do {
                    if let event = try monitor.next(timeout: .milliseconds(100)) {
                        continuation.yield(event)
                    } else if monitor.isStopped {
                        return
                    }
                } catch {
                    return
                }
            }
        }
        continuation.onTermination = { _ in thread.requestStop() }
        ready.wait()
        if case .failure(let error) = connected.withLock({ $0 }) { throw error }
        return stream
    }

    /// Starts libzmq's monitor on this socket; returns the inproc endpoint to read events from.
    func startMonitor(_ events: MonitorEvents) throws(ZMQError) -> String {
        let n = monitorCounter.withLock { n -> Int in
            n += 1
            return n
        }
        let endpoint = "inproc://spacetime.zmq.monitor.\(getpid()).\(n)"
        try withHandle("zmq_socket_monitor", endpoint: endpoint) { h throws(ZMQError) in
            _ = try ZMQCall.retryingInterrupts("zmq_socket_monitor", endpoint: endpoint) {
                // MONITOR_STOPPED is what ends the sequence when the socket closes.
                zmq_socket_monitor(h, endpoint, events.rawValue | ZMQ_EVENT_MONITOR_STOPPED)
            }
        }
        return endpoint
    }
}

extension SocketMonitor {
    /// Whether the monitored socket has closed (or ``close()`` was called).
    public var isStopped: Bool { stopped }
}
