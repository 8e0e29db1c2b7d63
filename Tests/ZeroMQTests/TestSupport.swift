import Foundation
import TestSupport

@testable import ZeroMQ

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
