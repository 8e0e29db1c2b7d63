import Foundation
import ZeroMQ

/// Polls `condition` every 10 ms until it holds or `timeout` passes.
public func eventually(within timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}

/// Reads monitor events until one satisfies `match` or `timeout` passes.
public func waitForEvent(
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
