import Foundation
import Testing

@testable import Cluster

/// Two processes opening a new store at the same moment (a coordinator creating it, a
/// test or tool reading it) both run its migrations; neither may fail.
@Suite struct ConcurrentMigrationTests {
    @Test func twoOpenersOfANewStoreBothSucceed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("migrate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let failures = Locked([String]())
        for round in 0..<30 {
            let path = dir.appendingPathComponent("job\(round).sqlite").path
            DispatchQueue.concurrentPerform(iterations: 3) { _ in
                do { _ = try JobStore(path: path) } catch { failures.withLock { $0.append("\(error)") } }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
    }
}

/// A value behind a lock (test helper).
final class Locked<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ value: T) { self.value = value }
    func withLock<R>(_ body: (inout T) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
