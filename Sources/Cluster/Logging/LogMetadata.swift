import Logging

/// The metadata keys of SpaceTime's log lines: set where a line is about a task, an
/// attempt, a worker or a peer, so a handler can filter or index lines by them.
public enum LogKey {
    /// The task's name, e.g. `train/p3` or `predict/p0.t0-50`.
    public static let task = "task"
    /// The attempt's id, e.g. `7`.
    public static let attempt = "attempt"
    /// The worker's id, e.g. `w1` or `host-4711`.
    public static let worker = "worker"
    /// The peer's routing id on the coordinator's ROUTER socket, e.g. `0x00a1b2c3d4`.
    public static let peer = "peer"
    /// The keys in the order a line shows them; any other keys follow, sorted.
    public static let order = [task, attempt, worker, peer]
}

extension Logger.Metadata {
    /// The metadata of a line about these (a nil one is left out).
    public static func about(
        task: (any CustomStringConvertible)? = nil, attempt: UInt64? = nil, worker: String? = nil, peer: PeerAddress? = nil
    ) -> Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let task { metadata[LogKey.task] = .string(task.description) }
        if let attempt { metadata[LogKey.attempt] = .string(String(attempt)) }
        if let worker { metadata[LogKey.worker] = .string(worker) }
        if let peer { metadata[LogKey.peer] = .string(peer.hex) }
        return metadata
    }
}

extension Logger {
    /// This logger with `metadata` added to its own (a key it has already takes the new value):
    /// e.g. an attempt's logger from the executor's, with the task and attempt.
    public func with(_ metadata: Logger.Metadata) -> Logger {
        var logger = self
        for (key, value) in metadata { logger[metadataKey: key] = value }
        return logger
    }

    /// A logger that writes nothing: the default where a library type takes a logger.
    public static var discarding: Logger { Logger(label: "spacetime.discarding") { _ in SwiftLogNoOpLogHandler() } }
}
