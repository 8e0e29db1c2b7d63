import Foundation
import SpaceTime
import ZeroMQ

/// Reads both clocks the engines need.
struct EngineClock {
    let start = ContinuousClock.now

    func now() -> EngineTime {
        return EngineTime(monotonic: start.duration(to: .now).seconds, wall: Date().timeIntervalSince1970)
    }
}

extension Message {
    /// A multipart message of `prefix` (e.g. a routing id) followed by `frames`.
    init(prefix: [UInt8]?, frames: [Data]) {
        self.init()
        if let prefix { append(prefix) }
        for frame in frames { frame.withUnsafeBytes { append($0) } }
    }

    /// Frames `from...` copied out as `Data`.
    func dataFrames(from start: Int) -> [Data] {
        guard start < count else { return [] }
        return (start..<count).map { index in withFrame(index) { Data($0) } }
    }
}

extension Duration {
    /// A duration of `seconds` (negative becomes zero).
    static func seconds(double seconds: Double) -> Duration {
        .nanoseconds(Int64(max(0, seconds) * 1e9))
    }
}

/// ZMTP heartbeats as well as ours, so libzmq tears down dead TCP connections:
/// a PING every interval, the connection closed after `liveness` intervals without traffic.
func configureHeartbeats(_ socket: Socket, _ interval: Double, _ liveness: Int) throws(ZMQError) {
    let ms = Int32(clamping: Int((interval * 1000).rounded()))
    try socket.set(.heartbeatInterval, ms)
    try socket.set(.heartbeatTimeout, Int32(clamping: Int(ms) * max(1, liveness)))
    try socket.set(.heartbeatTTL, Int32(clamping: Int(ms) * max(1, liveness)))
    try socket.set(.tcpKeepAlive, 1)  // against NAT / firewall idle timeouts
}

/// Rate-limits the warnings a peer's messages make the coordinator log
/// ("dropped message from …": garbage, an unauthenticated or misbehaving
/// peer): per peer routing id, at most `burst` lines per window, at most
/// `maxPeers` peers tracked (a flood of new routing ids shares one limiter).
typealias PeerLogLimiter = KeyedLogLimiter<PeerAddress>

extension KeyedLogLimiter where Source == PeerAddress {
    init(burst: Int = 5, interval: Double = 10, maxPeers: Int = 256, maxLineBytes: Int = 400) {
        self.init(burst: burst, interval: interval, maxSources: maxPeers, maxLineBytes: maxLineBytes, what: "warnings", sourceKind: "peer")
    }
}
