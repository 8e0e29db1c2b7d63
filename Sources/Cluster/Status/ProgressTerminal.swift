import Foundation
import Locking

#if canImport(Glibc)
    import Glibc
#endif

/// Standard error as a progress terminal: log lines print above a bar line
/// that is redrawn in place (carriage return, erase line), so neither garbles
/// the other. In other modes log lines pass through unchanged and snapshots
/// are ignored (the driver logs plain progress lines itself). Thread-safe.
public final class ProgressTerminal: @unchecked Sendable {  // `display` and `bar` under `lock`
    /// `bar`, `plain` or `none` (never `auto`).
    public let mode: ProgressMode
    private let lock = Lock()
    private var display = ProgressDisplay()
    private var bar = ""
    private let write: @Sendable (String) -> Void
    private let width: @Sendable () -> Int

    static let eraseLine = "\r\u{1B}[K"

    /// `write` receives the exact bytes to print; `width` the terminal's columns.
    public init(mode: ProgressMode, write: @escaping @Sendable (String) -> Void, width: @escaping @Sendable () -> Int = { 80 }) {
        self.mode = mode == .auto ? .plain : mode
        self.write = write
        self.width = width
    }

    /// Standard error, with `auto` resolved from `isatty(2)` and `TERM`.
    public static func standardError(_ requested: ProgressMode) -> ProgressTerminal {
        let mode = requested.resolved(isTTY: isatty(2) == 1, term: ProcessInfo.processInfo.environment["TERM"])
        return ProgressTerminal(
            mode: mode,
            write: { text in
                FileHandle.standardError.write(Data(text.utf8))
            }, width: { terminalColumns(fd: 2) })
    }

    /// Prints one log line (without its newline) above the bar.
    public func log(_ line: String) {
        lock.withLock {
            if mode == .bar && !bar.isEmpty {
                write(Self.eraseLine + line + "\n" + bar)
            } else {
                write(line + "\n")
            }
        }
    }

    /// Redraws the bar from a snapshot (bar mode only); a stage that ended
    /// leaves its final line above it.
    public func show(_ snapshot: ProgressSnapshot) {
        guard mode == .bar else { return }
        lock.withLock {
            let finished = display.update(snapshot)
            bar = display.barLine(width: max(20, width()) - 1)
            write(Self.eraseLine + finished.map { $0 + "\n" }.joined() + bar)
        }
    }

    /// Removes the bar, leaving the last stage's final line (bar mode);
    /// `jobDone`: the job finished, so that stage's work is complete.
    public func end(jobDone: Bool = false) {
        guard mode == .bar else { return }
        lock.withLock {
            guard !bar.isEmpty else { return }
            write(Self.eraseLine + (display.finishLine(complete: jobDone).map { $0 + "\n" } ?? ""))
            bar = ""
        }
    }
}

/// The columns of the terminal on `fd`, else `$COLUMNS`, else 80.
func terminalColumns(fd: Int32) -> Int {
    var size = winsize()
    if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    return ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init) ?? 80
}
