import Foundation
import SpaceTime
import ZeroMQ

/// A value guarded by a lock, shared between a socket thread and its owner.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

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
/// peer): per peer, at most `burst` lines per `interval` seconds, the rest
/// counted and reported with the peer's next written line or in a summary
/// once its window has ended; every line is cut to `maxLineBytes`. At most
/// `maxPeers` peers are tracked (a flood of new routing ids reuses one
/// shared limiter past that), so neither the log nor this table grows
/// without bound.
///
/// Pure logic on a caller-supplied monotonic clock; used on the ROUTER thread only.
struct PeerLogLimiter {
    let burst: Int
    let interval: Double
    let maxPeers: Int
    let maxLineBytes: Int
    private var limiters: [PeerAddress: LogRateLimiter] = [:]
    private var lastSeen: [PeerAddress: Double] = [:]
    private var overflow: LogRateLimiter
    private static let overflowName = "other peers"

    init(burst: Int = 5, interval: Double = 10, maxPeers: Int = 256, maxLineBytes: Int = 400) {
        self.burst = burst
        self.interval = interval
        self.maxPeers = maxPeers
        self.maxLineBytes = maxLineBytes
        overflow = LogRateLimiter(burst: burst, interval: interval)
    }

    /// The line to write for a warning `line` about `peer` at `now`, or nil to drop it (counted).
    mutating func admit(_ line: String, from peer: PeerAddress, at now: Double) -> String? {
        let verdict: LogRateLimiter.Verdict
        if limiters[peer] != nil || limiters.count < maxPeers {
            verdict = limiters[peer, default: LogRateLimiter(burst: burst, interval: interval)].admit(at: now)
            lastSeen[peer] = now
        } else {
            verdict = overflow.admit(at: now)
        }
        guard case .write(let suppressed) = verdict else { return nil }
        let cut = Self.truncate(line, to: maxLineBytes)
        return suppressed > 0 ? "\(cut) (\(suppressed) more warnings from this peer were not logged)" : cut
    }

    /// Summaries of lines suppressed in windows that have ended; forgets peers that are quiet.
    mutating func summaries(at now: Double) -> [String] {
        var lines: [String] = []
        for peer in Array(limiters.keys) {
            if let count = limiters[peer]?.summary(at: now) {
                lines.append("\(count) more warnings from \(peer) in the last \(Int(interval)) s were not logged one by one")
            } else if limiters[peer]?.suppressed == 0, now - (lastSeen[peer] ?? now) >= interval {
                limiters[peer] = nil  // quiet for a whole window: nothing left to report
                lastSeen[peer] = nil
            }
        }
        if let count = overflow.summary(at: now) {
            lines.append("\(count) more warnings from \(Self.overflowName) in the last \(Int(interval)) s were not logged one by one")
        }
        return lines
    }

    /// Peers currently tracked (for tests).
    var trackedPeers: Int { limiters.count }


    static func truncate(_ line: String, to maxBytes: Int) -> String {
        guard line.utf8.count > maxBytes else { return line }
        var cut = ""
        var bytes = 0
        for scalar in line.unicodeScalars {
            bytes += String(scalar).utf8.count
            if bytes > maxBytes { break }
            cut.unicodeScalars.append(scalar)
        }
        return cut + "… (\(line.utf8.count) bytes)"
    }
}
