import Foundation
import Logging

/// A peer's ZeroMQ routing id on the coordinator's ROUTER socket.
public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var description: String { "peer " + hex }
    /// The routing id in hexadecimal, e.g. `0x00a1b2c3d4` (the `peer` of a log line's metadata).
    public var hex: String { "0x" + bytes.map { String(format: "%02x", $0) }.joined() }
}

/// The current time on both clocks the coordinator uses: monotonic seconds
/// for liveness and scheduling, wall-clock seconds for what the store records.
public struct EngineTime: Sendable, Hashable {
    public var monotonic: MonotonicSeconds
    public var wall: Timestamp
    public init(monotonic: MonotonicSeconds, wall: Timestamp) {
        self.monotonic = monotonic
        self.wall = wall
    }
}

/// What the coordinator engine asks its I/O shell to do.
public enum CoordinatorOutput: Sendable {
    /// Send `message` to `peer` (stamped with the session's seq and session id already).
    case send(PeerAddress, WireMessage)
    /// Write a log line (the shell gives it to its `Logger`); `metadata` names the task,
    /// attempt, worker or peer it is about (``LogKey``).
    case log(Logger.Level, Logger.Message, metadata: Logger.Metadata = [:])
    /// The job failed for good with this message (already recorded in the store).
    case jobFailed(String)
}
