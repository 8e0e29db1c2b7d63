import Locking
import Logging

/// A log kept in memory, for tests of what a type logs: pass ``logger`` where a `Logger`
/// is taken, then read the ``events`` (or their ``lines(at:)``) it wrote, from any thread.
public final class CapturedLog: Sendable {
    public struct Event: Sendable {
        public var level: Logger.Level
        public var message: String
        /// The logger's metadata with the event's own.
        public var metadata: Logger.Metadata
    }

    private let captured = Locked<[Event]>([])
    /// Optional echo of each event (e.g. `print` while debugging a test).
    private let echo: (@Sendable (Event) -> Void)?

    public init(echo: (@Sendable (Event) -> Void)? = nil) { self.echo = echo }

    /// A logger writing into this log, at every level (debug and trace too).
    public var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    /// The events so far, in order.
    public var events: [Event] { captured.withLock { $0 } }

    /// The messages of the events so far at `level` (nil: all levels).
    public func lines(at level: Logger.Level? = nil) -> [String] {
        events.filter { level == nil || $0.level == level }.map(\.message)
    }

    fileprivate func append(_ event: Event) {
        captured.withLock { $0.append(event) }
        echo?(event)
    }

    private struct Handler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            sink.append(
                Event(
                    level: event.level, message: event.message.description,
                    metadata: metadata.merging(event.metadata ?? [:]) { _, new in new }))
        }
    }
}
