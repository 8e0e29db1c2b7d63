import SpaceTime

/// A job store operation that could not be carried out. Carries the SQLite
/// file and, where it applies, the task or attempt concerned.
public struct JobStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// SQLite reported an error (I/O, corruption, locking).
        case database
        /// The store was written by a newer SpaceTime (unknown migration).
        case newerSchema
        /// The job directory already holds a job (create) or holds none (resume).
        case jobExists, noJob
        /// A task, attempt or partition that does not exist.
        case notFound
        /// An illegal task transition.
        case illegalTransition
        /// A value that does not fit the job (tree index beyond the partition's share, …).
        case invalidArgument
    }

    public var code: Code
    public var message: String
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        "job store\(path.map { " \($0)" } ?? ""): \(message) [\(code.rawValue)]"
    }
}

extension JobStoreError: TaskFailureConvertible {
    /// A database failure is I/O (retryable); a newer store is bad input and a job directory
    /// that holds a job (or none) bad parameters, both final; the others are internal, final.
    public var taskFailure: TaskFailure {
        switch code {
        case .database: TaskFailure(.io, description)
        case .newerSchema: TaskFailure(.badInput, description)
        case .jobExists, .noJob: TaskFailure(.badParameters, description)
        case .notFound, .illegalTransition, .invalidArgument: TaskFailure(.internal, description, retryable: false)
        }
    }
}

/// What became of a write that carries an attempt's result.
public enum AttemptWriteOutcome: Sendable, Hashable {
    /// Stored.
    case applied
    /// Already stored by this or an earlier attempt (a resend); nothing changed.
    case duplicate
    /// The attempt is not the task's current active attempt: the result was
    /// dropped and an `staleDiscarded` event recorded.
    case discarded(reason: String)
}

extension AttemptWriteOutcome {
    /// Whether the write was dropped as coming from a stale attempt.
    public var isDiscarded: Bool {
        if case .discarded = self { return true }
        return false
    }
}
