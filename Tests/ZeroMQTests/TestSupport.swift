import Foundation

@testable import ZeroMQ

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
func eventually(within timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}

/// Reads monitor events until one satisfies `match` or `timeout` passes.
func waitForEvent(
    _ monitor: SocketMonitor, within timeout: Duration = .seconds(10),
    matching match: (MonitorEvent) -> Bool
) throws -> MonitorEvent? {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero, let event = try monitor.next(timeout: remaining) else { return nil }
        if match(event) { return event }
    }
}

/// Blocks until the thread finishes or `timeout` passes; `false` on timeout.
func finishes(_ thread: SocketThread, within timeout: Duration = .seconds(10)) -> Bool {
    eventually(within: timeout) { thread.isFinished }
}

extension Duration {
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }
}

/// A value shared with callbacks on other threads in tests.
final class Box<Value: Sendable>: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
    var current: Value { withLock { $0 } }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }
