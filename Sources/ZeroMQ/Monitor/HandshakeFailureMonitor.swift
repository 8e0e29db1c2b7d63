import CZeroMQ
import Foundation
import Locking

/// A connection to a listening socket that was dropped before it could carry
/// a message: its ZMTP or security handshake failed, or it closed before the
/// handshake completed (a peer that does not speak ZMTP).
public struct RefusedConnection: Sendable, Hashable, CustomStringConvertible {
    public enum Cause: Sendable, Hashable {
        /// ZMTP or security protocol violation; `code` is a `ZMQ_PROTOCOL_ERROR_*` value.
        case protocolError(code: UInt32)
        /// The handshake failed without detail; `errno` says why (e.g. ECONNRESET).
        case noDetail(errno: UInt32)
        /// The ZAP handler refused the peer (`status` is the ZAP status code, e.g. 400).
        case authentication(status: UInt32)
        /// The connection closed while handshaking, with no handshake event:
        /// what libzmq does with bytes that are not ZMTP at all.
        case closedDuringHandshake
    }

    /// The peer's `IP:port`; nil when the connection was gone before its
    /// address could be read (a peer that connects, sends and is dropped
    /// within microseconds).
    public var address: String?
    public var cause: Cause

    public init(address: String?, cause: Cause) {
        self.address = address
        self.cause = cause
    }

    /// Why, in words.
    public var reason: String {
        switch cause {
        case .protocolError(let code):
            switch Int32(bitPattern: code) {
            case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
                return "mechanism mismatch: the peer does not use this socket's security mechanism (a plain, non-CURVE client?)"
            case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
                return "CURVE cryptographic error: the peer used the wrong server key or sent a corrupt handshake"
            case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
                return "CURVE key exchange failed"
            case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND, ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
                return "ZMTP protocol violation: unexpected handshake command"
            case let c where c & 0x3000_0000 == 0x1000_0000:
                return String(format: "ZMTP protocol violation (code 0x%08x): malformed handshake", code)
            case let c where c & 0x3000_0000 == 0x2000_0000:
                return String(format: "ZAP handler error (code 0x%08x)", code)
            default:
                return String(format: "protocol error 0x%08x", code)
            }
        case .noDetail(let errno):
            return errno == 0 ? "no detail" : "no detail: \(String(cString: strerror(Int32(bitPattern: errno))))"
        case .authentication(let status):
            return "authentication refused (ZAP status \(status))"
        case .closedDuringHandshake:
            return "closed during the handshake: not a ZMTP peer (random bytes?), or it went away"
        }
    }

    /// The peer's IP address without the port, if known (`10.0.0.4` for
    /// `10.0.0.4:4002` and for `10.0.0.4 (port unknown)`; the whole text
    /// when the address is ambiguous, `one of 10.0.0.2, 10.0.0.4`).
    public var host: String? {
        guard var address else { return nil }
        let portUnknown = " (port unknown)"
        if address.hasSuffix(portUnknown) {
            address.removeLast(portUnknown.count)
            return address
        }
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        guard let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon else { return address }
        return String(address[..<colon])
    }

    /// Where the refusal came from and why, in short, e.g.
    /// `10.0.0.4 (mechanism mismatch)`: what a log rate-limits refusals by,
    /// so one host's flood cannot hide another's refusal or another cause.
    public var source: String {
        "\(host ?? "an unknown address") (\(reason.prefix { $0 != ":" }))"
    }

    public var description: String {
        "refused a connection from \(address ?? "an unknown address (closed before it could be read)"): handshake failed (\(reason))"
    }
}

/// Follows a listening socket's monitor events and reports every connection
/// that is dropped before its handshake completes. Pure logic: the events
/// and the peer-address look-up come from the caller.
///
/// libzmq's monitor (v1) names the listening endpoint, not the peer, and
/// gives the connection's file descriptor only with `ACCEPTED` and
/// `DISCONNECTED`: the address is read from the descriptor when it is
/// accepted, and a handshake failure is matched with the `DISCONNECTED`
/// that libzmq emits right after it on the same I/O thread. This relies on
/// the context having one I/O thread (the default).
public struct HandshakeTracker: Sendable {
    private enum State: Sendable { case handshaking, established, unknown }
    private struct Connection: Sendable {
        var address: String?
        var state: State
    }

    private var connections: [UInt32: Connection] = [:]
    private var pendingFailure: RefusedConnection.Cause?

    public init() {}

    /// Connections accepted and not yet closed.
    public var openConnections: Int { connections.count }

