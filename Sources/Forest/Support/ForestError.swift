import SpaceTime

/// An error raised by the Forest module, with a machine-readable code and context.
///
/// Modelled on swift-service-lifecycle's `ServiceRunnerError`: a struct with a
/// closed set of codes, so callers can switch on `code` while users read `description`.
public struct ForestError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong, independent of the message text.
    public enum Code: String, Sendable, Equatable {
        /// Training parameters are out of range or inconsistent.
        case invalidParameter
        /// Input data is unusable (no rows, too many classes, wrong width, ...).
        case invalidData
        /// Serialized bytes could not be decoded (truncated, malformed, bad checksum).
        case corrupted
        /// A model or state of a format version this build cannot read.
        case unsupportedVersion
        /// Two states that cannot be merged (different widths, classes or edges).
        case incompatible
        /// An I/O failure while reading or writing a file.
        case io
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

extension ForestError: TaskFailureConvertible {
    /// Unusable data, bytes or versions are bad input and bad parameters are bad parameters
    /// (both final); a file system failure is I/O and states that cannot be merged are internal.
    public var taskFailure: TaskFailure {
        switch code {
        case .invalidParameter: TaskFailure(.badParameters, message)
        case .invalidData, .corrupted, .unsupportedVersion: TaskFailure(.badInput, message)
        case .incompatible: TaskFailure(.internal, message, retryable: false)
        case .io: TaskFailure(.io, message)
        }
    }
}
