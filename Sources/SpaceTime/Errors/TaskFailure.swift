/// Why a step failed, whether another attempt can help, where in the input the problem is,
/// and the message for the user: what an error tells the layer above it when it crosses one
/// (a worker's task into its `task_failed` report, a reader's error into the pipeline's).
///
/// Errors adopt ``TaskFailureConvertible`` to say which failure they are; ``init(_:)``
/// maps any error, so a layer keeps the error's reason, retryability and location instead of
/// turning it into a string and guessing them back.
public struct TaskFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure; the same cases as the protocol's failure reasons, plus bad parameters.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The data is unusable (a record cannot be parsed, a label is unknown, …). Final.
        case badInput
        /// The job's parameters or options are unusable or inconsistent. Final.
        case badParameters
        /// The task does not fit the memory limit.
        case memoryBudget
        /// A file system or system call failure (spill directory, disk full, unreadable file).
        case io
        /// A peer sent a message that is invalid or does not fit the task.
        case `protocol`
        /// A failure of another kind, including errors that do not say which they are.
        case `internal`
        /// The task was cancelled.
        case cancelled
        /// The rows a task was to read from this worker's spill are not there.
        case spillMissing

        /// Whether another attempt can help, unless the failure says otherwise: false for
        /// bad input and bad parameters (the same data and parameters fail alike anywhere).
        public var isRetryableByDefault: Bool {
            switch self {
            case .badInput, .badParameters: false
            case .memoryBudget, .io, .protocol, .internal, .cancelled, .spillMissing: true
            }
        }
    }

    /// Where in the input a failure is: 1-based, each part nil when unknown.
    public struct Location: Sendable, Hashable {
        /// The file (or part, or stream name).
        public var file: String?
        /// 1-based physical line (the header is line 1).
        public var line: Int?
        /// 1-based field index.
        public var column: Int?

        public init(file: String? = nil, line: Int? = nil, column: Int? = nil) {
            self.file = file
            self.line = line
            self.column = column
        }
    }

    public var reason: Reason
    /// The message for the user; for an adopted error, its `description`.
    public var message: String
    /// Where in the input, when known.
    public var location: Location?
    /// Whether running the task again (elsewhere) can help.
    public var retryable: Bool

    /// A failure; `retryable` defaults to the reason's ``Reason/isRetryableByDefault``.
    public init(_ reason: Reason, _ message: String, location: Location? = nil, retryable: Bool? = nil) {
        self.reason = reason
        self.message = message
        self.location = location
        self.retryable = retryable ?? reason.isRetryableByDefault
    }

    /// Any error as a failure: the error's own ``TaskFailureConvertible/taskFailure`` when it
    /// adopts the protocol, else an internal, retryable failure with its description.
    public init(_ error: any Error) {
        if let convertible = error as? any TaskFailureConvertible {
            self = convertible.taskFailure
        } else {
            self.init(.internal, String(describing: error), retryable: true)
        }
    }

    /// The same failure, its message prefixed by `context` and a colon.
    public func prefixed(_ context: String) -> TaskFailure {
        var copy = self
        copy.message = "\(context): \(message)"
        return copy
    }

    /// The same failure, located at `line` of `file` when it has no line of its own.
    public func located(file: String? = nil, line: Int) -> TaskFailure {
        guard location?.line == nil else { return self }
        var copy = self
        copy.location = Location(file: location?.file ?? file, line: line, column: location?.column)
        return copy
    }

    public var description: String { message }
}

/// An error that says which ``TaskFailure`` it is: its reason, whether another attempt can
/// help, and where in the input it is.
public protocol TaskFailureConvertible: Error {
    /// This error as a failure; its message is the error's `description`.
    var taskFailure: TaskFailure { get }
}

extension TaskFailure: TaskFailureConvertible {
    public var taskFailure: TaskFailure { self }
}