    /// Feeds one event; returns the refusal it completes, if any.
    /// `peerAddress` is called with the descriptor of an accepted connection.
    public mutating func observe(_ event: MonitorEvent, peerAddress: (Int32) -> String?) -> RefusedConnection? {
        switch event.kind {
        case .accepted:
            connections[event.value] = Connection(address: peerAddress(Int32(bitPattern: event.value)), state: .handshaking)
        case .handshakeSucceeded:
            // The event names no connection: attribute it only when exactly one is handshaking.
            let handshaking = connections.filter { $0.value.state == .handshaking }.map(\.key)
            for fd in handshaking { connections[fd]?.state = handshaking.count == 1 ? .established : .unknown }
        case .handshakeFailedProtocol:
            pendingFailure = .protocolError(code: event.value)
        case .handshakeFailedNoDetail:
            pendingFailure = .noDetail(errno: event.value)
        case .handshakeFailedAuth:
            pendingFailure = .authentication(status: event.value)
        case .disconnected:
            let connection = connections.removeValue(forKey: event.value)
            if let cause = pendingFailure {
                pendingFailure = nil
                return RefusedConnection(address: connection?.address, cause: cause)
            }
            if connection?.state == .handshaking {
                return RefusedConnection(address: connection?.address, cause: .closedDuringHandshake)
            }
        default:
            break
        }
        return nil
    }
}

/// Watches a listening socket on a thread of its own and reports each
/// connection refused in the handshake (``RefusedConnection``): plain clients
/// of a CURVE server, wrong server keys, ZAP refusals, peers sending bytes
/// that are not ZMTP. libzmq drops these before any message arrives, so the
/// socket's owner never sees them otherwise.
///
/// Create it on the thread that owns `socket`, before `bind`:
///
///     let monitor = try HandshakeFailureMonitor(socket: router) { log.warning("\($0)") }
///     try router.bind("tcp://0.0.0.0:5555")
///     …
///     router.close(); monitor.stop()
///
/// `onRefusal` runs on the monitor's thread. All methods are thread-safe.
public final class HandshakeFailureMonitor: Sendable {
    private let thread: SocketThread
    private let count = Locked(0)

    public init(socket: Socket, onRefusal: @escaping @Sendable (RefusedConnection) -> Void) throws(ZMQError) {
        let endpoint = try socket.startMonitor([.accepted, .disconnected, .handshakeSucceeded, .handshakeFailed])
        let context = socket.context
        let count = self.count
        let connected = Locked<Result<Void, ZMQError>?>(nil)
        let ready = DispatchSemaphore(value: 0)
        thread = SocketThread(name: "zmq-handshake-monitor") { thread in
            let monitor: SocketMonitor
            do {
                monitor = try SocketMonitor(context: context, endpoint: endpoint)
                connected.withLock { $0 = .success(()) }
                ready.signal()
            } catch let error as ZMQError {
                connected.withLock { $0 = .failure(error) }
                ready.signal()
                return
            }
            defer { monitor.close() }
            var tracker = HandshakeTracker()
            var orphans = OrphanedConnections()
            while !thread.isStopRequested {
                guard let event = try? monitor.next(timeout: .milliseconds(100)) else {
                    if monitor.isStopped { return }
                    continue
                }
                let lookUp = { (fd: Int32) -> String? in
                    let address = socketPeerAddress(fd)
                    if let address { orphans.remember(address) }
                    return address
                }
                if var refusal = tracker.observe(event, peerAddress: lookUp) {
                    if refusal.address == nil, let port = listeningPort(event.endpoint) {
                        refusal.address = orphans.claim(localPort: port)
                    }
                    count.withLock { $0 += 1 }
                    onRefusal(refusal)
                }
            }
        }
        ready.wait()
        if case .failure(let error) = connected.withLock({ $0 }) { throw error }
    }

    /// Connections refused so far.
    public var refusedCount: Int { count.withLock { $0 } }

    /// Stops watching and waits for the thread (it also ends by itself once
    /// the socket is closed). Idempotent.
    public func stop() {
        thread.requestStop()
        try? thread.join()
    }
}

/// `IP:port` of the peer of a connected TCP socket (`[IPv6]:port`), or nil.
func socketPeerAddress(_ fd: Int32) -> String? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
    }
    guard rc == 0 else { return nil }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    switch Int32(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String? in
                var addr = sin.pointee.sin_addr
                guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                return "\(String(cString: text)):\(UInt16(bigEndian: sin.pointee.sin_port))"
            }
        }
    case AF_INET6:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 -> String? in
                var addr = sin6.pointee.sin6_addr
                guard inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count)) != nil else { return nil }
                return "[\(String(cString: text))]:\(UInt16(bigEndian: sin6.pointee.sin6_port))"
            }
        }
    default:
        return nil
    }
}

