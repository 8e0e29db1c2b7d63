import Cluster
import Foundation
import Logging

/// The log handler of the tool's processes: each event as one ``LogLine`` (time, who,
/// level, text, the metadata the text does not name) on standard error, flushed per line,
/// or above the bar of a progress terminal. Debug and trace events are dropped.
struct StandardErrorLogHandler: LogHandler {
    /// Who writes the lines: `coordinator` or the worker's id.
    let who: String
    /// Where a bar is shown: lines print above it.
    let terminal: ProgressTerminal?
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    init(who: String, terminal: ProgressTerminal? = nil) {
        self.who = who
        self.terminal = terminal
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let given = event.metadata { all.merge(given) { _, new in new } }
        let line = LogLine.format(who: who, level: event.level, message: event.message, metadata: all)
        if let terminal { terminal.log(line) } else { writeStandardError(line + "\n") }
    }
}

extension Logger {
    /// The logger of a command's process, `who` naming it in every line
    /// (``StandardErrorLogHandler``); with `terminal`, lines print above its bar.
    static func standardError(_ who: String, terminal: ProgressTerminal? = nil) -> Logger {
        Logger(label: "spacetime.\(who)") { _ in StandardErrorLogHandler(who: who, terminal: terminal) }
    }
}
