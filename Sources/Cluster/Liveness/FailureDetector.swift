/// Seconds on a monotonic clock, supplied by the caller. Pure logic never reads a clock.
public typealias MonotonicSeconds = Double

/// Timeout-based failure detection over heartbeats and task leases, in the
/// manner of swift-distributed-actors' `TimeoutBasedDowningStrategy`: a peer
/// silent for `heartbeatInterval × liveness` is declared down, exactly once;
/// a lease not renewed before its deadline expires, exactly once. A silence
/// shorter than the window causes nothing. Driven by explicit times.
public struct FailureDetector<Peer: Hashable & Sendable>: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// How often peers send heartbeats, seconds.
        public var heartbeatInterval: Double
        /// Missed intervals before a peer is declared down (≥ 1).
        public var liveness: Int
        /// How long a lease lasts from its last renewal, seconds.
        public var leaseDuration: Double

        public init(heartbeatInterval: Double = 1, liveness: Int = 5, leaseDuration: Double = 30) {
            self.heartbeatInterval = heartbeatInterval
            self.liveness = max(1, liveness)
            self.leaseDuration = leaseDuration
        }

        /// Silence after which a peer is down.
        public var timeout: Double { heartbeatInterval * Double(liveness) }
    }

    public enum Status: Sendable, Hashable {
        /// Heard from within one heartbeat interval (plus half an interval of slack).
        case alive
        /// Missed at least one heartbeat but not yet down.
        case suspect(silentFor: Double)
        case down
        case unknown
    }

    /// Something `poll` found.
    public enum Verdict: Sendable, Hashable {
        /// The peer has been silent for `silentFor` seconds (≥ the timeout).
        case peerDown(Peer, silentFor: Double)
        /// The lease of `attemptID` held by `peer` passed its deadline without renewal.
        case leaseExpired(attemptID: UInt64, peer: Peer, overdueBy: Double)
    }

    public var configuration: Configuration
    private var lastHeard: [Peer: MonotonicSeconds] = [:]
    private var downPeers: Set<Peer> = []
    private var leases: [UInt64: (peer: Peer, deadline: MonotonicSeconds)] = [:]

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// A peer joined (or rejoined with a new session): alive from `now`.
    public mutating func joined(_ peer: Peer, now: MonotonicSeconds) {
        downPeers.remove(peer)
        lastHeard[peer] = now
    }

    /// Any message from `peer` counts as a heartbeat. Returns false when the
    /// peer was already declared down: it must rejoin (hello) to count again.
    @discardableResult
    public mutating func heard(from peer: Peer, now: MonotonicSeconds) -> Bool {
        guard !downPeers.contains(peer), let last = lastHeard[peer] else { return false }
        lastHeard[peer] = max(last, now)
        return true
    }

    /// The peer left cleanly; forget it and its leases.
    public mutating func left(_ peer: Peer) {
        lastHeard[peer] = nil
        downPeers.remove(peer)
        leases = leases.filter { $0.value.peer != peer }
    }

    /// Starts tracking the lease of `attemptID` held by `peer`.
    public mutating func leased(attemptID: UInt64, to peer: Peer, now: MonotonicSeconds) {
        leases[attemptID] = (peer, now + configuration.leaseDuration)
    }

    /// Extends the lease (the peer's heartbeat listed the attempt). Leases of
    /// down peers are not renewed.
    public mutating func renew(attemptID: UInt64, by peer: Peer, now: MonotonicSeconds) {
        guard let lease = leases[attemptID], lease.peer == peer, !downPeers.contains(peer) else { return }
        leases[attemptID] = (peer, max(lease.deadline, now + configuration.leaseDuration))
    }

    /// The attempt ended; stop tracking its lease.
    public mutating func released(attemptID: UInt64) {
        leases[attemptID] = nil
    }

    public func deadline(of attemptID: UInt64) -> MonotonicSeconds? { leases[attemptID]?.deadline }

    public func status(of peer: Peer, now: MonotonicSeconds) -> Status {
        if downPeers.contains(peer) { return .down }
        guard let last = lastHeard[peer] else { return .unknown }
        let silent = now - last
        return silent <= configuration.heartbeatInterval * 1.5 ? .alive : .suspect(silentFor: silent)
    }

    /// New verdicts at `now`: peers newly down, then leases newly expired
    /// (including all leases of peers that just went down). Each is reported once.
    public mutating func poll(now: MonotonicSeconds) -> [Verdict] {
        var verdicts: [Verdict] = []
        let timeout = configuration.timeout
        for (peer, last) in lastHeard where !downPeers.contains(peer) && now - last >= timeout {
            downPeers.insert(peer)
            verdicts.append(.peerDown(peer, silentFor: now - last))
        }
        var expired: [(UInt64, Peer, Double)] = []
        for (attemptID, lease) in leases where now >= lease.deadline || downPeers.contains(lease.peer) {
            expired.append((attemptID, lease.peer, max(0, now - lease.deadline)))
        }
        for (attemptID, peer, overdue) in expired.sorted(by: { $0.0 < $1.0 }) {
            leases[attemptID] = nil
            verdicts.append(.leaseExpired(attemptID: attemptID, peer: peer, overdueBy: overdue))
        }
        return verdicts
    }

    /// The earliest time at which `poll` could return something new; the
    /// socket loop uses it as its poll timeout.
    public func nextDeadline() -> MonotonicSeconds? {
        let timeout = configuration.timeout
        let peerDeadlines = lastHeard.lazy.filter { !downPeers.contains($0.key) }.map { $0.value + timeout }
        let leaseDeadlines = leases.values.lazy.map(\.deadline)
        return (Array(peerDeadlines) + Array(leaseDeadlines)).min()
    }
}