/// The TCP port of a `tcp://host:port` endpoint.
func listeningPort(_ endpoint: String) -> UInt16? {
    guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return nil }
    return UInt16(endpoint[endpoint.index(after: colon)...])
}

/// Finds the peer of a connection libzmq closed before its address could be
/// read from the descriptor: `/proc/net/tcp` still lists it (closing, or kept
/// in TIME_WAIT for up to a minute). Every address read from a descriptor is
/// remembered as accounted for, and a found address is claimed once, so the
/// one connection to the listening port nobody accounts for is the refused one.
struct OrphanedConnections {
    private var taken: Set<String> = []
    private var order: [String] = []
    private var lastScans: [ContinuousClock.Instant] = []
    /// Most addresses remembered (oldest forgotten first).
    let capacity = 4096
    /// Most `/proc` scans per second (a flood then logs unknown addresses rather than burning CPU).
    let scansPerSecond = 20

    mutating func remember(_ address: String) {
        guard taken.insert(address).inserted else { return }
        order.append(address)
        if order.count > capacity {
            taken.remove(order.removeFirst())
        }
    }

    /// A connection to `localPort` not accounted for (`IP:port`, claimed
    /// now); when there are several, their IP with the port unknown (claiming
    /// none), or the IPs if they differ; nil if there is none.
    mutating func claim(localPort: UInt16) -> String? {
        let now = ContinuousClock.now
        lastScans.removeAll { now - $0 > .seconds(1) }
        guard lastScans.count < scansPerSecond else { return nil }
        lastScans.append(now)
        var candidates: [String] = []
        for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            candidates += peers(procNetTCP: text, localPort: localPort).filter { !taken.contains($0) }
        }
        guard let first = candidates.first else { return nil }
        if candidates.count == 1 {
            remember(first)
            return first
        }
        // Several connections failed before this one was looked up: which is which is unknown.
        let ips = Set(candidates.map { address in String(address[..<(address.lastIndex(of: ":") ?? address.endIndex)]) }).sorted()
        return ips.count == 1 ? "\(ips[0]) (port unknown)" : "one of \(ips.prefix(3).joined(separator: ", "))\(ips.count > 3 ? ", …" : "")"
    }
}

/// Remote `IP:port` of the accepted connections (open, closing or in
/// TIME_WAIT) in a `/proc/net/tcp` or `/proc/net/tcp6` text whose local port
/// is `localPort`.
func peers(procNetTCP text: String, localPort: UInt16) -> [String] {
    let accepted: Set<Substring> = ["01", "04", "05", "06", "07", "08", "09", "0B"]  // not SYN_*, LISTEN
    var peers: [String] = []
    for line in text.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 10, accepted.contains(fields[3]) else { continue }
        guard let local = procEndpoint(fields[1]), local.port == localPort, let remote = procEndpoint(fields[2]) else { continue }
        peers.append(remote.text)
    }
    return peers
}

/// Parses `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6): 32-bit words in host byte order.
private func procEndpoint(_ field: Substring) -> (text: String, port: UInt16)? {
    let parts = field.split(separator: ":")
    guard parts.count == 2, let port = UInt16(parts[1], radix: 16) else { return nil }
    let hex = parts[0]
    guard hex.count == 8 || hex.count == 32 else { return nil }
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 8)
        guard let word = UInt32(hex[index..<next], radix: 16) else { return nil }
        withUnsafeBytes(of: word) { bytes += $0 }  // host order, as the kernel printed it
        index = next
    }
    if bytes.count == 4 {
        return ("\(bytes[0]).\(bytes[1]).\(bytes[2]).\(bytes[3]):\(port)", port)
    }
    if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
        return ("\(bytes[12]).\(bytes[13]).\(bytes[14]).\(bytes[15]):\(port)", port)  // IPv4-mapped
    }
    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
    let ok = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) != nil }
    return ok ? ("[\(String(cString: text))]:\(port)", port) : nil
}

extension RefusedConnection.Cause {
    /// Whether the peers disagreed on the security mechanism (one uses CURVE, the other does not).
    public var isMechanismMismatch: Bool {
        if case .protocolError(let code) = self { return Int32(bitPattern: code) == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH }
        return false
    }
}
